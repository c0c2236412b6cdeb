// The overview's connection card: the main stream's state, latency and attempts, the other
// streams, and the server's figures (get_stats), with a manual retry when not connected.

import { formatDuration, formatNumber } from "../../lib/format";
import { CONNECTION_LABELS, STATE_TEXT, STATE_TONE, canRetry, latencyText, retryText } from "../../lib/realtime/connectionText";
import { useConnection, useRealtime } from "../../lib/realtime/RealtimeProvider";
import { StatusBadge } from "../../lib/ui/Badges";
import { RefreshIcon } from "../../lib/ui/icons";
import { useNow } from "../../lib/useNow";
import type { ConnectionType } from "../../types/events";
import { useServerStats } from "./queries";

function statNumber(stats: Record<string, unknown> | null, key: string): number | undefined {
  const v = stats?.[key];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** Detailed card: state, latency, reconnect attempts, server stats, and a manual retry. */
export function ConnectionCard() {
  const { main: connection, connections } = useConnection();
  const { mainType: mainConnectionType, reconnect } = useRealtime();
  const stats = useServerStats();
  const connectionStats = stats.data ?? null;
  const statsUpdatedAt = stats.dataUpdatedAt || null;
  const now = useNow(1000);
  const state = connection.state;
  const retry = retryText(connection, now);
  const others = (Object.keys(connections) as ConnectionType[]).filter((t) => t !== mainConnectionType);

  const total = statNumber(connectionStats, "total_connections");
  const users = statNumber(connectionStats, "unique_users");
  const eps = statNumber(connectionStats, "events_per_second");
  const dispatched = statNumber(connectionStats, "events_dispatched");
  const queueMax = statNumber(connectionStats, "queue_depth_max");
  const uptime = statNumber(connectionStats, "uptime_seconds");
  const ownInfo = connectionStats?.["connection"];
  const own =
    typeof ownInfo === "object" && ownInfo !== null
      ? {
          framesSent: statNumber(ownInfo as Record<string, unknown>, "frames_sent"),
          queueDepth: statNumber(ownInfo as Record<string, unknown>, "queue_depth"),
          connectedAt: statNumber(ownInfo as Record<string, unknown>, "connected_at"),
        }
      : null;

  return (
    <section className="panel connection-card" data-testid="connection-card" aria-labelledby="connection-card-title">
      <header className="panel-head">
        <h2 id="connection-card-title">Connection</h2>
        <StatusBadge tone={STATE_TONE[state]}>{STATE_TEXT[state]}</StatusBadge>
      </header>
      <dl className="kv">
        <div>
          <dt>Stream</dt>
          <dd>{CONNECTION_LABELS[mainConnectionType]}</dd>
        </div>
        <div>
          <dt>Latency</dt>
          <dd data-testid="connection-latency">{latencyText(connection.latencyMs)}</dd>
        </div>
        <div>
          <dt>Reconnect attempts</dt>
          <dd data-testid="reconnect-attempts">
            {connection.reconnectAttempts}
            {retry ? <span className="muted"> · {retry}</span> : null}
          </dd>
        </div>
        <div>
          <dt>Last event seq</dt>
          <dd className="mono">{connection.lastSeq || "—"}</dd>
        </div>
        {connection.closeCode !== null && state !== "connected" && (
          <div className="kv-wide">
            <dt>Last close</dt>
            <dd>
              <span className="mono">{connection.closeCode}</span>
              {connection.closeReason ? ` ${connection.closeReason}` : ""}
            </dd>
          </div>
        )}
      </dl>

      {canRetry(connection) && (
        <div className="retry-row">
          <p className="small">
            {state === "offline"
              ? `Still trying, at a slower pace${retry ? ` (${retry})` : ""}.`
              : state === "reconnecting"
                ? `Reconnecting${retry ? ` (${retry})` : ""}.`
                : "The live stream is closed."}
          </p>
          <button type="button" className="button primary" onClick={reconnect}>
            <RefreshIcon size={14} /> Retry now
          </button>
        </div>
      )}

      {others.length > 0 && (
        <ul className="stream-list" aria-label="Other streams">
          {others.map((type) => {
            const s = connections[type];
            if (!s) return null;
            return (
              <li key={type}>
                <span>{CONNECTION_LABELS[type]}</span>
                <StatusBadge tone={STATE_TONE[s.state]} title={s.closeReason || undefined}>
                  {STATE_TEXT[s.state]}
                </StatusBadge>
              </li>
            );
          })}
        </ul>
      )}

      <div className="subhead">
        <h3>{total !== undefined ? "Server" : "This connection"}</h3>
        <button type="button" className="link-button" onClick={() => void stats.refetch()} disabled={state !== "connected"}>
          Refresh
        </button>
      </div>
      {connectionStats && total !== undefined ? (
        <dl className="kv kv-grid">
          <div>
            <dt>Connections</dt>
            <dd>{formatNumber(total)}</dd>
          </div>
          <div>
            <dt>Users</dt>
            <dd>{users !== undefined ? formatNumber(users) : "—"}</dd>
          </div>
          <div>
            <dt>Events/s</dt>
            <dd>{eps !== undefined ? formatNumber(eps, eps < 10 ? 2 : 0) : "—"}</dd>
          </div>
          <div>
            <dt>Dispatched</dt>
            <dd>{dispatched !== undefined ? formatNumber(dispatched) : "—"}</dd>
          </div>
          <div>
            <dt>Max queue</dt>
            <dd>{queueMax !== undefined ? formatNumber(queueMax) : "—"}</dd>
          </div>
          <div>
            <dt>Hub uptime</dt>
            <dd>{uptime !== undefined ? formatDuration(uptime) : "—"}</dd>
          </div>
        </dl>
      ) : own ? (
        <dl className="kv kv-grid">
          <div>
            <dt>Frames sent</dt>
            <dd>{own.framesSent !== undefined ? formatNumber(own.framesSent) : "—"}</dd>
          </div>
          <div>
            <dt>Queue</dt>
            <dd>{own.queueDepth !== undefined ? formatNumber(own.queueDepth) : "—"}</dd>
          </div>
          <div>
            <dt>Connected for</dt>
            <dd>{own.connectedAt !== undefined ? formatDuration(now / 1000 - own.connectedAt) : "—"}</dd>
          </div>
          <div className="kv-wide">
            <dt>Scope</dt>
            <dd className="muted small">Server-wide figures are shown to admins only</dd>
          </div>
        </dl>
      ) : (
        <p className="muted small">{state === "connected" ? "Loading server stats…" : "Server stats appear once connected."}</p>
      )}
      {statsUpdatedAt !== null && (
        <p className="muted tiny">Updated {Math.max(0, Math.round((now - statsUpdatedAt) / 1000))}s ago</p>
      )}
    </section>
  );
}
