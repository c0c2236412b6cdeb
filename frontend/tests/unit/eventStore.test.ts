import { describe, expect, it } from "vitest";
import {
  addEvents,
  applyAcked,
  clear,
  createEventStore,
  isNotification,
  markAllReadOptimistic,
  markReadOptimistic,
  mergeOlder,
  newestSeq,
  setUnreadCount,
  type EventStoreState,
  type StoredEvent,
} from "../../src/services/eventStore";
import { EventType, type ServerEvent } from "../../src/types/events";
import { makeEvent, seededRandom } from "./fakeWebSocket";

const ALL_TYPES = Object.values(EventType);

function unreadInList(state: EventStoreState): number {
  return state.events.filter((e) => !e.read && isNotification(e)).length;
}

/** What is wrong with the state's invariants, or null (plain code: cheap enough for thousands of steps). */
function shapeProblem(state: EventStoreState): string | null {
  if (!(state.unreadCount >= 0) || !Number.isInteger(state.unreadCount)) return `unreadCount ${state.unreadCount}`;
  if (state.events.length > state.limit) return `${state.events.length} events over the limit ${state.limit}`;
  if (state.ids.size !== state.events.length) return "ids and events differ in size";
  for (let i = 0; i < state.events.length; i++) {
    const e = state.events[i];
    if (e === undefined || !state.ids.has(e.id)) return `id of event ${i} missing from ids`;
    const prev = state.events[i - 1];
    if (prev !== undefined && !(prev.seq > e.seq)) return `not newest first at ${i}`;
  }
  const oldest = state.events[state.events.length - 1]?.seq ?? null;
  if (state.oldestSeq !== oldest) return `oldestSeq ${state.oldestSeq} != ${oldest}`;
  return null;
}

function checkShape(state: EventStoreState): void {
  expect(shapeProblem(state)).toBeNull();
}

describe("eventStore", () => {
  it("adds events newest first, deduplicated by id, and counts unread notifications", () => {
    let s = createEventStore();
    const a = makeEvent(1, EventType.ZoneCreated, "a");
    const b = makeEvent(2, EventType.HealthUpdate, "b");
    const c = makeEvent(3, EventType.SecurityAlert, "c");
    s = addEvents(s, [a, b]);
    s = addEvents(s, [c, a, c]);
    expect(s.events.map((e) => e.id)).toEqual(["c", "b", "a"]);
    expect(s.unreadCount).toBe(2); // health_update is not a notification
    expect(s.events.find((e) => e.id === "b")?.read).toBe(true);
    expect(newestSeq(s)).toBe(3);
    const same = addEvents(s, [a, b, c]);
    expect(same).toBe(s); // nothing new: the same state object
    checkShape(s);
  });

  it("keeps at most `limit` events, dropping the oldest, and then knows there is more", () => {
    let s = createEventStore(5);
    for (let seq = 1; seq <= 12; seq++) s = addEvents(s, [makeEvent(seq, EventType.ZoneUpdated, `id${seq}`)]);
    expect(s.events.map((e) => e.seq)).toEqual([12, 11, 10, 9, 8]);
    expect(s.ids.has("id1")).toBe(false);
    expect(s.oldestSeq).toBe(8);
    expect(s.hasMore).toBe(true);
    expect(s.unreadCount).toBe(12); // the server's count covers events that fell off the list
    checkShape(s);
  });

  it("sorts out-of-order arrivals by seq", () => {
    let s = createEventStore();
    s = addEvents(s, [makeEvent(5), makeEvent(2)]);
    s = addEvents(s, [makeEvent(9), makeEvent(3)]);
    expect(s.events.map((e) => e.seq)).toEqual([9, 5, 3, 2]);
  });

  it("takes read flags from the history and leaves the unread count to the server on mergeOlder", () => {
    let s = createEventStore(3);
    s = setUnreadCount(s, 7);
    s = addEvents(s, [makeEvent(50, EventType.ZoneCreated, "live")]);
    expect(s.unreadCount).toBe(8);
    const page: StoredEvent[] = [
      { ...makeEvent(10, EventType.ZoneCreated, "h10"), read: false },
      { ...makeEvent(11, EventType.ZoneCreated, "h11"), read: true },
      { ...makeEvent(12, EventType.SystemStatus, "h12"), read: false },
      { ...makeEvent(13, EventType.ZoneCreated, "h13"), read: false },
    ];
    s = mergeOlder(s, page, true);
    expect(s.unreadCount).toBe(8);
    expect(s.events.map((e) => e.id)).toEqual(["live", "h13", "h12", "h11", "h10"]); // the limit grew to keep the page
    expect(s.limit).toBe(5);
    expect(s.events.find((e) => e.id === "h12")?.read).toBe(true); // system_status is never unread
    expect(s.hasMore).toBe(true);
    expect(s.oldestSeq).toBe(10);
    s = mergeOlder(s, [], false);
    expect(s.hasMore).toBe(false);
    checkShape(s);
  });

  it("lets the server's acked count win and marks listed ids and seq <= up_to_seq read", () => {
    let s = createEventStore();
    s = addEvents(s, [1, 2, 3, 4, 5].map((n) => makeEvent(n, EventType.ZoneCreated, `e${n}`)));
    s = markReadOptimistic(s, ["e5"]);
    expect(s.unreadCount).toBe(4);
    s = applyAcked(s, { event_ids: ["e4"], up_to_seq: 2, unread_count: 17 });
    expect(s.unreadCount).toBe(17);
    expect(s.events.filter((e) => e.read).map((e) => e.id).sort()).toEqual(["e1", "e2", "e4", "e5"]);
    s = applyAcked(s, { event_ids: [], up_to_seq: null, unread_count: -3 });
    expect(s.unreadCount).toBe(0);
  });

  it("never lets optimistic marks take the count below 0, nor count an event twice", () => {
    let s = createEventStore();
    s = addEvents(s, [makeEvent(1, EventType.ZoneCreated, "x"), makeEvent(2, EventType.ZoneCreated, "y")]);
    s = setUnreadCount(s, 1);
    s = markReadOptimistic(s, ["x", "y", "unknown"]);
    expect(s.unreadCount).toBe(0);
    const again = markReadOptimistic(s, ["x"]);
    expect(again).toBe(s);
    expect(setUnreadCount(s, -5).unreadCount).toBe(0);
    expect(setUnreadCount(s, Number.NaN).unreadCount).toBe(0);
  });

  it("marks everything read at once and clears", () => {
    let s = createEventStore(10);
    s = addEvents(s, [makeEvent(1), makeEvent(2)]);
    s = markAllReadOptimistic(s);
    expect(s.unreadCount).toBe(0);
    expect(s.events.every((e) => e.read)).toBe(true);
    s = clear(s);
    expect(s).toMatchObject({ events: [], unreadCount: 0, oldestSeq: null, hasMore: false, limit: 10 });
    expect(s.ids.size).toBe(0);
  });

  it("adds events as already read with {unread: false}", () => {
    const s = addEvents(createEventStore(), [makeEvent(1, EventType.ZoneCreated)], { unread: false });
    expect(s.unreadCount).toBe(0);
    expect(s.events[0]?.read).toBe(true);
  });

  // --- property-style ---------------------------------------------------------------------

  function randomEvent(rand: () => number, pool: ServerEvent[], nextSeq: () => number): ServerEvent {
    if (pool.length && rand() < 0.3) return pool[Math.floor(rand() * pool.length)] as ServerEvent; // a duplicate
    const type = ALL_TYPES[Math.floor(rand() * ALL_TYPES.length)] ?? EventType.ZoneCreated;
    const event = makeEvent(nextSeq(), type);
    pool.push(event);
    return event;
  }

  it("keeps the unread count exact, never negative, over random addEvents/markReadOptimistic/consistent acks", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rand = seededRandom(seed);
      const pool: ServerEvent[] = [];
      let seq = 0;
      const nextSeq = (): number => (seq += 1 + Math.floor(rand() * 3));
      let s = createEventStore(1000); // large enough that nothing falls off
      for (let step = 0; step < 60; step++) {
        const op = rand();
        if (op < 0.5) {
          const batch = Array.from({ length: 1 + Math.floor(rand() * 5) }, () => randomEvent(rand, pool, nextSeq));
          s = addEvents(s, batch, { unread: rand() < 0.8 });
        } else if (op < 0.8) {
          const ids = s.events.filter(() => rand() < 0.3).map((e) => e.id);
          if (rand() < 0.3) ids.push("not-there");
          s = markReadOptimistic(s, ids);
        } else {
          // The server acks some ids and a mark; its count is the truth for the resulting state.
          const ids = s.events.filter(() => rand() < 0.2).map((e) => e.id);
          const upTo = rand() < 0.5 ? Math.floor(rand() * (seq + 1)) : null;
          const after = s.events.map((e) =>
            ids.includes(e.id) || (upTo !== null && e.seq <= upTo) ? { ...e, read: true } : e,
          );
          const truth = after.filter((e) => !e.read && isNotification(e)).length;
          s = applyAcked(s, { event_ids: ids, up_to_seq: upTo, unread_count: truth });
        }
        checkShape(s);
        expect(s.unreadCount).toBe(unreadInList(s));
      }
    }
  });

  it("follows the server's count after any acked frame, and stays >= 0 and consistent in between", () => {
    for (let seed = 1000; seed < 1200; seed++) {
      const rand = seededRandom(seed);
      const pool: ServerEvent[] = [];
      let seq = 0;
      const nextSeq = (): number => (seq += 1);
      let s = createEventStore(1 + Math.floor(rand() * 40)); // small: events fall off
      let model = 0; // what the count must be: the server's last word plus local changes since
      for (let step = 0; step < 80; step++) {
        const op = rand();
        if (op < 0.45) {
          const batch = Array.from({ length: 1 + Math.floor(rand() * 6) }, () => randomEvent(rand, pool, nextSeq));
          const fresh = new Set<string>();
          for (const e of batch) if (!s.ids.has(e.id) && isNotification(e)) fresh.add(e.id);
          s = addEvents(s, batch);
          model += fresh.size;
        } else if (op < 0.75) {
          const ids = s.events.filter(() => rand() < 0.4).map((e) => e.id);
          const newlyRead = s.events.filter((e) => ids.includes(e.id) && !e.read && isNotification(e)).length;
          s = markReadOptimistic(s, ids);
          model = Math.max(0, model - newlyRead);
        } else {
          const count = Math.floor(rand() * 50) - 5; // the server may say anything; negatives are clamped
          s = applyAcked(s, { event_ids: [], up_to_seq: rand() < 0.3 ? seq : null, unread_count: count });
          model = Math.max(0, count);
          expect(s.unreadCount).toBe(model);
        }
        checkShape(s);
        expect(s.unreadCount).toBe(model);
        expect(s.unreadCount).toBeGreaterThanOrEqual(0);
      }
    }
  });
});
