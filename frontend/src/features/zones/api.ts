// The zones API (/api/zones, /api/zones/{id}/records): its shapes and calls. Updates are PATCH with
// only the fields given; an object that carries a `version` is written with If-Match, so a change
// someone else made meanwhile comes back as 412 with the current object instead of being overwritten.

import { apiFetch, ifMatch, postJson, query, type Page } from "../../services/api";

export const RECORD_TYPES = ["A", "AAAA", "CNAME", "MX", "TXT", "SRV", "PTR", "NS"] as const;
export type RecordType = (typeof RECORD_TYPES)[number];
export type ZoneType = "master" | "forward";

export interface Zone {
  id: number;
  name: string;
  zone_type: ZoneType;
  serial: number;
  primary_ns: string;
  admin_email: string;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
  default_ttl: number;
  forwarders: string[];
  record_count: number;
  created_at: string;
  updated_at: string;
  /** Optimistic concurrency (from the backend's next version on). */
  version?: number;
}

export interface DnsRecord {
  id: number;
  zone_id: number;
  /** Relative to the zone, "@" for the apex. */
  name: string;
  type: RecordType;
  value: string;
  /** Null: the zone's default TTL. */
  ttl: number | null;
  created_at: string;
  updated_at: string;
  version?: number;
}

export type { Page } from "../../services/api";

export interface ZoneListParams {
  search?: string;
  offset?: number;
  limit?: number;
}

export const ZONE_PAGE_SIZE = 100;

export function listZones(params: ZoneListParams = {}, signal?: AbortSignal): Promise<Page<Zone>> {
  const { search, offset = 0, limit = ZONE_PAGE_SIZE } = params;
  return apiFetch<Page<Zone>>(`/api/zones${query({ search: search || undefined, offset, limit })}`, { signal });
}

export function getZone(id: number, signal?: AbortSignal): Promise<Zone> {
  return apiFetch<Zone>(`/api/zones/${id}`, { signal });
}

export interface ZoneCreateBody {
  name: string;
  zone_type: ZoneType;
  default_ttl?: number;
  forwarders?: string[];
}

export type ZoneUpdateBody = Partial<
  Pick<Zone, "primary_ns" | "admin_email" | "refresh" | "retry" | "expire" | "minimum" | "default_ttl" | "forwarders">
>;

export function createZone(body: ZoneCreateBody): Promise<Zone> {
  return apiFetch<Zone>("/api/zones", postJson(body));
}

export function updateZone(id: number, body: ZoneUpdateBody, version?: number): Promise<Zone> {
  return apiFetch<Zone>(`/api/zones/${id}`, { method: "PATCH", body: JSON.stringify(body), headers: ifMatch(version) });
}

export async function deleteZone(id: number, version?: number): Promise<void> {
  await apiFetch<void>(`/api/zones/${id}`, { method: "DELETE", headers: ifMatch(version) });
}

const RECORD_PAGE = 1000;
const MAX_RECORD_PAGES = 50;

/** Every record of a zone (pages of 1000, the API's largest), in the API's order: name, type, id. */
export async function listAllRecords(zoneId: number, signal?: AbortSignal): Promise<DnsRecord[]> {
  const all: DnsRecord[] = [];
  for (let page = 0; page < MAX_RECORD_PAGES; page++) {
    const result = await apiFetch<Page<DnsRecord>>(
      `/api/zones/${zoneId}/records${query({ limit: RECORD_PAGE, offset: page * RECORD_PAGE })}`,
      { signal },
    );
    all.push(...result.items);
    if (result.items.length < RECORD_PAGE || all.length >= result.total) break;
  }
  return all;
}

export interface RecordBody {
  name: string;
  type: RecordType;
  value: string;
  ttl: number | null;
}

export function createRecord(zoneId: number, body: RecordBody): Promise<DnsRecord> {
  return apiFetch<DnsRecord>(`/api/zones/${zoneId}/records`, postJson(body));
}

export function updateRecord(zoneId: number, recordId: number, body: Partial<RecordBody>, version?: number): Promise<DnsRecord> {
  return apiFetch<DnsRecord>(`/api/zones/${zoneId}/records/${recordId}`, {
    method: "PATCH",
    body: JSON.stringify(body),
    headers: ifMatch(version),
  });
}

export async function deleteRecord(zoneId: number, recordId: number, version?: number): Promise<void> {
  await apiFetch<void>(`/api/zones/${zoneId}/records/${recordId}`, { method: "DELETE", headers: ifMatch(version) });
}
