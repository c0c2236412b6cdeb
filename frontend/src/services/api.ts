// HTTP calls to the backend (same origin: the backend serves the app; Vite proxies /api in dev).

import type { Category, ClientConfig, EventType, ServerEvent, Severity } from "../types/events";
import { getToken, logout } from "./auth";
import type { StoredEvent } from "./eventStore";

/** A failed API call: `status` is the HTTP status (0 when the server could not be reached). */
export class ApiError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

function detailMessage(body: unknown): string | null {
  if (typeof body !== "object" || body === null) return null;
  const detail = (body as Record<string, unknown>).detail;
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail)) {
    const parts = detail
      .map((item: unknown) =>
        typeof item === "object" && item !== null ? (item as Record<string, unknown>).msg : undefined,
      )
      .filter((msg): msg is string => typeof msg === "string");
    if (parts.length) return parts.join("; ");
  }
  return null;
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * fetch() with JSON and the session's bearer token. Resolves with the parsed JSON body (undefined
 * when empty); throws ApiError with the server's `detail` otherwise. A 401 to an authenticated
 * request ends the session (`logout("expired")`), so the app returns to the login page.
 */
export async function apiFetch<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  if (!headers.has("Accept")) headers.set("Accept", "application/json");
  if (typeof init.body === "string" && !headers.has("Content-Type")) headers.set("Content-Type", "application/json");
  const token = getToken();
  if (token !== null && !headers.has("Authorization")) headers.set("Authorization", `Bearer ${token}`);
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers });
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw new ApiError(0, "Cannot reach the server. Check your connection and try again.");
  }
  const body = await readBody(response).catch(() => undefined);
  if (!response.ok) {
    if (response.status === 401 && token !== null) logout("expired");
    const message = detailMessage(body) ?? (typeof body === "string" && body ? body : response.statusText);
    throw new ApiError(response.status, message || `HTTP ${response.status}`);
  }
  return body as T;
}

function postJson(body: unknown): RequestInit {
  return { method: "POST", body: JSON.stringify(body ?? {}) };
}

function query(params: Record<string, string | number | boolean | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null) search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

// --- websocket configuration and statistics ------------------------------------------------

/** GET /api/websocket/config: everything beyond ClientConfig is optional. */
export type ClientConfigResponse = ClientConfig & {
  rate_limit?: number;
  rate_burst?: number;
  roles?: Record<string, string[]>;
  event_types?: Record<string, { category: Category; severity: Severity }>;
};

let configPromise: Promise<ClientConfigResponse> | null = null;

/** GET /api/websocket/config, fetched once and cached (a failure is not cached). */
export function fetchClientConfig(): Promise<ClientConfigResponse> {
  if (configPromise === null) {
    const pending = apiFetch<ClientConfigResponse>("/api/websocket/config");
    configPromise = pending;
    pending.catch(() => {
      if (configPromise === pending) configPromise = null;
    });
  }
  return configPromise;
}

/** Forget the cached configuration (tests, or after a server upgrade). */
export function clearClientConfigCache(): void {
  configPromise = null;
}

/** GET /api/websocket/stats (admin) and the demo copy: hub figures, per-connection info, cluster totals. */
export interface WebSocketStats {
  total_connections: number;
  connections_by_type: Record<string, number>;
  unique_users?: number;
  events_dispatched?: number;
  events_per_second: number;
  last_seq: number;
  queue_depth_total?: number;
  queue_depth_max?: number;
  uptime_seconds?: number;
  epoch?: string;
  broker?: { kind: string; healthy: boolean };
  broadcasters?: Record<string, { running: boolean; emitted: number }>;
  connections?: Record<string, unknown>[];
  instances?: Record<string, unknown>[];
  cluster?: { instances: number; total_connections: number; connections_by_type: Record<string, number> };
  [key: string]: unknown;
}

export function fetchWebSocketStats(): Promise<WebSocketStats> {
  return apiFetch<WebSocketStats>("/api/websocket/stats");
}

// --- events and read state -----------------------------------------------------------------

export interface FetchEventsParams {
  after_seq?: number;
  before_seq?: number;
  limit?: number;
  category?: Category;
  type?: EventType;
  unread?: boolean;
}

export interface EventsPage {
  /** Oldest first, as the server sends them. */
  events: StoredEvent[];
  has_more: boolean;
  epoch: string;
  last_seq: number;
}

/** GET /api/events: with after_seq the first `limit` after it, otherwise the newest `limit` (before before_seq). */
export function fetchEvents(params: FetchEventsParams = {}): Promise<EventsPage> {
  return apiFetch<EventsPage>(`/api/events${query({ ...params })}`);
}

export async function fetchUnreadCount(): Promise<number> {
  const body = await apiFetch<{ unread_count: number }>("/api/events/unread-count");
  return body.unread_count;
}

export interface AckBody {
  event_ids?: string[];
  up_to_seq?: number;
}

export interface AckResult {
  event_ids: string[];
  up_to_seq: number | null;
  unread_count: number;
}

/** POST /api/events/ack: every connection of the user also gets an `acked` frame with the new count. */
export function ackEvents(body: AckBody): Promise<AckResult> {
  return apiFetch<AckResult>("/api/events/ack", postJson(body));
}

// --- auth ----------------------------------------------------------------------------------

export function fetchMe(): Promise<{ username: string; role: string; expires_at: number }> {
  return apiFetch("/api/auth/me");
}

// --- demo (admin only; mounted unless WEBSOCKET_DEMO_ENABLED=false) ---------------------------

export interface EmittedEvent {
  id: string;
  seq: number;
  type: EventType;
}

export interface SimulateWorkflowBody {
  zone_name?: string;
  record_count?: number;
  delay_ms?: number;
}

export interface EmitEventBody {
  event_type?: EventType;
  data?: Record<string, unknown>;
  severity?: Severity | null;
}

export function demoSimulateWorkflow(body: SimulateWorkflowBody = {}): Promise<EmittedEvent[]> {
  return apiFetch<EmittedEvent[]>("/api/websocket-demo/simulate-dns-workflow", postJson(body));
}

export function demoEmitSecurityEvent(body: EmitEventBody = {}): Promise<EmittedEvent> {
  return apiFetch<EmittedEvent>("/api/websocket-demo/emit-security-event", postJson(body));
}

export function demoEmitDnsEvent(body: EmitEventBody = {}): Promise<EmittedEvent> {
  return apiFetch<EmittedEvent>("/api/websocket-demo/emit-dns-event", postJson(body));
}

export function demoTestAllEvents(): Promise<EmittedEvent[]> {
  return apiFetch<EmittedEvent[]>("/api/websocket-demo/test-all-events", { method: "POST" });
}

export function demoConnectionStats(): Promise<WebSocketStats> {
  return apiFetch<WebSocketStats>("/api/websocket-demo/connection-stats");
}

/** Re-exported so callers of fetchEvents need one import. */
export type { ServerEvent, StoredEvent };
