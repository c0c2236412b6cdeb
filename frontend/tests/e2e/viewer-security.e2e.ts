// Scenario 5: a viewer cannot open the security stream and is told why, both in the UI and by the
// server's close frame (4403, reason naming the role). An operator, for contrast, does get it.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import {
  type Backend,
  SEL,
  SESSION_KEY,
  describeE2E,
  e2eIt,
  listItems,
  loginThroughUi,
  newContext,
  newPage,
  startBackendAndBrowser,
  waitUntil,
} from "./harness";

interface RawClose {
  opened: boolean;
  code: number;
  reason: string;
  protocol: string;
  error?: string;
}

/** Opens a raw WebSocket from the page with the app's own session token and reports how it closed. */
async function rawSocket(page: Page, connectionType: string, userId: string): Promise<RawClose> {
  return page.evaluate(
    ({ key, connectionType, userId }) =>
      new Promise<RawClose>((resolve) => {
        const raw = localStorage.getItem(key);
        if (!raw) {
          resolve({ opened: false, code: -1, reason: "", protocol: "", error: `no localStorage["${key}"]` });
          return;
        }
        const token = (JSON.parse(raw) as { token?: string }).token ?? "";
        const scheme = location.protocol === "https:" ? "wss:" : "ws:";
        const ws = new WebSocket(`${scheme}//${location.host}/ws/${connectionType}/${encodeURIComponent(userId)}`, [
          "hybrid-dns.v1",
          `bearer.${token}`,
        ]);
        let opened = false;
        const timer = setTimeout(() => {
          resolve({ opened, code: -2, reason: "", protocol: ws.protocol, error: "no close within 10 s" });
          ws.close();
        }, 10_000);
        ws.onopen = () => {
          opened = true;
        };
        ws.onclose = (ev) => {
          clearTimeout(timer);
          resolve({ opened, code: ev.code, reason: ev.reason, protocol: ws.protocol });
        };
      }),
    { key: SESSION_KEY, connectionType, userId },
  );
}

describeE2E("security stream by role", () => {
  let backend: Backend | null = null;
  let browser: Browser | null = null;
  let context: BrowserContext | null = null;

  beforeAll(async () => {
    ({ backend, browser } = await startBackendAndBrowser());
  });

  afterEach(async () => {
    await context?.close();
    context = null;
  });

  afterAll(async () => {
    await browser?.close();
    await backend?.dispose();
  });

  e2eIt(
    "5. a viewer is told why there are no security events, and a raw /ws/security socket closes with 4403",
    45_000,
    async () => {
      const b = backend!;
      context = await newContext(browser!, b);
      const page = await newPage(context, "viewer");
      const socketUrls: string[] = [];
      page.on("websocket", (ws) => socketUrls.push(ws.url()));
      await loginThroughUi(page, b.viewer);

      const unavailable = page.locator(SEL.securityUnavailable).first();
      await unavailable.waitFor({ state: "visible", timeout: 10_000 });
      const text = ((await unavailable.textContent()) ?? "").replace(/\s+/g, " ").trim();
      expect(text).toMatch(/viewer/);
      expect(text).toContain("Your role (viewer) cannot view security events");
      // The app itself must not try the stream the role cannot open.
      expect(socketUrls.filter((u) => u.includes("/ws/security/")), "sockets the app opened to /ws/security").toEqual([]);
      // No admin Demo section for a viewer.
      expect(await page.getByRole("button", { name: "Run DNS workflow", exact: true }).count()).toBe(0);

      // A security event emitted by the admin does not reach the viewer's page; a DNS event does.
      const alert = await b.emitSecurityEvent("security_alert", { alert: "e2e", message: "not for viewers" });
      const dns = await b.emitDnsEvent("zone_updated", { zone: "viewer.example" });
      await waitUntil(
        `the DNS event seq ${dns.seq} in the viewer's recent DNS events`,
        async () => (await listItems(page, SEL.dnsItem)).some((i) => i.seq === dns.seq),
        10_000,
      );
      expect(await page.locator(`[data-event-id="${alert.id}"]`).count()).toBe(0);
      expect(await page.locator(`${SEL.securityItem}[data-seq="${alert.seq}"]`).count()).toBe(0);

      // The server refuses the stream itself: 4403 with a reason naming the role.
      const closed = await rawSocket(page, "security", b.viewer.username);
      expect(closed.error).toBeUndefined();
      expect(closed.code).toBe(4403);
      expect(closed.reason).toMatch(/viewer/);
      expect(closed.reason).toBe("role viewer may not open security");
      // The viewer's own dashboard stays connected meanwhile.
      await page.waitForSelector(SEL.connected, { timeout: 5_000 });
    },
    () => backend,
  );

  e2eIt(
    "5b. an operator does get the security stream (the viewer's message is about the role)",
    45_000,
    async () => {
      const b = backend!;
      context = await newContext(browser!, b);
      const page = await newPage(context, "operator");
      await loginThroughUi(page, b.operator);
      await page.waitForSelector(SEL.securityList, { state: "attached", timeout: 10_000 });
      const alert = await b.emitSecurityEvent("threat_detected", { client: "192.0.2.7", query: "bad.example" });
      await waitUntil(
        `threat_detected seq ${alert.seq} in the operator's recent security events`,
        async () => (await listItems(page, SEL.securityItem)).some((i) => i.seq === alert.seq && i.type === "threat_detected"),
        10_000,
      );
      expect(await page.locator(SEL.securityUnavailable).count()).toBe(0);
      // The same raw socket is accepted for an operator (it stays open until closed here).
      const result = await page.evaluate(
        ({ key }) =>
          new Promise<{ code: number; opened: boolean; firstType: string | null }>((resolve) => {
            const token = (JSON.parse(localStorage.getItem(key) ?? "{}") as { token?: string }).token ?? "";
            const ws = new WebSocket(`ws://${location.host}/ws/security/operator`, ["hybrid-dns.v1", `bearer.${token}`]);
            let opened = false;
            const timer = setTimeout(() => resolve({ code: -2, opened, firstType: null }), 10_000);
            ws.onopen = () => {
              opened = true;
            };
            ws.onmessage = (ev) => {
              clearTimeout(timer);
              let type: string | null;
              try {
                type = (JSON.parse(String(ev.data)) as { type?: string }).type ?? null;
              } catch {
                type = null;
              }
              ws.close(1000);
              resolve({ code: 0, opened, firstType: type });
            };
            ws.onclose = (ev) => {
              clearTimeout(timer);
              resolve({ code: ev.code, opened, firstType: null });
            };
          }),
        { key: SESSION_KEY },
      );
      expect(result).toEqual({ code: 0, opened: true, firstType: "connected" });
    },
    () => backend,
  );
});
