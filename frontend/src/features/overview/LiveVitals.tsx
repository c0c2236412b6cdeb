// The header's live figures: CPU of the followed host, the main socket's latency and forwarder
// health. While the connection is down each is marked stale where it is seen, with the time it
// dates from; nothing is shown as if it were live.

import { useMemo } from "react";
import { formatNumber } from "../../lib/format";
import { useConnection } from "../../lib/realtime/RealtimeProvider";
import { StaleMark } from "../../lib/ui/StaleMark";
import { forwarderRows } from "./live";
import { useHealth, useMetrics, useRecentEvents } from "./queries";

export function LiveVitals({ testId = "live-vitals" }: { testId?: string }) {
  const { live, downSince, main } = useConnection();
  const metrics = useMetrics().data;
  const health = useHealth().data ?? null;
  const recentEvents = useRecentEvents().data?.events;
  const rows = useMemo(() => forwarderRows(health, (recentEvents ?? []).filter((e) => e.category === "health")), [health, recentEvents]);
  const cpu = metrics?.status?.cpu_percent;
  const healthy = rows.filter((r) => r.status === "healthy").length;
  const latency = main.latencyMs;
  const stale = !live;
  const items = [
    { key: "cpu", label: "CPU", value: typeof cpu === "number" ? `${formatNumber(cpu, 0)}%` : null },
    { key: "latency", label: "Latency", value: latency === null ? null : `${Math.round(latency)} ms` },
    { key: "forwarders", label: "Forwarders", value: health === null ? null : rows.length === 0 ? "none" : `${healthy}/${rows.length} healthy` },
  ];
  return (
    <dl className={`vitals${stale ? " is-stale" : ""}`} aria-label="Live figures" data-testid={testId} data-stale={stale ? "true" : "false"}>
      {items.map((item) => (
        <div key={item.key} className="vital" data-testid={`${testId}-${item.key}`}>
          <dt>{item.label}</dt>
          <dd>
            <span className="vital-value">{item.value ?? "—"}</span>
            {stale && item.value !== null && <StaleMark since={downSince} />}
          </dd>
        </div>
      ))}
    </dl>
  );
}
