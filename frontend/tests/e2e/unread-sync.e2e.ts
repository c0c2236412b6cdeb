// Scenario 4: two tabs of the same browser profile (one localStorage session) as admin. Marking
// notifications read in tab A clears (or lowers) the unread badge in tab B within seconds, and
// the count survives a reload of B (the read state is kept by the server). "Clear all" clears the
// read state too, so the badge never outlives the list.
import type { Browser, BrowserContext } from "playwright-core";
import { afterAll, beforeAll, expect } from "vitest";
import {
  type Backend,
  SEL,
  badgeText,
  describeE2E,
  e2eIt,
  loginThroughUi,
  newContext,
  newPage,
  startBackendAndBrowser,
  notificationsDialog,
  openNotifications,
  waitUntil,
} from "./harness";

describeE2E("unread badge across tabs", () => {
  let backend: Backend | null = null;
  let browser: Browser | null = null;
  let context: BrowserContext | null = null;

  beforeAll(async () => {
    ({ backend, browser } = await startBackendAndBrowser());
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await backend?.dispose();
  });

  e2eIt(
    "4. acknowledging in one tab updates the badge in the other, and the count survives a reload",
    55_000,
    async () => {
      const b = backend!;
      context = await newContext(browser!, b);
      const pageA = await newPage(context, "tab A");
      const pageB = await newPage(context, "tab B");
      await loginThroughUi(pageA, b.admin);
      // Same profile, so tab B is signed in by the shared localStorage session.
      await pageB.goto("/", { waitUntil: "domcontentloaded" });
      await pageB.waitForSelector(SEL.connected, { timeout: 15_000 });

      // Start from zero unread (nothing should be unread on a fresh server anyway).
      expect(await b.ackAll()).toBe(0);
      await waitUntil("no unread badge in tab B", async () => ((await badgeText(pageB)) === null ? true : null), 5_000);

      // Two unread notifications: both tabs show 2.
      const first = await b.emitDnsEvent("record_updated", { zone: "tabs.example", name: "a.tabs.example" });
      const second = await b.emitDnsEvent("record_updated", { zone: "tabs.example", name: "b.tabs.example" });
      expect(await b.unreadCount()).toBe(2);
      for (const page of [pageA, pageB]) {
        await waitUntil(`badge "2" in ${page === pageA ? "tab A" : "tab B"}`, async () => ((await badgeText(page)) === "2" ? true : null), 10_000);
      }

      // Tab A: one item's "Mark as read" -> tab B's badge goes to 1.
      await openNotifications(pageA);
      const dialogA = notificationsDialog(pageA);
      const item = dialogA.locator(`${SEL.notificationItem}[data-event-id="${first.id}"]`);
      await item.waitFor({ state: "visible", timeout: 10_000 });
      expect(await item.getAttribute("data-read")).toBe("false");
      expect(await item.getAttribute("data-seq")).toBe(String(first.seq));
      await item.getByRole("button", { name: "Mark as read", exact: true }).click();
      await waitUntil('badge "1" in tab B after one "Mark as read" in tab A', async () => ((await badgeText(pageB)) === "1" ? true : null), 5_000);
      await waitUntil("the item to show data-read=true in tab A", async () => ((await item.getAttribute("data-read", { timeout: 1_000 })) === "true" ? true : null), 5_000);
      const other = dialogA.locator(`${SEL.notificationItem}[data-event-id="${second.id}"]`);
      expect(await other.getAttribute("data-read")).toBe("false");
      expect(await b.unreadCount()).toBe(1);

      // Tab A: "Mark all as read" -> tab B's badge disappears.
      await dialogA.getByRole("button", { name: "Mark all as read", exact: true }).click();
      await waitUntil('no badge in tab B after "Mark all as read" in tab A', async () => ((await badgeText(pageB)) === null ? true : null), 5_000);
      await waitUntil("no badge in tab A either", async () => ((await badgeText(pageA)) === null ? true : null), 5_000);
      expect(await b.unreadCount()).toBe(0);

      // One more event: both tabs count exactly 1 (the earlier two stay read) ...
      await b.emitDnsEvent("zone_updated", { zone: "tabs.example" });
      await waitUntil('badge "1" in tab B for the new event', async () => ((await badgeText(pageB)) === "1" ? true : null), 10_000);
      // ... and still exactly 1 after reloading tab B: the acknowledgements were kept by the server.
      await pageB.reload({ waitUntil: "domcontentloaded" });
      await pageB.waitForSelector(SEL.connected, { timeout: 15_000 });
      await waitUntil('badge "1" in tab B after its reload', async () => ((await badgeText(pageB)) === "1" ? true : null), 10_000);
      await openNotifications(pageB);
      const unreadInB = await notificationsDialog(pageB).locator(`${SEL.notificationItem}[data-read="false"]`).count();
      expect(unreadInB, "unread items in tab B's panel after the reload").toBe(1);
      expect(await pageB.locator(`${SEL.notificationItem}[data-event-id="${first.id}"]`).getAttribute("data-read")).toBe("true");

      // "Clear all" empties the list and clears the read state with it: no badge left behind, in either tab.
      // The list and the badge empty at once, before the server has answered: the answer is held back
      // here, so that a list that waited for it would still be full.
      await b.emitDnsEvent("record_updated", { zone: "tabs.example", name: "c.tabs.example" });
      await waitUntil('badge "2" in tab A', async () => ((await badgeText(pageA)) === "2" ? true : null), 10_000);
      await openNotifications(pageA);
      let release = (): void => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      await pageA.route("**/api/events/ack", async (route) => {
        await held;
        await route.continue();
      });
      await notificationsDialog(pageA).getByRole("button", { name: "Clear all", exact: true }).click();
      await waitUntil("no badge in tab A after Clear all", async () => ((await badgeText(pageA)) === null ? true : null), 5_000);
      await waitUntil("an empty list in tab A before the server answered", async () => (await notificationsDialog(pageA).locator(SEL.notificationItem).count()) === 0, 5_000);
      release();
      await waitUntil("no badge in tab B after Clear all in tab A", async () => ((await badgeText(pageB)) === null ? true : null), 5_000);
      await pageA.unroute("**/api/events/ack");
      expect(await notificationsDialog(pageA).locator(SEL.notificationItem).count()).toBe(0);
      expect(await b.unreadCount()).toBe(0);
    },
    () => backend,
  );
});
