// Live or paused, as pure functions (no React, no I/O), and how live events join the pages held in
// the query cache.
//
// - Live: new events go into the list at once (in batches, one per animation frame).
// - Paused: new events are counted ("37 new") and held, not inserted: the list stays still while it
//   is read. At most PENDING_LIMIT are held; past that only the count grows, and "Jump to live"
//   reloads the newest page instead (what was dropped is in the history).
// - Jump to live: the held events go in, the list goes back to the top and follows again.

import type { InfiniteData } from "@tanstack/react-query";
import type { ExplorerEvent, ExplorerPage } from "./api";

export const PENDING_LIMIT = 5_000;

export interface LiveState {
  readonly paused: boolean;
  /** Events received while paused, oldest first (at most PENDING_LIMIT). */
  readonly pending: readonly ExplorerEvent[];
  /** How many arrived while paused (it keeps counting past PENDING_LIMIT). */
  readonly pendingCount: number;
  /** More arrived than were held: jumping to live must reload. */
  readonly overflowed: boolean;
}

export const LIVE: LiveState = Object.freeze({ paused: false, pending: [], pendingCount: 0, overflowed: false });

/** New events: inserted when live, held and counted when paused. */
export function receive(state: LiveState, events: readonly ExplorerEvent[]): { state: LiveState; insert: readonly ExplorerEvent[] } {
  if (events.length === 0) return { state, insert: [] };
  if (!state.paused) return { state, insert: events };
  const room = PENDING_LIMIT - state.pending.length;
  const held = room >= events.length ? [...state.pending, ...events] : [...state.pending, ...events.slice(0, Math.max(0, room))];
  return {
    state: {
      paused: true,
      pending: held,
      pendingCount: state.pendingCount + events.length,
      overflowed: state.overflowed || room < events.length,
    },
    insert: [],
  };
}

export function pause(state: LiveState): LiveState {
  return state.paused ? state : { paused: true, pending: [], pendingCount: 0, overflowed: false };
}

/** Back to live: the held events to insert, or `reload` when some were not held. */
export function jumpToLive(state: LiveState): { state: LiveState; insert: readonly ExplorerEvent[]; reload: boolean } {
  if (!state.paused) return { state, insert: [], reload: false };
  return { state: LIVE, insert: state.overflowed ? [] : state.pending, reload: state.overflowed };
}

/** "37 new": the exact count of events that came while paused. */
export function pendingLabel(count: number): string {
  return `${count.toLocaleString()} new`;
}

/**
 * The pages with `events` added to the first one (newest first, each once). Live events are
 * almost always newer than everything held, so they are put in front; one that is not (it came on
 * another socket a moment later than a newer one) is merged into place.
 */
export function mergeLive(data: InfiniteData<ExplorerPage> | undefined, events: readonly ExplorerEvent[]): InfiniteData<ExplorerPage> | undefined {
  if (data === undefined || events.length === 0) return data;
  const [first, ...rest] = data.pages;
  if (first === undefined) return data;
  const held = first.events;
  const ids = new Set<string>();
  const fresh: ExplorerEvent[] = [];
  for (const event of events) {
    if (ids.has(event.id)) continue;
    ids.add(event.id);
    fresh.push(event);
  }
  fresh.sort((a, b) => b.seq - a.seq);
  const newestHeld = held[0]?.seq ?? -1;
  const lowest = fresh[fresh.length - 1];
  let merged: ExplorerEvent[];
  if (lowest === undefined) return data;
  if (lowest.seq > newestHeld) {
    merged = fresh.concat(held);
  } else {
    const heldIds = new Set(held.map((e) => e.id));
    const add = fresh.filter((e) => !heldIds.has(e.id));
    if (add.length === 0) return data;
    merged = add.concat(held).sort((a, b) => b.seq - a.seq);
  }
  return { ...data, pages: [{ ...first, events: merged }, ...rest] };
}

/** Every event held, newest first (the pages are newest first, each page too). */
export function flattenPages(data: InfiniteData<ExplorerPage> | undefined): ExplorerEvent[] {
  if (data === undefined) return [];
  if (data.pages.length === 1) return data.pages[0]?.events ?? [];
  const out: ExplorerEvent[] = [];
  let last = Number.POSITIVE_INFINITY;
  for (const page of data.pages) {
    for (const event of page.events) {
      // pages are disjoint by keyset; a seq out of order would be a repeat from a refetch in between
      if (event.seq >= last) continue;
      out.push(event);
      last = event.seq;
    }
  }
  return out;
}

/** The next page's keyset position: before the oldest event held, while the server has more. */
export function nextPageParam(last: ExplorerPage): number | undefined {
  if (!last.hasMore) return undefined;
  return last.events[last.events.length - 1]?.seq;
}
