// The overview's reads from the shared cache: recent events, host figures, health, hub statistics.
// Live events keep them current (app/liveCache.ts); these fetch the starting point.

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { useConnection, useRealtime } from "../../lib/realtime/RealtimeProvider";
import { fetchEvents } from "../../services/api";
import { isNotification } from "../../services/eventStore";
import { EventType, type ServerEvent } from "../../types/events";
import {
  METRIC_POINTS,
  addStatsSamples,
  addSystemStatus,
  emptySeries,
  overviewKeys,
  RECENT_LIMIT,
  type Metrics,
  type RecentEvents,
} from "./live";

export function useRecentEvents() {
  return useQuery({
    queryKey: overviewKeys.recent,
    // Patched on every event (app/liveCache.ts) even when the overview is not open: comparing up to
    // 200 events each time was a 40-50 ms task during a 5,000-event burst.
    structuralSharing: false,
    queryFn: async (): Promise<RecentEvents> => {
      const page = await fetchEvents({ limit: RECENT_LIMIT });
      return { events: page.events.filter(isNotification).sort((a, b) => b.seq - a.seq), epoch: page.epoch };
    },
  });
}

/** The host figures of the instance the main socket is on: the last minutes from history, then live. */
export function useMetrics() {
  const { instanceId } = useConnection();
  return useQuery({
    queryKey: overviewKeys.metrics(instanceId),
    structuralSharing: false,
    queryFn: async (): Promise<Metrics> => {
      const page = await fetchEvents({ type: EventType.SystemStatus, limit: METRIC_POINTS });
      let metrics: Metrics = { series: emptySeries(), status: null, statusAt: null };
      for (const event of page.events) {
        if (event.type === EventType.SystemStatus) metrics = addSystemStatus(metrics, event as ServerEvent<EventType.SystemStatus>, instanceId);
      }
      return metrics;
    },
  });
}

export { useHealthReport as useHealth } from "../../lib/health";

const STATS_POLL_MS = 5_000;

/** The hub's statistics over the main socket every few seconds while connected; each answer adds samples. */
export function useServerStats() {
  const { getStats } = useRealtime();
  const { live, instanceId } = useConnection();
  const client = useQueryClient();
  const stats = useQuery({
    queryKey: overviewKeys.stats,
    queryFn: () => getStats(),
    enabled: live,
    refetchInterval: live ? STATS_POLL_MS : false,
    retry: false,
  });
  const { data, dataUpdatedAt } = stats;
  useEffect(() => {
    if (!data) return;
    client.setQueryData<Metrics>(overviewKeys.metrics(instanceId), (metrics) => (metrics ? addStatsSamples(metrics, data, dataUpdatedAt) : metrics));
  }, [client, data, dataUpdatedAt, instanceId]);
  return stats;
}
