// Pure updates of the zones feature's cached data, used both after this user's own writes and for
// live events (app/liveCache.ts). Each returns the same object when nothing changes, and never
// moves an object back to an older `version`.

import type { DnsRecord, Page, Zone } from "./api";

/** A zone as the zone page holds it: `deleted` once someone deleted it while it was open. */
export type ZoneView = Zone & { deleted?: { by: string | null; at: string } };

function byNameTypeId(a: DnsRecord, b: DnsRecord): number {
  return a.name.localeCompare(b.name) || a.type.localeCompare(b.type) || a.id - b.id;
}

function older(current: { version?: number }, next: { version?: number }): boolean {
  return typeof current.version === "number" && typeof next.version === "number" && next.version < current.version;
}

/** Adds the record, or replaces the one with its id (unless the cached one is newer); sorted as the API sorts. */
export function upsertRecord(list: DnsRecord[], record: DnsRecord): DnsRecord[] {
  const index = list.findIndex((r) => r.id === record.id);
  if (index >= 0) {
    const current = list[index] as DnsRecord;
    if (older(current, record)) return list;
    const merged = { ...current, ...record };
    if (JSON.stringify(merged) === JSON.stringify(current)) return list;
    return list.map((r, i) => (i === index ? merged : r)).sort(byNameTypeId);
  }
  return [...list, record].sort(byNameTypeId);
}

export function removeRecords(list: DnsRecord[], ids: Iterable<number>): DnsRecord[] {
  const gone = new Set(ids);
  const next = list.filter((r) => !gone.has(r.id));
  return next.length === list.length ? list : next;
}

/** A newer serial (serials only grow) and what else the change says about the zone. */
export function patchZone<Z extends Zone>(zone: Z, patch: Partial<Zone>): Z {
  if (older(zone, patch)) return zone;
  const next: Z = { ...zone, ...patch };
  if (typeof patch.serial === "number") next.serial = Math.max(zone.serial, patch.serial);
  return JSON.stringify(next) === JSON.stringify(zone) ? zone : next;
}

export function markZoneDeleted(zone: ZoneView, by: string | null, at: string): ZoneView {
  return zone.deleted ? zone : { ...zone, deleted: { by, at } };
}

export function patchZoneInPage(page: Page<Zone>, id: number, patch: Partial<Zone>): Page<Zone> {
  let changed = false;
  const items = page.items.map((z) => {
    if (z.id !== id) return z;
    const next = patchZone(z, patch);
    if (next !== z) changed = true;
    return next;
  });
  return changed ? { ...page, items } : page;
}

export function removeZoneFromPage(page: Page<Zone>, id: number): Page<Zone> {
  const items = page.items.filter((z) => z.id !== id);
  return items.length === page.items.length ? page : { ...page, items, total: Math.max(0, page.total - 1) };
}
