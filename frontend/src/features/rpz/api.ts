// The RPZ API (/api/rpz/rules): its shapes and calls. Rules are listed in pages of a server-side
// search (there may be tens of thousands); a bulk import or removal is one request and one
// transaction. A rule that carries a `version` is written with If-Match, so a change someone else
// made meanwhile comes back as 412 with the current rule instead of being overwritten.

import { apiFetch, ifMatch, postJson, query, type Page } from "../../services/api";

export const RPZ_ACTIONS = ["block", "redirect", "passthru"] as const;
export type RpzAction = (typeof RPZ_ACTIONS)[number];

export interface RpzRule {
  id: number;
  /** Lower case, no final dot; "*.example.com" covers only the subdomains. */
  domain: string;
  action: RpzAction;
  /** Where a redirect points (an IP address or a host name); null for the other actions. */
  redirect_to: string | null;
  category: string;
  created_at: string;
  /** Optimistic concurrency (from the backend's next version on). */
  version?: number;
  /** Who made the last change (with `version`). */
  updated_by?: string | null;
}

export interface RuleListParams {
  search?: string;
  category?: string;
  action?: RpzAction;
  offset?: number;
  limit?: number;
}

export const RULE_PAGE_SIZE = 100;
/** The API's largest bulk request. */
export const MAX_BULK = 50_000;

export function listRules(params: RuleListParams = {}, signal?: AbortSignal): Promise<Page<RpzRule>> {
  const { search, category, action, offset = 0, limit = RULE_PAGE_SIZE } = params;
  return apiFetch<Page<RpzRule>>(`/api/rpz/rules${query({ search: search || undefined, category: category || undefined, action, offset, limit })}`, { signal });
}

export interface RuleCreateBody {
  domain: string;
  action: RpzAction;
  redirect_to?: string | null;
  category: string;
}

export interface RuleUpdateBody {
  action: RpzAction;
  redirect_to: string | null;
  category: string;
}

export function createRule(body: RuleCreateBody): Promise<RpzRule> {
  return apiFetch<RpzRule>("/api/rpz/rules", postJson(body));
}

export function updateRule(id: number, body: RuleUpdateBody, version?: number): Promise<RpzRule> {
  return apiFetch<RpzRule>(`/api/rpz/rules/${id}`, { method: "PATCH", body: JSON.stringify(body), headers: ifMatch(version) });
}

export async function deleteRule(id: number, version?: number): Promise<void> {
  await apiFetch<void>(`/api/rpz/rules/${id}`, { method: "DELETE", headers: ifMatch(version) });
}

export interface ImportBody {
  domains: string[];
  action: RpzAction;
  redirect_to?: string | null;
  category: string;
}

export interface ImportResult {
  /** Rules added. */
  imported: number;
  /** Domains that already had a rule (left as they were). */
  skipped_existing: number;
  /** Repeats within the request. */
  duplicates: number;
  received: number;
}

export function importRules(body: ImportBody): Promise<ImportResult> {
  return apiFetch<ImportResult>("/api/rpz/rules/import", postJson(body));
}

export interface BulkDeleteResult {
  removed: number;
  not_found: number;
}

export function bulkDeleteRules(domains: string[]): Promise<BulkDeleteResult> {
  return apiFetch<BulkDeleteResult>("/api/rpz/rules/bulk-delete", postJson({ domains }));
}
