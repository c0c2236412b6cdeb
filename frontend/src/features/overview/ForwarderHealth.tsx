// Forwarder health on the overview: the last health report, with status changes and alerts newer
// than it; stale while the connection is down.

import { useMemo } from "react";
import { describeEvent, formatClock, formatRelative } from "../../lib/format";
import { useConnection } from "../../lib/realtime/RealtimeProvider";
import { StatusBadge, capitalize, forwarderTone } from "../../lib/ui/Badges";
import { StaleMark } from "../../lib/ui/StaleMark";
import { ErrorState, LoadingState } from "../../lib/ui/StateViews";
import { ActivityIcon } from "../../lib/ui/icons";
import { useNow } from "../../lib/useNow";
import { forwarderRows } from "./live";
import { useHealth, useRecentEvents } from "./queries";

export function ForwarderHealth() {
  const health = useHealth();
  const recent = useRecentEvents();
  const { live, downSince } = useConnection();
  const healthStatus = health.data ?? null;
  const recentEvents = recent.data?.events;
  const healthEvents = useMemo(() => (recentEvents ?? []).filter((e) => e.category === "health"), [recentEvents]);
  const forwarders = useMemo(() => forwarderRows(healthStatus, healthEvents), [healthStatus, healthEvents]);
  const now = useNow(10_000);
  const counts = { healthy: 0, degraded: 0, unhealthy: 0 };
  for (const f of forwarders) {
    if (f.status === "healthy") counts.healthy += 1;
    else if (f.status === "degraded") counts.degraded += 1;
    else if (f.status === "unhealthy" || f.status === "down") counts.unhealthy += 1;
  }
  const alerts = healthEvents.slice(0, 4);

  return (
    <section className="panel" data-testid="forwarder-health" aria-labelledby="forwarder-health-title">
      <header className="panel-head">
        <h2 id="forwarder-health-title">
          <span className="panel-icon" aria-hidden="true">
            <ActivityIcon size={15} />
          </span>
          Forwarder health
          {!live && healthStatus && <StaleMark since={downSince} />}
        </h2>
        <div className="summary-badges" aria-label="Forwarder summary">
          <StatusBadge tone="ok">{counts.healthy} healthy</StatusBadge>
          <StatusBadge tone={counts.degraded ? "warn" : "muted"}>{counts.degraded} degraded</StatusBadge>
          <StatusBadge tone={counts.unhealthy ? "bad" : "muted"}>{counts.unhealthy} unhealthy</StatusBadge>
        </div>
      </header>
      {forwarders.length > 0 ? (
        <div className="table-scroll" tabIndex={0} role="region" aria-label="Forwarders">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Forwarder</th>
                <th scope="col">Status</th>
                <th scope="col">Servers</th>
                <th scope="col" className="num">
                  Avg response
                </th>
                <th scope="col">Last change</th>
              </tr>
            </thead>
            <tbody>
              {forwarders.map((f) => {
                const up = f.servers.filter((s) => s.status === "healthy" || s.status === "up").length;
                return (
                  <tr key={f.name} data-forwarder={f.name} data-status={f.status}>
                    <th scope="row" className="mono">
                      {f.name}
                    </th>
                    <td>
                      <StatusBadge tone={forwarderTone(f.status)}>{capitalize(f.status)}</StatusBadge>
                    </td>
                    <td>{f.servers.length ? `${up} of ${f.servers.length} up` : <span className="muted">—</span>}</td>
                    <td className="num mono">{f.responseMs !== null ? `${f.responseMs} ms` : "—"}</td>
                    <td className="muted">
                      {f.updatedAt ? formatRelative(f.updatedAt, now) : "—"}
                      {f.message ? <span className="cell-note"> · {f.message}</span> : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : health.isPending ? (
        <LoadingState label="Loading forwarder health…" compact />
      ) : health.isError ? (
        <ErrorState title="Could not load forwarder health" error={health.error} onRetry={() => void health.refetch()} retrying={health.isFetching} compact />
      ) : (
        <p className="empty" data-testid="state-empty">
          {healthStatus
            ? "No forwarders are configured. Health checks report here as soon as forwarders exist."
            : "Waiting for the first health report…"}
        </p>
      )}
      {alerts.length > 0 && (
        <div className="alert-strip">
          <h3>Recent health events</h3>
          <ul>
            {alerts.map((e) => {
              const { title, detail } = describeEvent(e);
              return (
                <li key={e.id}>
                  <time className="mono muted" dateTime={e.timestamp}>
                    {formatClock(e.timestamp)}
                  </time>
                  <span>
                    <strong>{title}</strong>
                    {detail ? ` · ${detail}` : ""}
                  </span>
                </li>
              );
            })}
          </ul>
        </div>
      )}
    </section>
  );
}
