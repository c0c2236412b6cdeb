// Scenario 3: the backend stops (SIGTERM: sockets closed with 1001) and the page shows
// Reconnecting; the backend restarts on the same port and DATA_DIR (same users, key, history and
// stream epoch) and events are emitted as soon as it answers, most likely before the page's
// backoff timer fires, so they reach the page by replay (?since=&epoch=) and/or the REST refetch
// as well as, possibly, live. Each must be shown exactly once.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, expect } from "vitest";
import {
  type Backend,
  type EmittedEvent,
  SEL,
  brief,
  describeE2E,
  e2eIt,
  expectStrictlyDecreasing,
  listItems,
  loginThroughUi,
  newContext,
  newPage,
  startBackendAndBrowser,
  notificationsDialog,
  notYet,
  openNotifications,
  probeOf,
  waitUntil,
} from "./harness";

function countBy<T>(values: T[]): Map<T, number> {
  const counts = new Map<T, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

function duplicates<T>(values: T[]): T[] {
  return [...countBy(values)].filter(([, n]) => n > 1).map(([v]) => v);
}

describeE2E("reconnect after a backend restart", () => {
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

  async function expectShownOnce(page: Page, events: EmittedEvent[], what: string): Promise<void> {
    const dns = events.filter((e) => e.type !== "security_alert" && e.type !== "threat_detected" && e.type !== "rpz_update");
    const security = events.filter((e) => !dns.includes(e));
    const dnsSeqs = new Set(dns.map((e) => e.seq));
    const securitySeqs = new Set(security.map((e) => e.seq));
    const ids = new Set(events.map((e) => e.id));

    await waitUntil(
      `${what}: dns seqs ${[...dnsSeqs].join(",")} in ${SEL.dnsList}`,
      async () => {
        const all = await listItems(page, SEL.dnsItem);
        return all.filter((i) => dnsSeqs.has(i.seq)).length >= dnsSeqs.size || notYet(`the list holds ${brief(all)}`);
      },
      15_000,
    );
    await waitUntil(
      `${what}: security seqs ${[...securitySeqs].join(",")} in ${SEL.securityList}`,
      async () => {
        const all = await listItems(page, SEL.securityItem);
        return all.filter((i) => securitySeqs.has(i.seq)).length >= securitySeqs.size || notYet(`the list holds ${brief(all)}`);
      },
      15_000,
    );
    await openNotifications(page);
    const panelItems = `${SEL.notificationItem}`;
    await waitUntil(
      `${what}: event ids in the notifications panel`,
      async () => {
        const all = await listItems(page, panelItems);
        return all.filter((i) => i.id !== null && ids.has(i.id)).length >= ids.size || notYet(`the panel holds ${brief(all)}`);
      },
      15_000,
    );
  }

  async function expectNoDuplicates(page: Page): Promise<void> {
    const dnsItems = await listItems(page, SEL.dnsItem);
    const securityItems = await listItems(page, SEL.securityItem);
    await openNotifications(page);
    const dialog = notificationsDialog(page);
    const panelItems = await dialog.locator(SEL.notificationItem).evaluateAll((els) =>
      els.map((el) => ({ id: el.getAttribute("data-event-id"), seq: Number(el.getAttribute("data-seq")) })),
    );
    expect(duplicates(dnsItems.map((i) => i.seq)), "duplicate data-seq in the recent DNS events").toEqual([]);
    expect(duplicates(securityItems.map((i) => i.seq)), "duplicate data-seq in the recent security events").toEqual([]);
    expect(duplicates(panelItems.map((i) => i.id)), "duplicate data-event-id in the notifications panel").toEqual([]);
    expect(duplicates(panelItems.map((i) => i.seq)), "duplicate data-seq in the notifications panel").toEqual([]);
    expectStrictlyDecreasing(dnsItems.map((i) => i.seq), SEL.dnsItem);
    expectStrictlyDecreasing(securityItems.map((i) => i.seq), SEL.securityItem);
  }

  e2eIt(
    "3. shows Reconnecting while the backend is down, reconnects after its restart, and shows the events of the outage once",
    60_000,
    async () => {
      const b = backend!;
      context = await newContext(browser!, b);
      const page = await newPage(context, "admin");
      await loginThroughUi(page, b.admin);

      // Live before the outage.
      const before = [await b.emitDnsEvent("zone_updated", { zone: "before.example" })];
      await expectShownOnce(page, before, "before the outage");
      await page.keyboard.press("Escape"); // close the panel again

      const statesBefore = (await probeOf(page)).states.length;
      await b.stop();
      await waitUntil(
        "data-state=reconnecting after the backend stopped",
        async () => (await probeOf(page)).states.slice(statesBefore).some((s) => s.state === "reconnecting"),
        10_000,
        50,
      );
      // While it is down the status must not claim to be connected.
      expect(await page.locator(SEL.connected).count()).toBe(0);
      const reconnectingText = await page.locator(SEL.status).first().textContent();

      const stoppedAt = Date.now(); // the timeline printed below is relative to this moment (server stopped, Reconnecting seen)
      await b.restart();
      // Right away, most likely before the page's next attempt (backoff with jitter, 1 s base, 2 s cap).
      const upAt = Date.now();
      const during: EmittedEvent[] = await Promise.all([
        b.emitDnsEvent("record_deleted", { zone: "outage.example", name: "gone.outage.example", type: "A" }),
        b.emitDnsEvent("zone_deleted", { zone: "outage.example" }),
        b.emitSecurityEvent("security_alert", { alert: "e2e", message: "during the outage" }),
      ]);
      const emittedAt = Date.now();

      await page.waitForSelector(SEL.connected, { timeout: 20_000 });
      const timeline = (await probeOf(page)).states.slice(statesBefore);
      const backAt = timeline.filter((s) => s.state === "connected").pop()?.t ?? NaN;
      console.info(
        `e2e reconnect: restart took ${upAt - stoppedAt} ms; outage events emitted ${emittedAt - upAt} ms after it was up; ` +
          `the page showed Connected ${backAt - upAt} ms after it was up ` +
          `(${backAt > emittedAt ? "after the events: they came by replay/refetch" : "before the events were emitted: they came live"}); ` +
          `states: ${timeline.map((s) => `${s.state}@${s.t - stoppedAt}`).join(" ")}`,
      );
      const states = timeline.map((s) => s.state);
      expect(states).toContain("reconnecting");
      expect(states[states.length - 1]).toBe("connected");
      expect(reconnectingText ?? "").toMatch(/Reconnecting|Connecting|Offline/);

      await expectShownOnce(page, during, "emitted while the page was reconnecting");
      // One more live event after the reconnect: by the time it shows, any refetch started by the
      // reconnect has been applied, so a late duplicate would be visible now.
      const after = [await b.emitDnsEvent("record_created", { zone: "after.example", name: "new.after.example", type: "A" })];
      await expectShownOnce(page, after, "after the reconnect");
      await expectShownOnce(page, before, "from before the outage, still there");
      await expectNoDuplicates(page);

      // Exactly once each, by id (panel) and by seq (lists).
      const panel = await listItems(page, SEL.notificationItem);
      for (const e of [...before, ...during, ...after]) {
        expect(panel.filter((i) => i.id === e.id).length, `notification ${e.type} ${e.id} shown`).toBe(1);
        const list = e.type === "security_alert" ? SEL.securityItem : SEL.dnsItem;
        expect((await listItems(page, list)).filter((i) => i.seq === e.seq).length, `${e.type} seq ${e.seq} in ${list}`).toBe(1);
      }
    },
    () => backend,
  );
});
