// The rules by which WebSocket events keep the query cache current: one pure planner that turns an
// event into cache operations, and one function that applies them. For each entry an event
// concerns, the entry is patched when it is loaded and idle (so the page changes at once, without
// a request), and invalidated otherwise (not loaded, failed, or being fetched: a response in
// flight may predate the change, so it is refetched rather than patched and then overwritten).
//
//   record_created / record_updated (zone 12) -> upsert into zone 12's records; zone 12's serial
//   record_deleted                            -> remove from zone 12's records; zone 12's serial
//   zone_created                              -> zone lists refetched (the event does not hold a whole zone)
//   zone_updated                              -> serial patched; the zone refetched when its fields changed
//   zone_deleted                              -> removed from the lists; an open zone page is marked
//                                                deleted, by whom and when
//   rpz_update removed / updated               -> those domains leave / change on every page of rules
//                                                shown, which are then refetched (a page is a slice of
//                                                a server-side search: the next rules, the totals)
//   rpz_update added / imported               -> the pages of rules refetched (the event has no ids)
//   config_change section "forwarders"        -> the forwarder upserted or removed in the list
//   config_change section "settings"          -> the settings refetched (the event only says "look
//                                                again": the stored values are the truth), and who
//                                                changed what kept for the page to say so
//   user_created / user_updated -> the user upserted in the list (accounts are disabled, never deleted)
//   any notification                          -> added to the recent events (overview feeds)
//   system_status                             -> the overview's host figures
//   health_update / forwarder_status_change   -> the health report (overview, forwarders page)
//
// A `reset` frame (history lost) invalidates everything (see LiveCacheBridge). Events that arrive
// together (a bulk change's batch frame) are planned together: `coalesceOps` keeps each refetch once.

import { notifyManager, type Query, type QueryClient, type QueryKey } from "@tanstack/react-query";
import {
  addRecentEvent,
  addSystemStatus,
  overviewKeys,
  type HealthReport,
  type Metrics,
  type RecentEvents,
} from "../features/overview";
import {
  markZoneDeleted,
  patchZone,
  patchZoneInPage,
  removeRecords,
  removeZoneFromPage,
  upsertRecord,
  zoneKeys,
  RECORD_TYPES,
  type DnsRecord,
  type Page,
  type RecordType,
  type Zone,
  type ZoneView,
} from "../features/zones";
import { forwarderFromChange, forwarderKeys, removeForwarder, upsertForwarder, type Forwarder } from "../features/forwarders";
import { patchRuleInPage, removeDomainsFromPage, rpzKeys, RPZ_ACTIONS, type RpzRule, type RulePatch } from "../features/rpz";
import { settingsKeys, type SettingsLastChange } from "../features/settings";
import { upsertUser, userFromEvent, userKeys, type UserList } from "../features/users";
import { applyHealthUpdate, applyStatusChange, type HealthReport as SharedHealthReport } from "../lib/health";
import type { Page as ApiPage } from "../services/api";
import { EventType, NOT_NOTIFICATIONS, type ServerEvent } from "../types/events";

export type CacheOp =
  /** Patch every loaded entry under `key` (a prefix unless `exact`); `update` returns the same data when nothing changes. */
  | { kind: "update"; key: QueryKey; exact: boolean; update: (data: unknown, key: QueryKey) => unknown }
  | { kind: "invalidate"; key: QueryKey; exact: boolean };

function update<T>(key: QueryKey, fn: (data: T, key: QueryKey) => T, exact = true): CacheOp {
  return { kind: "update", key, exact, update: (data, k) => fn(data as T, k) };
}

function invalidate(key: QueryKey, exact = false): CacheOp {
  return { kind: "invalidate", key, exact };
}

type Data = Record<string, unknown>;

function int(data: Data, key: string): number | null {
  const v = data[key];
  return typeof v === "number" && Number.isInteger(v) && v > 0 ? v : null;
}

function str(data: Data, key: string): string | null {
  const v = data[key];
  return typeof v === "string" ? v : null;
}

function version(data: Data): { version?: number } {
  const v = data["version"];
  return typeof v === "number" ? { version: v } : {};
}

/** The record an event describes, or null when the event lacks what a record needs. */
export function recordFromEvent(event: ServerEvent): DnsRecord | null {
  const data: Data = event.data;
  const id = int(data, "id");
  const zoneId = int(data, "zone_id");
  const name = str(data, "name");
  const type = str(data, "type");
  const value = str(data, "value");
  const ttl = data["ttl"];
  if (id === null || zoneId === null || name === null || value === null || !(RECORD_TYPES as readonly string[]).includes(type ?? "")) return null;
  return {
    id,
    zone_id: zoneId,
    name,
    type: type as RecordType,
    value,
    ttl: typeof ttl === "number" ? ttl : null,
    created_at: event.timestamp,
    updated_at: event.timestamp,
    ...version(data),
  };
}

function zonePatch(event: ServerEvent): Partial<Zone> {
  const data: Data = event.data;
  const serial = int(data, "serial");
  return { ...(serial !== null ? { serial } : {}), updated_at: event.timestamp };
}

function recordOps(event: ServerEvent): CacheOp[] {
  const data: Data = event.data;
  const zoneId = int(data, "zone_id");
  if (zoneId === null) return [invalidate(zoneKeys.lists())]; // an event without ids (the demo's)
  const ops: CacheOp[] = [];
  if (event.type === EventType.RecordDeleted) {
    const id = int(data, "id");
    if (id !== null) ops.push(update<DnsRecord[]>(zoneKeys.records(zoneId), (list) => removeRecords(list, [id])));
    else ops.push(invalidate(zoneKeys.records(zoneId), true));
  } else {
    const record = recordFromEvent(event);
    if (record !== null) {
      // An update for a record that moved back to an older version is ignored (upsertRecord).
      const existing = (list: DnsRecord[]) => list.find((r) => r.id === record.id);
      ops.push(
        update<DnsRecord[]>(zoneKeys.records(zoneId), (list) =>
          upsertRecord(list, { ...record, created_at: existing(list)?.created_at ?? record.created_at }),
        ),
      );
    } else {
      ops.push(invalidate(zoneKeys.records(zoneId), true));
    }
  }
  const patch = zonePatch(event);
  ops.push(update<ZoneView>(zoneKeys.detail(zoneId), (zone) => patchZone(zone, patch)));
  if (event.type === EventType.RecordUpdated) {
    ops.push(update<Page<Zone>>(zoneKeys.lists(), (page) => patchZoneInPage(page, zoneId, patch), false));
  } else {
    ops.push(invalidate(zoneKeys.lists())); // the record count changed
  }
  return ops;
}

function zoneOps(event: ServerEvent): CacheOp[] {
  const data: Data = event.data;
  const id = int(data, "id");
  if (event.type === EventType.ZoneCreated || id === null) return [invalidate(zoneKeys.lists())];
  if (event.type === EventType.ZoneDeleted) {
    return [
      update<ZoneView>(zoneKeys.detail(id), (zone) => markZoneDeleted(zone, event.actor, event.timestamp)),
      update<Page<Zone>>(zoneKeys.lists(), (page) => removeZoneFromPage(page, id), false),
    ];
  }
  const patch = { ...zonePatch(event), ...version(data) };
  const ops: CacheOp[] = [
    update<ZoneView>(zoneKeys.detail(id), (zone) => patchZone(zone, patch)),
    update<Page<Zone>>(zoneKeys.lists(), (page) => patchZoneInPage(page, id, patch), false),
  ];
  const changes = data["changes"];
  if (Array.isArray(changes) && changes.length > 0) ops.push(invalidate(zoneKeys.detail(id), true));
  return ops;
}

function overviewOps(event: ServerEvent): CacheOp[] {
  if (event.type === EventType.SystemStatus) {
    const status = event as ServerEvent<EventType.SystemStatus>;
    return [
      update<Metrics>(
        overviewKeys.metricsAll,
        (metrics, key) => addSystemStatus(metrics, status, typeof key[2] === "string" && key[2] ? key[2] : null),
        false,
      ),
    ];
  }
  if (event.type === EventType.HealthUpdate) {
    const health = event as ServerEvent<EventType.HealthUpdate>;
    return [update<HealthReport | null>(overviewKeys.health, (current) => applyHealthUpdate(current, health))];
  }
  if (NOT_NOTIFICATIONS.has(event.type)) return [];
  return [update<RecentEvents>(overviewKeys.recent, (recent) => addRecentEvent(recent, event))];
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

function rpzOps(event: ServerEvent): CacheOp[] {
  const data: Data = event.data;
  const domains = strings(data["domains"]);
  const refresh = invalidate(rpzKeys.lists());
  switch (data["action"]) {
    case "removed":
      return [update<ApiPage<RpzRule>>(rpzKeys.lists(), (page) => removeDomainsFromPage(page, domains), false), refresh];
    case "updated": {
      const patch: RulePatch = {};
      const action = data["rule_action"];
      if (typeof action === "string" && (RPZ_ACTIONS as readonly string[]).includes(action)) patch.action = action as RulePatch["action"];
      if (typeof data["category"] === "string") patch.category = data["category"];
      if ("redirect_to" in data) patch.redirect_to = typeof data["redirect_to"] === "string" ? data["redirect_to"] : null;
      Object.assign(patch, version(data));
      return [
        ...domains.map((domain) => update<ApiPage<RpzRule>>(rpzKeys.lists(), (page) => patchRuleInPage(page, domain, patch), false)),
        refresh,
      ];
    }
    default:
      return [refresh]; // added, imported: the events name domains, not whole rules
  }
}

function configOps(event: ServerEvent): CacheOp[] {
  const data: Data = event.data;
  if (data["section"] === "settings") {
    const changes = data["changes"];
    const keys = changes && typeof changes === "object" && !Array.isArray(changes) ? Object.keys(changes) : [];
    const by = str(data, "changed_by") ?? event.actor;
    return [
      invalidate(settingsKeys.current, true),
      update<SettingsLastChange | null>(settingsKeys.lastChange, (last) => (last && last.at > event.timestamp ? last : { by, at: event.timestamp, keys })),
    ];
  }
  if (data["section"] !== "forwarders") return [];
  const id = int(data, "id");
  if (data["change"] === "deleted" && id !== null) return [update<ApiPage<Forwarder>>(forwarderKeys.list, (page) => removeForwarder(page, id))];
  const forwarder = forwarderFromChange(data, event.timestamp);
  if (forwarder === null) return [invalidate(forwarderKeys.list, true)];
  return [update<ApiPage<Forwarder>>(forwarderKeys.list, (page) => upsertForwarder(page, forwarder))];
}

function userOps(event: ServerEvent): CacheOp[] {
  const user = userFromEvent(event.data, event.timestamp);
  if (user === null) return [invalidate(userKeys.list, true)];
  return [update<UserList>(userKeys.list, (list) => upsertUser(list, user))];
}

/** What `event` changes in the cache (pure: the same event always gives the same operations). */
export function planCacheUpdates(event: ServerEvent): CacheOp[] {
  const ops = overviewOps(event);
  switch (event.type) {
    case EventType.RecordCreated:
    case EventType.RecordUpdated:
    case EventType.RecordDeleted:
      return [...ops, ...recordOps(event)];
    case EventType.ZoneCreated:
    case EventType.ZoneUpdated:
    case EventType.ZoneDeleted:
      return [...ops, ...zoneOps(event)];
    case EventType.RpzUpdate:
      return [...ops, ...rpzOps(event)];
    case EventType.ConfigChange:
      return [...ops, ...configOps(event)];
    case EventType.ForwarderStatusChange: {
      const change = event as ServerEvent<EventType.ForwarderStatusChange>;
      return [...ops, update<SharedHealthReport | null>(overviewKeys.health, (report) => applyStatusChange(report, change))];
    }
    case EventType.UserCreated:
    case EventType.UserUpdated:
      return [...ops, ...userOps(event)];
    default:
      return ops;
  }
}

function opKey(op: CacheOp): string {
  return `${op.exact ? "=" : "^"}${JSON.stringify(op.key)}`;
}

/**
 * Events that arrive together (the events of one bulk change, in one batch frame) planned as one:
 * every patch in order, then each refetch once. A refetch per event would restart the same request
 * hundreds of times.
 */
export function coalesceOps(ops: readonly CacheOp[]): CacheOp[] {
  const updates = ops.filter((op) => op.kind === "update");
  const seen = new Set<string>();
  const invalidations = ops.filter((op) => {
    if (op.kind !== "invalidate") return false;
    const key = opKey(op);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return [...updates, ...invalidations];
}

/**
 * Applies operations: patch loaded, idle entries; invalidate the others (refetched if on screen).
 *
 * Every patch an entry receives from one call is folded into one write: a burst frame of 500
 * notifications adds 500 rows to the recent events with one `setQueryData`, not 500 (each write
 * costs TanStack Query a notification task and a stale timer reset; 5,000 events meant 10,000 timers).
 * All writes and invalidations are announced in one notification batch.
 */
export function applyCacheOps(client: QueryClient, ops: readonly CacheOp[]): void {
  notifyManager.batch(() => {
    const cache = client.getQueryCache();
    // per entry, in the order first touched: its data after the patches so far, or null once it
    // is to be refetched instead (not loaded, or a response in flight that may predate the change)
    const staged = new Map<Query, { key: QueryKey; data: unknown; before: unknown } | null>();
    const invalidations: CacheOp[] = [];
    // the entries under each key, looked up once: a lookup hashes the key against every entry
    const found = new Map<string, Query[]>();
    for (const op of ops) {
      if (op.kind === "invalidate") {
        invalidations.push(op);
        continue;
      }
      const key = opKey(op);
      let queries = found.get(key);
      if (queries === undefined) {
        queries = cache.findAll({ queryKey: op.key, exact: op.exact });
        found.set(key, queries);
      }
      for (const query of queries) {
        let entry = staged.get(query);
        if (entry === undefined) {
          const { data, fetchStatus } = query.state;
          entry = data === undefined || fetchStatus === "fetching" ? null : { key: query.queryKey, data, before: data };
          staged.set(query, entry);
        }
        if (entry !== null) entry.data = op.update(entry.data, entry.key);
      }
    }
    for (const [query, entry] of staged) {
      if (entry === null) void client.invalidateQueries({ queryKey: query.queryKey, exact: true });
      else if (entry.data !== entry.before) client.setQueryData(entry.key, entry.data);
    }
    for (const op of invalidations) void client.invalidateQueries({ queryKey: op.key, exact: op.exact });
  });
}
