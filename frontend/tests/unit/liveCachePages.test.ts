// The live cache rules of the RPZ, forwarders, settings and users pages, and the health report
// (src/app/liveCache.ts), applied to a real QueryClient: what a user would see on a page whose data
// is cached when another user changes something.
import { QueryClient } from "@tanstack/react-query";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyCacheOps, coalesceOps, planCacheUpdates } from "../../src/app/liveCache";
import { forwarderKeys, type Forwarder } from "../../src/features/forwarders";
import { rpzKeys, type RpzRule } from "../../src/features/rpz";
import { settingsKeys, type SettingsLastChange } from "../../src/features/settings";
import { userKeys, type UserList } from "../../src/features/users";
import { healthKeys, type HealthReport } from "../../src/lib/health";
import type { Page } from "../../src/services/api";
import { EventType, type ServerEvent } from "../../src/types/events";

let seq = 500;
function event(type: EventType, data: Record<string, unknown>, actor: string | null = "alice", timestamp?: string): ServerEvent {
  seq += 1;
  return {
    type,
    id: `ev-${seq}`,
    seq,
    category: "system",
    severity: "info",
    timestamp: timestamp ?? `2026-12-02T09:00:${String(seq % 60).padStart(2, "0")}.000Z`,
    actor,
    data: data as ServerEvent["data"],
  };
}

function rule(id: number, domain: string, extra: Partial<RpzRule> = {}): RpzRule {
  return { id, domain, action: "block", redirect_to: null, category: "custom", created_at: "2026-12-02T08:00:00Z", ...extra };
}

function page<T>(items: T[], total = items.length): Page<T> {
  return { items, total, limit: 100, offset: 0 };
}

function forwarder(id: number, name: string, extra: Partial<Forwarder> = {}): Forwarder {
  return {
    id,
    name,
    type: "intranet",
    domains: [`${name.toLowerCase()}.example`],
    servers: ["192.0.2.53"],
    enabled: true,
    created_at: "2026-12-02T08:00:00Z",
    updated_at: "2026-12-02T08:00:00Z",
    ...extra,
  };
}

let client: QueryClient;
const apply = (...events: ServerEvent[]) => applyCacheOps(client, coalesceOps(events.flatMap((e) => planCacheUpdates(e))));
const ALL = { search: "", category: "", action: "", offset: 0 };
const MALWARE = { search: "", category: "malware", action: "", offset: 0 };

beforeEach(() => {
  client = new QueryClient({ defaultOptions: { queries: { retry: false, gcTime: Infinity, staleTime: Infinity } } });
});
afterEach(() => client.clear());

describe("RPZ rules", () => {
  it("removed domains leave every page shown at once (its total too), and the pages are refetched for the rest", () => {
    client.setQueryData(rpzKeys.list(ALL), page([rule(1, "a.example"), rule(2, "b.example"), rule(3, "c.example")], 250));
    client.setQueryData(rpzKeys.list(MALWARE), page([rule(2, "b.example", { category: "malware" })]));
    apply(event(EventType.RpzUpdate, { action: "removed", domains: ["b.example", "zz.example"], rule_action: null, category: null, count: 2 }));
    const all = client.getQueryData<Page<RpzRule>>(rpzKeys.list(ALL))!;
    expect(all.items.map((r) => r.domain)).toEqual(["a.example", "c.example"]);
    expect(all.total).toBe(249);
    expect(client.getQueryData<Page<RpzRule>>(rpzKeys.list(MALWARE))!.items).toEqual([]);
    expect(client.getQueryState(rpzKeys.list(ALL))!.isInvalidated).toBe(true);
  });

  it("an updated rule changes in place (action, target, category)", () => {
    client.setQueryData(rpzKeys.list(ALL), page([rule(1, "a.example"), rule(2, "b.example")]));
    apply(event(EventType.RpzUpdate, { action: "updated", domains: ["b.example"], rule_action: "redirect", category: "phishing", redirect_to: "192.0.2.80", count: 1 }));
    expect(client.getQueryData<Page<RpzRule>>(rpzKeys.list(ALL))!.items[1]).toMatchObject({
      id: 2,
      action: "redirect",
      redirect_to: "192.0.2.80",
      category: "phishing",
    });
  });

  it("added and imported rules refetch the pages (the events name domains, not whole rules)", () => {
    client.setQueryData(rpzKeys.list(ALL), page([rule(1, "a.example")]));
    apply(event(EventType.RpzUpdate, { action: "imported", domains: ["n1.example", "n2.example"], rule_action: "block", category: "ads", count: 2, part: 1, parts: 1, total: 2 }));
    expect(client.getQueryState(rpzKeys.list(ALL))!.isInvalidated).toBe(true);
    expect(client.getQueryData<Page<RpzRule>>(rpzKeys.list(ALL))!.items).toHaveLength(1);
  });

  it("a bulk change's events (one batch frame) patch everything and refresh each page once", () => {
    const parts = Array.from({ length: 40 }, (_, i) =>
      event(EventType.RpzUpdate, { action: "removed", domains: [`d${i}.example`], rule_action: null, category: null, count: 1, part: i + 1, parts: 40 }),
    );
    const ops = coalesceOps(parts.flatMap((e) => planCacheUpdates(e)));
    const onRules = ops.filter((op) => op.key[0] === "rpz");
    expect(onRules.filter((op) => op.kind === "invalidate")).toHaveLength(1);
    expect(onRules.filter((op) => op.kind === "update")).toHaveLength(40);
    expect(ops.at(-1)!.kind).toBe("invalidate"); // patches first, then the refetch
  });
});

describe("forwarders", () => {
  const created = (f: Forwarder, change = "created", extra: Record<string, unknown> = {}) =>
    event(EventType.ConfigChange, {
      section: "forwarders",
      change,
      forwarder: f.name,
      id: f.id,
      type: f.type,
      domains: f.domains,
      servers: f.servers,
      enabled: f.enabled,
      ...extra,
    });

  it("a forwarder created, changed or deleted elsewhere appears, changes or goes, in name order", () => {
    client.setQueryData(forwarderKeys.list, page([forwarder(1, "Branch"), forwarder(3, "Zeta")]));
    apply(created(forwarder(7, "Corp AD", { type: "active_directory" })));
    expect(client.getQueryData<Page<Forwarder>>(forwarderKeys.list)!.items.map((f) => f.name)).toEqual(["Branch", "Corp AD", "Zeta"]);
    expect(client.getQueryData<Page<Forwarder>>(forwarderKeys.list)!.total).toBe(3);
    apply(created(forwarder(1, "Branch", { enabled: false, servers: ["192.0.2.60"] }), "updated", { changes: ["enabled", "servers"] }));
    const branch = client.getQueryData<Page<Forwarder>>(forwarderKeys.list)!.items[0]!;
    expect(branch).toMatchObject({ id: 1, enabled: false, servers: ["192.0.2.60"], created_at: "2026-12-02T08:00:00Z" });
    apply(event(EventType.ConfigChange, { section: "forwarders", change: "deleted", forwarder: "Zeta", id: 3, type: "intranet", domains: [], servers: [], enabled: true }));
    expect(client.getQueryData<Page<Forwarder>>(forwarderKeys.list)!.items.map((f) => f.id)).toEqual([1, 7]);
  });

  it("the same event twice (a replay) changes nothing the second time", () => {
    client.setQueryData(forwarderKeys.list, page([forwarder(1, "Branch")]));
    const e = created(forwarder(2, "Corp"));
    apply(e);
    const once = client.getQueryData(forwarderKeys.list);
    apply(e);
    expect(client.getQueryData(forwarderKeys.list)).toBe(once);
  });

  it("an event that lacks what a forwarder needs (the demo's) refetches the list instead", () => {
    client.setQueryData(forwarderKeys.list, page([forwarder(1, "Branch")]));
    apply(event(EventType.ConfigChange, { section: "forwarders", change: "updated", forwarder: "x" }));
    expect(client.getQueryState(forwarderKeys.list)!.isInvalidated).toBe(true);
  });
});

describe("forwarder health", () => {
  const report = (at: string, status = "healthy"): HealthReport => ({
    at,
    data: {
      forwarders: [{ name: "Corp AD", status, servers: [{ address: "192.0.2.53", status }] }],
      summary: { total: 1, healthy: status === "healthy" ? 1 : 0, degraded: 0, unhealthy: status === "healthy" ? 0 : 1 },
    },
  });

  it("a status change between two reports updates that forwarder at once", () => {
    client.setQueryData(healthKeys.report, report("2026-12-02T09:00:00.000Z"));
    apply(
      event(
        EventType.ForwarderStatusChange,
        { forwarder: "Corp AD", old_status: "healthy", new_status: "unhealthy", servers: [{ address: "192.0.2.53", status: "unhealthy" }], reason: "none of 1 servers answered" },
        null,
        "2026-12-02T09:00:05.000Z",
      ),
    );
    const entry = client.getQueryData<HealthReport>(healthKeys.report)!.data.forwarders[0]!;
    expect(entry).toMatchObject({ name: "Corp AD", status: "unhealthy", changed_at: "2026-12-02T09:00:05.000Z", reason: "none of 1 servers answered" });
    expect(entry.servers?.[0]?.status).toBe("unhealthy");
  });

  it("a change older than the report does not undo it; a newer report replaces the change", () => {
    client.setQueryData(healthKeys.report, report("2026-12-02T09:00:10.000Z"));
    apply(event(EventType.ForwarderStatusChange, { forwarder: "Corp AD", new_status: "unhealthy" }, null, "2026-12-02T09:00:05.000Z"));
    expect(client.getQueryData<HealthReport>(healthKeys.report)!.data.forwarders[0]!.status).toBe("healthy");
    apply(event(EventType.ForwarderStatusChange, { forwarder: "Corp AD", new_status: "degraded" }, null, "2026-12-02T09:00:12.000Z"));
    expect(client.getQueryData<HealthReport>(healthKeys.report)!.data.forwarders[0]!.status).toBe("degraded");
    apply(event(EventType.HealthUpdate, report("x").data as unknown as Record<string, unknown>, null, "2026-12-02T09:00:20.000Z"));
    expect(client.getQueryData<HealthReport>(healthKeys.report)!.data.forwarders[0]!.status).toBe("healthy");
  });
});

describe("settings", () => {
  it("another admin's change refetches the values and records who changed what", () => {
    client.setQueryData(settingsKeys.current, { FORWARDER_CHECK_INTERVAL: 10 });
    client.setQueryData<SettingsLastChange | null>(settingsKeys.lastChange, null);
    const e = event(EventType.ConfigChange, { section: "settings", changes: { FORWARDER_CHECK_INTERVAL: { old: 10, new: 5 } }, changed_by: "bob" }, "bob");
    apply(e);
    expect(client.getQueryState(settingsKeys.current)!.isInvalidated).toBe(true);
    expect(client.getQueryData(settingsKeys.current)).toEqual({ FORWARDER_CHECK_INTERVAL: 10 }); // the values come from the server, not the event
    expect(client.getQueryData<SettingsLastChange>(settingsKeys.lastChange)).toEqual({ by: "bob", at: e.timestamp, keys: ["FORWARDER_CHECK_INTERVAL"] });
  });

  it("a change of another section leaves the settings alone", () => {
    client.setQueryData(settingsKeys.current, { FORWARDER_CHECK_INTERVAL: 10 });
    apply(event(EventType.ConfigChange, { section: "zones", change: "reloaded" }));
    expect(client.getQueryState(settingsKeys.current)!.isInvalidated).toBe(false);
  });
});

describe("users", () => {
  const list = (): UserList => ({
    items: [
      { username: "admin", role: "admin", disabled: false, created_at: "2026-12-01T00:00:00Z", version: 1 },
      { username: "viewer", role: "viewer", disabled: false, created_at: "2026-12-01T00:00:00Z", version: 1 },
    ],
    total: 2,
  });

  it("users created and changed by another admin appear and change", () => {
    client.setQueryData(userKeys.list, list());
    apply(event(EventType.UserCreated, { username: "carol", role: "operator", disabled: false, version: 1 }));
    apply(event(EventType.UserUpdated, { username: "viewer", role: "operator", disabled: true, version: 2 }));
    const users = client.getQueryData<UserList>(userKeys.list)!;
    expect(users.items.map((u) => [u.username, u.role, u.disabled])).toEqual([
      ["admin", "admin", false],
      ["carol", "operator", false],
      ["viewer", "operator", true],
    ]);
    expect(users.items[2]!.created_at).toBe("2026-12-01T00:00:00Z");
    expect(users.total).toBe(3);
  });

  it("never moves a user back to an older version", () => {
    client.setQueryData(userKeys.list, list());
    apply(event(EventType.UserUpdated, { username: "viewer", role: "admin", disabled: false, version: 3 }));
    apply(event(EventType.UserUpdated, { username: "viewer", role: "operator", disabled: false, version: 2 }));
    expect(client.getQueryData<UserList>(userKeys.list)!.items[1]!.role).toBe("admin");
  });
});
