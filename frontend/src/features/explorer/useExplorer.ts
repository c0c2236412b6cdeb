// The explorer's data: the history of a search as an infinite query (pages of GET /api/events,
// newest first, older pages by keyset), and, for a view that can be live, the filtered stream
// (liveStream.ts) whose events join the first page in the same cache entry: once per animation
// frame, however many arrive, so that a burst costs one render per frame. While paused, new events
// are counted and held (liveView.ts); "Jump to live" puts them in. `acked` frames (any tab of the
// user marking events read) update the `read` flags of the events held (readState.ts).

import { useInfiniteQuery, useQueryClient, type InfiniteData } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useRealtime } from "../../lib/realtime/RealtimeProvider";
import { fetchClientConfig, type AckResult } from "../../services/api";
import { getToken } from "../../services/auth";
import type { Role, ServerEvent } from "../../types/events";
import { ackMatching, explorerKeys, fetchExplorerPage, type ExplorerEvent, type ExplorerPage } from "./api";
import { ExplorerStream, connectionTypesFor, type StreamState } from "./liveStream";
import { LIVE, flattenPages, jumpToLive, mergeLive, nextPageParam, pause, receive, type LiveState } from "./liveView";
import { AckLog, applyAckedToPage, applyAckedToPages, markableFilter } from "./readState";
import { isLiveView, searchKey, wireFilter, type ExplorerSearch } from "./search";

type Data = InfiniteData<ExplorerPage>;

export interface ExplorerData {
  events: ExplorerEvent[];
  status: "pending" | "error" | "success";
  error: unknown;
  isFetching: boolean;
  hasOlder: boolean;
  loadingOlder: boolean;
  olderError: unknown;
  loadOlder: () => void;
  retryOlder: () => void;
  /** Reads the newest page again (and starts the stream from it), live. */
  reload: () => void;
  /** Whether new events can join this view (no full-text search, no end of the time range). */
  liveView: boolean;
  /** The stream's state ("stopped" when the view is not live or the role receives none of it; "shared": the app's connection's). */
  stream: StreamState | "shared";
  streamDetail: string;
  paused: boolean;
  pendingCount: number;
  pauseLive: () => void;
  /** Back to live: held events go in (or the newest page is reloaded if too many came). */
  resumeLive: () => void;
  /** Events received live since the page opened (for the tests and the header). */
  received: number;
  /** "Mark matching as read" for this view (every event matching its filter, up to now), or null when the view is not exactly a filter. */
  markMatchingRead: (() => Promise<AckResult>) | null;
}

/** Live events join the list at most this often: a burst costs a few renders a second, not one per frame. */
export const FLUSH_INTERVAL_MS = 100;

/**
 * Runs `callback` in the next animation frame, but not sooner than `notBefore` (ms, performance.now()):
 * a lone event shows at once, a stream of them in batches. In a hidden tab (no frames), by timer.
 */
function schedule(callback: () => void, notBefore = 0): () => void {
  if (typeof document !== "undefined" && document.hidden) {
    const timer = setTimeout(callback, 250);
    return () => clearTimeout(timer);
  }
  const wait = notBefore - performance.now();
  let frame: number | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  if (wait > 4) {
    timer = setTimeout(() => {
      timer = null;
      frame = requestAnimationFrame(callback);
    }, wait);
  } else {
    frame = requestAnimationFrame(callback);
  }
  return () => {
    if (timer !== null) clearTimeout(timer);
    if (frame !== null) cancelAnimationFrame(frame);
  };
}

export function useExplorer(search: ExplorerSearch, user: { username: string; role: Role }): ExplorerData {
  const client = useQueryClient();
  const key = useMemo(() => explorerKeys.events(searchKey(search)), [search]);
  // every `acked` frame this page gets (the latest few): a page being fetched when one comes may
  // carry the flags from before it, so those that came meanwhile are applied to it on arrival
  const [ackLog] = useState(() => new AckLog());
  const query = useInfiniteQuery({
    queryKey: key,
    queryFn: async ({ pageParam, signal }) => {
      const from = ackLog.position();
      const page = await fetchExplorerPage(search, pageParam, signal);
      return applyAckedToPage(page, ackLog.since(from));
    },
    initialPageParam: undefined as number | undefined,
    getNextPageParam: nextPageParam,
    // live events keep it current; a refetch would restart the stream from a new page
    staleTime: Number.POSITIVE_INFINITY,
    // not kept once the page is left: its stream stops then, so what was held would have a gap
    gcTime: 0,
    refetchOnWindowFocus: false,
    refetchOnReconnect: false,
    // mergeLive keeps every unchanged page and event by reference already; comparing thousands of
    // events deeply on every live update (the default) would cost more than everything else
    structuralSharing: false,
  });

  const events = useMemo(() => flattenPages(query.data), [query.data]);
  const liveView = isLiveView(search);
  const filter = useMemo(() => wireFilter(search), [search]);
  const filterJson = JSON.stringify(filter);

  // ---- live / paused (per search: another search starts live, with nothing held) ----
  const keyText = key.join("\u0000");
  const [live, setLive] = useState<{ key: string; state: LiveState }>({ key: keyText, state: LIVE });
  const liveRef = useRef(live);
  const current = useCallback((): LiveState => (liveRef.current.key === keyText ? liveRef.current.state : LIVE), [keyText]);
  const setLiveState = useCallback(
    (state: LiveState) => {
      if (liveRef.current.key === keyText && liveRef.current.state === state) return;
      liveRef.current = { key: keyText, state };
      setLive(liveRef.current);
    },
    [keyText],
  );
  const liveState = live.key === keyText ? live.state : LIVE;
  const incoming = useRef<ServerEvent[]>([]);
  const cancelFlush = useRef<(() => void) | null>(null);
  const [received, setReceived] = useState(0);

  const apply = useCallback(
    (insert: readonly ExplorerEvent[]) => {
      if (insert.length) client.setQueryData<Data>(key, (data) => mergeLive(data, insert));
    },
    [client, key],
  );

  const flushRef = useRef<() => void>(() => undefined);
  const lastFlush = useRef(0);
  const flush = useCallback(() => {
    cancelFlush.current = null;
    if (incoming.current.length === 0) return;
    // before the first page is there, what arrives waits for it (the page may or may not hold it)
    if (client.getQueryData<Data>(key) === undefined) {
      cancelFlush.current = schedule(() => flushRef.current());
      return;
    }
    const batch = incoming.current;
    incoming.current = [];
    lastFlush.current = performance.now();
    const { state, insert } = receive(current(), batch);
    setLiveState(state);
    apply(insert);
    setReceived((n) => n + batch.length);
  }, [apply, current, setLiveState, client, key]);
  useEffect(() => {
    flushRef.current = flush;
  });
  const take = useCallback(
    (event: ServerEvent) => {
      incoming.current.push(event);
      cancelFlush.current ??= schedule(flush, lastFlush.current + FLUSH_INTERVAL_MS);
    },
    [flush],
  );

  const pauseLive = useCallback(() => setLiveState(pause(current())), [setLiveState, current]);

  const resumeLive = useCallback(() => {
    // what still waits for the next frame arrived while paused: count it in first
    cancelFlush.current?.();
    flush();
    const { state, insert, reload } = jumpToLive(current());
    setLiveState(state);
    if (reload) void client.resetQueries({ queryKey: key, exact: true });
    else apply(insert);
  }, [flush, current, setLiveState, client, key, apply]);

  // ---- where live events come from ----
  // Without a filter, the app's own connection already brings every event the user may see: the
  // explorer listens to it (no second copy of every event). With a filter, its own sockets carry the
  // filter so that the server sends only what matches, starting from the first page's position.
  const shared = liveView && filter === null;
  const { subscribe, onFrame } = useRealtime();

  // ---- read marks: from any tab of the user (and this one's own "Mark matching as read") ----
  useEffect(
    () =>
      onFrame("acked", (frame) => {
        ackLog.add(frame);
        client.setQueryData<Data>(key, (data) => applyAckedToPages(data, frame));
      }),
    [onFrame, ackLog, client, key],
  );
  const ackFilter = useMemo(() => markableFilter(search), [search]);
  const markMatchingRead = useMemo(() => {
    if (ackFilter === null) return null;
    return async () => {
      const result = await ackMatching(ackFilter);
      // the `acked` frame says the same, a moment later (or not at all while the socket is down)
      ackLog.add(result);
      client.setQueryData<Data>(key, (data) => applyAckedToPages(data, result));
      return result;
    };
  }, [ackFilter, ackLog, client, key]);
  useEffect(() => {
    if (!shared) return undefined;
    const off = subscribe(take);
    return () => {
      off();
      cancelFlush.current?.();
      cancelFlush.current = null;
      incoming.current = [];
    };
  }, [shared, subscribe, take, keyText]);

  const first = query.data?.pages[0];
  const epoch = first?.epoch ?? null;
  const fromSeq = first?.lastSeq ?? null;
  const streamTypes = connectionTypesFor(user.role, filter).join(",");
  const streamOn = liveView && !shared && epoch !== null && fromSeq !== null && streamTypes !== "";
  const streamId = `${keyText}|${epoch}|${fromSeq}|${streamTypes}`;
  const [stream, setStream] = useState<{ id: string; state: StreamState; detail: string }>({ id: "", state: "stopped", detail: "" });

  useEffect(() => {
    if (!streamOn || epoch === null || fromSeq === null) return undefined;
    const liveStream = new ExplorerStream({
      role: user.role,
      userId: user.username,
      getToken,
      filter: JSON.parse(filterJson) as ReturnType<typeof wireFilter>,
      from: { epoch, lastSeq: fromSeq },
      loadConfig: fetchClientConfig,
      onEvent: take,
      // the server cannot resume from the page's position: read the newest page again
      onReset: () => void client.resetQueries({ queryKey: key, exact: true }),
      onState: (state, detail) => setStream({ id: streamId, state, detail }),
    });
    liveStream.start();
    return () => {
      liveStream.stop();
      cancelFlush.current?.();
      cancelFlush.current = null;
      incoming.current = [];
    };
  }, [streamOn, streamId, epoch, fromSeq, filterJson, user.role, user.username, client, key, take]);

  // "shared": the state is the app's main connection's (SharedStreamState shows it: reading the
  // connection here would re-render the whole page for every event, as each moves its position)
  let streamState: StreamState | "shared";
  let streamDetail = "";
  if (shared) {
    streamState = "shared";
  } else if (!streamOn) {
    streamState = "stopped";
  } else {
    streamState = stream.id === streamId ? stream.state : "connecting";
    streamDetail = stream.id === streamId ? stream.detail : "";
  }

  const { hasNextPage, isFetchingNextPage, fetchNextPage, isFetchNextPageError } = query;
  const loadOlder = useCallback(() => {
    if (hasNextPage && !isFetchingNextPage && !isFetchNextPageError) void fetchNextPage();
  }, [hasNextPage, isFetchingNextPage, isFetchNextPageError, fetchNextPage]);

  return {
    events,
    status: query.status,
    error: query.error,
    isFetching: query.isFetching,
    hasOlder: hasNextPage,
    loadingOlder: isFetchingNextPage,
    olderError: isFetchNextPageError ? query.error : null,
    loadOlder,
    retryOlder: () => void fetchNextPage(),
    reload: () => {
      setLiveState(LIVE);
      void client.resetQueries({ queryKey: key, exact: true });
    },
    liveView,
    stream: streamState,
    streamDetail,
    paused: liveState.paused,
    pendingCount: liveState.pendingCount,
    pauseLive,
    resumeLive,
    received,
    markMatchingRead,
  };
}
