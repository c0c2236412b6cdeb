// The host and hub figures at the top of the overview, with their recent trend. While the
// connection is down they are marked stale (and dimmed), with the time they date from.

import { formatBytes, formatNumber } from "../../lib/format";
import { useConnection } from "../../lib/realtime/RealtimeProvider";
import { StatusBadge, type Tone } from "../../lib/ui/Badges";
import { Sparkline } from "../../lib/ui/Sparkline";
import { StaleMark } from "../../lib/ui/StaleMark";
import { emptySeries, type MetricKey } from "./live";
import { useMetrics, useServerStats } from "./queries";

interface CardSpec {
  key: MetricKey;
  testId: string;
  title: string;
  unit: string;
  percent: boolean;
}

const CARDS: CardSpec[] = [
  { key: "connections", testId: "card-connections", title: "Connections", unit: "", percent: false },
  { key: "cpu", testId: "card-cpu", title: "CPU", unit: "%", percent: true },
  { key: "memory", testId: "card-memory", title: "Memory", unit: "%", percent: true },
  { key: "disk", testId: "card-disk", title: "Disk", unit: "%", percent: true },
  { key: "eps", testId: "card-eps", title: "Events / second", unit: "", percent: false },
];

function loadStatus(value: number | undefined): { tone: Tone; text: string } | null {
  if (value === undefined) return null;
  if (value >= 90) return { tone: "bad", text: "Critical" };
  if (value >= 75) return { tone: "warn", text: "High" };
  return { tone: "ok", text: "Normal" };
}

function sparkTone(tone: Tone | undefined): "accent" | "ok" | "warn" | "bad" {
  if (tone === "warn") return "warn";
  if (tone === "bad") return "bad";
  return "accent";
}

function windowLabel(samples: { t: number }[]): string {
  const first = samples[0];
  const last = samples[samples.length - 1];
  if (!first || !last || samples.length < 2) return samples.length ? "Live" : "Waiting";
  const seconds = Math.max(1, Math.round((last.t - first.t) / 1000));
  return seconds < 120 ? `Last ${seconds}s` : `Last ${Math.round(seconds / 60)} min`;
}

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

export function StatCards() {
  const { live, downSince } = useConnection();
  const metricsQuery = useMetrics();
  const connectionStats = useServerStats().data ?? null;
  const metrics = metricsQuery.data?.series ?? emptySeries();
  const systemStatus = metricsQuery.data?.status ?? null;
  const stale = !live;

  const latest = (key: MetricKey): number | undefined => metrics[key][metrics[key].length - 1]?.v;

  function sub(key: MetricKey): string {
    switch (key) {
      case "connections": {
        const byType =
          (connectionStats?.["connections_by_type"] as Record<string, number> | undefined) ?? systemStatus?.connections?.by_type;
        const users = num(connectionStats?.["unique_users"]);
        if (!byType) return "Live WebSocket clients";
        const parts = Object.entries(byType)
          .filter(([, n]) => n > 0)
          .map(([type, n]) => `${type.replace("dns_management", "dns")} ${n}`);
        return [users !== undefined ? `${users} user${users === 1 ? "" : "s"}` : "", ...parts].filter(Boolean).join(" · ") || "No clients";
      }
      case "cpu": {
        const cores = systemStatus?.cpu_count;
        const load = systemStatus?.load_average?.["1m"];
        return [cores ? `${cores} cores` : "", load !== undefined ? `load ${load.toFixed(2)}` : ""].filter(Boolean).join(" · ") || "Host CPU";
      }
      case "memory": {
        const m = systemStatus?.memory;
        return m?.used_bytes !== undefined && m.total_bytes !== undefined
          ? `${formatBytes(m.used_bytes)} of ${formatBytes(m.total_bytes)}`
          : "Host memory";
      }
      case "disk": {
        const d = systemStatus?.disk;
        return d?.used_bytes !== undefined && d.total_bytes !== undefined
          ? `${formatBytes(d.used_bytes)} of ${formatBytes(d.total_bytes)}`
          : "Data volume";
      }
      case "eps": {
        const dispatched = num(connectionStats?.["events_dispatched"]);
        return dispatched !== undefined ? `${formatNumber(dispatched)} dispatched` : "10 s average";
      }
    }
  }

  return (
    <section className={`stat-grid${stale ? " is-stale" : ""}`} aria-label="Live metrics" data-stale={stale ? "true" : "false"}>
      {CARDS.map((card) => {
        const values = metrics[card.key].map((s) => s.v);
        const value = latest(card.key);
        const status = card.percent ? loadStatus(value) : null;
        const display =
          value === undefined ? "—" : card.key === "eps" ? formatNumber(value, value < 10 ? 2 : 1) : formatNumber(value, card.percent ? 1 : 0);
        return (
          <article key={card.key} className="stat-card" data-testid={card.testId} aria-labelledby={`${card.testId}-title`}>
            <header>
              <h2 id={`${card.testId}-title`}>{card.title}</h2>
              {stale && value !== undefined ? (
                <StaleMark since={downSince} />
              ) : status ? (
                <StatusBadge tone={status.tone}>{status.text}</StatusBadge>
              ) : (
                <span className="stat-live muted tiny">{windowLabel(metrics[card.key])}</span>
              )}
            </header>
            <div className="stat-value">
              <span className="value">{display}</span>
              {value !== undefined && card.unit && <span className="unit">{card.unit}</span>}
            </div>
            <Sparkline
              values={values}
              label={`${card.title} trend`}
              unit={card.unit}
              min={card.percent ? 0 : undefined}
              max={card.percent ? 100 : undefined}
              tone={sparkTone(status?.tone)}
            />
            <p className="stat-sub">{sub(card.key)}</p>
          </article>
        );
      })}
    </section>
  );
}
