// "Mark all matching this filter as read" reaching every tab: the `acked` frame's `filter` and
// `filter_up_to_seq` applied to the notifications (eventStore.applyAcked) and to the explorer's
// cached pages (readState.ts), beside the ids and up_to_seq rules.

import type { InfiniteData } from "@tanstack/react-query";
import { describe, expect, it } from "vitest";
import type { ExplorerEvent, ExplorerPage } from "../../src/features/explorer/api";
import { AckLog, applyAckedToPage, applyAckedToPages, isUnread, markableFilter } from "../../src/features/explorer/readState";
import { addEvents, applyAcked, createEventStore, mergeOlder, type EventStoreState } from "../../src/services/eventStore";
import { EventType, type Severity } from "../../src/types/events";

let counter = 0;

/** An event as the server sends it: `about` says the zone, name, record type and summary. */
function ev(seq: number, zone: string | null, options: { type?: EventType; recordType?: string | null; severity?: Severity; actor?: string | null; read?: boolean } = {}): ExplorerEvent {
  counter += 1;
  const type = options.type ?? EventType.RecordCreated;
  const name = zone === null ? null : `h${seq}.${zone}`;
  return {
    type,
    id: `e${seq}-${counter}`,
    seq,
    category: type === EventType.SecurityAlert ? "security" : type === EventType.HealthUpdate ? "health" : "dns",
    severity: options.severity ?? "info",
    timestamp: "2026-11-26T06:06:14.230Z",
    actor: options.actor ?? null,
    about: { zone, name, record_type: options.recordType === undefined ? "A" : options.recordType, summary: `Record created: ${name ?? "?"}` },
    data: {},
    ...(options.read === undefined ? {} : { read: options.read }),
  } as ExplorerEvent;
}

function unreadIds(state: EventStoreState): string[] {
  return state.events.filter((e) => !e.read).map((e) => e.id);
}

describe("applyAcked with a filter (the notifications)", () => {
  it("marks read the events matching the filter up to filter_up_to_seq, and only those", () => {
    const corp1 = ev(1, "corp.example");
    const lab = ev(2, "lab.example");
    const corpTxt = ev(3, "www.corp.example", { recordType: "TXT" });
    const xcorp = ev(4, "xcorp.example");
    const corpLater = ev(6, "corp.example");
    let s = addEvents(createEventStore(), [corp1, lab, corpTxt, xcorp, corpLater]);
    expect(s.unreadCount).toBe(5);
    s = applyAcked(s, { event_ids: [], up_to_seq: null, unread_count: 3, filter: { zones: ["corp.example"] }, filter_up_to_seq: 5 });
    expect(unreadIds(s).sort()).toEqual([lab.id, xcorp.id, corpLater.id].sort());
    expect(s.unreadCount).toBe(3); // the server's count wins
  });

  it("applies every key of the filter, as the server does", () => {
    const a = ev(1, "corp.example", { recordType: "A", severity: "warning", actor: "alice" });
    const b = ev(2, "corp.example", { recordType: "MX", severity: "warning", actor: "alice" });
    const c = ev(3, "corp.example", { recordType: "A", severity: "info", actor: "alice" });
    const d = ev(4, "corp.example", { recordType: "A", severity: "error", actor: "bob" });
    let s = addEvents(createEventStore(), [a, b, c, d]);
    s = applyAcked(s, {
      event_ids: [],
      up_to_seq: null,
      unread_count: 3,
      filter: { zones: ["corp.example"], record_types: ["A"], min_severity: "warning", actors: ["alice"] },
      filter_up_to_seq: 10,
    });
    expect(unreadIds(s).sort()).toEqual([b.id, c.id, d.id].sort());
  });

  it("keeps the ids and up_to_seq rules beside the filter", () => {
    const events = [ev(1, "a.example"), ev(2, "b.example"), ev(3, "c.example"), ev(4, "corp.example"), ev(5, "d.example")];
    let s = mergeOlder(createEventStore(), events.map((e) => ({ ...e, read: false })), false);
    s = applyAcked(s, { event_ids: [events[2]?.id ?? ""], up_to_seq: 1, unread_count: 1, filter: { zones: ["corp.example"] }, filter_up_to_seq: 4 });
    expect(unreadIds(s)).toEqual([events[4]?.id, events[1]?.id]);
  });

  it("ignores a filter without filter_up_to_seq, and frames without the new keys change only the count", () => {
    const e = ev(1, "corp.example");
    let s = addEvents(createEventStore(), [e]);
    const same = applyAcked(s, { event_ids: [], up_to_seq: null, unread_count: 1, filter: { zones: ["corp.example"] }, filter_up_to_seq: null });
    expect(same).toBe(s);
    s = applyAcked(s, { event_ids: [], up_to_seq: null, unread_count: 0 });
    expect(unreadIds(s)).toEqual([e.id]);
    expect(s.unreadCount).toBe(0);
  });

  it("does not mark an event whose seq is beyond filter_up_to_seq (it came after the ack)", () => {
    const before = ev(7, "corp.example");
    const after = ev(8, "corp.example");
    let s = addEvents(createEventStore(), [before, after]);
    s = applyAcked(s, { event_ids: [], up_to_seq: null, unread_count: 1, filter: { zones: ["corp.example"] }, filter_up_to_seq: 7 });
    expect(unreadIds(s)).toEqual([after.id]);
  });
});

function pages(...lists: ExplorerEvent[][]): InfiniteData<ExplorerPage> {
  return {
    pages: lists.map((events) => ({ events, hasMore: false, epoch: "e", lastSeq: 100 })),
    pageParams: lists.map(() => undefined),
  };
}

describe("the explorer's read marks", () => {
  it("shows unread only what the history called unread, and only news", () => {
    expect(isUnread(ev(1, "a.example", { read: false }))).toBe(true);
    expect(isUnread(ev(1, "a.example", { read: true }))).toBe(false);
    expect(isUnread(ev(1, "a.example"))).toBe(false); // live: no flag
    expect(isUnread(ev(1, "a.example", { type: EventType.HealthUpdate, read: false }))).toBe(false);
  });

  it("marks the cached pages as the frame says, keeping what does not change by reference", () => {
    const first = [ev(9, "lab.example", { read: false }), ev(8, "corp.example", { read: false }), ev(7, "corp.example", { read: true })];
    const second = [ev(3, "lab.example", { read: false })];
    const data = pages(first, second);
    const next = applyAckedToPages(data, { event_ids: [], up_to_seq: null, filter: { zones: ["corp.example"] }, filter_up_to_seq: 9 });
    expect(next?.pages[0]?.events.map((e) => e.read)).toEqual([false, true, true]);
    expect(next?.pages[0]?.events[0]).toBe(first[0]);
    expect(next?.pages[1]).toBe(data.pages[1]);
    // nothing to mark: the same object
    expect(applyAckedToPages(next, { event_ids: [], up_to_seq: null, filter: { zones: ["corp.example"] }, filter_up_to_seq: 9 })).toBe(next);
    const all = applyAckedToPages(next, { event_ids: [], up_to_seq: 9 });
    expect(all?.pages.flatMap((p) => p.events.map((e) => e.read))).toEqual([true, true, true, true]);
    expect(applyAckedToPages(undefined, { event_ids: [], up_to_seq: 9 })).toBeUndefined();
  });

  it("applies to a page the acks that came while it was fetched", () => {
    const log = new AckLog(2);
    log.add({ event_ids: ["old"], up_to_seq: null });
    const from = log.position();
    log.add({ event_ids: [], up_to_seq: null, filter: { zones: ["corp.example"] }, filter_up_to_seq: 50 });
    const page: ExplorerPage = { events: [ev(5, "corp.example", { read: false }), ev(4, "lab.example", { read: false })], hasMore: false, epoch: "e", lastSeq: 5 };
    const marked = applyAckedToPage(page, log.since(from));
    expect(marked.events.map((e) => e.read)).toEqual([true, false]);
    expect(applyAckedToPage(page, [])).toBe(page);
    log.add({ event_ids: ["x"], up_to_seq: null });
    log.add({ event_ids: ["y"], up_to_seq: null });
    expect(log.since(0).map((f) => f.event_ids[0])).toEqual(["x", "y"]); // the latest few only
  });

  it("offers 'Mark matching as read' only for a view that is exactly a filter", () => {
    expect(markableFilter({})).toBeNull();
    expect(markableFilter({ zone: "corp.example,lab.example", record_type: "A" })).toEqual({ zones: ["corp.example", "lab.example"], record_types: ["A"] });
    expect(markableFilter({ zone: "corp.example", q: "mail" })).toBeNull();
    expect(markableFilter({ zone: "corp.example", since: "2026-01-01T00:00:00Z" })).toBeNull();
    expect(markableFilter({ zone: "corp.example", until: "2026-01-01T00:00:00Z" })).toBeNull();
  });
});
