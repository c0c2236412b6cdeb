// Feeds the event stream into the query cache (liveCache.ts): every event once. A `reset` (the
// server's history no longer reaches back to where this client was) refetches everything; the
// main socket connecting again after a drop refetches what failed meanwhile (the pages that said
// "could not load" recover by themselves when the server is back). The events of one frame (a
// bulk change arrives as many events in one batch) are applied together, each refetch once.

import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { useEvents, useRealtime } from "../lib/realtime/RealtimeProvider";
import { applyCacheOps, coalesceOps, planCacheUpdates, type CacheOp } from "./liveCache";

export function LiveCacheBridge() {
  const client = useQueryClient();
  const { onFrame, mainType } = useRealtime();
  const connectedBefore = useRef(false);
  const pending = useRef<CacheOp[] | null>(null);
  useEvents((event) => {
    if (pending.current === null) {
      pending.current = [];
      // A batch frame's events are handed over one after another in the same task: apply them after it.
      queueMicrotask(() => {
        const ops = pending.current ?? [];
        pending.current = null;
        applyCacheOps(client, coalesceOps(ops));
      });
    }
    pending.current.push(...planCacheUpdates(event));
  });
  useEffect(() => onFrame("reset", () => void client.invalidateQueries()), [onFrame, client]);
  useEffect(
    () =>
      onFrame("connected", (_frame, source) => {
        if (source !== mainType) return;
        if (connectedBefore.current) void client.refetchQueries({ type: "active", predicate: (q) => q.state.status === "error" });
        connectedBefore.current = true;
      }),
    [onFrame, client, mainType],
  );
  return null;
}
