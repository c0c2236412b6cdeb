// Scenarios 1, 2 and 6: an admin logs in through the login page, sees Connected, watches the DNS
// workflow demo arrive in order with toasts, and drives the notifications panel and the theme
// toggle with the keyboard.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import {
  type Backend,
  SEL,
  badgeText,
  brief,
  describeE2E,
  e2eIt,
  expectStrictlyDecreasing,
  listItems,
  loginThroughUi,
  newContext,
  newPage,
  startBackendAndBrowser,
  notificationsButton,
  notificationsDialog,
  notYet,
  probeOf,
  waitUntil,
} from "./harness";

describeE2E("dashboard (admin)", () => {
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

  async function freshPage(label: string): Promise<Page> {
    context = await newContext(browser!, backend!);
    return newPage(context, label);
  }

  e2eIt(
    "1. logs in through the login page and shows Connected",
    45_000,
    async () => {
      const page = await freshPage("admin");
      await page.goto("/", { waitUntil: "domcontentloaded" });

      // A wrong password is refused with a message in role=alert, and the page stays on the form.
      await page.getByLabel("Username", { exact: true }).fill("admin");
      await page.getByLabel("Password", { exact: true }).fill("not-the-password");
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      const alert = page.getByRole("alert").filter({ hasText: /\S/ }).first();
      await alert.waitFor({ state: "visible", timeout: 10_000 });
      expect((await alert.textContent())?.trim().length ?? 0).toBeGreaterThan(0);
      await page.getByRole("button", { name: "Sign in", exact: true }).waitFor({ state: "visible" });

      await loginThroughUi(page, backend!.admin);
      const status = page.locator(SEL.status).first();
      expect(await status.getAttribute("data-state")).toBe("connected");
      expect(await status.textContent()).toContain("Connected");
      // Header: title, signed-in user name, sign-out button.
      await page.getByText("Hybrid DNS", { exact: false }).filter({ visible: true }).first().waitFor({ state: "visible" });
      await page.getByRole("button", { name: "Sign out", exact: true }).waitFor({ state: "visible" });
      await page.getByText(/\badmin\b/).filter({ visible: true }).first().waitFor({ state: "visible" });
      // The session is kept in localStorage under the agreed key.
      const session = await page.evaluate(() => localStorage.getItem("hybrid-dns.session"));
      expect(session, 'localStorage["hybrid-dns.session"]').toBeTruthy();
      expect(JSON.parse(session!)).toMatchObject({ username: "admin", role: "admin" });
      // The host cards show the figures of the instance this socket is on (system_status from it).
      const cpu = page.locator('[data-testid="card-cpu"] .value');
      await waitUntil("the CPU card to show a figure", async () => /^\d/.test((await cpu.textContent()) ?? ""), 15_000);
    },
    () => backend,
  );

  e2eIt(
    "2. the DNS workflow demo appears in the recent DNS events list in order, with toasts",
    50_000,
    async () => {
      const page = await freshPage("admin");
      await loginThroughUi(page, backend!.admin);
      await page.waitForSelector(SEL.dnsList, { state: "attached" });
      const toastsBefore = (await probeOf(page)).toasts.length;

      const recordCount = 3;
      const emitted = await backend!.simulateDnsWorkflow({ zone_name: "e2e-workflow.example", record_count: recordCount, delay_ms: 150 });
      const expectedTypes = ["zone_created", ...Array<string>(recordCount).fill("record_created"), "bind_reload", "config_change"];
      expect(emitted.map((e) => e.type)).toEqual(expectedTypes);
      const wanted = new Set(emitted.map((e) => e.seq));

      const shown = await waitUntil(
        `all ${emitted.length} workflow events (seqs ${[...wanted].join(",")}) in ${SEL.dnsList}`,
        async () => {
          const all = await listItems(page, SEL.dnsItem);
          const items = all.filter((i) => wanted.has(i.seq));
          return items.length >= wanted.size ? items : notYet(`the list holds ${brief(all)}`);
        },
        15_000,
      );
      // Newest first in the DOM, so reversed they are in emission order: seqs strictly increasing, types in order.
      const chronological = [...shown].reverse();
      expect(chronological.map((i) => i.seq)).toEqual(emitted.map((e) => e.seq));
      expect(chronological.map((i) => i.type)).toEqual(expectedTypes);
      expectStrictlyDecreasing((await listItems(page, SEL.dnsItem)).map((i) => i.seq), SEL.dnsItem);

      // zone_created and bind_reload are toasted.
      await waitUntil("a sonner toast for the workflow", async () => (await probeOf(page)).toasts.length > toastsBefore, 10_000);
      expect((await probeOf(page)).toasts.slice(toastsBefore).length).toBeGreaterThan(0);

      // The notifications got counted as unread.
      const badge = await waitUntil("the unread badge", () => badgeText(page), 10_000);
      expect(badge).toMatch(/^\d+\+?$/);

      // The admin Demo section's "Run DNS workflow" button emits a new workflow that shows up too.
      const maxSeq = Math.max(...emitted.map((e) => e.seq));
      await page.getByRole("button", { name: "Run DNS workflow", exact: true }).click();
      await waitUntil(
        "a new zone_created from the Run DNS workflow button",
        async () => (await listItems(page, SEL.dnsItem)).some((i) => i.type === "zone_created" && i.seq > maxSeq),
        15_000,
      );
      await waitUntil(
        "the button's workflow to finish (bind_reload after its zone_created)",
        async () => (await listItems(page, SEL.dnsItem)).some((i) => i.type === "bind_reload" && i.seq > maxSeq),
        15_000,
      );
      expectStrictlyDecreasing((await listItems(page, SEL.dnsItem)).map((i) => i.seq), SEL.dnsItem);
    },
    () => backend,
  );

  e2eIt(
    "6. keyboard: Enter on the bell opens the notifications panel, Escape closes it; the theme toggle switches data-theme",
    45_000,
    async () => {
      const page = await freshPage("admin");
      await loginThroughUi(page, backend!.admin);

      // The bell is reachable with Tab from the top of the page.
      const bell = notificationsButton(page);
      await bell.waitFor({ state: "visible" });
      await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
      let reached = false;
      for (let i = 0; i < 60 && !reached; i++) {
        await page.keyboard.press("Tab");
        reached = await bell.evaluate((el) => el === document.activeElement);
      }
      expect(reached, "the Notifications button is reachable with Tab").toBe(true);

      await page.keyboard.press("Enter");
      const dialog = notificationsDialog(page);
      await dialog.waitFor({ state: "visible", timeout: 5_000 });
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "hidden", timeout: 5_000 });

      // Open and close once more, from the bell focused directly.
      await bell.focus();
      await page.keyboard.press("Enter");
      await dialog.waitFor({ state: "visible", timeout: 5_000 });
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "hidden", timeout: 5_000 });

      // Theme toggle: Enter on the focused button flips documentElement.dataset.theme, and back.
      const theme = () => page.evaluate(() => document.documentElement.dataset.theme ?? "");
      const toggle = page.getByRole("button", { name: "Toggle theme", exact: true });
      const before = await theme();
      await toggle.focus();
      await page.keyboard.press("Enter");
      const flipped = await waitUntil(
        `data-theme to change from "${before}"`,
        async () => {
          const t = await theme();
          return t !== before && (t === "light" || t === "dark") ? t : null;
        },
        5_000,
      );
      // Remembered across a reload.
      await page.reload({ waitUntil: "domcontentloaded" });
      await page.waitForSelector(SEL.connected, { timeout: 15_000 });
      expect(await theme()).toBe(flipped);
      await page.getByRole("button", { name: "Toggle theme", exact: true }).click();
      await waitUntil(`data-theme to change back from "${flipped}"`, async () => ((await theme()) !== flipped ? true : null), 5_000);
      expect(await theme()).toBe(flipped === "dark" ? "light" : "dark");
    },
    () => backend,
  );
});
