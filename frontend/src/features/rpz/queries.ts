// Query hooks of the RPZ feature: pages of rules from the shared cache, and writes that update it at
// once (the live event that follows then changes nothing here, and tells the other users' pages).

import { keepPreviousData, useMutation, useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { ApiError, type Page } from "../../services/api";
import {
  bulkDeleteRules,
  createRule,
  deleteRule,
  importRules,
  listRules,
  updateRule,
  type BulkDeleteResult,
  type ImportBody,
  type ImportResult,
  type RpzRule,
  type RuleCreateBody,
  type RuleUpdateBody,
} from "./api";
import { removeDomainsFromPage, removeRulesFromPage, replaceRuleInPage } from "./cache";
import { rpzKeys, type RuleListKeyParams } from "./keys";
import { chunked } from "./schemas";

/** Without live RPZ events (a viewer's role does not receive them), the list looks again this often. */
export const POLL_WITHOUT_EVENTS_MS = 30_000;

export function useRules(params: RuleListKeyParams, live: boolean) {
  return useQuery({
    queryKey: rpzKeys.list(params),
    queryFn: ({ signal }) =>
      listRules({ search: params.search, category: params.category, action: (params.action || undefined) as RpzRule["action"] | undefined, offset: params.offset }, signal),
    placeholderData: keepPreviousData,
    refetchInterval: live ? false : POLL_WITHOUT_EVENTS_MS,
  });
}

function patchPages(client: QueryClient, update: (page: Page<RpzRule>) => Page<RpzRule>): void {
  client.setQueriesData<Page<RpzRule>>({ queryKey: rpzKeys.lists() }, (page) => (page ? update(page) : page));
}

function refreshPages(client: QueryClient): Promise<void> {
  return client.invalidateQueries({ queryKey: rpzKeys.lists() });
}

export function useCreateRule() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: RuleCreateBody) => createRule(body),
    onSuccess: () => refreshPages(client),
  });
}

export function useUpdateRule() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ id, body, version }: { id: number; body: RuleUpdateBody; version?: number }) => updateRule(id, body, version),
    onSuccess: (rule) => {
      patchPages(client, (page) => replaceRuleInPage(page, rule));
      void refreshPages(client);
    },
  });
}

/** Applies a rule as it is now (a 412's `current`) to every page showing it. */
export function useAcceptRule() {
  const client = useQueryClient();
  return (rule: RpzRule) => patchPages(client, (page) => replaceRuleInPage(page, rule));
}

/** Deletes one rule; one that is already gone (404) counts as deleted. */
export function useDeleteRule() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (rule: Pick<RpzRule, "id" | "version">) => {
      try {
        await deleteRule(rule.id, rule.version);
      } catch (error) {
        if (!(error instanceof ApiError && error.notFound)) throw error;
      }
      return rule.id;
    },
    onSuccess: (id) => {
      patchPages(client, (page) => removeRulesFromPage(page, [id]));
      void refreshPages(client);
    },
  });
}

/** Removes the rules of these domains in one request per MAX_BULK; the counts add up. */
export function useBulkDelete() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (domains: string[]): Promise<BulkDeleteResult> => {
      const total: BulkDeleteResult = { removed: 0, not_found: 0 };
      for (const part of chunked(domains)) {
        const result = await bulkDeleteRules(part);
        total.removed += result.removed;
        total.not_found += result.not_found;
        patchPages(client, (page) => removeDomainsFromPage(page, part));
      }
      return total;
    },
    onSettled: () => refreshPages(client),
  });
}

/** Adds a rule for every domain not listed yet, one request per MAX_BULK domains; the counts add up. */
export function useImportRules() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (body: ImportBody): Promise<ImportResult> => {
      const total: ImportResult = { imported: 0, skipped_existing: 0, duplicates: 0, received: 0 };
      for (const domains of chunked(body.domains)) {
        const result = await importRules({ ...body, domains });
        total.imported += result.imported;
        total.skipped_existing += result.skipped_existing;
        total.duplicates += result.duplicates;
        total.received += result.received;
      }
      return total;
    },
    onSettled: () => refreshPages(client),
  });
}
