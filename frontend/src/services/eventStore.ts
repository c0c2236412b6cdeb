// The notification/event list as pure, reducer-style functions (no React, no I/O).
//
// Rules:
// - `events` is newest first (by seq, the server's total order within one epoch), deduplicated by
//   id and bounded by `limit`: the oldest events fall off (then `hasMore` becomes true).
// - `unreadCount` is the user's unread notification count. The server is the authority: an
//   `acked` frame (or the REST ack/unread-count answer) replaces it. In between, new unread
//   notifications add to it and optimistic marks subtract from it; it never goes below 0.
//   health_update and system_status are periodic state, never notifications, never unread.
// - seqs restart when the epoch changes (server restart): on a `reset` with a new epoch, clear()
//   the store and load it again.
// - Every function returns the same state object when nothing changed.

import { NOT_NOTIFICATIONS, type AckedFrame, type ServerEvent } from "../types/events";
import { compileFilter, matchesCompiled, type FilterableEvent } from "./eventFilter";

export type StoredEvent = ServerEvent & { read: boolean };

export interface EventStoreState {
  /** Newest first, at most `limit`. */
  readonly events: StoredEvent[];
  /** The ids in `events`. */
  readonly ids: Set<string>;
  readonly unreadCount: number;
  /** The smallest seq in `events` (for the next history page: before_seq), or null when empty. */
  readonly oldestSeq: number | null;
  /** Whether the server holds older events than the oldest one here. */
  readonly hasMore: boolean;
  /** The bound on `events`; history pages (mergeOlder) may raise it up to MAX_EVENT_LIMIT. */
  readonly limit: number;
}

export const DEFAULT_EVENT_LIMIT = 200;
export const MAX_EVENT_LIMIT = 5000;

export function isNotification(event: Pick<ServerEvent, "type">): boolean {
  return !NOT_NOTIFICATIONS.has(event.type);
}

function isUnreadNotification(event: StoredEvent): boolean {
  return !event.read && isNotification(event);
}

export function createEventStore(limit: number = DEFAULT_EVENT_LIMIT): EventStoreState {
  const bound = Math.max(1, Math.min(MAX_EVENT_LIMIT, Math.floor(limit)));
  return { events: [], ids: new Set(), unreadCount: 0, oldestSeq: null, hasMore: false, limit: bound };
}

function newestFirst(a: StoredEvent, b: StoredEvent): number {
  return b.seq - a.seq;
}

function hasReadFlag(event: ServerEvent | StoredEvent): event is StoredEvent {
  return typeof (event as Partial<StoredEvent>).read === "boolean";
}

function toStored(event: ServerEvent | StoredEvent, unread: boolean): StoredEvent {
  if (hasReadFlag(event)) return isNotification(event) ? event : { ...event, read: true };
  return { ...event, read: !unread || !isNotification(event) };
}

/** Sorts, trims to `limit` and recomputes what derives from the list. */
function withEvents(
  state: EventStoreState,
  events: StoredEvent[],
  changes: Partial<Pick<EventStoreState, "unreadCount" | "hasMore" | "limit">>,
): EventStoreState {
  const limit = changes.limit ?? state.limit;
  events.sort(newestFirst);
  let hasMore = changes.hasMore ?? state.hasMore;
  if (events.length > limit) {
    events.length = limit;
    hasMore = true;
  }
  const last = events[events.length - 1];
  return {
    events,
    ids: new Set(events.map((e) => e.id)),
    unreadCount: Math.max(0, changes.unreadCount ?? state.unreadCount),
    oldestSeq: last === undefined ? null : last.seq,
    hasMore,
    limit,
  };
}

/**
 * Adds live events (or any events newer than what is held): deduplicated by id, newest first,
 * bounded. Each new notification that is unread adds 1 to `unreadCount`. An event carrying its
 * own `read` flag (from the REST history) keeps it; otherwise `unread` (default true) decides.
 */
export function addEvents(
  state: EventStoreState,
  events: readonly (ServerEvent | StoredEvent)[],
  options: { unread?: boolean } = {},
): EventStoreState {
  const unread = options.unread ?? true;
  const seen = new Set(state.ids);
  const added: StoredEvent[] = [];
  for (const event of events) {
    if (seen.has(event.id)) continue;
    seen.add(event.id);
    added.push(toStored(event, unread));
  }
  if (!added.length) return state;
  const newlyUnread = added.filter(isUnreadNotification).length;
  return withEvents(state, [...state.events, ...added], { unreadCount: state.unreadCount + newlyUnread });
}

/**
 * Adds a page of older events from GET /api/events (the server's unread count already includes
 * them, so `unreadCount` does not change) and records whether there are more. Raises `limit` as
 * needed so that a page the user asked for stays, up to MAX_EVENT_LIMIT.
 */
export function mergeOlder(
  state: EventStoreState,
  events: readonly (ServerEvent | StoredEvent)[],
  hasMore: boolean,
): EventStoreState {
  const fresh: StoredEvent[] = [];
  const seen = new Set(state.ids);
  for (const event of events) {
    if (seen.has(event.id)) continue;
    seen.add(event.id);
    fresh.push(toStored(event, false));
  }
  if (!fresh.length && hasMore === state.hasMore) return state;
  const total = state.events.length + fresh.length;
  const limit = Math.min(MAX_EVENT_LIMIT, Math.max(state.limit, total));
  return withEvents(state, [...state.events, ...fresh], { hasMore, limit });
}

/** What an `acked` frame (or the REST ack answer) says became read, as one test per event. */
export type AckedFacts = Pick<AckedFrame, "event_ids" | "up_to_seq"> & Partial<Pick<AckedFrame, "filter" | "filter_up_to_seq">>;

/**
 * Whether an ack made this event read: its id is listed, its seq is at or below the new mark, or
 * (after "mark all matching") it matches the ack's filter with seq <= filter_up_to_seq. Null when the
 * ack reads nothing of the kind (ids only, none listed).
 */
export function ackedReads(frame: AckedFacts): ((event: Pick<ServerEvent, "id" | "seq"> & FilterableEvent) => boolean) | null {
  const ids = new Set(frame.event_ids);
  const upTo = frame.up_to_seq;
  const filterUpTo = frame.filter_up_to_seq ?? null;
  // A filter with nothing set matches everything (as the server's would); one that is absent matches nothing.
  const compiled = frame.filter && filterUpTo !== null ? compileFilter(frame.filter) : null;
  if (!ids.size && upTo === null && compiled === null) return null;
  return (event) =>
    ids.has(event.id) ||
    (upTo !== null && event.seq <= upTo) ||
    (compiled !== null && filterUpTo !== null && event.seq <= filterUpTo && matchesCompiled(event, compiled));
}

/**
 * The server's `acked` frame (or the REST ack answer): its count wins; listed ids, seq <= up_to_seq,
 * and (after "mark all matching") the events matching `filter` with seq <= filter_up_to_seq become read.
 */
export function applyAcked(
  state: EventStoreState,
  frame: AckedFacts & Pick<AckedFrame, "unread_count">,
): EventStoreState {
  const reads = ackedReads(frame);
  let changed = false;
  const events = state.events.map((event) => {
    if (event.read || reads === null) return event;
    if (reads(event)) {
      changed = true;
      return { ...event, read: true };
    }
    return event;
  });
  const unreadCount = Math.max(0, Math.floor(frame.unread_count));
  if (!changed && unreadCount === state.unreadCount) return state;
  return { ...state, events: changed ? events : state.events, unreadCount };
}

/** Marks events read before the server confirms: each unread notification found subtracts 1 (never below 0). */
export function markReadOptimistic(state: EventStoreState, ids: Iterable<string>): EventStoreState {
  const wanted = new Set(ids);
  if (!wanted.size) return state;
  let newlyRead = 0;
  let changed = false;
  const events = state.events.map((event) => {
    if (event.read || !wanted.has(event.id)) return event;
    changed = true;
    if (isNotification(event)) newlyRead += 1;
    return { ...event, read: true };
  });
  if (!changed) return state;
  return { ...state, events, unreadCount: Math.max(0, state.unreadCount - newlyRead) };
}

/** "Mark all as read" before the server confirms: everything read, count 0 (the acked frame then sets the truth). */
export function markAllReadOptimistic(state: EventStoreState): EventStoreState {
  if (state.unreadCount === 0 && state.events.every((e) => e.read)) return state;
  return { ...state, events: state.events.map((e) => (e.read ? e : { ...e, read: true })), unreadCount: 0 };
}

/** The server's count (GET /api/events/unread-count), clamped at 0. */
export function setUnreadCount(state: EventStoreState, count: number): EventStoreState {
  const unreadCount = Number.isFinite(count) ? Math.max(0, Math.floor(count)) : 0;
  return unreadCount === state.unreadCount ? state : { ...state, unreadCount };
}

/** Empties the store (keeps its limit), e.g. on a reset with a new epoch or on sign-out. */
export function clear(state: EventStoreState): EventStoreState {
  return { ...createEventStore(state.limit), limit: state.limit };
}

/** The newest seq held, or null. */
export function newestSeq(state: EventStoreState): number | null {
  return state.events[0]?.seq ?? null;
}
