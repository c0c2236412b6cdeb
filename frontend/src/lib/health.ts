// Forwarder health as every page sees it: the last `health_update` report, one cache entry shared by
// the overview and the forwarders page, kept current by live events (app/liveCache.ts): a newer
// report replaces it, and a `forwarder_status_change` (sent the moment a forwarder's state changes,
// between two reports) updates that forwarder in it.

import { useQuery } from "@tanstack/react-query";
import { fetchEvents } from "../services/api";
import { EventType, type ForwarderHealth, type HealthUpdatePayload, type ServerEvent } from "../types/events";

export interface HealthReport {
  data: HealthUpdatePayload;
  /** When the report was sent. */
  at: string;
}

/** One forwarder's entry, with when its state last changed if an event said so after the report. */
export type ForwarderHealthEntry = ForwarderHealth & { changed_at?: string; reason?: string };

export const healthKeys = {
  report: ["health", "report"] as const,
};

/** The latest report in the event history, or null before the first one. */
export async function fetchHealthReport(): Promise<HealthReport | null> {
  const page = await fetchEvents({ type: EventType.HealthUpdate, limit: 1 });
  const event = page.events.find((e) => e.type === EventType.HealthUpdate) as ServerEvent<EventType.HealthUpdate> | undefined;
  return event ? { data: event.data, at: event.timestamp } : null;
}

export function useHealthReport() {
  return useQuery({ queryKey: healthKeys.report, queryFn: fetchHealthReport });
}

/** A newer report replaces the cached one; an older one (a late answer) does not. */
export function applyHealthUpdate(current: HealthReport | null | undefined, event: ServerEvent<EventType.HealthUpdate>): HealthReport | null {
  if (current && current.at > event.timestamp) return current;
  return { data: event.data, at: event.timestamp };
}

/**
 * A forwarder's state changed: its entry in the report takes the new state and servers, unless the
 * report is newer than the event. A forwarder the report does not list yet is added.
 */
export function applyStatusChange(current: HealthReport | null, event: ServerEvent<EventType.ForwarderStatusChange>): HealthReport | null {
  const data: Record<string, unknown> = event.data;
  const name = typeof data["forwarder"] === "string" ? data["forwarder"] : "";
  const status = typeof data["new_status"] === "string" ? data["new_status"] : "";
  if (current === null || !name || !status || current.at > event.timestamp) return current;
  const forwarders = Array.isArray(current.data.forwarders) ? current.data.forwarders : [];
  const before = forwarders.find((f) => f.name === name) as ForwarderHealthEntry | undefined;
  if (before?.changed_at !== undefined && before.changed_at >= event.timestamp) return current;
  const servers = Array.isArray(data["servers"]) ? (data["servers"] as ForwarderHealth["servers"]) : before?.servers;
  const entry: ForwarderHealthEntry = {
    ...(before ?? { name, type: "" }),
    name,
    status,
    servers,
    changed_at: event.timestamp,
    ...(typeof data["reason"] === "string" ? { reason: data["reason"] } : {}),
  };
  const list = before ? forwarders.map((f) => (f === before ? entry : f)) : [...forwarders, entry];
  return { ...current, data: { ...current.data, forwarders: list } };
}

/** The entry of the forwarder named `name`, if the report has one. */
export function healthOf(report: HealthReport | null | undefined, name: string): ForwarderHealthEntry | null {
  const list = report && Array.isArray(report.data.forwarders) ? report.data.forwarders : [];
  return (list.find((f) => f.name === name) as ForwarderHealthEntry | undefined) ?? null;
}
