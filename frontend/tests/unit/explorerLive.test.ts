// The explorer's live side: pause counts and holds, "Jump to live" inserts (or reloads after an
// overflow), live events join the pages once each and in order, and the filtered stream opens its
// sockets with the filter and the history page's position, handing each event on once.
import type { InfiniteData } from "@tanstack/react-query";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ExplorerEvent, ExplorerPage } from "../../src/features/explorer/api";
import { ExplorerStream, connectionTypesFor, filteredSocketUrl } from "../../src/features/explorer/liveStream";
import { LIVE, PENDING_LIMIT, flattenPages, jumpToLive, mergeLive, nextPageParam, pause, pendingLabel, receive } from "../../src/features/explorer/liveView";
import { EventType, type ServerEvent } from "../../src/types/events";
import { FakeWebSocket, connectedFrame, makeEvent } from "./fakeWebSocket";

function events(...seqs: number[]): ExplorerEvent[] {
  return seqs.map((seq) => makeEvent(seq, EventType.RecordCreated, `e${seq}`));
}

function pages(...lists: number[][]): InfiniteData<ExplorerPage> {
  return {
    pages: lists.map((seqs, i) => ({ events: events(...seqs), hasMore: i < lists.length - 1, epoch: "ep", lastSeq: 100 })),
    pageParams: lists.map((_seqs, i) => (i === 0 ? undefined : lists[i - 1]?.[lists[i - 1]!.length - 1])),
  };
}

const seqsOf = (list: readonly ExplorerEvent[]) => list.map((e) => e.seq);

describe("pause and jump to live", () => {
  it("inserts at once while live", () => {
    const { state, insert } = receive(LIVE, events(101, 102));
    expect(state).toBe(LIVE);
    expect(seqsOf(insert)).toEqual([101, 102]);
  });

  it("counts and holds while paused, and inserts them all on jump to live", () => {
    let state = pause(LIVE);
    for (const batch of [events(101, 102), events(103), events(104, 105, 106)]) {
      const step = receive(state, batch);
      expect(step.insert).toEqual([]);
      state = step.state;
    }
    expect(state.pendingCount).toBe(6);
    expect(pendingLabel(state.pendingCount)).toBe("6 new");
    const jump = jumpToLive(state);
    expect(jump.reload).toBe(false);
    expect(seqsOf(jump.insert)).toEqual([101, 102, 103, 104, 105, 106]);
    expect(jump.state).toBe(LIVE);
    // after the jump, live again
    expect(seqsOf(receive(jump.state, events(107)).insert)).toEqual([107]);
  });

  it("keeps counting past what it holds, and then reloads instead of inserting", () => {
    let state = pause(LIVE);
    state = receive(state, events(...Array.from({ length: PENDING_LIMIT - 1 }, (_, i) => i + 1))).state;
    expect(state.overflowed).toBe(false);
    state = receive(state, events(PENDING_LIMIT, PENDING_LIMIT + 1, PENDING_LIMIT + 2)).state;
    expect(state.pendingCount).toBe(PENDING_LIMIT + 2);
    expect(state.pending).toHaveLength(PENDING_LIMIT);
    expect(state.overflowed).toBe(true);
    const jump = jumpToLive(state);
    expect(jump.reload).toBe(true);
    expect(jump.insert).toEqual([]);
  });

  it("pausing twice keeps what is held; jumping while live does nothing", () => {
    const paused = receive(pause(LIVE), events(1)).state;
    expect(pause(paused)).toBe(paused);
    expect(jumpToLive(LIVE)).toEqual({ state: LIVE, insert: [], reload: false });
  });
});

describe("live events in the pages", () => {
  it("puts newer events in front of the first page, newest first", () => {
    const data = pages([100, 99, 98], [97, 96]);
    const next = mergeLive(data, events(101, 103, 102))!;
    expect(seqsOf(next.pages[0]!.events)).toEqual([103, 102, 101, 100, 99, 98]);
    expect(next.pages[1]).toBe(data.pages[1]);
    expect(next.pages[0]!.lastSeq).toBe(100); // the stream's start is not moved by live events
    expect(seqsOf(flattenPages(next))).toEqual([103, 102, 101, 100, 99, 98, 97, 96]);
  });

  it("merges one that came late into place, and adds nothing twice", () => {
    const data = mergeLive(pages([100, 99]), events(102))!;
    const next = mergeLive(data, [...events(101), ...events(102), ...events(100)])!;
    expect(seqsOf(next.pages[0]!.events)).toEqual([102, 101, 100, 99]);
    expect(mergeLive(next, events(101))).toBe(next);
    expect(mergeLive(undefined, events(1))).toBeUndefined();
  });

  it("pages the history by keyset while the server has more", () => {
    const data = pages([100, 99], [98, 97]);
    expect(nextPageParam(data.pages[0]!)).toBe(99);
    expect(nextPageParam(data.pages[1]!)).toBeUndefined();
  });

  it("flattens without repeating an event a refetch put in two pages", () => {
    const data = pages([100, 99, 98], [98, 97]);
    expect(seqsOf(flattenPages(data))).toEqual([100, 99, 98, 97]);
  });
});

describe("the filtered stream", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeWebSocket.reset();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("opens the sockets the role and the filter need", () => {
    expect(connectionTypesFor("admin", null)).toEqual(["admin"]);
    expect(connectionTypesFor("operator", null)).toEqual(["dns_management", "health", "system", "security"]);
    expect(connectionTypesFor("operator", { categories: ["dns"] })).toEqual(["dns_management"]);
    expect(connectionTypesFor("operator", { categories: ["user", "system"] })).toEqual(["system"]);
    expect(connectionTypesFor("viewer", { categories: ["security"] })).toEqual([]);
    expect(connectionTypesFor("viewer", { record_types: ["A"] })).toEqual(["dns_management"]);
    expect(connectionTypesFor("operator", { categories: ["health"], record_types: ["A"] })).toEqual([]);
  });

  it("carries the filter as URL-encoded JSON", () => {
    const url = filteredSocketUrl({ protocol: "https:", host: "dns.example" }, "admin", "alice", { zones: ["corp.example"], min_severity: "warning" });
    expect(url).toBe(`wss://dns.example/ws/admin/alice?filter=${encodeURIComponent('{"zones":["corp.example"],"min_severity":"warning"}')}`);
    expect(filteredSocketUrl(null, "admin", "alice", null)).toBe("ws://localhost/ws/admin/alice");
  });

  it("starts after the history page (since/epoch with the filter) and hands each event on once", async () => {
    const got: ServerEvent[] = [];
    const resets: string[] = [];
    const stream = new ExplorerStream({
      role: "operator",
      userId: "alice",
      getToken: () => "tok",
      filter: { categories: ["system", "health"] },
      from: { epoch: "ep1", lastSeq: 41 },
      onEvent: (e) => got.push(e),
      onReset: (frame) => resets.push(frame.reason),
      WebSocketImpl: FakeWebSocket,
      location: { protocol: "http:", host: "h" },
    });
    stream.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(stream.types).toEqual(["health", "system"]);
    expect(FakeWebSocket.instances).toHaveLength(2);
    for (const ws of FakeWebSocket.instances) {
      const url = new URL(ws.url);
      expect(JSON.parse(url.searchParams.get("filter")!)).toEqual({ categories: ["system", "health"] });
      expect(url.searchParams.get("since")).toBe("41");
      expect(url.searchParams.get("epoch")).toBe("ep1");
      ws.accept();
    }
    await vi.advanceTimersByTimeAsync(0);
    const [health, system] = FakeWebSocket.instances as [FakeWebSocket, FakeWebSocket];
    health.receive(connectedFrame({ connection_type: "health", epoch: "ep1", last_seq: 45 }));
    system.receive(connectedFrame({ connection_type: "system", epoch: "ep1", last_seq: 45 }));
    expect(stream.state()).toBe("live");
    // system_status reaches both sockets: handed on once
    const status = makeEvent(42, EventType.SystemStatus, "status-42");
    health.receive(status);
    system.receive({ type: "batch", events: [status, makeEvent(43, EventType.ConfigChange, "cfg-43")] });
    expect(got.map((e) => e.id)).toEqual(["status-42", "cfg-43"]);
    system.receive({ type: "reset", reason: "history_expired", epoch: "ep2", last_seq: 90 });
    expect(resets).toEqual(["history_expired"]);
    stream.stop();
    expect(stream.state()).toBe("stopped");
    // both sockets closed by the client, for good
    expect(FakeWebSocket.instances.map((ws) => ws.clientClose?.code)).toEqual([1000, 1000]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeWebSocket.instances).toHaveLength(2);
  });

  it("says why the server refused it (a bad filter: 4400, not retried)", async () => {
    const states: string[] = [];
    const stream = new ExplorerStream({
      role: "admin",
      userId: "alice",
      getToken: () => "tok",
      filter: { zones: ["corp.example"] },
      from: { epoch: "ep1", lastSeq: 0 },
      onEvent: () => undefined,
      onReset: () => undefined,
      onState: (state, detail) => states.push(detail ? `${state}: ${detail}` : state),
      WebSocketImpl: FakeWebSocket,
      location: null,
    });
    stream.start();
    await vi.advanceTimersByTimeAsync(0);
    const ws = FakeWebSocket.last();
    ws.accept();
    await vi.advanceTimersByTimeAsync(0);
    ws.serverClose(4400, "invalid filter: filter.zones.0: not a DNS name");
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(states.at(-1)).toBe("refused: 4400 invalid filter: filter.zones.0: not a DNS name");
    stream.stop();
  });
});
