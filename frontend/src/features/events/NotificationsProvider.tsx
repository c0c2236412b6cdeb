// Notifications and their read state: the newest events (everything but the periodic
// health_update / system_status), the user's unread count as the server keeps it, acknowledging
// one or all (every tab follows through the `acked` frames), older pages, toasts for what matters,
// and what screen readers are told (critical events assertively, the rest politely).
//
// The list and the count live in a small pure store (services/eventStore.ts): read state is
// per-user client state with optimistic marks, which the query cache is not made for.

import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { describeEvent } from "../../lib/format";
import { useEvents, useRealtime } from "../../lib/realtime/RealtimeProvider";
import { ackEvents, fetchEvents, fetchUnreadCount } from "../../services/api";
import {
  addEvents,
  applyAcked,
  clear,
  createEventStore,
  isNotification,
  markAllReadOptimistic,
  markReadOptimistic,
  mergeOlder,
  setUnreadCount,
  type EventStoreState,
  type StoredEvent,
} from "../../services/eventStore";
import type { ServerEvent } from "../../types/events";
import { ackAll } from "./api";
import { sonnerSink, ToastCoalescer } from "./eventToasts";

export interface NotificationsValue {
  /** Newest first, bounded. */
  events: StoredEvent[];
  unreadCount: number;
  /** The first load failed: the list is not known (not "empty"). */
  loadError: string | null;
  loading: boolean;
  hasMore: boolean;
  loadingOlder: boolean;
  olderError: string | null;
  loadOlder: () => Promise<void>;
  acknowledgeEvent: (id: string) => Promise<void>;
  acknowledgeAll: () => Promise<void>;
  /** Marks everything read and empties the list ("Clear all"): the badge and the list agree. */
  clearAll: () => Promise<void>;
  refresh: () => Promise<void>;
  open: boolean;
  setOpen: (open: boolean) => void;
}

const STORE_LIMIT = 200;
const FLUSH_INTERVAL_MS = 150;
const RECENT_PAGE = 200;
const OLDER_PAGE = 100;

const Context = createContext<NotificationsValue | null>(null);

export function useNotifications(): NotificationsValue {
  const value = useContext(Context);
  if (value === null) throw new Error("useNotifications must be used inside <NotificationsProvider>");
  return value;
}

function messageOf(error: unknown): string {
  return error instanceof Error && error.message ? error.message : "The request failed.";
}

/** What a screen reader is told about new events: critical and error ones interrupt (assertive). */
export function announcementFor(batch: readonly ServerEvent[]): { polite: string; assertive: string } {
  const urgent = batch.filter((e) => e.severity === "critical" || e.severity === "error");
  const say = (events: readonly ServerEvent[], prefix: string): string => {
    if (events.length === 0) return "";
    if (events.length === 1 && events[0]) {
      const { title, detail } = describeEvent(events[0]);
      return `${prefix}: ${title}${detail ? `, ${detail}` : ""}`;
    }
    return `${events.length} ${prefix.toLowerCase()}s`;
  };
  const rest = batch.filter((e) => !urgent.includes(e));
  return {
    assertive: say(urgent, urgent.some((e) => e.severity === "critical") ? "Critical event" : "Error event"),
    polite: say(rest, "New notification"),
  };
}

export function NotificationsProvider({ children }: { children: ReactNode }) {
  const { onFrame } = useRealtime();
  const [store, setStore] = useState<EventStoreState>(() => createEventStore(STORE_LIMIT));
  const [loading, setLoading] = useState(true);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [olderError, setOlderError] = useState<string | null>(null);
  const [open, setOpen] = useState(false);
  const [polite, setPolite] = useState("");
  const [assertive, setAssertive] = useState("");

  const storeRef = useRef(store);
  useEffect(() => {
    storeRef.current = store;
  }, [store]);
  const pendingRef = useRef<ServerEvent[]>([]);
  const flushTimerRef = useRef<ReturnType<typeof setTimeout> | null>(null);
  const coalescerRef = useRef<ToastCoalescer | null>(null);
  const fetchGenerationRef = useRef(0);
  // Bumped by every `acked` frame: a count fetched before one arrived is older than the frame's.
  const ackedGenerationRef = useRef(0);
  // Local acks not yet answered: a count the server gives meanwhile does not include them.
  const acksInFlightRef = useRef(0);
  const epochRef = useRef<string | null>(null);

  const coalescer = useCallback((): ToastCoalescer => {
    coalescerRef.current ??= new ToastCoalescer(sonnerSink(() => setOpen(true)));
    return coalescerRef.current;
  }, []);

  // ---- REST: recent notifications + unread count (at start and on `reset`) ----
  const refresh = useCallback(async () => {
    const generation = ++fetchGenerationRef.current;
    const ackedAtStart = ackedGenerationRef.current;
    try {
      const [page, unread] = await Promise.all([fetchEvents({ limit: RECENT_PAGE }), fetchUnreadCount()]);
      if (generation !== fetchGenerationRef.current) return;
      const notifications = page.events.filter(isNotification);
      const epochChanged = epochRef.current !== null && epochRef.current !== page.epoch;
      epochRef.current = page.epoch;
      setStore((s) => {
        // the page is the truth up to page.last_seq; live events after it (same epoch) are kept
        const live = epochChanged ? [] : s.events.filter((e) => e.seq > page.last_seq);
        let next = addEvents(clear(s), notifications, { unread: false });
        next = addEvents(next, live);
        next = mergeOlder(next, [], page.has_more || next.hasMore);
        // An `acked` frame that arrived while we fetched carries a newer count than `unread`: keep it.
        return setUnreadCount(next, ackedGenerationRef.current === ackedAtStart ? unread : s.unreadCount);
      });
      setLoadError(null);
    } catch (error) {
      if (generation === fetchGenerationRef.current) setLoadError(messageOf(error));
    } finally {
      if (generation === fetchGenerationRef.current) setLoading(false);
    }
  }, []);

  // The server's count is the truth; after live events (whose optimistic increments can race a
  // REST fetch) re-read it, unless an `acked` frame (newer still) arrived while we asked.
  const unreadSyncRef = useRef(0);
  const unreadTimerRef = useRef<ReturnType<typeof setTimeout> | null>(null);
  const syncUnread = useCallback(() => {
    if (unreadTimerRef.current !== null) clearTimeout(unreadTimerRef.current);
    unreadTimerRef.current = setTimeout(() => {
      unreadTimerRef.current = null;
      const generation = ++unreadSyncRef.current;
      const acked = ackedGenerationRef.current;
      void fetchUnreadCount()
        .then((n) => {
          if (generation === unreadSyncRef.current && acked === ackedGenerationRef.current && acksInFlightRef.current === 0) {
            setStore((s) => setUnreadCount(s, n));
          }
        })
        .catch(() => undefined);
    }, 150);
  }, []);

  const lastFlushRef = useRef(0);
  const flush = useCallback(() => {
    flushTimerRef.current = null;
    lastFlushRef.current = Date.now();
    const batch = pendingRef.current;
    pendingRef.current = [];
    if (batch.length === 0) return;
    setStore((s) => addEvents(s, batch, { unread: true }));
    syncUnread();
    coalescer().push(batch);
    const said = announcementFor(batch);
    if (said.polite) setPolite(said.polite);
    if (said.assertive) setAssertive(said.assertive);
  }, [syncUnread, coalescer]);

  // A lone event is shown 30 ms after it came (with any that come with it); during a burst the list,
  // the count and the announcements change at most every FLUSH_INTERVAL_MS (lastFlushRef).
  useEvents((event) => {
    if (!isNotification(event)) return;
    pendingRef.current.push(event);
    flushTimerRef.current ??= setTimeout(flush, Math.max(30, lastFlushRef.current + FLUSH_INTERVAL_MS - Date.now()));
  });

  useEffect(
    () =>
      onFrame("acked", (frame) => {
        ackedGenerationRef.current += 1;
        setStore((s) => applyAcked(s, frame));
      }),
    [onFrame],
  );
  useEffect(() => onFrame("reset", () => void refresh()), [onFrame, refresh]);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  useEffect(
    () => () => {
      if (flushTimerRef.current !== null) clearTimeout(flushTimerRef.current);
      if (unreadTimerRef.current !== null) clearTimeout(unreadTimerRef.current);
    },
    [],
  );

  // ---- actions ----
  const acknowledgeEvent = useCallback(async (id: string) => {
    // A count asked of the server before this ack was answered would undo it: such answers are dropped.
    ackedGenerationRef.current += 1;
    acksInFlightRef.current += 1;
    setStore((s) => markReadOptimistic(s, [id]));
    try {
      const result = await ackEvents({ event_ids: [id] });
      setStore((s) => applyAcked(s, result));
    } catch {
      void fetchUnreadCount()
        .then((n) => setStore((s) => setUnreadCount(s, n)))
        .catch(() => undefined);
    } finally {
      acksInFlightRef.current -= 1;
    }
  }, []);

  const acknowledgeAll = useCallback(async () => {
    // One request: the server marks everything the user may see up to now ({"all": true}), in one
    // statement, whatever this client has loaded; its answer (and the `acked` frame every tab
    // gets) carries the new count.
    ackedGenerationRef.current += 1;
    acksInFlightRef.current += 1;
    setStore((s) => markAllReadOptimistic(s));
    try {
      const result = await ackAll();
      setStore((s) => applyAcked(s, result));
    } catch {
      void fetchUnreadCount()
        .then((n) => setStore((s) => setUnreadCount(s, n)))
        .catch(() => undefined);
    } finally {
      acksInFlightRef.current -= 1;
    }
  }, []);

  const clearAll = useCallback(async () => {
    // Marks everything read (at once, then on the server) and empties the list at once too, not
    // when the server answers: the badge and the list agree all along. "Load older" brings the
    // (now read) events back on request.
    const acknowledged = acknowledgeAll();
    setStore((s) => setUnreadCount(mergeOlder(clear(s), [], true), s.unreadCount));
    await acknowledged;
  }, [acknowledgeAll]);

  const loadOlder = useCallback(async () => {
    const current = storeRef.current;
    if (!current.hasMore) return;
    setLoadingOlder(true);
    setOlderError(null);
    try {
      let before = current.oldestSeq ?? undefined;
      let collected: ServerEvent[] = [];
      let hasMore = false;
      // periodic events are not shown; skip pages that hold nothing else (bounded)
      for (let i = 0; i < 5; i++) {
        const page = await fetchEvents(before !== undefined ? { before_seq: before, limit: OLDER_PAGE } : { limit: OLDER_PAGE });
        hasMore = page.has_more;
        collected = [...page.events.filter(isNotification), ...collected];
        const first = page.events[0];
        if (collected.length > 0 || !hasMore || first === undefined) break;
        before = first.seq;
      }
      setStore((s) => mergeOlder(s, collected, hasMore));
    } catch (error) {
      setOlderError(messageOf(error));
    } finally {
      setLoadingOlder(false);
    }
  }, []);

  const value = useMemo<NotificationsValue>(
    () => ({
      events: store.events,
      unreadCount: store.unreadCount,
      loadError,
      loading,
      hasMore: store.hasMore,
      loadingOlder,
      olderError,
      loadOlder,
      acknowledgeEvent,
      acknowledgeAll,
      clearAll,
      refresh,
      open,
      setOpen,
    }),
    [store, loadError, loading, loadingOlder, olderError, loadOlder, acknowledgeEvent, acknowledgeAll, clearAll, refresh, open],
  );

  return (
    <Context.Provider value={value}>
      {children}
      <div className="sr-only" aria-live="polite" aria-atomic="true" data-testid="notifications-live">
        {polite}
      </div>
      <div className="sr-only" aria-live="assertive" aria-atomic="true" data-testid="notifications-alert">
        {assertive}
      </div>
    </Context.Provider>
  );
}
