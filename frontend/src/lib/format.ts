// Words and numbers for people: what an event is about, times, sizes, durations.
import { EventType, type Category, type ServerEvent, type Severity } from "../types/events";

export interface EventDescription {
  title: string;
  detail: string;
}

type Data = Record<string, unknown>;

function text(data: Data, key: string): string {
  const value = data[key];
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return "";
}

function list(data: Data, key: string): string[] {
  const value = data[key];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

function join(parts: string[], separator = " · "): string {
  return parts.filter((p) => p !== "").join(separator);
}

export const EVENT_LABELS: Record<EventType, string> = {
  [EventType.ZoneCreated]: "Zone created",
  [EventType.ZoneUpdated]: "Zone updated",
  [EventType.ZoneDeleted]: "Zone deleted",
  [EventType.RecordCreated]: "Record created",
  [EventType.RecordUpdated]: "Record updated",
  [EventType.RecordDeleted]: "Record deleted",
  [EventType.SecurityAlert]: "Security alert",
  [EventType.RpzUpdate]: "RPZ update",
  [EventType.ThreatDetected]: "Threat detected",
  [EventType.HealthUpdate]: "Health update",
  [EventType.HealthAlert]: "Health alert",
  [EventType.ForwarderStatusChange]: "Forwarder status changed",
  [EventType.SystemStatus]: "System status",
  [EventType.BindReload]: "BIND reloaded",
  [EventType.ConfigChange]: "Configuration changed",
  [EventType.UserLogin]: "User signed in",
  [EventType.UserLogout]: "User signed out",
  [EventType.SessionExpired]: "Session expired",
  [EventType.UserCreated]: "User created",
  [EventType.UserUpdated]: "User changed",
};

export const CATEGORY_LABELS: Record<Category, string> = {
  dns: "DNS",
  security: "Security",
  health: "Health",
  system: "System",
  user: "User",
};

export const SEVERITY_LABELS: Record<Severity, string> = {
  info: "Info",
  warning: "Warning",
  error: "Error",
  critical: "Critical",
};

export function describeEvent(event: ServerEvent): EventDescription {
  const data: Data = event.data;
  const title = EVENT_LABELS[event.type] ?? event.type;
  switch (event.type) {
    case EventType.ZoneCreated:
    case EventType.ZoneUpdated:
    case EventType.ZoneDeleted: {
      const serial = text(data, "serial");
      return { title, detail: join([text(data, "zone"), text(data, "zone_type"), serial ? `serial ${serial}` : ""]) };
    }
    case EventType.RecordCreated:
    case EventType.RecordUpdated:
    case EventType.RecordDeleted:
      return {
        title,
        detail: join([join([text(data, "name") || text(data, "zone"), text(data, "type"), text(data, "value")], " ")]),
      };
    case EventType.SecurityAlert:
      return { title, detail: text(data, "message") || text(data, "alert") };
    case EventType.RpzUpdate:
      return { title, detail: join([text(data, "action"), list(data, "domains").join(", "), text(data, "category")]) };
    case EventType.ThreatDetected: {
      const client = text(data, "client");
      const query = text(data, "query");
      return { title, detail: join([client && query ? `${client} → ${query}` : client || query, text(data, "category")]) };
    }
    case EventType.HealthAlert:
      return { title, detail: join([text(data, "forwarder"), text(data, "message")], ": ") };
    case EventType.ForwarderStatusChange: {
      const change = [text(data, "old_status"), text(data, "new_status")].filter(Boolean).join(" → ");
      return { title, detail: join([text(data, "forwarder"), change], ": ") };
    }
    case EventType.BindReload: {
      const failed = data["success"] === false;
      const duration = text(data, "duration_ms");
      return {
        title: failed ? "BIND reload failed" : title,
        detail: join([list(data, "zones").join(", "), duration ? `${duration} ms` : "", text(data, "error")]),
      };
    }
    case EventType.ConfigChange: {
      const changes = data["changes"];
      if (text(data, "section") === "settings" && changes && typeof changes === "object" && !Array.isArray(changes)) {
        const parts = Object.entries(changes as Data).map(([key, change]) => {
          const c = (change ?? {}) as Data;
          return `${key} ${text(c, "old")} → ${text(c, "new")}`;
        });
        return { title, detail: join(["settings", parts.join(", ")], ": ") };
      }
      return { title, detail: join([text(data, "section"), join([text(data, "change"), text(data, "forwarder")], " ")], ": ") };
    }
    case EventType.UserLogin:
    case EventType.UserLogout:
      return { title, detail: text(data, "username") || event.actor || "" };
    case EventType.UserCreated:
    case EventType.UserUpdated: {
      const disabled = data["disabled"] === true ? "disabled" : "";
      return { title, detail: join([text(data, "username"), text(data, "role"), disabled]) };
    }
    case EventType.SessionExpired:
      return { title, detail: text(data, "reason").replace(/_/g, " ") };
    case EventType.HealthUpdate: {
      const summary = data["summary"];
      if (summary && typeof summary === "object") {
        const s = summary as Data;
        return { title, detail: `${text(s, "healthy") || 0} of ${text(s, "total") || 0} forwarders healthy` };
      }
      return { title, detail: "" };
    }
    case EventType.SystemStatus:
      return { title, detail: `CPU ${text(data, "cpu_percent")}%` };
    default:
      return { title, detail: "" };
  }
}

/** How a time is shown: the browser's locale and time zone unless told (tests, a user setting). */
export interface TimeOptions {
  locale?: string;
  timeZone?: string;
  /** "Now", to leave out the year of a date in the current year (default: the clock). */
  now?: number;
}

function validDate(iso: string): Date | null {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? null : date;
}

// Making an Intl.DateTimeFormat costs far more than using one: a list re-renders rows often.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(kind: "year" | "clock" | "clock-year" | "full", options: TimeOptions): Intl.DateTimeFormat {
  const id = `${kind}|${options.locale ?? ""}|${options.timeZone ?? ""}`;
  let found = formatters.get(id);
  if (found === undefined) {
    const time: Intl.DateTimeFormatOptions = {
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
      timeZoneName: "short",
    };
    const fields: Intl.DateTimeFormatOptions =
      kind === "year"
        ? { year: "numeric" }
        : kind === "clock"
          ? { month: "short", day: "numeric", ...time }
          : { year: "numeric", month: "short", day: "numeric", ...time };
    found = new Intl.DateTimeFormat(kind === "year" ? "en" : options.locale, { ...fields, timeZone: options.timeZone });
    if (formatters.size > 50) formatters.clear();
    formatters.set(id, found);
  }
  return found;
}

/**
 * A compact local date, time and time zone for feeds ("Dec 2, 09:40:35 CET"; the year too when it
 * is not this year's). Every feed shows the date and the zone: a bare clock time is ambiguous.
 */
export function formatClock(iso: string, options: TimeOptions = {}): string {
  const date = validDate(iso);
  if (date === null) return "";
  const years = formatter("year", options);
  const sameYear = years.format(date) === years.format(new Date(options.now ?? Date.now()));
  return formatter(sameYear ? "clock" : "clock-year", options).format(date);
}

export function formatRelative(iso: string, now: number): string {
  const time = new Date(iso).getTime();
  if (Number.isNaN(time)) return "";
  const seconds = Math.max(0, Math.round((now - time) / 1000));
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds}s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ago`;
  return new Date(iso).toLocaleDateString();
}

export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 100 || unit === 0 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return "";
  const s = Math.floor(seconds);
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${minutes}m`;
  if (minutes > 0) return `${minutes}m ${s % 60}s`;
  return `${s}s`;
}

const numberFormats = new Map<number, Intl.NumberFormat>();

export function formatNumber(value: number, digits = 0): string {
  let format = numberFormats.get(digits);
  if (format === undefined) {
    format = new Intl.NumberFormat(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
    numberFormats.set(digits, format);
  }
  return format.format(value);
}

/** A full local date and time with its time zone ("Dec 2, 2026, 09:40:35 CET"), for logs, audit entries and the event explorer. */
export function formatTimestamp(iso: string, options: TimeOptions = {}): string {
  const date = validDate(iso);
  return date === null ? "" : formatter("full", options).format(date);
}

/** The same moment in UTC, unambiguous ("2026-12-02 08:40:35 UTC"), for a title on hover. */
export function formatUtc(iso: string): string {
  const date = validDate(iso);
  if (date === null) return "";
  return `${date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "").replace(/Z$/, "")} UTC`;
}
