// The rules by which live events patch or invalidate the query cache (src/app/liveCache.ts),
// applied to a real QueryClient: what a user would see on a page whose data is cached.
import { QueryClient, QueryObserver } from "@tanstack/react-query";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyCacheOps, coalesceOps, planCacheUpdates, recordFromEvent } from "../../src/app/liveCache";
import { overviewKeys, type HealthReport, type Metrics, type RecentEvents } from "../../src/features/overview";
import { emptySeries, RECENT_LIMIT } from "../../src/features/overview/live";
import { zoneKeys, type DnsRecord, type Page, type Zone, type ZoneView } from "../../src/features/zones";
import { EventType, type ServerEvent } from "../../src/types/events";

let seq = 100;
function event(type: EventType, data: Record<string, unknown>, actor: string | null = "alice", severity: ServerEvent["severity"] = "info"): ServerEvent {
  seq += 1;
  return {
    type,
    id: `ev-${seq}`,
    seq,
    category: type.startsWith("zone") || type.startsWith("record") || type === EventType.BindReload ? "dns" : "system",
    severity,
    timestamp: `2026-12-02T08:00:${String(seq % 60).padStart(2, "0")}.000Z`,
    actor,
    data: data as ServerEvent["data"],
  };
}

function zone(id: number, name: string, extra: Partial<Zone> = {}): Zone {
  return {
    id,
    name,
    zone_type: "master",
    serial: 2026120200,
    primary_ns: "localhost.",
    admin_email: "hostmaster",
    refresh: 3600,
    retry: 900,
    expire: 1209600,
    minimum: 300,
    default_ttl: 3600,
    forwarders: [],
    record_count: 1,
    created_at: "2026-12-02T07:00:00Z",
    updated_at: "2026-12-02T07:00:00Z",
    ...extra,
  };
}

function record(id: number, zoneId: number, name: string, value = "192.0.2.1", extra: Partial<DnsRecord> = {}): DnsRecord {
  return { id, zone_id: zoneId, name, type: "A", value, ttl: null, created_at: "2026-12-02T07:00:00Z", updated_at: "2026-12-02T07:00:00Z", ...extra };
}

function recordEvent(type: EventType, r: DnsRecord, serial: number, extra: Record<string, unknown> = {}): ServerEvent {
  return event(type, { zone: "example.com", zone_id: r.zone_id, id: r.id, name: r.name, type: r.type, value: r.value, ttl: r.ttl, serial, ...extra });
}

function page(items: Zone[]): Page<Zone> {
  return { items, total: items.length, limit: 100, offset: 0 };
}

let client: QueryClient;
const apply = (e: ServerEvent) => applyCacheOps(client, planCacheUpdates(e));
const never = () => new Promise<never>(() => undefined);

beforeEach(() => {
  client = new QueryClient({ defaultOptions: { queries: { retry: false, gcTime: Infinity, staleTime: Infinity } } });
});
afterEach(() => client.clear());

describe("records", () => {
  it("record_created for zone 12 joins zone 12's loaded records, sorted, and moves its serial on", () => {
    client.setQueryData(zoneKeys.records(12), [record(1, 12, "www"), record(2, 12, "zz")]);
    client.setQueryData(zoneKeys.records(13), [record(9, 13, "www")]);
    client.setQueryData(zoneKeys.detail(12), zone(12, "example.com"));
    apply(recordEvent(EventType.RecordCreated, record(3, 12, "mail", "192.0.2.25"), 2026120205));
    const records = client.getQueryData<DnsRecord[]>(zoneKeys.records(12))!;
    expect(records.map((r) => [r.id, r.name, r.value])).toEqual([
      [3, "mail", "192.0.2.25"],
      [1, "www", "192.0.2.1"],
      [2, "zz", "192.0.2.1"],
    ]);
    expect(client.getQueryData<DnsRecord[]>(zoneKeys.records(13))!.map((r) => r.id)).toEqual([9]); // another zone: untouched
    expect(client.getQueryData<ZoneView>(zoneKeys.detail(12))!.serial).toBe(2026120205);
  });

  it("the same event twice (a replay after a reconnect) changes nothing the second time", () => {
    client.setQueryData(zoneKeys.records(12), [record(1, 12, "www")]);
    const e = recordEvent(EventType.RecordCreated, record(3, 12, "mail"), 2026120201);
    apply(e);
    const once = client.getQueryData<DnsRecord[]>(zoneKeys.records(12));
    apply(e);
    expect(client.getQueryData<DnsRecord[]>(zoneKeys.records(12))).toBe(once);
    expect(once).toHaveLength(2);
  });

  it("record_updated replaces the record's data; record_deleted removes it", () => {
    client.setQueryData(zoneKeys.records(12), [record(1, 12, "www"), record(2, 12, "api")]);
    apply(recordEvent(EventType.RecordUpdated, record(1, 12, "www", "198.51.100.7", { ttl: 300 }), 2026120206));
    expect(client.getQueryData<DnsRecord[]>(zoneKeys.records(12))!.find((r) => r.id === 1)).toMatchObject({ value: "198.51.100.7", ttl: 300 });
    expect(client.getQueryData<DnsRecord[]>(zoneKeys.records(12))!.find((r) => r.id === 1)!.created_at).toBe("2026-12-02T07:00:00Z");
    apply(recordEvent(EventType.RecordDeleted, record(2, 12, "api"), 2026120207));
    expect(client.getQueryData<DnsRecord[]>(zoneKeys.records(12))!.map((r) => r.id)).toEqual([1]);
  });

  it("never moves a record back to an older version", () => {
    client.setQueryData(zoneKeys.records(12), [record(1, 12, "www", "203.0.113.9", { version: 5 })]);
    apply(recordEvent(EventType.RecordUpdated, record(1, 12, "www", "192.0.2.1"), 2026120206, { version: 4 }));
    expect(client.getQueryData<DnsRecord[]>(zoneKeys.records(12))![0]!.value).toBe("203.0.113.9");
    apply(recordEvent(EventType.RecordUpdated, record(1, 12, "www", "192.0.2.99"), 2026120207, { version: 6 }));
    expect(client.getQueryData<DnsRecord[]>(zoneKeys.records(12))![0]).toMatchObject({ value: "192.0.2.99", version: 6 });
  });

  it("a records list being fetched is refetched instead of patched (the answer in flight may predate the change)", async () => {
    let calls = 0;
    const observer = new QueryObserver(client, {
      queryKey: zoneKeys.records(12),
      queryFn: () => {
        calls += 1;
        return calls === 1 ? never() : Promise.resolve([record(1, 12, "www"), record(3, 12, "mail")]);
      },
    });
    const unsubscribe = observer.subscribe(() => undefined);
    client.setQueryData(zoneKeys.records(12), [record(1, 12, "www")]); // data, and a fetch under way
    expect(client.getQueryState(zoneKeys.records(12))!.fetchStatus).toBe("fetching");
    apply(recordEvent(EventType.RecordCreated, record(3, 12, "mail"), 2026120201));
    await expect.poll(() => client.getQueryData<DnsRecord[]>(zoneKeys.records(12))?.map((r) => r.id)).toEqual([1, 3]);
    expect(calls).toBe(2); // the first fetch was replaced by a new one
    unsubscribe();
  });

  it("a records list that is not loaded is left to load; one that failed on screen is fetched again", async () => {
    apply(recordEvent(EventType.RecordCreated, record(3, 12, "mail"), 2026120201));
    expect(client.getQueryData(zoneKeys.records(12))).toBeUndefined();
    let calls = 0;
    const observer = new QueryObserver(client, {
      queryKey: zoneKeys.records(14),
      queryFn: () => {
        calls += 1;
        return calls === 1 ? Promise.reject(new Error("down")) : Promise.resolve([record(4, 14, "x")]);
      },
    });
    const unsubscribe = observer.subscribe(() => undefined);
    await expect.poll(() => client.getQueryState(zoneKeys.records(14))?.status).toBe("error");
    apply(recordEvent(EventType.RecordCreated, record(4, 14, "x"), 2026120201));
    await expect.poll(() => client.getQueryData<DnsRecord[]>(zoneKeys.records(14))?.map((r) => r.id)).toEqual([4]);
    unsubscribe();
  });

  it("a record change invalidates the zone lists (their record counts)", () => {
    client.setQueryData(zoneKeys.list({ search: "", offset: 0 }), page([zone(12, "example.com")]));
    apply(recordEvent(EventType.RecordCreated, record(3, 12, "mail"), 2026120201));
    expect(client.getQueryState(zoneKeys.list({ search: "", offset: 0 }))!.isInvalidated).toBe(true);
  });

  it("reads a record from an event, and refuses an event without what a record needs", () => {
    const e = recordEvent(EventType.RecordCreated, record(3, 12, "mail", "10 mx.example.com.", { type: "MX", ttl: 600 }), 1);
    expect(recordFromEvent(e)).toMatchObject({ id: 3, zone_id: 12, name: "mail", type: "MX", value: "10 mx.example.com.", ttl: 600 });
    expect(recordFromEvent(event(EventType.RecordCreated, { zone: "demo.example", name: "www", type: "A" }))).toBeNull();
  });

  it("a demo event without ids only refreshes the zone lists", () => {
    client.setQueryData(zoneKeys.records(12), [record(1, 12, "www")]);
    client.setQueryData(zoneKeys.list({ search: "", offset: 0 }), page([zone(12, "example.com")]));
    const before = client.getQueryData(zoneKeys.records(12));
    apply(event(EventType.RecordCreated, { zone: "demo.example", name: "www", type: "A", value: "192.0.2.1" }));
    expect(client.getQueryData(zoneKeys.records(12))).toBe(before);
    expect(client.getQueryState(zoneKeys.list({ search: "", offset: 0 }))!.isInvalidated).toBe(true);
  });
});

describe("zones", () => {
  it("zone_deleted removes the zone from every list and marks an open zone page deleted, by whom and when", () => {
    const a = zone(12, "example.com");
    const b = zone(13, "example.org");
    client.setQueryData(zoneKeys.list({ search: "", offset: 0 }), page([a, b]));
    client.setQueryData(zoneKeys.list({ search: "example", offset: 0 }), page([a, b]));
    client.setQueryData(zoneKeys.detail(12), a);
    client.setQueryData(zoneKeys.records(12), [record(1, 12, "www")]);
    const e = event(EventType.ZoneDeleted, { zone: "example.com", id: 12, zone_type: "master", serial: 2026120209, records: 1 }, "alice");
    apply(e);
    for (const search of ["", "example"]) {
      const list = client.getQueryData<Page<Zone>>(zoneKeys.list({ search, offset: 0 }))!;
      expect(list.items.map((z) => z.name)).toEqual(["example.org"]);
      expect(list.total).toBe(1);
    }
    expect(client.getQueryData<ZoneView>(zoneKeys.detail(12))!.deleted).toEqual({ by: "alice", at: e.timestamp });
    expect(client.getQueryData<DnsRecord[]>(zoneKeys.records(12))).toHaveLength(1); // still shown, read-only
  });

  it("zone_created refreshes the lists (the event does not hold a whole zone)", () => {
    client.setQueryData(zoneKeys.list({ search: "", offset: 0 }), page([]));
    apply(event(EventType.ZoneCreated, { zone: "new.example", id: 20, zone_type: "master", serial: 2026120200 }));
    expect(client.getQueryState(zoneKeys.list({ search: "", offset: 0 }))!.isInvalidated).toBe(true);
  });

  it("zone_updated moves the serial on in the page and the lists, and refetches the zone when its fields changed", () => {
    client.setQueryData(zoneKeys.list({ search: "", offset: 0 }), page([zone(12, "example.com")]));
    client.setQueryData(zoneKeys.detail(12), zone(12, "example.com"));
    apply(event(EventType.ZoneUpdated, { zone: "example.com", id: 12, zone_type: "master", serial: 2026120210 }));
    expect(client.getQueryData<ZoneView>(zoneKeys.detail(12))!.serial).toBe(2026120210);
    expect(client.getQueryData<Page<Zone>>(zoneKeys.list({ search: "", offset: 0 }))!.items[0]!.serial).toBe(2026120210);
    expect(client.getQueryState(zoneKeys.detail(12))!.isInvalidated).toBe(false);
    apply(event(EventType.ZoneUpdated, { zone: "example.com", id: 12, zone_type: "master", serial: 2026120211, changes: ["default_ttl"] }));
    expect(client.getQueryState(zoneKeys.detail(12))!.isInvalidated).toBe(true);
  });

  it("a serial never goes back (events may arrive after a fresher answer)", () => {
    client.setQueryData(zoneKeys.detail(12), zone(12, "example.com", { serial: 2026120220 }));
    apply(recordEvent(EventType.RecordUpdated, record(1, 12, "www"), 2026120219));
    expect(client.getQueryData<ZoneView>(zoneKeys.detail(12))!.serial).toBe(2026120220);
  });
});

describe("overview", () => {
  it("a notification joins the recent events once, newest first; periodic events do not", () => {
    const first = event(EventType.ZoneUpdated, { zone: "a.example" });
    client.setQueryData<RecentEvents>(overviewKeys.recent, { events: [first], epoch: "e1" });
    const second = event(EventType.RecordCreated, { zone: "a.example" });
    apply(second);
    apply(second);
    apply(event(EventType.SystemStatus, { cpu_percent: 5, memory: { percent: 1 } }));
    expect(client.getQueryData<RecentEvents>(overviewKeys.recent)!.events.map((e) => e.id)).toEqual([second.id, first.id]);
  });

  it("a burst frame's notifications join in seq order, late ones in their place, at most RECENT_LIMIT, in one write", () => {
    const older = event(EventType.ZoneUpdated, { zone: "a.example" });
    const held = Array.from({ length: RECENT_LIMIT - 60 }, () => event(EventType.RecordCreated, { zone: "a.example" })).reverse();
    client.setQueryData<RecentEvents>(overviewKeys.recent, { events: held, epoch: "e1" });
    const writes: number[] = [];
    const unsubscribe = client.getQueryCache().subscribe((e) => {
      if (e.type === "updated" && e.action.type === "success") writes.push(1);
    });
    const burst = Array.from({ length: 50 }, () => event(EventType.RecordUpdated, { zone: "a.example" }));
    // a frame: 50 new events, one repeated, and one older than everything held (a late replay)
    applyCacheOps(client, coalesceOps([...burst, burst[10]!, older].flatMap((e) => planCacheUpdates(e))));
    unsubscribe();
    const newestFirst = (events: ServerEvent[]) => events.map((e) => e.id).reverse();
    let ids = client.getQueryData<RecentEvents>(overviewKeys.recent)!.events.map((e) => e.id);
    expect(ids).toEqual([...newestFirst(burst), ...held.map((e) => e.id), older.id]);
    expect(writes).toHaveLength(1);
    // 20 more: the oldest leave, the list stays at RECENT_LIMIT
    const more = Array.from({ length: 20 }, () => event(EventType.RecordDeleted, { zone: "a.example" }));
    applyCacheOps(client, coalesceOps(more.flatMap((e) => planCacheUpdates(e))));
    ids = client.getQueryData<RecentEvents>(overviewKeys.recent)!.events.map((e) => e.id);
    expect(ids).toEqual([...newestFirst(more), ...newestFirst(burst), ...held.map((e) => e.id)].slice(0, RECENT_LIMIT));
  });

  it("a system_status joins the figures of the instance the page follows, not another host's", () => {
    const metrics: Metrics = { series: emptySeries(), status: null, statusAt: null };
    client.setQueryData(overviewKeys.metrics("a"), metrics);
    apply(event(EventType.SystemStatus, { cpu_percent: 40, memory: { percent: 10 }, instance_id: "b" }));
    expect(client.getQueryData<Metrics>(overviewKeys.metrics("a"))!.status).toBeNull();
    apply(event(EventType.SystemStatus, { cpu_percent: 12, memory: { percent: 10 }, instance_id: "a" }));
    const now = client.getQueryData<Metrics>(overviewKeys.metrics("a"))!;
    expect(now.status?.cpu_percent).toBe(12);
    expect(now.series.cpu.map((s) => s.v)).toEqual([12]);
  });

  it("a health_update replaces the report, unless the cached one is newer", () => {
    client.setQueryData<HealthReport | null>(overviewKeys.health, null);
    const h = event(EventType.HealthUpdate, { forwarders: [], summary: { total: 0, healthy: 0, degraded: 0, unhealthy: 0 } });
    apply(h);
    expect(client.getQueryData<HealthReport | null>(overviewKeys.health)!.at).toBe(h.timestamp);
    const older = { ...h, id: "older", timestamp: "2026-12-01T00:00:00.000Z" };
    apply(older);
    expect(client.getQueryData<HealthReport | null>(overviewKeys.health)!.at).toBe(h.timestamp);
  });
});
