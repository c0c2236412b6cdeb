// Session handling: log in over HTTP, keep the JWT in localStorage so every tab shares it, and
// tell listeners when the session starts or ends (here, in another tab, or because it expired).

import type { Role } from "../types/events";

export interface Session {
  token: string;
  username: string;
  role: Role;
  /** When the token expires, in ms since the epoch. */
  expiresAt: number;
}

/** Why the session changed: "login", "logout", "expired", "storage" (another tab), or what the caller of logout() gave. */
export type SessionListener = (session: Session | null, reason?: string) => void;

export const SESSION_STORAGE_KEY = "hybrid-dns.session";
const ROLES: readonly Role[] = ["viewer", "operator", "admin"];
const MAX_TIMER_MS = 2_147_483_647; // setTimeout's limit (about 24.8 days)

const listeners = new Set<SessionListener>();
let cachedRaw: string | null = null;
let cachedSession: Session | null = null;
let expiryTimer: ReturnType<typeof setTimeout> | null = null;
let expiryToken: string | null = null;
let storageAttached = false;

// --- storage ------------------------------------------------------------------------------

function storage(): Storage | null {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null; // e.g. storage disabled by the browser
  }
}

function readRaw(): string | null {
  try {
    return storage()?.getItem(SESSION_STORAGE_KEY) ?? null;
  } catch {
    return null;
  }
}

function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}

function parseSession(raw: string): Session | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof parsed !== "object" || parsed === null) return null;
  const rec = parsed as Record<string, unknown>;
  const { token, username, role, expiresAt } = rec;
  if (typeof token !== "string" || !token || typeof username !== "string" || !username) return null;
  if (!isRole(role) || typeof expiresAt !== "number" || !Number.isFinite(expiresAt)) return null;
  return { token, username, role, expiresAt };
}

/** The stored session, parsed once per stored value (so callers get a stable object between changes). */
function storedSession(): Session | null {
  const raw = readRaw();
  if (raw !== cachedRaw) {
    cachedRaw = raw;
    cachedSession = raw === null ? null : parseSession(raw);
  }
  return cachedSession;
}

function notify(session: Session | null, reason?: string): void {
  for (const listener of [...listeners]) {
    try {
      listener(session, reason);
    } catch (err) {
      console.error("session listener failed", err);
    }
  }
}

// --- expiry -------------------------------------------------------------------------------

function clearExpiryTimer(): void {
  if (expiryTimer !== null) clearTimeout(expiryTimer);
  expiryTimer = null;
  expiryToken = null;
}

/** Ends the session when its token expires (asynchronously, so it is safe to call while rendering). */
function armExpiry(session: Session): void {
  if (expiryToken === session.token && expiryTimer !== null) return;
  clearExpiryTimer();
  const delay = Math.min(MAX_TIMER_MS, Math.max(0, session.expiresAt - Date.now()));
  expiryToken = session.token;
  expiryTimer = setTimeout(() => {
    expiryTimer = null;
    expiryToken = null;
    const current = storedSession();
    if (current === null || current.token !== session.token) return;
    if (current.expiresAt <= Date.now()) logout("expired");
    else armExpiry(current); // the timer was clamped: wait again
  }, delay);
}

// --- JWT ----------------------------------------------------------------------------------

/** The claims of a JWT (not verified: the server does that), or null when it cannot be read. */
export function decodeTokenClaims(token: string): Record<string, unknown> | null {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const binary = atob(base64);
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const parsed: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The current token's `jti` (compare it with a `session_expired` event's `data.session_id`). */
export function getTokenId(): string | null {
  const token = getToken();
  if (token === null) return null;
  const jti = decodeTokenClaims(token)?.jti;
  return typeof jti === "string" ? jti : null;
}

// --- public API ---------------------------------------------------------------------------

/** The current session, or null when there is none or it has expired. Stable between changes. */
export function getSession(): Session | null {
  const session = storedSession();
  if (session === null) return null;
  armExpiry(session); // after a page load, or a login in another tab
  return session.expiresAt > Date.now() ? session : null;
}

export function getToken(): string | null {
  return getSession()?.token ?? null;
}

function saveSession(session: Session): void {
  const raw = JSON.stringify(session);
  try {
    storage()?.setItem(SESSION_STORAGE_KEY, raw);
  } catch (err) {
    console.error("could not store the session", err);
  }
  cachedRaw = raw;
  cachedSession = session;
  armExpiry(session);
}

/**
 * The server reports another role for the signed-in user (an admin changed it; every new socket's
 * `connected` frame names the role): keep the session, with the role the server now enforces, so
 * that the app shows what the new role allows.
 */
export function updateSessionRole(role: Role): void {
  const current = storedSession();
  if (current === null || current.role === role || !isRole(role)) return;
  const next: Session = { ...current, role };
  saveSession(next);
  notify(next, "role");
}

/** Ends the session (here and, through localStorage, in every other tab). Idempotent. */
export function logout(reason = "logout"): void {
  const had = storedSession() !== null;
  clearExpiryTimer();
  try {
    storage()?.removeItem(SESSION_STORAGE_KEY);
  } catch {
    // nothing to do
  }
  cachedRaw = null;
  cachedSession = null;
  if (had) notify(null, reason);
}

function ensureStorageListener(): void {
  if (storageAttached || typeof window === "undefined") return;
  storageAttached = true;
  window.addEventListener("storage", (event: StorageEvent) => {
    if (event.key !== null && event.key !== SESSION_STORAGE_KEY) return;
    const before = cachedSession;
    const after = storedSession();
    if (after === null) clearExpiryTimer();
    if (before === after) return;
    notify(after !== null && after.expiresAt > Date.now() ? after : null, "storage");
  });
}

/** Called with the new session (or null) whenever it changes; returns the unsubscribe function. */
export function onSessionChange(listener: SessionListener): () => void {
  ensureStorageListener();
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}

interface LoginResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  username: string;
  role: Role;
}

function isLoginResponse(value: unknown): value is LoginResponse {
  if (typeof value !== "object" || value === null) return false;
  const rec = value as Record<string, unknown>;
  return (
    typeof rec.access_token === "string" &&
    rec.access_token.length > 0 &&
    typeof rec.expires_in === "number" &&
    typeof rec.username === "string" &&
    isRole(rec.role)
  );
}

async function errorDetail(response: Response): Promise<string | null> {
  try {
    const body: unknown = await response.json();
    if (typeof body === "object" && body !== null) {
      const detail = (body as Record<string, unknown>).detail;
      if (typeof detail === "string" && detail) return detail;
    }
  } catch {
    // not JSON
  }
  return null;
}

function sentence(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return trimmed;
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** POST /api/auth/login. Throws an Error whose message can be shown to the user as is. */
export async function login(username: string, password: string): Promise<Session> {
  if (!username.trim() || !password) throw new Error("Enter your username and password.");
  let response: Response;
  try {
    response = await fetch("/api/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ username: username.trim(), password }),
    });
  } catch {
    throw new Error("Cannot reach the server. Check your connection and try again.");
  }
  if (response.status === 401) throw new Error("Invalid username or password.");
  if (response.status === 422) {
    const detail = await errorDetail(response);
    throw new Error(detail ? `Invalid sign-in request: ${detail}.` : "Enter a valid username and password.");
  }
  if (!response.ok) {
    const detail = await errorDetail(response);
    throw new Error(detail ? sentence(detail) : `Sign-in failed (HTTP ${response.status}). Try again later.`);
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    throw new Error("The server sent an unreadable answer. Try again later.");
  }
  if (!isLoginResponse(body)) throw new Error("The server sent an unexpected answer. Try again later.");
  const exp = decodeTokenClaims(body.access_token)?.exp;
  const expiresAt = typeof exp === "number" ? exp * 1000 : Date.now() + body.expires_in * 1000;
  const session: Session = { token: body.access_token, username: body.username, role: body.role, expiresAt };
  saveSession(session);
  notify(session, "login");
  return session;
}
