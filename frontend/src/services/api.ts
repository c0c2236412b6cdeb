// HTTP calls to the backend (same origin: the backend serves the app; Vite proxies /api in dev):
// the one fetch wrapper and its error type, and the endpoints of the event stream itself (its
// configuration, history and read state), which the socket layer and several features share.
// Each feature keeps its own resource calls (features/*/api.ts) on top of apiFetch.

import type { Category, ClientConfig, EventFilter, EventType, ServerEvent, Severity } from "../types/events";
import { getToken, logout } from "./auth";
import type { StoredEvent } from "./eventStore";

/** One wrong field of a 422 (`errors[]` of the API's error body). */
export interface FieldError {
  field: string;
  message: string;
}

/**
 * A failed API call: `status` is the HTTP status (0 when the server could not be reached), the
 * message is the server's `detail` (fit to show), `errors` its per-field list (422) and `body` the
 * whole parsed answer (a 412 carries the object as it is now in `current`).
 */
export class ApiError extends Error {
  readonly status: number;
  readonly errors: FieldError[];
  readonly body: unknown;

  constructor(status: number, message: string, errors: FieldError[] = [], body: unknown = undefined) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.errors = errors;
    this.body = body;
  }

  get forbidden(): boolean {
    return this.status === 403;
  }

  get notFound(): boolean {
    return this.status === 404;
  }

  /** The object changed since it was read (If-Match did not match). */
  get conflict(): boolean {
    return this.status === 412;
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

function fieldErrors(body: unknown): FieldError[] {
  if (typeof body !== "object" || body === null) return [];
  const errors = (body as Record<string, unknown>).errors;
  if (!Array.isArray(errors)) return [];
  return errors.flatMap((item: unknown) => {
    if (typeof item !== "object" || item === null) return [];
    const { field, message } = item as Record<string, unknown>;
    return typeof field === "string" && typeof message === "string" ? [{ field, message }] : [];
  });
}

function statusMessage(status: number): string {
  switch (status) {
    case 403:
      return "Your role does not allow this.";
    case 404:
      return "Not found.";
    case 409:
      return "This conflicts with existing data.";
    case 412:
      return "Someone else changed this meanwhile.";
    case 429:
      return "Too many attempts. Wait a moment and try again.";
    case 503:
      return "A service the server needs is unavailable. Try again shortly.";
    default:
      return status >= 500 ? "The server failed to answer this request. Try again." : `The request failed (HTTP ${status}).`;
  }
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
 * when empty); throws ApiError with the server's `detail` otherwise (never a stack or HTML page:
 * an answer that is not the API's error shape gets a plain sentence for its status). A 401 to an
 * authenticated request ends the session (`logout("expired")`), so the app returns to the login page.
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
    const message = detailMessage(body) ?? statusMessage(response.status);
    throw new ApiError(response.status, message, fieldErrors(body), body);
  }
  return body as T;
}

/** One page of a listing (`limit` and `offset` as asked, `total` of everything that matches). */
export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

/** The current object a 412 answer carries (`current`), or null when there is none. */
export function conflictCurrent<T>(error: unknown): T | null {
  if (!(error instanceof ApiError) || !error.conflict) return null;
  const body = error.body;
  if (typeof body !== "object" || body === null) return null;
  const current = (body as Record<string, unknown>).current;
  return typeof current === "object" && current !== null ? (current as T) : null;
}

/** The If-Match header for an object's `version` (optimistic concurrency), or nothing without one. */
export function ifMatch(version: number | undefined | null): Record<string, string> {
  return typeof version === "number" ? { "If-Match": `"${version}"` } : {};
}

export function postJson(body: unknown): RequestInit {
  return { method: "POST", body: JSON.stringify(body ?? {}) };
}

export function query(params: Record<string, string | number | boolean | null | undefined>): string {
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
  /** Everything the user may see up to now (with `filter`: everything matching it). */
  all?: true;
  /** Only the events matching this filter, with `all` or `up_to_seq` ("mark all matching as read"). */
  filter?: EventFilter;
}

export interface AckResult {
  event_ids: string[];
  up_to_seq: number | null;
  unread_count: number;
  /** With a `filter` in the body: that filter, normalized, and the seq up to which what matches it is read. */
  filter?: EventFilter | null;
  filter_up_to_seq?: number | null;
}

/** POST /api/events/ack: every connection of the user also gets an `acked` frame with the new count (and what became read). */
export function ackEvents(body: AckBody): Promise<AckResult> {
  return apiFetch<AckResult>("/api/events/ack", postJson(body));
}

// --- auth ----------------------------------------------------------------------------------

export function fetchMe(): Promise<{ username: string; role: string; expires_at: number }> {
  return apiFetch("/api/auth/me");
}

/** Re-exported so callers of fetchEvents need one import. */
export type { ServerEvent, StoredEvent };
