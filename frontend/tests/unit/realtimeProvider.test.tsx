// RealtimeProvider: a burst of events does not re-render every connection indicator once per event
// (each event moves a socket's lastSeq: published at most every SEQ_ONLY_INTERVAL_MS), while a change
// of state still shows at once.

import { act, cleanup, render } from "@testing-library/react";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { RealtimeProvider, SEQ_ONLY_INTERVAL_MS, useConnection } from "../../src/lib/realtime/RealtimeProvider";
import { SESSION_STORAGE_KEY, logout, type Session } from "../../src/services/auth";
import { FakeWebSocket, connectedFrame, installFakeSockets, makeEvent, uninstallFakeSockets } from "./fakeWebSocket";

const session: Session = { token: "tok", username: "alice", role: "viewer", expiresAt: Date.now() + 3_600_000 };

async function flush(ms = 1): Promise<void> {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
}

beforeEach(() => {
  installFakeSockets();
  localStorage.setItem(SESSION_STORAGE_KEY, JSON.stringify(session));
});

afterEach(() => {
  cleanup();
  logout();
  localStorage.clear();
  uninstallFakeSockets();
});

it("publishes a burst's position a few times, not once per event, and a state change at once", async () => {
  const seen: { state: string; lastSeq: number }[] = [];
  function Indicator() {
    const { main } = useConnection();
    seen.push({ state: main.state, lastSeq: main.lastSeq });
    return null;
  }
  render(
    <RealtimeProvider session={session}>
      <Indicator />
    </RealtimeProvider>,
  );
  await flush();
  const main = FakeWebSocket.instances.find((ws) => ws.url.includes("/ws/dns_management/"));
  expect(main).toBeDefined();
  for (const ws of FakeWebSocket.instances) ws.accept();
  await flush();
  for (const ws of FakeWebSocket.instances) {
    const type = /\/ws\/([a-z_]+)\//.exec(ws.url)?.[1] as never;
    act(() => ws.receive(connectedFrame({ connection_type: type, role: "viewer" })));
  }
  await flush();
  expect(seen.at(-1)).toEqual({ state: "connected", lastSeq: 0 });

  const before = seen.length;
  // 100 events, each in a task of its own as a browser delivers WebSocket messages, over 100 ms
  for (let seq = 1; seq <= 100; seq += 1) {
    act(() => main!.receive(makeEvent(seq)));
    await flush();
  }
  // nothing yet (the position waits for the interval), then the newest position once
  expect(seen.length - before).toBeLessThanOrEqual(1);
  await flush(SEQ_ONLY_INTERVAL_MS);
  expect(seen.at(-1)).toEqual({ state: "connected", lastSeq: 100 });
  expect(seen.length - before).toBeLessThanOrEqual(3);

  // a state change is not held back
  const beforeDrop = seen.length;
  act(() => main!.drop());
  await flush();
  expect(seen.length).toBeGreaterThan(beforeDrop);
  expect(seen.at(-1)?.state).not.toBe("connected");
});
