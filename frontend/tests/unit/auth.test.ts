import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError, ackEvents, apiFetch, clearClientConfigCache, fetchClientConfig, fetchEvents } from "../../src/services/api";
import {
  SESSION_STORAGE_KEY,
  decodeTokenClaims,
  getSession,
  getToken,
  getTokenId,
  login,
  logout,
  onSessionChange,
  updateSessionRole,
  type Session,
} from "../../src/services/auth";

function base64url(obj: object): string {
  return btoa(JSON.stringify(obj)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function jwt(claims: Record<string, unknown>): string {
  return `${base64url({ alg: "HS256", typ: "JWT" })}.${base64url(claims)}.signature`;
}

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

const fetchMock = vi.fn<typeof fetch>();

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date("2026-11-26T06:00:00Z"));
  fetchMock.mockReset();
  vi.stubGlobal("fetch", fetchMock);
  clearClientConfigCache();
});

afterEach(() => {
  logout();
  localStorage.clear();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

async function signIn(ttlSeconds = 3600): Promise<Session> {
  const exp = Math.floor(Date.now() / 1000) + ttlSeconds;
  fetchMock.mockResolvedValueOnce(
    jsonResponse(200, {
      access_token: jwt({ sub: "alice", role: "operator", exp, jti: "j1" }),
      token_type: "bearer",
      expires_in: ttlSeconds,
      username: "alice",
      role: "operator",
    }),
  );
  return login("alice", "pw");
}

describe("auth", () => {
  it("logs in, stores the session for every tab and reads the token's expiry", async () => {
    const changes: (string | undefined)[] = [];
    const off = onSessionChange((_s, reason) => changes.push(reason));
    const session = await signIn();
    const [url, init] = fetchMock.mock.calls[0] ?? [];
    expect(url).toBe("/api/auth/login");
    expect(init?.method).toBe("POST");
    expect(JSON.parse(String(init?.body))).toEqual({ username: "alice", password: "pw" });
    expect(session).toMatchObject({ username: "alice", role: "operator" });
    expect(session.expiresAt).toBe(Date.now() + 3_600_000);
    expect(JSON.parse(localStorage.getItem(SESSION_STORAGE_KEY) ?? "null")).toEqual(session);
    expect(getSession()).toEqual(session);
    expect(getSession()).toBe(getSession()); // stable between changes
    expect(getToken()).toBe(session.token);
    expect(getTokenId()).toBe("j1");
    expect(changes).toEqual(["login"]);
    off();
  });

  it.each([
    [401, { detail: "invalid username or password" }, "Invalid username or password."],
    [422, { detail: "password: String should have at least 1 character" }, "Invalid sign-in request"],
    [500, { detail: "boom" }, "Boom."],
  ])("gives a readable message on HTTP %i", async (status, body, message) => {
    fetchMock.mockResolvedValueOnce(jsonResponse(status, body));
    await expect(login("alice", "x")).rejects.toThrow(message);
    expect(getSession()).toBeNull();
  });

  it("gives a readable message when the server cannot be reached", async () => {
    fetchMock.mockRejectedValueOnce(new TypeError("Failed to fetch"));
    await expect(login("alice", "x")).rejects.toThrow("Cannot reach the server");
  });

  it("ends the session when the token expires", async () => {
    const reasons: (string | undefined)[] = [];
    onSessionChange((s, reason) => {
      if (s === null) reasons.push(reason);
    });
    await signIn(60);
    await vi.advanceTimersByTimeAsync(59_000);
    expect(getSession()).not.toBeNull();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(getSession()).toBeNull();
    expect(localStorage.getItem(SESSION_STORAGE_KEY)).toBeNull();
    expect(reasons).toEqual(["expired"]);
  });

  it("follows sign-in and sign-out in other tabs (storage events)", async () => {
    const seen: (Session | null)[] = [];
    onSessionChange((s) => seen.push(s));
    const other: Session = { token: "t2", username: "bob", role: "admin", expiresAt: Date.now() + 60_000 };
    localStorage.setItem(SESSION_STORAGE_KEY, JSON.stringify(other));
    window.dispatchEvent(new StorageEvent("storage", { key: SESSION_STORAGE_KEY }));
    localStorage.removeItem(SESSION_STORAGE_KEY);
    window.dispatchEvent(new StorageEvent("storage", { key: SESSION_STORAGE_KEY }));
    window.dispatchEvent(new StorageEvent("storage", { key: "unrelated" }));
    expect(seen).toEqual([other, null]);
  });

  it("ignores a corrupt stored session and logout() is idempotent", () => {
    localStorage.setItem(SESSION_STORAGE_KEY, "{not json");
    expect(getSession()).toBeNull();
    const listener = vi.fn();
    onSessionChange(listener);
    logout();
    logout();
    expect(listener).not.toHaveBeenCalled();
    expect(decodeTokenClaims("garbage")).toBeNull();
  });
});

describe("role changes", () => {
  it("keeps the session with the role the server now enforces, and tells the listeners", async () => {
    const session = await signIn();
    const seen: (string | undefined)[] = [];
    const off = onSessionChange((next, reason) => seen.push(`${next?.role}:${reason}`));
    updateSessionRole("viewer");
    updateSessionRole("viewer"); // unchanged: nothing to say
    off();
    expect(getSession()).toMatchObject({ token: session.token, username: "alice", role: "viewer" });
    expect(JSON.parse(localStorage.getItem(SESSION_STORAGE_KEY) ?? "{}").role).toBe("viewer");
    expect(seen).toEqual(["viewer:role"]);
  });

  it("does nothing when signed out", () => {
    updateSessionRole("admin");
    expect(getSession()).toBeNull();
  });
});

describe("api", () => {
  it("sends the bearer token and JSON, and returns the parsed body", async () => {
    const session = await signIn();
    fetchMock.mockResolvedValueOnce(jsonResponse(200, { event_ids: ["a"], up_to_seq: null, unread_count: 2 }));
    await expect(ackEvents({ event_ids: ["a"] })).resolves.toEqual({ event_ids: ["a"], up_to_seq: null, unread_count: 2 });
    const [url, init] = fetchMock.mock.calls[1] ?? [];
    expect(url).toBe("/api/events/ack");
    const headers = new Headers(init?.headers);
    expect(headers.get("Authorization")).toBe(`Bearer ${session.token}`);
    expect(headers.get("Content-Type")).toBe("application/json");
  });

  it("builds the events query from the given parameters only", async () => {
    fetchMock.mockResolvedValueOnce(jsonResponse(200, { events: [], has_more: false, epoch: "e", last_seq: 0 }));
    await fetchEvents({ before_seq: 10, limit: 50, unread: true });
    expect(fetchMock.mock.calls[0]?.[0]).toBe("/api/events?before_seq=10&limit=50&unread=true");
  });

  it("throws ApiError with the server's detail, and a 401 ends the session", async () => {
    await signIn();
    fetchMock.mockResolvedValueOnce(jsonResponse(403, { detail: "requires the admin role" }));
    const forbidden = apiFetch("/api/websocket/stats");
    await expect(forbidden).rejects.toBeInstanceOf(ApiError);
    await expect(forbidden).rejects.toMatchObject({ status: 403, message: "requires the admin role" });
    expect(getSession()).not.toBeNull();

    fetchMock.mockResolvedValueOnce(jsonResponse(401, { detail: "token expired" }));
    await expect(apiFetch("/api/events")).rejects.toMatchObject({ status: 401, message: "token expired" });
    expect(getSession()).toBeNull();
  });

  it("reports an unreachable server as ApiError status 0", async () => {
    fetchMock.mockRejectedValueOnce(new TypeError("Failed to fetch"));
    await expect(apiFetch("/api/events")).rejects.toMatchObject({ status: 0 });
  });

  it("caches the client config but not a failure", async () => {
    fetchMock.mockResolvedValueOnce(jsonResponse(500, { detail: "down" }));
    await expect(fetchClientConfig()).rejects.toMatchObject({ status: 500 });
    fetchMock.mockResolvedValueOnce(jsonResponse(200, { ping_interval: 30 }));
    await expect(fetchClientConfig()).resolves.toMatchObject({ ping_interval: 30 });
    await fetchClientConfig();
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });
});
