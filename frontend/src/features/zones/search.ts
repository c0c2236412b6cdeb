// The search parts of the zones URLs (/zones?q=&page=, /zones/12?q=&type=), checked on the way in:
// anything else is dropped. Light on purpose: the router loads it before the pages themselves.

import { RECORD_TYPES, type RecordType } from "./api";

export interface ZonesSearch {
  q?: string;
  page?: number;
}

/** The URL's search part of /zones, checked (anything else is dropped). */
export function validateZonesSearch(search: Record<string, unknown>): ZonesSearch {
  const out: ZonesSearch = {};
  if (typeof search.q === "string" && search.q.trim()) out.q = search.q.slice(0, 253);
  const page = Number(search.page);
  if (Number.isInteger(page) && page > 1 && page < 100_000) out.page = page;
  return out;
}

export interface ZoneSearch {
  q?: string;
  type?: RecordType;
}

export function validateZoneSearch(search: Record<string, unknown>): ZoneSearch {
  const out: ZoneSearch = {};
  if (typeof search.q === "string" && search.q.trim()) out.q = search.q.slice(0, 253);
  if (typeof search.type === "string" && (RECORD_TYPES as readonly string[]).includes(search.type)) out.type = search.type as RecordType;
  return out;
}
