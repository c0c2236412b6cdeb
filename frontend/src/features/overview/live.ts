// The overview's cached data and its pure updates: the recent events (the feeds and forwarder
// alerts), the host figures over time (system_status, get_stats) and the latest health report.
// The live event rules (app/liveCache.ts) and the queries (queries.ts) both use these.

import { NOT_NOTIFICATIONS, EventType, type ForwarderHealth, type ServerEvent, type SystemStatusPayload } from "../../types/events";
import { healthKeys, type HealthReport } from "../../lib/health";
import type { StoredEvent } from "../../services/eventStore";
import { describeEvent } from "../../lib/format";

export const overviewKeys = {
  recent: ["events", "recent"] as const,
  metricsAll: ["overview", "metrics"] as const,
  /** The host figures of one instance ("" until the main socket names its instance). */
  metrics: (instance: string | null) => ["overview", "metrics", instance ?? ""] as const,
  health: healthKeys.report,
  stats: ["overview", "ws-stats"] as const,
};

// --- recent events ------------------------------------------------------------------------------

export const RECENT_LIMIT = 200;

export interface RecentEvents {
  /** Newest first (by seq), at most RECENT_LIMIT, no periodic events. */
  events: (ServerEvent | StoredEvent)[];
  epoch: string;
}

/** Adds a live event (once, by id), newest first, bounded; periodic events are not kept. */
export function addRecentEvent(recent: RecentEvents, event: ServerEvent): RecentEvents {
  if (NOT_NOTIFICATIONS.has(event.type)) return recent;
  const newest = recent.events[0];
  if (newest === undefined || event.seq > newest.seq) {
    // the common case, a live event newer than all: in front, no search and no sort (an event's seq
    // is its own, so a newer one is not held already)
    return { ...recent, events: [event, ...recent.events.slice(0, RECENT_LIMIT - 1)] };
  }
  if (recent.events.some((e) => e.id === event.id)) return recent;
  const events = [...recent.events, event].sort((a, b) => b.seq - a.seq).slice(0, RECENT_LIMIT);
  return { ...recent, events };
}

// --- host figures -------------------------------------------------------------------------------

export type MetricKey = "connections" | "cpu" | "memory" | "disk" | "eps";
export interface MetricSample {
  t: number; // ms epoch
  v: number;
}
export type MetricSeries = Record<MetricKey, MetricSample[]>;

export interface Metrics {
  series: MetricSeries;
  /** The latest system_status of the followed instance. */
  status: SystemStatusPayload | null;
  /** When it was sent (ms), for "as of" marks. */
  statusAt: number | null;
}

export const METRIC_POINTS = 60;

export const emptySeries = (): MetricSeries => ({ connections: [], cpu: [], memory: [], disk: [], eps: [] });

export function appendSamples(series: MetricSeries, t: number, values: Partial<Record<MetricKey, number>>): MetricSeries {
  let next = series;
  for (const key of Object.keys(values) as MetricKey[]) {
    const v = values[key];
    if (v === undefined || !Number.isFinite(v)) continue;
    const list = series[key];
    if (list.some((s) => s.t === t && s.v === v)) continue;
    const last = list[list.length - 1];
    // keep the series in time order; an older sample (history seeding) is inserted in place
    const merged = last === undefined || last.t <= t ? [...list, { t, v }] : [...list, { t, v }].sort((a, b) => a.t - b.t);
    next = { ...next, [key]: merged.slice(-METRIC_POINTS) };
  }
  return next;
}

export function systemSamples(data: SystemStatusPayload): Partial<Record<MetricKey, number>> {
  const values: Partial<Record<MetricKey, number>> = {};
  if (typeof data.cpu_percent === "number") values.cpu = data.cpu_percent;
  if (data.memory && typeof data.memory.percent === "number") values.memory = data.memory.percent;
  if (data.disk && typeof data.disk.percent === "number") values.disk = data.disk.percent;
  if (data.connections && typeof data.connections.total === "number") values.connections = data.connections.total;
  if (typeof data.events_per_second === "number") values.eps = data.events_per_second;
  return values;
}

/**
 * With several server instances, each sends its own `system_status` (its own host's figures). The
 * dashboard follows the instance its main socket is on (`connected.instance_id`), so that the CPU,
 * memory and disk cards show one host instead of alternating between hosts. Until that is known,
 * or from a server that does not name instances, every status counts.
 */
export function fromFollowedInstance(data: SystemStatusPayload, followed: string | null | undefined): boolean {
  return !followed || !data.instance_id || data.instance_id === followed;
}

/** A system_status of the followed instance joins its series and becomes the latest status. */
export function addSystemStatus(metrics: Metrics, event: ServerEvent<EventType.SystemStatus>, followed: string | null): Metrics {
  if (!fromFollowedInstance(event.data, followed)) return metrics;
  const t = Date.parse(event.timestamp) || Date.now();
  const series = appendSamples(metrics.series, t, systemSamples(event.data));
  const newer = metrics.statusAt === null || t >= metrics.statusAt;
  if (series === metrics.series && !newer) return metrics;
  return newer ? { series, status: event.data, statusAt: t } : { ...metrics, series };
}

function numberField(data: Record<string, unknown> | null | undefined, key: string): number | undefined {
  const v = data?.[key];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** The hub's connection count and event rate from a `get_stats` answer, as samples at `t`. */
export function addStatsSamples(metrics: Metrics, stats: Record<string, unknown>, t: number): Metrics {
  const values: Partial<Record<MetricKey, number>> = {};
  const total = numberField(stats, "total_connections");
  const eps = numberField(stats, "events_per_second");
  if (total !== undefined) values.connections = total;
  if (eps !== undefined) values.eps = eps;
  const series = appendSamples(metrics.series, t, values);
  return series === metrics.series ? metrics : { ...metrics, series };
}

// --- forwarder health ---------------------------------------------------------------------------

export type { HealthReport };

export interface ForwarderRow {
  name: string;
  status: string;
  servers: NonNullable<ForwarderHealth["servers"]>;
  responseMs: number | null;
  /** Where the row comes from: the periodic health_update, or a later status change / alert. */
  source: "health_update" | "event";
  updatedAt: string | null;
  message: string;
}

function rowsFromHealth(report: HealthReport | null): ForwarderRow[] {
  if (!report || !Array.isArray(report.data.forwarders)) return [];
  return report.data.forwarders.map((f) => {
    const servers = Array.isArray(f.servers) ? f.servers : [];
    const times = servers.map((s) => s.response_ms).filter((v): v is number => typeof v === "number");
    return {
      name: f.name,
      status: f.status,
      servers,
      responseMs: times.length ? Math.round(times.reduce((a, b) => a + b, 0) / times.length) : null,
      source: "health_update",
      updatedAt: report.at,
      message: "",
    };
  });
}

/** Rows per forwarder: the last health report, overridden by status changes and alerts newer than it. */
export function forwarderRows(report: HealthReport | null, events: readonly ServerEvent[]): ForwarderRow[] {
  const rows = new Map<string, ForwarderRow>();
  for (const row of rowsFromHealth(report)) rows.set(row.name, row);
  const changes = events
    .filter((e) => e.type === EventType.ForwarderStatusChange || e.type === EventType.HealthAlert)
    .sort((a, b) => a.seq - b.seq);
  for (const event of changes) {
    const data: Record<string, unknown> = event.data;
    const name = typeof data["forwarder"] === "string" ? data["forwarder"] : "";
    if (!name) continue;
    const previous = rows.get(name);
    if (previous?.updatedAt && previous.updatedAt > event.timestamp) continue;
    const newStatus = typeof data["new_status"] === "string" ? data["new_status"] : undefined;
    rows.set(name, {
      name,
      status: newStatus ?? previous?.status ?? "degraded",
      servers: previous?.servers ?? [],
      responseMs: numberField(data, "response_ms") ?? previous?.responseMs ?? null,
      source: "event",
      updatedAt: event.timestamp,
      message: typeof data["message"] === "string" ? data["message"] : describeEvent(event).detail,
    });
  }
  return [...rows.values()].sort((a, b) => a.name.localeCompare(b.name));
}
