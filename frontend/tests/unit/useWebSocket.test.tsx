import { act, cleanup, renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { useDNSWebSocket, useWebSocket, useWebSocketService } from "../../src/lib/realtime/useWebSocket";
import { SESSION_STORAGE_KEY, getSession, logout } from "../../src/services/auth";
import { sharedServiceRefs } from "../../src/services/websocketService";
import { EventType, type ServerEvent } from "../../src/types/events";
import { FakeWebSocket, connectedFrame, installFakeSockets, makeEvent, uninstallFakeSockets } from "./fakeWebSocket";

function storeSession(username = "alice"): void {
  localStorage.setItem(
    SESSION_STORAGE_KEY,
    JSON.stringify({ token: "tok", username, role: "admin", expiresAt: Date.now() + 3_600_000 }),
  );
}

/** Runs what is due now (fake timers push a 0 ms timer set while ticking to 1 ms, hence the 1). */
async function flush(): Promise<void> {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(1);
  });
}

async function connect(ws: FakeWebSocket): Promise<void> {
  ws.accept();
  await flush();
  act(() => ws.receive(connectedFrame()));
}

beforeEach(() => {
  installFakeSockets();
  storeSession();
});

afterEach(() => {
  cleanup();
  logout();
  localStorage.clear();
  uninstallFakeSockets();
});

describe("useWebSocketService", () => {
  it("shares one socket between two hooks and closes it when both have unmounted", async () => {
    const first = renderHook(() => useWebSocketService("dns_management", "alice"));
    const second = renderHook(() => useDNSWebSocket("alice"));
    await flush();
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(sharedServiceRefs("dns_management", "alice")).toBe(2);
    expect(first.result.current.service).toBe(second.result.current.service);
    const ws = FakeWebSocket.last();
    expect(ws.protocols).toEqual(["hybrid-dns.v1", "bearer.tok"]);
    expect(first.result.current.connectionStatus).toBe("connecting");

    await connect(ws);
    expect(first.result.current.isConnected).toBe(true);
    expect(second.result.current.connectionStatus).toBe("connected");

    first.unmount();
    await flush();
    expect(ws.clientClose).toBeNull();
    expect(second.result.current.isConnected).toBe(true);

    second.unmount();
    await flush();
    expect(ws.clientClose?.code).toBe(1000);
    expect(ws.readyState).toBe(FakeWebSocket.CLOSED);
    expect(sharedServiceRefs("dns_management", "alice")).toBe(0);
  });

  it("opens nothing without a connection type or user", async () => {
    const { result } = renderHook(() => useWebSocketService(null, "alice"));
    await flush();
    expect(FakeWebSocket.instances).toHaveLength(0);
    expect(result.current.connectionStatus).toBe("disconnected");
    expect(result.current.sendMessage({ type: "ping" })).toBe(false);
    await expect(result.current.getStats()).rejects.toThrow();
  });

  it("keeps subscriptions made before the service exists and across a change of user", async () => {
    const got: string[] = [];
    const { result, rerender } = renderHook(({ user }) => useWebSocketService("dns_management", user), {
      initialProps: { user: "alice" as string | null },
    });
    // subscribe is stable and durable: registered once, here before the effect has run
    const subscribe = result.current.subscribe;
    const off = subscribe(EventType.ZoneCreated, (e: ServerEvent<EventType.ZoneCreated>) => got.push(e.id));
    await flush();
    await connect(FakeWebSocket.last());
    act(() => FakeWebSocket.last().receive(makeEvent(1, EventType.ZoneCreated, "one")));

    storeSession("bob");
    rerender({ user: "bob" });
    await flush();
    expect(result.current.subscribe).toBe(subscribe);
    const bobSocket = FakeWebSocket.last();
    expect(bobSocket.url).toContain("/ws/dns_management/bob");
    await connect(bobSocket);
    act(() => bobSocket.receive(makeEvent(2, EventType.ZoneCreated, "two")));
    off();
    act(() => bobSocket.receive(makeEvent(3, EventType.ZoneCreated, "three")));
    expect(got).toEqual(["one", "two"]);
  });

  it("useWebSocket passes every event to onMessage", async () => {
    const onMessage = vi.fn();
    renderHook(() => useWebSocket("dns_management", "alice", onMessage));
    await flush();
    await connect(FakeWebSocket.last());
    act(() => {
      FakeWebSocket.last().receive({ type: "batch", events: [makeEvent(1), makeEvent(2, EventType.BindReload)] });
    });
    expect(onMessage).toHaveBeenCalledTimes(2);
  });

  it("ends the session when the server says it expired (4001)", async () => {
    const { result } = renderHook(() => useWebSocketService("dns_management", "alice"));
    await flush();
    const ws = FakeWebSocket.last();
    await connect(ws);
    act(() => ws.serverClose(4001, "session expired"));
    await flush();
    await flush();
    await flush();
    expect(result.current.connectionStatus).toBe("unauthorized");
    expect(result.current.closeCode).toBe(4001);
    expect(getSession()).toBeNull();
    expect(FakeWebSocket.instances).toHaveLength(1);
  });
});
