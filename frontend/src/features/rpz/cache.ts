// Pure updates of the RPZ feature's cached pages, used for this user's own writes and for live
// events (app/liveCache.ts). Each returns the same page when nothing changes, and never moves a
// rule back to an older `version`. A page is one slice of a server-side search, so these only fix
// what is shown at once; the page is then refetched for what only the server knows (the next rules,
// the totals, whether a changed rule still matches the filter).

import type { Page } from "../../services/api";
import type { RpzAction, RpzRule } from "./api";

export interface RulePatch {
  action?: RpzAction;
  redirect_to?: string | null;
  category?: string;
  version?: number;
}

function older(current: { version?: number }, next: { version?: number }): boolean {
  return typeof current.version === "number" && typeof next.version === "number" && next.version < current.version;
}

/** The rules of these domains leave the page (and its total). */
export function removeDomainsFromPage(page: Page<RpzRule>, domains: Iterable<string>): Page<RpzRule> {
  const gone = new Set(domains);
  const items = page.items.filter((r) => !gone.has(r.domain));
  const removed = page.items.length - items.length;
  return removed === 0 ? page : { ...page, items, total: Math.max(0, page.total - removed) };
}

/** The rule of `domain` takes the patch (unless the cached rule is newer). */
export function patchRuleInPage(page: Page<RpzRule>, domain: string, patch: RulePatch): Page<RpzRule> {
  let changed = false;
  const items = page.items.map((rule) => {
    if (rule.domain !== domain || older(rule, patch)) return rule;
    const next = { ...rule, ...patch };
    if (JSON.stringify(next) === JSON.stringify(rule)) return rule;
    changed = true;
    return next;
  });
  return changed ? { ...page, items } : page;
}

/** A rule as the server now has it (a save's answer, a 412's `current`) replaces its copy on the page. */
export function replaceRuleInPage(page: Page<RpzRule>, rule: RpzRule): Page<RpzRule> {
  let changed = false;
  const items = page.items.map((r) => {
    if (r.id !== rule.id || older(r, rule)) return r;
    changed = true;
    return rule;
  });
  return changed ? { ...page, items } : page;
}

/** Removes rules by id (this user's deletions). */
export function removeRulesFromPage(page: Page<RpzRule>, ids: Iterable<number>): Page<RpzRule> {
  const gone = new Set(ids);
  const items = page.items.filter((r) => !gone.has(r.id));
  const removed = page.items.length - items.length;
  return removed === 0 ? page : { ...page, items, total: Math.max(0, page.total - removed) };
}
