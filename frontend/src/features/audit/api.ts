// The audit log API (/api/audit, admins): entries newest first, filtered by actor, action (exact, or a
// prefix ending in '.'), outcome and a time range, in pages.

import { apiFetch, query } from "../../services/api";

export const OUTCOMES = ["success", "failure", "refused"] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface AuditEntry {
  id: number;
  /** RFC 3339 in UTC. */
  time: string;
  actor: string | null;
  source: string | null;
  action: string;
  target: string | null;
  outcome: Outcome | string;
  details: unknown;
}

export interface AuditPage {
  entries: AuditEntry[];
  total: number;
  limit: number;
  offset: number;
}

export interface AuditParams {
  actor?: string;
  action?: string;
  outcome?: Outcome;
  /** RFC 3339 with an offset. */
  since?: string;
  until?: string;
  offset?: number;
  limit?: number;
}

export const AUDIT_PAGE_SIZE = 50;

/** The audit feature's entries in the query cache: one per filtered page. */
export const auditKeys = {
  all: ["audit"] as const,
  page: (params: AuditParams & { page: number }) => ["audit", params] as const,
};

export function listAudit(params: AuditParams, signal?: AbortSignal): Promise<AuditPage> {
  const { limit = AUDIT_PAGE_SIZE, offset = 0, ...filters } = params;
  return apiFetch<AuditPage>(`/api/audit${query({ ...filters, limit, offset })}`, { signal });
}
