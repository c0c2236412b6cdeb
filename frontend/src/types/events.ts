// Protocol v1 types, matching docs/protocol.md and backend/src/hybrid_dns/realtime/events.py.

export enum EventType {
  ZoneCreated = "zone_created",
  ZoneUpdated = "zone_updated",
  ZoneDeleted = "zone_deleted",
  RecordCreated = "record_created",
  RecordUpdated = "record_updated",
  RecordDeleted = "record_deleted",
  SecurityAlert = "security_alert",
  RpzUpdate = "rpz_update",
  ThreatDetected = "threat_detected",
  HealthUpdate = "health_update",
  HealthAlert = "health_alert",
  ForwarderStatusChange = "forwarder_status_change",
  SystemStatus = "system_status",
  BindReload = "bind_reload",
  ConfigChange = "config_change",
  UserLogin = "user_login",
  UserLogout = "user_logout",
  SessionExpired = "session_expired",
  UserCreated = "user_created",
  UserUpdated = "user_updated",
}

export type ConnectionType = "health" | "dns_management" | "security" | "system" | "admin";
export type Role = "viewer" | "operator" | "admin";
export type Category = "dns" | "security" | "health" | "system" | "user";
export type Severity = "info" | "warning" | "error" | "critical";

export const ROLE_CONNECTION_TYPES: Record<Role, ConnectionType[]> = {
  viewer: ["health", "dns_management", "system"],
  operator: ["health", "dns_management", "system", "security"],
  admin: ["health", "dns_management", "system", "security", "admin"],
};

// --- payloads (what `data` holds per event type; extra fields may appear) ---------------------

export interface ZonePayload { zone: string; zone_type?: string; serial?: number; changes?: string[]; [k: string]: unknown }
export interface RecordPayload { zone?: string; name?: string; type?: string; value?: string; ttl?: number; [k: string]: unknown }
export interface SecurityAlertPayload { alert?: string; message?: string; [k: string]: unknown }
export interface RpzUpdatePayload { action?: string; domains?: string[]; category?: string; [k: string]: unknown }
export interface ThreatDetectedPayload { client?: string; query?: string; rule?: string; category?: string; [k: string]: unknown }
export interface ForwarderHealth {
  name: string;
  status: "healthy" | "degraded" | "unhealthy" | string;
  servers?: { address: string; status: string; response_ms?: number | null; last_check?: string }[];
  [k: string]: unknown;
}
export interface HealthUpdatePayload {
  forwarders: ForwarderHealth[];
  summary: { total: number; healthy: number; degraded: number; unhealthy: number };
  [k: string]: unknown;
}
export interface HealthAlertPayload { forwarder?: string; message?: string; [k: string]: unknown }
export interface ForwarderStatusChangePayload { forwarder?: string; old_status?: string; new_status?: string; [k: string]: unknown }
export interface SystemStatusPayload {
  cpu_percent: number;
  cpu_count?: number;
  memory: { percent: number; used_bytes?: number; total_bytes?: number };
  disk?: { percent: number; used_bytes?: number; total_bytes?: number };
  load_average?: { "1m": number; "5m": number; "15m": number };
  uptime_seconds?: number;
  connections?: { total: number; by_type: Record<string, number> };
  events_per_second?: number;
  instance_id?: string;
  [k: string]: unknown;
}
export interface BindReloadPayload { zones?: string[]; success?: boolean; duration_ms?: number; error?: string; [k: string]: unknown }
export interface ConfigChangePayload { section?: string; change?: string; changed_by?: string; [k: string]: unknown }
export interface UserSessionPayload { username?: string; [k: string]: unknown }
export interface UserAccountPayload { username?: string; role?: Role; disabled?: boolean; version?: number; [k: string]: unknown }
export interface SessionExpiredPayload { reason?: string; session_id?: string; expired_at?: string; [k: string]: unknown }

export interface EventPayloads {
  [EventType.ZoneCreated]: ZonePayload;
  [EventType.ZoneUpdated]: ZonePayload;
  [EventType.ZoneDeleted]: ZonePayload;
  [EventType.RecordCreated]: RecordPayload;
  [EventType.RecordUpdated]: RecordPayload;
  [EventType.RecordDeleted]: RecordPayload;
  [EventType.SecurityAlert]: SecurityAlertPayload;
  [EventType.RpzUpdate]: RpzUpdatePayload;
  [EventType.ThreatDetected]: ThreatDetectedPayload;
  [EventType.HealthUpdate]: HealthUpdatePayload;
  [EventType.HealthAlert]: HealthAlertPayload;
  [EventType.ForwarderStatusChange]: ForwarderStatusChangePayload;
  [EventType.SystemStatus]: SystemStatusPayload;
  [EventType.BindReload]: BindReloadPayload;
  [EventType.ConfigChange]: ConfigChangePayload;
  [EventType.UserLogin]: UserSessionPayload;
  [EventType.UserLogout]: UserSessionPayload;
  [EventType.SessionExpired]: SessionExpiredPayload;
  [EventType.UserCreated]: UserAccountPayload;
  [EventType.UserUpdated]: UserAccountPayload;
}

/** What an event is about (docs/protocol.md "What every event carries"): the same keys for every type. */
export interface EventAbout {
  zone: string | null; // the DNS zone, lowercase without the trailing dot
  name: string | null; // the most specific name: record FQDN, zone, RPZ domain, forwarder, username
  record_type: string | null; // record_* events only
  summary: string; // one line, never empty, at most 200 characters
}

/** A server-side filter (docs/protocol.md "Filters"): every key optional; AND across keys, OR within a list. */
export interface EventFilter {
  zones?: string[]; // the zone or anything under it (about.zone or about.name)
  min_severity?: Severity;
  categories?: Category[];
  actors?: string[];
  record_types?: string[];
  text?: string; // case-insensitive substring of about.summary
}

/** One event as the server sends it (alone, or inside a `batch` frame). */
export interface ServerEvent<T extends EventType = EventType> {
  type: T;
  id: string;
  seq: number;
  category: Category;
  severity: Severity;
  timestamp: string; // ISO-8601 UTC ending in Z
  actor: string | null;
  // Always sent by the server (protocol v1, since `about` was added); optional here so that older
  // fixtures and servers still type-check.
  about?: EventAbout;
  data: EventPayloads[T];
}

// --- control frames ---------------------------------------------------------------------------

export interface ConnectedFrame {
  type: "connected";
  connection_id: string;
  connection_type: ConnectionType;
  user_id: string;
  role: Role;
  protocol: number;
  server_time: string;
  ping_interval: number; // seconds
  subscriptions: EventType[];
  epoch: string;
  last_seq: number;
  instance_id?: string; // the server instance this socket is on (system_status comes from each instance)
  filter?: EventFilter | null; // the filter in force (from ?filter=), normalized; null: none
}
export interface BatchFrame { type: "batch"; events: ServerEvent[] }
export interface PongFrame { type: "pong"; timestamp: string; id: string | number | null }
export interface SubscriptionsFrame {
  type: "subscriptions";
  subscriptions: EventType[];
  filter?: EventFilter | null; // the filter in force, normalized; null: none
  id?: string | number | null;
}
export interface StatsFrame { type: "stats"; data: Record<string, unknown>; id?: string | number | null }
export interface ErrorFrame {
  type: "error";
  code: string;
  message: string;
  field?: string; // the part of the frame at fault, for `invalid_filter` (e.g. "filter.zones.0")
  id: string | number | null;
}
export interface ResumedFrame { type: "resumed"; from_seq: number; to_seq: number; replayed: number }
export interface ResetFrame {
  type: "reset";
  reason: "epoch_changed" | "history_expired" | "too_far_behind";
  epoch: string;
  last_seq: number;
}
export interface AckedFrame {
  type: "acked";
  event_ids: string[]; // read one by one
  up_to_seq: number | null; // the user's mark: every event with seq <= it is read
  unread_count: number;
  // After "mark all matching this filter as read" only: the filter (normalized) and the seq up to
  // which the events matching it are now read. Absent from every other ack (and from older servers).
  filter?: EventFilter | null;
  filter_up_to_seq?: number | null;
}

/** Who is in a presence topic ("zone:12", "rpz", "forwarder:3", "forwarders"); one entry per user. */
export type PresenceState = "viewing" | "editing" | null;
export interface PresenceMember { user_id: string; state: Exclude<PresenceState, null>; since: string }
export interface PresenceFrame { type: "presence"; topic: string; members: PresenceMember[]; id?: string | null }

export type ControlFrame =
  | ConnectedFrame
  | BatchFrame
  | PongFrame
  | SubscriptionsFrame
  | StatsFrame
  | ErrorFrame
  | ResumedFrame
  | ResetFrame
  | AckedFrame
  | PresenceFrame;

/** GET /api/websocket/config */
export interface ClientConfig {
  protocol: number;
  subprotocol: string;
  ping_interval: number;
  max_reconnect_attempts: number;
  reconnect_interval: number; // seconds
  reconnect_max_interval: number; // seconds
  health_broadcast_interval: number;
  system_broadcast_interval: number;
  max_frame_bytes: number;
  demo_enabled: boolean;
  connection_types: Record<ConnectionType, EventType[]>;
}

/** Close codes (docs/protocol.md): 4400-4499 terminal, everything else reconnects with backoff. */
export const CloseCodes = {
  GoingAway: 1001,
  MessageTooBig: 1009,
  SessionExpired: 4001,
  NoPong: 4008,
  TooMany: 4029,
  SlowConsumer: 4050,
  BadRequest: 4400,
  Unauthorized: 4401,
  Forbidden: 4403,
  UnknownConnectionType: 4404,
} as const;

export function isTerminalClose(code: number): boolean {
  return code >= 4400 && code <= 4499;
}

export const EVENT_CATEGORY: Record<EventType, Category> = {
  [EventType.ZoneCreated]: "dns",
  [EventType.ZoneUpdated]: "dns",
  [EventType.ZoneDeleted]: "dns",
  [EventType.RecordCreated]: "dns",
  [EventType.RecordUpdated]: "dns",
  [EventType.RecordDeleted]: "dns",
  [EventType.SecurityAlert]: "security",
  [EventType.RpzUpdate]: "security",
  [EventType.ThreatDetected]: "security",
  [EventType.HealthUpdate]: "health",
  [EventType.HealthAlert]: "health",
  [EventType.ForwarderStatusChange]: "health",
  [EventType.SystemStatus]: "system",
  [EventType.BindReload]: "dns",
  [EventType.ConfigChange]: "system",
  [EventType.UserLogin]: "user",
  [EventType.UserLogout]: "user",
  [EventType.SessionExpired]: "user",
  [EventType.UserCreated]: "user",
  [EventType.UserUpdated]: "user",
};

/** Periodic state, not news: never counted as unread (the server agrees). */
export const NOT_NOTIFICATIONS: ReadonlySet<EventType> = new Set([EventType.HealthUpdate, EventType.SystemStatus]);
