import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  CLIENT_TIMEOUT_CODE,
  WebSocketService,
  acquireWebSocketService,
  backoffDelay,
  defaultSocketUrl,
  sharedServiceRefs,
  withResume,
  type ConnectionSnapshot,
  type WebSocketServiceOptions,
} from "../../src/services/websocketService";
import { EventType, type ResetFrame, type ServerEvent } from "../../src/types/events";
import { FakeWebSocket, connectedFrame, makeEvent, seededRandom } from "./fakeWebSocket";

const SECOND = 1000;

function makeService(options: Partial<WebSocketServiceOptions> = {}): WebSocketService {
  return new WebSocketService({
    connectionType: "dns_management",
    userId: "alice",
    getToken: () => "tok",
    WebSocketImpl: FakeWebSocket,
    random: () => 0.5,
    config: { reconnect_interval: 1, reconnect_max_interval: 8, max_reconnect_attempts: 3 },
    ...options,
  });
}

async function tick(ms = 0): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

/** Completes the handshake of the newest socket and sends `connected`. */
async function accept(overrides: Parameters<typeof connectedFrame>[0] = {}): Promise<FakeWebSocket> {
  const ws = FakeWebSocket.last();
  ws.accept();
  await tick();
  ws.receive(connectedFrame(overrides));
  return ws;
}

/** Lets the pending reconnect timer fire (whatever the jittered delay). */
async function untilNextSocket(): Promise<FakeWebSocket> {
  const before = FakeWebSocket.instances.length;
  for (let i = 0; i < 20 && FakeWebSocket.instances.length === before; i++) {
    await vi.advanceTimersToNextTimerAsync();
  }
  expect(FakeWebSocket.instances.length).toBe(before + 1);
  return FakeWebSocket.last();
}

function setVisibility(state: DocumentVisibilityState): void {
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
}

let services: WebSocketService[] = [];
function track(service: WebSocketService): WebSocketService {
  services.push(service);
  return service;
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
  services = [];
});

afterEach(() => {
  for (const service of services) service.disconnect();
  vi.useRealTimers();
  vi.restoreAllMocks();
  setVisibility("visible");
});

describe("backoffDelay (full jitter)", () => {
  it("stays within [0, min(cap, base * 2^attempt)] for many random values", () => {
    const rand = seededRandom(42);
    for (let i = 0; i < 5000; i++) {
      const attempt = Math.floor(rand() * 30);
      const base = 1 + Math.floor(rand() * 10_000);
      const cap = base + Math.floor(rand() * 120_000);
      const r = rand();
      const bound = Math.min(cap, base * 2 ** attempt);
      const delay = backoffDelay(attempt, base, cap, () => r);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(bound);
      expect(delay).toBeLessThanOrEqual(cap);
      expect(delay).toBeCloseTo(r * bound, 6);
    }
  });

  it("gives 0 for random() = 0 and almost the bound for random() close to 1", () => {
    const bounds = [5000, 10_000, 20_000, 40_000, 60_000, 60_000, 60_000];
    bounds.forEach((bound, attempt) => {
      expect(backoffDelay(attempt, 5000, 60_000, () => 0)).toBe(0);
      const high = backoffDelay(attempt, 5000, 60_000, () => 1 - Number.EPSILON);
      expect(high).toBeLessThanOrEqual(bound);
      expect(high).toBeGreaterThan(bound * 0.999999);
    });
  });

  it("clamps a misbehaving random() and huge attempts", () => {
    expect(backoffDelay(3, 1000, 8000, () => 7)).toBe(8000);
    expect(backoffDelay(3, 1000, 8000, () => -1)).toBe(0);
    expect(backoffDelay(10_000, 1000, 8000, () => 0.5)).toBe(4000);
  });

  it("is what the service waits before each reconnect attempt", async () => {
    const rand = seededRandom(7);
    const draws: number[] = [];
    const service = track(
      makeService({
        random: () => {
          const r = rand();
          draws.push(r);
          return r;
        },
        config: { reconnect_interval: 1, reconnect_max_interval: 8, max_reconnect_attempts: 6 },
      }),
    );
    service.connect();
    await accept();
    for (let attempt = 0; attempt < 6; attempt++) {
      FakeWebSocket.last().drop();
      await tick();
      const snap = service.snapshot();
      expect(snap.state).toBe("reconnecting");
      expect(snap.reconnectAttempts).toBe(attempt + 1);
      const bound = Math.min(8000, 1000 * 2 ** attempt);
      const delay = (snap.nextRetryAt ?? NaN) - Date.now();
      expect(delay).toBe(Math.floor((draws[attempt] ?? NaN) * bound)); // whole milliseconds
      expect(delay).toBeLessThanOrEqual(bound);
      const count = FakeWebSocket.instances.length;
      await tick(Math.max(0, delay - 1));
      if (delay >= 1) expect(FakeWebSocket.instances.length).toBe(count); // not before its time
      await tick(1);
      expect(FakeWebSocket.instances.length).toBe(count + 1);
    }
  });
});

describe("connecting", () => {
  it("offers the token as a subprotocol beside hybrid-dns.v1 and uses the page's host", async () => {
    const service = track(makeService());
    service.connect();
    expect(service.snapshot().state).toBe("connecting");
    const ws = FakeWebSocket.last();
    expect(ws.protocols).toEqual(["hybrid-dns.v1", "bearer.tok"]);
    expect(ws.url).toBe(`ws://${location.host}/ws/dns_management/alice`);
    ws.accept();
    await tick();
    expect(ws.protocol).toBe("hybrid-dns.v1");
    expect(service.snapshot().state).toBe("connecting"); // open is not enough: refusals come after it
    ws.receive(connectedFrame({ epoch: "e9", last_seq: 41 }));
    const snap = service.snapshot();
    expect(snap.state).toBe("connected");
    expect(snap.epoch).toBe("e9");
    expect(snap.lastSeq).toBe(41);
    expect(snap.connected?.connection_id).toBe("c".repeat(32));
  });

  it("builds ws: and wss: URLs and adds the resume parameters", () => {
    expect(defaultSocketUrl({ protocol: "https:", host: "dns.example.com" }, "admin", "bob")).toBe(
      "wss://dns.example.com/ws/admin/bob",
    );
    expect(defaultSocketUrl({ protocol: "http:", host: "127.0.0.1:8000" }, "health", "a b")).toBe(
      "ws://127.0.0.1:8000/ws/health/a%20b",
    );
    expect(withResume("wss://h/ws/admin/bob", 12, "ab12")).toBe("wss://h/ws/admin/bob?since=12&epoch=ab12");
  });

  it("goes to unauthorized without a token and opens no socket", () => {
    const service = track(makeService({ getToken: () => null }));
    service.connect();
    expect(service.snapshot().state).toBe("unauthorized");
    expect(FakeWebSocket.instances).toHaveLength(0);
  });

  it("notifies state listeners with stable snapshots", async () => {
    const service = track(makeService());
    const states: ConnectionSnapshot[] = [];
    service.onState((s) => states.push(s));
    service.connect();
    await accept();
    expect(states.map((s) => s.state)).toEqual(["connecting", "connected"]);
    expect(service.snapshot()).toBe(service.snapshot());
    expect(Object.isFrozen(service.snapshot())).toBe(true);
  });

  it("waits for loadConfig before the first attempt and uses its settings", async () => {
    const service = track(
      makeService({
        config: undefined,
        loadConfig: () =>
          Promise.resolve({ reconnect_interval: 2, reconnect_max_interval: 3, max_reconnect_attempts: 1 }),
      }),
    );
    service.connect();
    expect(FakeWebSocket.instances).toHaveLength(0);
    await tick();
    expect(FakeWebSocket.instances).toHaveLength(1);
    await accept();
    FakeWebSocket.last().drop();
    await tick();
    expect((service.snapshot().nextRetryAt ?? NaN) - Date.now()).toBe(1000); // 0.5 * 2 s
    await untilNextSocket();
    FakeWebSocket.last().drop();
    await tick();
    expect(service.snapshot().state).toBe("offline"); // max_reconnect_attempts: 1
  });

  it("gives up on a socket that never reaches connected", async () => {
    const service = track(makeService({ connectTimeoutMs: 4000 }));
    service.connect();
    const ws = FakeWebSocket.last();
    await tick(4000);
    expect(ws.clientClose?.code).toBe(CLIENT_TIMEOUT_CODE);
    expect(service.snapshot().state).toBe("reconnecting");
    await untilNextSocket();
  });
});

describe("reconnect attempts", () => {
  /** The fast attempts (max_reconnect_attempts = 3), each failing at once; then the state is offline. */
  async function exhaust(service: WebSocketService): Promise<void> {
    FakeWebSocket.last().drop();
    await tick();
    for (let i = 1; i <= 3; i++) {
      expect(service.snapshot().state).toBe("reconnecting");
      expect(service.snapshot().reconnectAttempts).toBe(i);
      const ws = await untilNextSocket();
      ws.drop();
      await tick();
    }
    expect(service.snapshot().state).toBe("offline");
  }

  it("after the fast attempts, stays offline and keeps probing at the capped interval, never giving up", async () => {
    const service = track(makeService()); // cap 8 s, random 0.5: a probe every 6 s (between 4 and 8 s)
    service.connect();
    await accept();
    await exhaust(service);
    const states: string[] = [];
    service.onState((s) => states.push(s.state));
    for (let probe = 1; probe <= 20; probe++) {
      const snapshot = service.snapshot();
      expect(snapshot.state).toBe("offline");
      expect(snapshot.nextRetryAt).not.toBeNull();
      const wait = (snapshot.nextRetryAt ?? 0) - Date.now();
      expect(wait).toBe(6 * SECOND);
      const count = FakeWebSocket.instances.length;
      await tick(wait - 1);
      expect(FakeWebSocket.instances).toHaveLength(count); // not before it is due
      await tick(1);
      expect(FakeWebSocket.instances).toHaveLength(count + 1); // a probe, 6 s after the last one
      expect(service.snapshot().state).toBe("offline"); // no flicker while a probe is under way
      FakeWebSocket.last().drop();
      await tick();
    }
    expect(new Set(states)).toEqual(new Set(["offline"]));
    // The server is back: the next probe connects.
    await untilNextSocket();
    await accept();
    expect(service.snapshot().state).toBe("connected");
    expect(service.snapshot().reconnectAttempts).toBe(0);
  });

  it("spreads the probes of many clients between half and all of the capped interval", async () => {
    for (const r of [0, 0.25, 1]) {
      FakeWebSocket.reset();
      const service = track(makeService({ random: () => r }));
      service.connect();
      await accept();
      await exhaust(service);
      expect((service.snapshot().nextRetryAt ?? NaN) - Date.now()).toBe(Math.floor(8 * SECOND * (0.5 + 0.5 * r)));
      service.disconnect();
    }
  });

  it("reconnect() (a click) starts the fast attempts again at once", async () => {
    const service = track(makeService());
    service.connect();
    await accept();
    await exhaust(service);
    const count = FakeWebSocket.instances.length;
    service.reconnect();
    expect(FakeWebSocket.instances).toHaveLength(count + 1);
    expect(service.snapshot().reconnectAttempts).toBe(0);
    expect(service.snapshot().state).toBe("reconnecting");
    await accept();
    expect(service.snapshot().state).toBe("connected");
  });

  it("retries by itself when the browser comes back online", async () => {
    const service = track(makeService());
    service.connect();
    await accept();
    await exhaust(service);
    const count = FakeWebSocket.instances.length;
    window.dispatchEvent(new Event("online"));
    expect(FakeWebSocket.instances).toHaveLength(count + 1);
    await accept();
    expect(service.snapshot().state).toBe("connected");
    expect(service.snapshot().reconnectAttempts).toBe(0);
  });

  it("retries by itself when the tab becomes visible, not while it is hidden", async () => {
    const service = track(makeService());
    service.connect();
    await accept();
    await exhaust(service);
    const count = FakeWebSocket.instances.length;
    setVisibility("hidden");
    document.dispatchEvent(new Event("visibilitychange"));
    expect(FakeWebSocket.instances).toHaveLength(count);
    setVisibility("visible");
    document.dispatchEvent(new Event("visibilitychange"));
    expect(FakeWebSocket.instances).toHaveLength(count + 1);
  });

  it("retries at once when the window gets the focus, while offline or waiting to reconnect", async () => {
    const service = track(makeService());
    service.connect();
    await accept();
    await exhaust(service);
    let count = FakeWebSocket.instances.length;
    window.dispatchEvent(new Event("focus"));
    expect(FakeWebSocket.instances).toHaveLength(count + 1);
    expect(service.snapshot().state).toBe("reconnecting");
    FakeWebSocket.last().drop();
    await tick();
    expect(service.snapshot().state).toBe("reconnecting"); // a backoff timer is pending
    count = FakeWebSocket.instances.length;
    window.dispatchEvent(new Event("focus"));
    expect(FakeWebSocket.instances).toHaveLength(count + 1); // no need to wait for it
    await accept();
    window.dispatchEvent(new Event("focus"));
    expect(FakeWebSocket.instances).toHaveLength(count + 1); // connected: nothing to do
  });

  it("goes offline at once when the browser has no network, probes slowly, and retries on `online`", async () => {
    let online = true;
    const service = track(makeService({ isOnline: () => online }));
    service.connect();
    await accept();
    online = false;
    FakeWebSocket.last().drop();
    await tick();
    expect(service.snapshot().state).toBe("offline");
    expect((service.snapshot().nextRetryAt ?? NaN) - Date.now()).toBe(6 * SECOND); // a slow probe, no fast attempt
    expect(FakeWebSocket.instances).toHaveLength(1);
    online = true;
    window.dispatchEvent(new Event("online"));
    expect(FakeWebSocket.instances).toHaveLength(2);
  });

  it("ignores browser signals after disconnect()", async () => {
    const service = track(makeService());
    service.connect();
    await accept();
    service.disconnect();
    window.dispatchEvent(new Event("online"));
    document.dispatchEvent(new Event("visibilitychange"));
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(service.snapshot().state).toBe("disconnected");
  });

  it("resets the attempt counter after a successful connection", async () => {
    const service = track(makeService());
    service.connect();
    await accept();
    FakeWebSocket.last().drop();
    await tick();
    await untilNextSocket();
    FakeWebSocket.last().drop();
    await tick();
    expect(service.snapshot().reconnectAttempts).toBe(2);
    await untilNextSocket();
    await accept();
    expect(service.snapshot().reconnectAttempts).toBe(0);
    FakeWebSocket.last().drop();
    await tick();
    expect(service.snapshot().reconnectAttempts).toBe(1);
  });
});

describe("close codes", () => {
  it.each([
    [4400, "token given more than once", "disconnected"],
    [4401, "token expired", "unauthorized"],
    [4403, "role viewer may not open security", "disconnected"],
    [4404, "unknown connection type", "disconnected"],
    [4001, "session expired", "unauthorized"],
  ] as const)("does not reconnect after %i", async (code, reason, state) => {
    const service = track(makeService());
    service.connect();
    const ws = await accept();
    ws.serverClose(code, reason);
    await tick();
    const snap = service.snapshot();
    expect(snap.state).toBe(state);
    expect(snap.closeCode).toBe(code);
    expect(snap.closeReason).toBe(reason);
    expect(snap.connected).toBeNull();
    await tick(10 * 60 * SECOND);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it("treats a refusal right after the handshake the same way (4403)", async () => {
    const service = track(makeService());
    service.connect();
    const ws = FakeWebSocket.last();
    ws.accept();
    await tick();
    ws.serverClose(4403, "origin not allowed");
    await tick(10 * 60 * SECOND);
    expect(service.snapshot()).toMatchObject({ state: "disconnected", closeCode: 4403, closeReason: "origin not allowed" });
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it.each([1006, 4008, 4029, 4050, 1001, 1000, 1011])("reconnects with backoff after %i", async (code) => {
    const service = track(makeService());
    service.connect();
    const ws = await accept();
    ws.serverClose(code, "bye");
    await tick();
    expect(service.snapshot()).toMatchObject({ state: "reconnecting", closeCode: code, reconnectAttempts: 1 });
    await untilNextSocket();
    await accept();
    expect(service.snapshot().state).toBe("connected");
    expect(service.snapshot().closeCode).toBeNull();
  });

  it("reconnects after 4001 when another tab already holds a fresh token", async () => {
    let token = "old";
    const service = track(makeService({ getToken: () => token }));
    service.connect();
    const ws = await accept();
    token = "new";
    ws.serverClose(4001, "session expired");
    await tick();
    expect(service.snapshot().state).toBe("reconnecting");
    const next = await untilNextSocket();
    expect(next.protocols).toEqual(["hybrid-dns.v1", "bearer.new"]);
  });
});

describe("outgoing queue", () => {
  it("keeps at most maxQueue frames while disconnected, drops the newest, and flushes in order", async () => {
    const service = track(makeService({ maxQueue: 3 }));
    service.connect();
    const results = [1, 2, 3, 4, 5].map((n) => service.send({ type: "get_stats", id: n }));
    expect(results).toEqual([true, true, true, false, false]);
    const ws = await accept();
    const stats = ws.framesOfType("get_stats").map((f) => f.id);
    expect(stats).toEqual([1, 2, 3]);
    expect(ws.sent.length).toBeGreaterThanOrEqual(3);
    expect(JSON.parse(ws.sent[0] ?? "{}")).toEqual({ type: "get_stats", id: 1 }); // before the first ping
  });

  it("queues across a reconnect and sends immediately when connected", async () => {
    const service = track(makeService({ maxQueue: 2 }));
    service.connect();
    const first = await accept();
    expect(service.send({ type: "ack", event_ids: ["a"] })).toBe(true);
    expect(first.framesOfType("ack")).toHaveLength(1);
    first.drop();
    await tick();
    expect(service.send({ type: "ack", event_ids: ["b"] })).toBe(true);
    expect(service.send({ type: "ack", event_ids: ["c"] })).toBe(true);
    expect(service.send({ type: "ack", event_ids: ["d"] })).toBe(false);
    await untilNextSocket();
    const second = await accept();
    expect(second.framesOfType("ack").map((f) => f.event_ids)).toEqual([["b"], ["c"]]);
  });

  it("refuses frames while unauthorized, and disconnect() empties the queue", async () => {
    const service = track(makeService({ getToken: () => null }));
    service.connect();
    expect(service.send({ type: "get_stats" })).toBe(false);

    const other = track(makeService());
    other.connect();
    expect(other.send({ type: "get_stats", id: "x" })).toBe(true);
    other.disconnect();
    other.connect();
    const ws = await accept();
    expect(ws.framesOfType("get_stats")).toHaveLength(0);
  });

  it("getStats resolves with the data of the stats frame that echoes its id", async () => {
    const service = track(makeService());
    service.connect();
    const ws = await accept();
    const pending = service.getStats();
    const request = ws.framesOfType("get_stats")[0];
    expect(request).toBeDefined();
    ws.receive({ type: "stats", id: "other", data: { wrong: true } });
    ws.receive({ type: "stats", id: request?.id, data: { total_connections: 3 } });
    await expect(pending).resolves.toEqual({ total_connections: 3 });
  });

  it("ack() sends an ack frame", async () => {
    const service = track(makeService());
    service.connect();
    const ws = await accept();
    service.ack({ up_to_seq: 9 });
    service.ack({ event_ids: [] });
    expect(ws.framesOfType("ack")).toEqual([{ type: "ack", up_to_seq: 9 }]);
  });
});

describe("resubscribe and resume", () => {
  it("re-sends the app's subscription changes and resumes from the last seq after a reconnect", async () => {
    const service = track(makeService());
    const seen: number[] = [];
    service.subscribe("*", (e) => seen.push(e.seq));
    service.connect();
    const first = await accept({ epoch: "e1", last_seq: 10 });
    expect(first.url).not.toContain("since=");
    service.send({ type: "unsubscribe", event_types: [EventType.RecordCreated, EventType.RecordDeleted] });
    service.send({ type: "subscribe", event_types: [EventType.RecordDeleted] });
    expect(first.framesOfType("unsubscribe")).toHaveLength(1);
    first.receive(makeEvent(11));
    first.receive({ type: "batch", events: [makeEvent(12), makeEvent(14)] });
    expect(service.snapshot().lastSeq).toBe(14);
    first.drop();
    await tick();

    const second = await untilNextSocket();
    const url = new URL(second.url);
    expect(url.pathname).toBe("/ws/dns_management/alice");
    expect(url.searchParams.get("since")).toBe("14");
    expect(url.searchParams.get("epoch")).toBe("e1");
    second.accept();
    await tick();
    second.receive(connectedFrame({ epoch: "e1", last_seq: 20 }));
    // the server's set is the full default again: only record_created stays unsubscribed
    expect(second.framesOfType("unsubscribe")).toEqual([{ type: "unsubscribe", event_types: ["record_created"] }]);
    expect(second.framesOfType("subscribe")).toEqual([]);
    expect(service.snapshot().lastSeq).toBe(14); // not the live position: the replay comes first
    second.receive({ type: "batch", events: [makeEvent(17), makeEvent(19)] });
    second.receive({ type: "resumed", from_seq: 15, to_seq: 20, replayed: 2 });
    expect(service.snapshot().lastSeq).toBe(20);
    expect(seen).toEqual([11, 12, 14, 17, 19]);
  });

  it("applies an exact set from setSubscriptions() now and after every reconnect", async () => {
    const service = track(makeService());
    service.connect();
    const first = await accept();
    service.setSubscriptions([EventType.ZoneCreated, EventType.ZoneDeleted, EventType.SecurityAlert]);
    const unsub = first.framesOfType("unsubscribe")[0];
    expect(unsub?.event_types).toEqual([
      "bind_reload",
      "config_change",
      "record_created",
      "record_deleted",
      "record_updated",
      "session_expired",
      "zone_updated",
    ]);
    first.receive({ type: "subscriptions", subscriptions: ["zone_created", "zone_deleted"], id: null });
    service.send({ type: "subscribe", event_types: [EventType.BindReload] });
    expect(service.desiredSubscriptions()).toEqual(["bind_reload", "security_alert", "zone_created", "zone_deleted"]);
    first.serverClose(1001, "server shutting down");
    await tick();
    await untilNextSocket();
    const second = await accept();
    expect(second.framesOfType("unsubscribe")[0]?.event_types).toEqual([
      "config_change",
      "record_created",
      "record_deleted",
      "record_updated",
      "session_expired",
      "zone_updated",
    ]);
    expect(second.framesOfType("subscribe")).toEqual([]); // security_alert is not allowed here
  });

  it("tells the app to refetch on reset and goes on from the new position", async () => {
    const service = track(makeService());
    const resets: ResetFrame[] = [];
    service.onFrame("reset", (f) => resets.push(f));
    service.connect();
    const first = await accept({ epoch: "e1", last_seq: 5 });
    first.receive(makeEvent(6));
    first.drop();
    await tick();
    const second = await untilNextSocket();
    expect(second.url).toContain("since=6&epoch=e1");
    second.accept();
    await tick();
    second.receive(connectedFrame({ epoch: "e2", last_seq: 3 }));
    second.receive({ type: "reset", reason: "epoch_changed", epoch: "e2", last_seq: 3 });
    expect(resets).toEqual([{ type: "reset", reason: "epoch_changed", epoch: "e2", last_seq: 3 }]);
    expect(service.snapshot()).toMatchObject({ epoch: "e2", lastSeq: 3, state: "connected" });
    second.receive(makeEvent(4));
    second.drop();
    await tick();
    const third = await untilNextSocket();
    expect(third.url).toContain("since=4&epoch=e2");
  });

  it("resumes from a position given by resumeFrom() on the first connect", async () => {
    const service = track(makeService());
    service.resumeFrom(33, "abc");
    service.connect();
    expect(FakeWebSocket.last().url).toContain("?since=33&epoch=abc");
    await accept({ epoch: "abc", last_seq: 40 });
    expect(service.snapshot().lastSeq).toBe(33);
  });
});

describe("dispatch", () => {
  it("drops duplicate ids, within a batch and across a replay after a reconnect", async () => {
    const service = track(makeService());
    const ids: string[] = [];
    service.subscribe(EventType.ZoneUpdated, (e) => ids.push(e.id));
    service.connect();
    const first = await accept({ last_seq: 0 });
    const a = makeEvent(1, EventType.ZoneUpdated, "A");
    const b = makeEvent(2, EventType.ZoneUpdated, "B");
    first.receive(a);
    first.receive({ type: "batch", events: [b, b] });
    first.receive(a);
    first.drop();
    await tick();
    await untilNextSocket();
    const second = await accept();
    second.receive({ type: "batch", events: [a, b, makeEvent(3, EventType.ZoneUpdated, "C")] });
    second.receive({ type: "resumed", from_seq: 1, to_seq: 3, replayed: 3 });
    second.receive(makeEvent(3, EventType.ZoneUpdated, "C"));
    expect(ids).toEqual(["A", "B", "C"]);
  });

  it("calls every handler of a type and of '*', and each unsubscribe removes only its own", async () => {
    const service = track(makeService());
    const calls: string[] = [];
    const offA = service.subscribe(EventType.ZoneCreated, () => calls.push("a"));
    service.subscribe(EventType.ZoneCreated, () => calls.push("b"));
    service.subscribe("*", (e: ServerEvent) => calls.push(`*${e.type}`));
    service.subscribe(EventType.RecordCreated, () => calls.push("record"));
    service.connect();
    const ws = await accept();
    ws.receive(makeEvent(1, EventType.ZoneCreated));
    offA();
    offA();
    ws.receive(makeEvent(2, EventType.ZoneCreated));
    expect(calls).toEqual(["a", "b", "*zone_created", "b", "*zone_created"]);
  });

  it("keeps dispatching to the other handlers when one throws", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const service = track(makeService());
    const got: string[] = [];
    service.subscribe(EventType.ZoneUpdated, () => {
      throw new Error("boom");
    });
    service.subscribe(EventType.ZoneUpdated, (e) => got.push(e.id));
    service.subscribe("*", (e) => got.push(`*${e.id}`));
    service.onFrame("acked", () => {
      throw new Error("frame boom");
    });
    service.onState(() => {
      throw new Error("state boom");
    });
    service.connect();
    const ws = await accept();
    ws.receive(makeEvent(1, EventType.ZoneUpdated, "X"));
    ws.receive({ type: "acked", event_ids: [], up_to_seq: null, unread_count: 0 });
    expect(got).toEqual(["X", "*X"]);
    expect(errors).toHaveBeenCalled();
    expect(service.snapshot().state).toBe("connected");
  });

  it("passes control frames to onFrame handlers and ignores junk", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const service = track(makeService());
    const acked: number[] = [];
    const errors: string[] = [];
    service.onFrame("acked", (f) => acked.push(f.unread_count));
    service.onFrame("error", (f) => errors.push(f.code));
    service.connect();
    const ws = await accept();
    ws.receive("not json");
    ws.receive("pong");
    ws.receive({ type: "something_new", x: 1 });
    ws.receive({ type: "acked", event_ids: ["a"], up_to_seq: null, unread_count: 4 });
    ws.receive({ type: "error", code: "rate_limited", message: "slow down", id: null });
    expect(acked).toEqual([4]);
    expect(errors).toEqual(["rate_limited"]);
    expect(service.snapshot().state).toBe("connected");
  });
});

describe("keepalive", () => {
  it("pings at connect and every ping_interval, and measures the round trip", async () => {
    const service = track(makeService());
    service.connect();
    const ws = await accept({ ping_interval: 20 });
    const first = ws.framesOfType("ping");
    expect(first).toHaveLength(1);
    await tick(40);
    ws.receive({ type: "pong", timestamp: "x", id: first[0]?.id });
    expect(service.snapshot().latencyMs).toBe(40);
    await tick(20 * SECOND - 40);
    const pings = ws.framesOfType("ping");
    expect(pings).toHaveLength(2);
    await tick(15);
    ws.receive({ type: "pong", timestamp: "x", id: pings[1]?.id });
    expect(service.snapshot().latencyMs).toBe(15);
    expect(service.snapshot().state).toBe("connected");
  });

  it("forces a reconnect when a ping gets no answer (half-open socket)", async () => {
    const service = track(makeService({ pongTimeoutMs: 5000 }));
    service.connect();
    const ws = await accept({ ping_interval: 30 });
    expect(ws.framesOfType("ping")).toHaveLength(1);
    await tick(4999);
    expect(service.snapshot().state).toBe("connected");
    await tick(1);
    // The socket never delivers a close event (half-open): the client must not wait for one.
    expect(ws.clientClose?.code).toBe(CLIENT_TIMEOUT_CODE);
    expect(service.snapshot()).toMatchObject({ state: "reconnecting", closeCode: CLIENT_TIMEOUT_CODE });
    await untilNextSocket();
  });

  it("stays connected while frames keep arriving", async () => {
    const service = track(makeService({ pongTimeoutMs: 5000 }));
    service.connect();
    const ws = await accept({ ping_interval: 10 });
    for (let i = 0; i < 20; i++) {
      await tick(2000);
      const pings = ws.framesOfType("ping");
      ws.receive({ type: "pong", timestamp: "x", id: pings[pings.length - 1]?.id });
    }
    expect(service.snapshot().state).toBe("connected");
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it("uses min(10 s, ping_interval) as the default pong timeout and probes when the tab becomes visible", async () => {
    const service = track(makeService());
    service.connect();
    const ws = await accept({ ping_interval: 60 });
    ws.receive({ type: "pong", timestamp: "x", id: ws.framesOfType("ping")[0]?.id });
    document.dispatchEvent(new Event("visibilitychange"));
    expect(ws.framesOfType("ping")).toHaveLength(2);
    await tick(10 * SECOND);
    expect(service.snapshot().state).toBe("reconnecting");
  });
});

describe("shared services", () => {
  it("shares one socket per connection type and user and closes it after the last release", async () => {
    const getToken = (): string => "tok";
    const options = { WebSocketImpl: FakeWebSocket, random: () => 0.5 };
    const a = acquireWebSocketService("admin", "alice", getToken, options);
    const b = acquireWebSocketService("admin", "alice", getToken, options);
    const other = acquireWebSocketService("health", "alice", getToken, options);
    expect(a.service).toBe(b.service);
    expect(other.service).not.toBe(a.service);
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(sharedServiceRefs("admin", "alice")).toBe(2);
    const ws = FakeWebSocket.instances[0];
    if (ws === undefined) throw new Error("no socket");
    ws.accept();
    await tick();
    ws.receive(connectedFrame({ connection_type: "admin" }));

    a.release();
    a.release(); // a second release of the same holder does nothing
    await tick();
    expect(sharedServiceRefs("admin", "alice")).toBe(1);
    expect(ws.clientClose).toBeNull();
    expect(b.service.snapshot().state).toBe("connected");

    b.release();
    await tick();
    expect(ws.clientClose?.code).toBe(1000);
    expect(ws.readyState).toBe(FakeWebSocket.CLOSED);
    expect(sharedServiceRefs("admin", "alice")).toBe(0);
    expect(b.service.snapshot().state).toBe("disconnected");

    const c = acquireWebSocketService("admin", "alice", getToken, options);
    expect(c.service).not.toBe(a.service);
    expect(FakeWebSocket.instances).toHaveLength(3);
    c.release();
    other.release();
    await tick();
  });

  it("keeps the socket when a new holder arrives in the same task as the last release", async () => {
    const options = { WebSocketImpl: FakeWebSocket };
    const a = acquireWebSocketService("system", "bob", () => "tok", options);
    a.release();
    const b = acquireWebSocketService("system", "bob", () => "tok", options);
    await tick();
    expect(b.service).toBe(a.service);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(FakeWebSocket.last().clientClose).toBeNull();
    b.release();
    await tick();
    expect(FakeWebSocket.last().clientClose?.code).toBe(1000);
  });
});

describe("presence", () => {
  function presenceFrames(ws: FakeWebSocket): unknown[] {
    return ws.sent.map((t) => JSON.parse(t) as { type: string }).filter((f) => f.type === "presence");
  }

  it("sends the topics it is in, again after a reconnect, and never queues them", async () => {
    const service = track(makeService());
    service.setPresence("zone:12", "viewing"); // before any socket: kept, not queued
    service.connect();
    const first = await accept();
    expect(presenceFrames(first)).toEqual([{ type: "presence", topic: "zone:12", state: "viewing" }]);
    service.setPresence("zone:12", "editing");
    service.setPresence("zone:12", "editing"); // unchanged: not sent twice
    service.setPresence("rpz", "viewing");
    service.setPresence("rpz", null);
    expect(presenceFrames(first).slice(1)).toEqual([
      { type: "presence", topic: "zone:12", state: "editing" },
      { type: "presence", topic: "rpz", state: "viewing" },
      { type: "presence", topic: "rpz", state: null },
    ]);
    first.drop();
    await tick();
    service.setPresence("zone:7", "viewing"); // while reconnecting
    const second = await untilNextSocket();
    second.accept();
    await tick();
    expect(second.sent.filter((t) => t.includes('"presence"'))).toEqual([]); // nothing before `connected`
    second.receive(connectedFrame());
    expect(presenceFrames(second)).toEqual([
      { type: "presence", topic: "zone:12", state: "editing" },
      { type: "presence", topic: "zone:7", state: "viewing" },
    ]);
  });

  it("hands `presence` frames to onFrame and ignores malformed ones", async () => {
    const service = track(makeService());
    const frames: unknown[] = [];
    service.onFrame("presence", (f) => frames.push(f));
    service.connect();
    const ws = await accept();
    const good = { type: "presence", topic: "zone:1", members: [{ user_id: "bob", state: "editing", since: "2026-12-02T08:00:00Z" }] };
    ws.receive(good);
    ws.receive({ type: "presence", topic: "zone:1", members: [{ state: "editing" }] });
    ws.receive({ type: "presence", members: [] });
    expect(frames).toEqual([good]);
  });
});
