// Phone and accessibility: at 360 px no page scrolls sideways, the header's controls (sign-out
// included), the notifications panel and the toasts are fully on screen; every page built passes
// axe-core without a serious or critical violation, in both themes; and the zone workflow can be
// driven by the keyboard alone, with a visible focus.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import {
  type Backend,
  SEL,
  axeViolations,
  describeE2E,
  describeViolations,
  e2eIt,
  fullyOnScreen,
  horizontalOverflow,
  loginThroughUi,
  newContext,
  newPage,
  notificationsButton,
  notificationsDialog,
  startBackendAndBrowser,
  waitUntil,
} from "./harness";

const PAGES = ["/", "/events", "/zones", "/zones/{zone}", "/rpz", "/forwarders", "/users", "/settings", "/webhooks", "/audit"];

describeE2E("phone layout and accessibility", () => {
  let backend: Backend | null = null;
  let browser: Browser | null = null;
  let zoneId = 0;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    ({ backend, browser } = await startBackendAndBrowser());
    const zone = await backend.createZone("a11y-e2e.example");
    zoneId = zone.id;
    await backend.createRecord(zoneId, { name: "www", type: "A", value: "192.0.2.10", ttl: 300 });
    await backend.createRecord(zoneId, { name: "@", type: "TXT", value: '"v=spf1 mx -all"' });
    await backend.createRecord(zoneId, { name: "_sip._tcp", type: "SRV", value: "10 5 5060 a-rather-long-target-name.example.net." });
    await backend.emitSecurityEvent("security_alert", { alert: "e2e", message: "a warning for the feeds" }, "warning");
    await backend.createRule({ domain: "a-rather-long-blocked-domain-name.tracking.example", category: "tracking" });
    await backend.createRule({ domain: "redirected.example", action: "redirect", redirect_to: "192.0.2.80", category: "phishing" });
    await backend.createForwarder({ name: "Corp AD", type: "active_directory", domains: ["corp.example", "_msdcs.corp.example"], servers: ["192.0.2.53", "[2001:db8::53]:53"] });
  });

  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close();
  });

  afterAll(async () => {
    await browser?.close();
    await backend?.dispose();
  });

  const url = (path: string) => path.replace("{zone}", String(zoneId));

  async function open(path: string, page: Page): Promise<void> {
    await page.goto(url(path), { waitUntil: "domcontentloaded" });
    await page.waitForSelector(SEL.connected, { timeout: 15_000 });
    await page.locator("[data-page-title]").first().waitFor();
    // what loads: nothing left spinning
    await waitUntil(`${path} loaded`, async () => (await page.getByTestId("state-loading").count()) === 0, 10_000);
  }

  e2eIt(
    "at 360 px: no horizontal scroll on any page; header, notifications, navigation and toasts fully on screen",
    90_000,
    async () => {
      const context = await newContext(browser!, backend!, { viewport: { width: 360, height: 740 }, mobile: true });
      contexts.push(context);
      const page = await newPage(context, "phone");
      await loginThroughUi(page, backend!.admin);
      for (const path of PAGES) {
        await open(path, page);
        expect(await horizontalOverflow(page), `horizontal overflow on ${path} at 360 px`).toBeLessThanOrEqual(0);
      }

      // The header's controls are on screen, sign-out included.
      for (const name of ["Open navigation", "Notifications", "Sign out"]) {
        const box = await page.getByRole("button", { name, exact: true }).boundingBox();
        expect(box, name).not.toBeNull();
        expect(box!.x, name).toBeGreaterThanOrEqual(0);
        expect(box!.x + box!.width, name).toBeLessThanOrEqual(360);
      }

      // The notifications panel, fully on screen.
      await open("/", page);
      await notificationsButton(page).click();
      await notificationsDialog(page).waitFor();
      const panel = await fullyOnScreen(page, ".notification-panel");
      expect(panel.inside, `notifications panel ${JSON.stringify(panel)}`).toBe(true);
      expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
      await page.keyboard.press("Escape");

      // The navigation drawer: every entry, and it leads somewhere.
      await page.getByRole("button", { name: "Open navigation", exact: true }).click();
      const drawer = page.getByRole("dialog", { name: "Hybrid DNS" });
      await drawer.waitFor();
      expect(await drawer.getByRole("link").allTextContents()).toEqual(["Overview", "Events", "Zones", "RPZ", "Forwarders", "Users", "Settings", "Webhooks", "Audit log"]);
      await drawer.getByRole("link", { name: "Zones" }).click();
      await page.waitForURL(/\/zones$/);
      await drawer.waitFor({ state: "hidden" });

      // A toast (a zone created elsewhere) is fully on screen.
      await backend!.simulateDnsWorkflow({ zone_name: "toast-e2e.example", record_count: 1, delay_ms: 0 });
      const toast = page.locator(SEL.toast).first();
      await toast.waitFor({ timeout: 10_000 });
      await waitUntil("the toast to settle on screen", async () => (await fullyOnScreen(page, SEL.toast)).inside, 5_000);
      expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);

      // Dialogs fit the phone too: add a record, import an RPZ list, edit a forwarder.
      await open("/zones/{zone}", page);
      await page.getByRole("button", { name: "Add record", exact: true }).click();
      await page.getByRole("dialog", { name: /Add a record/ }).waitFor();
      expect((await fullyOnScreen(page, "dialog[open]")).inside).toBe(true);
      await open("/rpz", page);
      await page.getByRole("button", { name: "Import list", exact: true }).click();
      await page.getByRole("dialog", { name: "Import a list of domains" }).getByLabel("Domains", { exact: true }).fill("ok.example\ncom\nanother-rather-long-name.example");
      await page.getByRole("dialog", { name: "Import a list of domains" }).locator(".invalid-lines").waitFor();
      expect((await fullyOnScreen(page, "dialog[open]")).inside, "import dialog on screen").toBe(true);
      expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
      await open("/forwarders", page);
      await page.getByRole("button", { name: "Edit forwarder Corp AD", exact: true }).click();
      await page.getByRole("dialog", { name: "Edit forwarder Corp AD" }).waitFor();
      expect((await fullyOnScreen(page, "dialog[open]")).inside, "forwarder dialog on screen").toBe(true);
    },
    () => backend,
  );

  for (const theme of ["light", "dark"] as const) {
    e2eIt(
      `axe-core: no serious or critical violation on any page, ${theme} theme`,
      120_000,
      async () => {
        const context = await newContext(browser!, backend!, { colorScheme: theme });
        contexts.push(context);
        const page = await newPage(context, theme);
        await page.goto("/", { waitUntil: "domcontentloaded" });
        await page.getByRole("button", { name: "Sign in" }).waitFor();
        const found: string[] = [];
        const check = async (what: string) => {
          const violations = await axeViolations(page);
          if (violations.length) found.push(`${what}:\n${describeViolations(violations)}`);
        };
        await check("login page");
        await loginThroughUi(page, backend!.admin);
        expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe(theme);
        for (const path of PAGES) {
          await open(path, page);
          await check(path);
        }
        // Dialogs and panels, open.
        await open("/zones", page);
        await page.getByRole("button", { name: "New zone", exact: true }).click();
        await page.getByRole("dialog", { name: "New zone" }).getByLabel("Zone name", { exact: true }).fill("bad_-");
        await page.getByRole("dialog", { name: "New zone" }).locator(".field-error").waitFor();
        await check("new zone dialog, with an error");
        await page.keyboard.press("Escape");
        await open("/zones/{zone}", page);
        await page.getByRole("button", { name: /^Edit www A/ }).click();
        await page.getByRole("dialog", { name: "Edit www A" }).waitFor();
        await check("edit record dialog");
        await page.keyboard.press("Escape");
        // The new pages' dialogs, with errors shown.
        await open("/rpz", page);
        await page.getByRole("button", { name: "New rule", exact: true }).click();
        await page.getByRole("dialog", { name: "New RPZ rule" }).getByLabel("Domain", { exact: true }).fill("com");
        await page.getByRole("dialog", { name: "New RPZ rule" }).locator(".field-error").waitFor();
        await check("new RPZ rule dialog, with an error");
        await page.keyboard.press("Escape");
        await page.getByRole("button", { name: "Import list", exact: true }).click();
        await page.getByRole("dialog", { name: "Import a list of domains" }).getByLabel("Domains", { exact: true }).fill("ok.example\ncom");
        await page.getByRole("dialog", { name: "Import a list of domains" }).locator(".invalid-lines").waitFor();
        await check("RPZ import dialog, with an invalid line");
        await page.keyboard.press("Escape");
        await open("/forwarders", page);
        await page.getByRole("button", { name: "Edit forwarder Corp AD", exact: true }).click();
        await page.getByRole("dialog", { name: "Edit forwarder Corp AD" }).getByLabel("Servers", { exact: true }).fill("dns.example");
        await page.getByRole("dialog", { name: "Edit forwarder Corp AD" }).locator(".field-error").waitFor();
        await check("forwarder dialog, with an error");
        await page.keyboard.press("Escape");
        await open("/users", page);
        await page.getByRole("button", { name: "New user", exact: true }).click();
        await page.getByRole("dialog", { name: "New user" }).getByLabel("Username", { exact: true }).fill("_bad");
        await page.getByRole("dialog", { name: "New user" }).locator(".field-error").waitFor();
        await check("new user dialog, with an error");
        await page.keyboard.press("Escape");
        await page.getByRole("button", { name: "Change the role of viewer", exact: true }).click();
        await page.getByRole("dialog", { name: "Role of viewer" }).waitFor();
        await check("role dialog");
        await page.keyboard.press("Escape");
        await open("/settings", page);
        await page.getByLabel("Check timeout", { exact: true }).fill("0");
        await page.locator(".field-error").first().waitFor();
        await check("settings, with an error and an unsaved change");
        await open("/audit", page);
        await page.locator('[data-testid="audit-row"] summary').first().click();
        await check("audit log, details open");
        await notificationsButton(page).click();
        await notificationsDialog(page).waitFor();
        await check("notifications panel");
        await page.keyboard.press("Escape");
        await page.getByTestId("connection-status").click();
        await page.getByRole("region", { name: "Connection details" }).waitFor();
        await check("connection details");
        await page.goto("/no-such-page");
        await page.getByText("There is no page at this address").waitFor();
        await check("not found");
        expect(found, found.join("\n\n")).toEqual([]);
      },
      () => backend,
    );
  }

  e2eIt(
    "a critical event is announced assertively, an ordinary one politely",
    30_000,
    async () => {
      const context = await newContext(browser!, backend!);
      contexts.push(context);
      const page = await newPage(context, "announcements");
      await loginThroughUi(page, backend!.admin);
      const alert = page.getByTestId("notifications-alert");
      const polite = page.getByTestId("notifications-live");
      expect(await alert.getAttribute("aria-live")).toBe("assertive");
      expect(await polite.getAttribute("aria-live")).toBe("polite");
      await backend!.emitSecurityEvent("security_alert", { alert: "e2e", message: "resolver under attack" }, "critical");
      await waitUntil("the assertive announcement", async () => ((await alert.textContent()) ?? "").includes("Critical event: Security alert, resolver under attack"), 10_000);
      await backend!.emitDnsEvent("zone_updated", { zone: "polite.example" });
      await waitUntil("the polite announcement", async () => ((await polite.textContent()) ?? "").includes("New notification: Zone updated, polite.example"), 10_000);
    },
    () => backend,
  );

  e2eIt(
    "keyboard only: add a record from the zone page, with a visible focus all the way",
    60_000,
    async () => {
      const context = await newContext(browser!, backend!);
      contexts.push(context);
      const page = await newPage(context, "keyboard");
      await loginThroughUi(page, backend!.operator);
      await open("/zones/{zone}", page);
      const focusVisible = () =>
        page.evaluate(() => {
          const el = document.activeElement as HTMLElement | null;
          if (!el || el === document.body) return null;
          const style = getComputedStyle(el);
          const ring = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
          const glow = style.boxShadow !== "none";
          return { label: el.getAttribute("aria-label") ?? el.textContent?.trim() ?? el.tagName, visible: ring || glow };
        });

      // Tab to "Add record"; every stop on the way shows where the focus is.
      let reached = false;
      for (let i = 0; i < 80 && !reached; i++) {
        await page.keyboard.press("Tab");
        const focus = await focusVisible();
        expect(focus?.visible, `focus visible on ${focus?.label}`).toBe(true);
        reached = focus?.label === "Add record";
      }
      expect(reached, "Add record reached with Tab").toBe(true);
      await page.keyboard.press("Enter");
      const dialog = page.getByRole("dialog", { name: /Add a record/ });
      await dialog.waitFor();
      // The name field has the focus; fill the form with the keyboard.
      await page.keyboard.type("kbd");
      await page.keyboard.press("Tab"); // type
      await page.keyboard.press("Tab"); // value
      await page.keyboard.type("192.0.2.77");
      await page.keyboard.press("Enter");
      await dialog.waitFor({ state: "hidden" });
      await page.locator('[data-testid="record-row"][data-name="kbd"]').waitFor();
      // Focus is back where it was (the Add record button), not lost.
      await waitUntil("focus back on Add record", async () => (await focusVisible())?.label === "Add record", 5_000);
      // Escape closes a dialog and gives the focus back too.
      await page.keyboard.press("Enter");
      await dialog.waitFor();
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "hidden" });
      expect((await focusVisible())?.label).toBe("Add record");
    },
    () => backend,
  );
});
