// The connection never gives up silently: with few fast attempts (2, 1 s base, 2 s cap) the page
// runs out of them while the server is down and shows Offline, marks the figures in the header
// (CPU, latency, forwarders) and on the overview as stale, and keeps probing at the capped
// interval; when the server is back it reconnects by itself, without a click, and the marks go.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, expect } from "vitest";
import { Backend, SEL, describeE2E, e2eIt, launchBrowser, loginThroughUi, newContext, newPage, probeOf, waitUntil } from "./harness";

describeE2E("offline: probing after the fast attempts, stale marks", () => {
  let backend: Backend | null = null;
  let browser: Browser | null = null;
  let context: BrowserContext | null = null;

  beforeAll(async () => {
    [backend, browser] = await Promise.all([Backend.start({ WEBSOCKET_MAX_RECONNECT_ATTEMPTS: "2" }), launchBrowser()]);
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await backend?.dispose();
  });

  async function staleMarks(page: Page, container: string): Promise<number> {
    return page.locator(`${container} [data-testid="stale-mark"]`).count();
  }

  e2eIt(
    "after the fast attempts it stays Offline with stale marks, keeps probing, and reconnects without a click",
    90_000,
    async () => {
      const b = backend!;
      context = await newContext(browser!, b, { viewport: { width: 1400, height: 900 } });
      const page = await newPage(context, "admin");
      const sockets: number[] = [];
      page.on("websocket", () => sockets.push(Date.now()));
      await loginThroughUi(page, b.admin);

      // Live figures in the header first (system_status every 2 s), unmarked.
      const vitals = page.getByTestId("live-vitals");
      await waitUntil("a CPU figure in the header", async () => /\d+%/.test((await page.getByTestId("live-vitals-cpu").textContent()) ?? ""), 15_000);
      await waitUntil("a latency in the header", async () => /\d+ ms/.test((await page.getByTestId("live-vitals-latency").textContent()) ?? ""), 15_000);
      expect(await vitals.getAttribute("data-stale")).toBe("false");
      expect(await staleMarks(page, '[data-testid="live-vitals"]')).toBe(0);
      expect(await page.getByTestId("live-banner").count()).toBe(0);

      await b.stop();
      // The two fast attempts fail; then Offline, and still no "live" figure anywhere.
      await page.waitForSelector(`${SEL.status}[data-state="offline"]`, { timeout: 20_000 });
      expect(await vitals.getAttribute("data-stale")).toBe("true");
      expect(await staleMarks(page, '[data-testid="live-vitals"]')).toBeGreaterThanOrEqual(2); // CPU and latency
      await page.getByTestId("live-banner").waitFor();
      expect((await page.getByTestId("live-banner").textContent()) ?? "").toMatch(/Offline.*Live updates paused since/);
      expect(await page.locator('[aria-label="Live metrics"]').getAttribute("data-stale")).toBe("true");
      expect(await staleMarks(page, '[aria-label="Live metrics"]')).toBeGreaterThan(0);

      // While offline it keeps trying, at the capped interval (2 s, jittered between 1 and 2 s).
      const offlineAt = Date.now();
      const before = sockets.filter((t) => t >= offlineAt).length;
      await waitUntil("two more probes while offline", async () => sockets.filter((t) => t >= offlineAt).length >= before + 2, 15_000);
      expect(await page.locator(SEL.connected).count()).toBe(0);

      // The server comes back: the page reconnects by itself (no click, no focus change), the marks go.
      const statesBefore = (await probeOf(page)).states.length;
      await b.restart();
      await page.waitForSelector(SEL.connected, { timeout: 20_000 });
      const states = (await probeOf(page)).states.slice(statesBefore).map((s) => s.state);
      expect(states[states.length - 1]).toBe("connected");
      await waitUntil("no stale mark in the header", async () => (await vitals.getAttribute("data-stale")) === "false" && (await staleMarks(page, '[data-testid="live-vitals"]')) === 0, 10_000);
      await page.getByTestId("live-banner").waitFor({ state: "detached", timeout: 10_000 });
    },
    () => backend,
  );

  e2eIt(
    "while the server is down a page says it could not load (the reason and a Retry, never 'empty'), and recovers when it is back",
    60_000,
    async () => {
      const b = backend!;
      const zone = await b.createZone("down-e2e.example");
      await b.createRecord(zone.id, { name: "www", type: "A", value: "192.0.2.8" });
      await context?.close();
      context = await newContext(browser!, b);
      const page = await newPage(context, "admin");
      await loginThroughUi(page, b.admin);
      await page.goto("/zones");
      const link = page.getByRole("link", { name: "down-e2e.example" });
      await link.waitFor();

      await b.stop();
      await page.waitForSelector(`${SEL.status}:not([data-state="connected"])`, { timeout: 10_000 });
      await link.click(); // a client-side navigation: the app is loaded, the zone is not
      const error = page.getByTestId("state-error");
      await error.waitFor({ timeout: 15_000 });
      expect((await error.textContent()) ?? "").toMatch(/Could not load the zone.*Cannot reach the server/);
      await error.getByRole("button", { name: "Retry" }).waitFor();
      expect(await page.getByTestId("state-empty").count()).toBe(0);
      expect(await page.getByText("No records yet").count()).toBe(0);

      await b.restart();
      // No click: reconnecting refetches what failed.
      await page.locator('[data-testid="record-row"][data-name="www"]').waitFor({ timeout: 20_000 });
      expect(await page.getByTestId("state-error").count()).toBe(0);
    },
    () => backend,
  );
});
