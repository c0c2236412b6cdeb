// The forwarders API (/api/forwarders): its shapes and calls. Updates are PATCH with only the fields
// that changed; a forwarder that carries a `version` is written with If-Match, so a change someone
// else made meanwhile comes back as 412 with the current forwarder instead of being overwritten.

import { apiFetch, ifMatch, postJson, query, type Page } from "../../services/api";

export const FORWARDER_TYPES = ["active_directory", "intranet", "public"] as const;
export type ForwarderType = (typeof FORWARDER_TYPES)[number];

export interface Forwarder {
  id: number;
  name: string;
  type: ForwarderType;
  /** The domains whose queries go to the servers; empty for a public forwarder: every other name. */
  domains: string[];
  /** "ip", "ip:port" or "[ipv6]:port". */
  servers: string[];
  enabled: boolean;
  created_at: string;
  updated_at: string;
  version?: number;
  /** Who made the last change (with `version`). */
  updated_by?: string | null;
}

/** The API's largest page: forwarders are few, the page shows them all. */
export const FORWARDER_LIMIT = 500;

export function listForwarders(signal?: AbortSignal): Promise<Page<Forwarder>> {
  return apiFetch<Page<Forwarder>>(`/api/forwarders${query({ limit: FORWARDER_LIMIT })}`, { signal });
}

export interface ForwarderBody {
  name: string;
  type: ForwarderType;
  domains: string[];
  servers: string[];
  enabled: boolean;
}

export function createForwarder(body: ForwarderBody): Promise<Forwarder> {
  return apiFetch<Forwarder>("/api/forwarders", postJson(body));
}

export function updateForwarder(id: number, body: Partial<ForwarderBody>, version?: number): Promise<Forwarder> {
  return apiFetch<Forwarder>(`/api/forwarders/${id}`, { method: "PATCH", body: JSON.stringify(body), headers: ifMatch(version) });
}

export async function deleteForwarder(id: number, version?: number): Promise<void> {
  await apiFetch<void>(`/api/forwarders/${id}`, { method: "DELETE", headers: ifMatch(version) });
}
