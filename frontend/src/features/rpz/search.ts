// The search part of the RPZ page's URL (/rpz?q=&category=&action=&page=), checked on the way in:
// anything else is dropped, so a shared or bookmarked link opens the same filtered list.

import { RPZ_ACTIONS, type RpzAction } from "./api";

export interface RpzSearch {
  q?: string;
  category?: string;
  action?: RpzAction;
  page?: number;
}

export function validateRpzSearch(search: Record<string, unknown>): RpzSearch {
  const out: RpzSearch = {};
  if (typeof search.q === "string" && search.q.trim()) out.q = search.q.slice(0, 253);
  if (typeof search.category === "string" && search.category.trim()) out.category = search.category.trim().toLowerCase().slice(0, 64);
  if (typeof search.action === "string" && (RPZ_ACTIONS as readonly string[]).includes(search.action)) out.action = search.action as RpzAction;
  const page = Number(search.page);
  if (Number.isInteger(page) && page > 1 && page < 100_000) out.page = page;
  return out;
}
