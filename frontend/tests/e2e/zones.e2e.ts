// Zones from the dashboard: an operator creates, edits and deletes a zone and its records through
// the UI (forms validating as typed, the server's refusals on the form), while a second user's
// browser follows every change live, without a reload; URLs are bookmarkable and back/forward
// work. A viewer sees no write control and a forced write is refused by the API (403). Two users
// editing one record: the second save gets 412 and chooses; presence appears and leaves.
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import { type Backend, SESSION_KEY, describeE2E, e2eIt, loginThroughUi, newContext, newPage, startBackendAndBrowser, waitUntil } from "./harness";

const ZONE_ROW = '[data-testid="zone-row"]';
const RECORD_ROW = '[data-testid="record-row"]';

function recordRow(page: Page, name: string, type: string): Locator {
  return page.locator(`${RECORD_ROW}[data-name="${name}"][data-type="${type}"]`);
}

async function text(locator: Locator): Promise<string> {
  return ((await locator.textContent({ timeout: 5_000 })) ?? "").replace(/\s+/g, " ").trim();
}

/** Marks the page so that a reload (which would make "live" meaningless) is detected. */
async function markNoReload(page: Page): Promise<void> {
  await page.evaluate(() => ((window as unknown as { __noReload: boolean }).__noReload = true));
}

async function stillNotReloaded(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload === true);
}

async function addRecord(page: Page, record: { name: string; type: string; value: string; ttl?: string }): Promise<Locator> {
  await page.getByRole("button", { name: "Add record", exact: true }).first().click();
  const dialog = page.getByRole("dialog", { name: /Add a record/ });
  await dialog.waitFor({ state: "visible" });
  await dialog.getByLabel("Name", { exact: true }).fill(record.name);
  await dialog.getByLabel("Type", { exact: true }).selectOption(record.type);
  await dialog.getByLabel("Value", { exact: true }).fill(record.value);
  if (record.ttl !== undefined) await dialog.getByLabel("TTL (seconds)", { exact: true }).fill(record.ttl);
  await dialog.getByRole("button", { name: "Add record", exact: true }).click();
  return dialog;
}

describeE2E("zones and records", () => {
  let backend: Backend | null = null;
  let browser: Browser | null = null;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    ({ backend, browser } = await startBackendAndBrowser());
  });

  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close();
  });

  afterAll(async () => {
    await browser?.close();
    await backend?.dispose();
  });

  async function signedIn(label: string, user: Backend["admin"]): Promise<Page> {
    const context = await newContext(browser!, backend!);
    contexts.push(context);
    const page = await newPage(context, label);
    await loginThroughUi(page, user);
    return page;
  }

  e2eIt(
    "an operator creates, edits and deletes a zone and its records; a second user's page follows live",
    90_000,
    async () => {
      const b = backend!;
      const op = await signedIn("operator", b.operator);
      const other = await signedIn("admin (second user)", b.admin);

      // Both on the zones list: empty, and said so (not an error, not a spinner).
      await op.getByRole("link", { name: "Zones", exact: true }).first().click();
      await op.waitForURL(/\/zones$/);
      await op.getByText("No zones yet").waitFor();
      await other.goto("/zones");
      await other.getByText("No zones yet").waitFor();
      await markNoReload(other);

      // Create a zone: the name is checked as it is typed, with the server's words.
      await op.getByRole("button", { name: "New zone", exact: true }).click();
      const create = op.getByRole("dialog", { name: "New zone" });
      const name = create.getByLabel("Zone name", { exact: true });
      await name.fill("bad_-.example");
      await create.getByText("zone name: label 'bad_-' may only hold letters, digits, '-' and '_'", { exact: false }).waitFor();
      expect(await name.getAttribute("aria-invalid")).toBe("true");
      await name.fill("live-e2e.example");
      await create.locator(".field-error").waitFor({ state: "detached" });
      await create.getByRole("button", { name: "Create zone", exact: true }).click();
      await op.waitForURL(/\/zones\/\d+$/);
      const zoneId = Number(new URL(op.url()).pathname.split("/").pop());
      await op.getByRole("heading", { level: 1, name: "live-e2e.example" }).waitFor();
      await op.getByText("No records yet").waitFor();

      // The second user's list shows it without a reload.
      const otherRow = other.locator(`${ZONE_ROW}[data-zone="live-e2e.example"]`);
      await otherRow.waitFor({ timeout: 10_000 });
      await otherRow.getByRole("link", { name: "live-e2e.example" }).click();
      await other.waitForURL(new RegExp(`/zones/${zoneId}$`));
      const serialBefore = Number(await text(other.getByTestId("zone-serial")));

      // Add a record: it appears on both pages, and the second user's serial moves on.
      let dialog = await addRecord(op, { name: "www", type: "A", value: "192.0.2.10", ttl: "300" });
      await dialog.waitFor({ state: "hidden" });
      await recordRow(op, "www", "A").waitFor();
      await recordRow(other, "www", "A").waitFor({ timeout: 10_000 });
      expect(await text(recordRow(other, "www", "A"))).toContain("192.0.2.10");
      await waitUntil("the second user's serial to move on", async () => Number(await text(other.getByTestId("zone-serial"))) > serialBefore, 10_000);

      // A value is checked as it is typed; nothing is sent while it is wrong.
      await op.getByRole("button", { name: "Add record", exact: true }).first().click();
      dialog = op.getByRole("dialog", { name: /Add a record/ });
      await dialog.getByLabel("Value", { exact: true }).fill("1.2.3");
      await dialog.getByText("A value '1.2.3' is not an IPv4 address").waitFor();
      await dialog.getByLabel("TTL (seconds)", { exact: true }).fill("604801");
      await dialog.getByText("TTL must be from 1 to 604800").waitFor();
      await dialog.getByRole("button", { name: "Cancel", exact: true }).click();
      await dialog.waitFor({ state: "hidden" });

      // What only the server can know comes back on the form: a duplicate (409, on the value field) ...
      dialog = await addRecord(op, { name: "www", type: "A", value: "192.0.2.10" });
      await dialog.locator(".field-error").getByText("www already has the A record 192.0.2.10").waitFor();
      expect(await dialog.getByLabel("Value", { exact: true }).getAttribute("aria-invalid")).toBe("true");
      await dialog.getByRole("button", { name: "Cancel", exact: true }).click();
      // ... and a change after which BIND would not load the zone (422 with the reason).
      dialog = await addRecord(op, { name: "sub", type: "NS", value: "ns1" });
      const refusal = await text(dialog.getByTestId("form-error"));
      expect(refusal).toMatch(/would not load: name server ns1\.sub\.live-e2e\.example|inside the zone and has no address/);
      await dialog.getByRole("button", { name: "Cancel", exact: true }).click();
      expect((await b.records(zoneId)).map((r) => `${r.name} ${r.type}`)).toEqual(["www A"]);

      // Every type the API takes.
      const more = [
        { name: "v6", type: "AAAA", value: "2001:db8::10" },
        { name: "alias", type: "CNAME", value: "www" },
        { name: "@", type: "MX", value: "10 mail.example.net." },
        { name: "@", type: "TXT", value: '"v=spf1 mx -all"' },
        { name: "_sip._tcp", type: "SRV", value: "10 5 5060 sip.example.net." },
        { name: "ptr", type: "PTR", value: "host.example.net." },
        { name: "deleg", type: "NS", value: "ns1.example.net." },
      ];
      for (const record of more) {
        dialog = await addRecord(op, record);
        await dialog.waitFor({ state: "hidden", timeout: 10_000 });
        await recordRow(other, record.name, record.type).waitFor({ timeout: 10_000 });
      }

      // Edit: the second user sees the new value.
      await recordRow(op, "www", "A").getByRole("button", { name: /^Edit www A/ }).click();
      dialog = op.getByRole("dialog", { name: "Edit www A" });
      await dialog.getByLabel("Value", { exact: true }).fill("192.0.2.11");
      await dialog.getByLabel("TTL (seconds)", { exact: true }).fill("");
      await dialog.getByRole("button", { name: "Save record", exact: true }).click();
      await dialog.waitFor({ state: "hidden" });
      await waitUntil("the edited value on the second user's page", async () => (await text(recordRow(other, "www", "A"))).includes("192.0.2.11"), 10_000);

      // Filters are in the URL: bookmarkable, and back/forward restore them.
      await op.getByLabel("Record type", { exact: true }).selectOption("A");
      await op.waitForURL(/type=A/);
      await waitUntil("only A records shown", async () => {
        const types = await op.locator(RECORD_ROW).evaluateAll((rows) => rows.map((r) => r.getAttribute("data-type")));
        return types.length > 0 && types.every((t) => t === "A");
      });
      await op.reload();
      await recordRow(op, "www", "A").waitFor();
      expect(await op.locator(`${RECORD_ROW}[data-type="MX"]`).count()).toBe(0);
      await op.getByRole("link", { name: "Zones", exact: true }).first().click();
      await op.waitForURL(/\/zones$/);
      await op.goBack();
      await op.waitForURL(/type=A/);
      await recordRow(op, "www", "A").waitFor();
      await op.getByLabel("Record type", { exact: true }).selectOption("");

      // Bulk delete: select two, delete them; gone on both pages.
      await recordRow(op, "v6", "AAAA").getByRole("checkbox").check();
      await recordRow(op, "ptr", "PTR").getByRole("checkbox").check();
      await op.getByRole("button", { name: "Delete selected", exact: true }).click();
      const confirm = op.getByRole("dialog", { name: "Delete 2 records?" });
      await confirm.getByRole("button", { name: "Delete 2 records", exact: true }).click();
      await confirm.waitFor({ state: "hidden" });
      await recordRow(other, "v6", "AAAA").waitFor({ state: "detached", timeout: 10_000 });
      await recordRow(other, "ptr", "PTR").waitFor({ state: "detached", timeout: 10_000 });

      // One record deleted on its own.
      await recordRow(op, "alias", "CNAME").getByRole("button", { name: /^Delete alias CNAME/ }).click();
      await op.getByRole("dialog", { name: "Delete this record?" }).getByRole("button", { name: "Delete record", exact: true }).click();
      await recordRow(other, "alias", "CNAME").waitFor({ state: "detached", timeout: 10_000 });
      expect((await b.records(zoneId)).map((r) => `${r.name} ${r.type}`).sort()).toEqual(["@ MX", "@ TXT", "_sip._tcp SRV", "deleg NS", "www A"]);

      // The zone's settings: a TTL out of bounds is refused as typed, a good one saved.
      await op.getByRole("button", { name: "Settings", exact: true }).click();
      const settings = op.getByRole("dialog", { name: "Settings of live-e2e.example" });
      await settings.getByLabel("Default TTL", { exact: true }).fill("0");
      await settings.getByText("default TTL must be from 1 to 604800").waitFor();
      await settings.getByLabel("Default TTL", { exact: true }).fill("1800");
      await settings.getByRole("button", { name: "Save settings", exact: true }).click();
      await settings.waitFor({ state: "hidden" });
      await waitUntil("the new default TTL on the second user's page", async () => (await text(other.getByTestId("zone-facts"))).includes("Default TTL 1800"), 10_000);

      // Delete the zone: the operator goes back to the list; the second user's open page says who deleted it.
      await op.getByRole("button", { name: "Delete zone", exact: true }).click();
      await op.getByRole("dialog", { name: "Delete zone live-e2e.example?" }).getByRole("button", { name: "Delete zone", exact: true }).click();
      await op.waitForURL(/\/zones$/);
      const banner = other.getByTestId("zone-deleted");
      await banner.waitFor({ timeout: 10_000 });
      expect(await text(banner)).toContain("This zone was deleted by operator");
      expect(await other.getByRole("button", { name: "Add record" }).count()).toBe(0);
      expect(await stillNotReloaded(other)).toBe(true);
    },
    () => backend,
  );

  e2eIt(
    "a viewer sees no write control, admin pages say they are for admins, and a forced write gets 403",
    60_000,
    async () => {
      const b = backend!;
      const zone = await b.createZone("viewer-e2e.example");
      const record = await b.createRecord(zone.id, { name: "www", type: "A", value: "192.0.2.80" });
      const page = await signedIn("viewer", b.viewer);

      await page.goto("/zones");
      await page.locator(`${ZONE_ROW}[data-zone="viewer-e2e.example"]`).waitFor();
      expect(await page.getByRole("button", { name: "New zone" }).count()).toBe(0);
      expect(await page.getByRole("button", { name: /^Delete zone/ }).count()).toBe(0);

      await page.goto(`/zones/${zone.id}`);
      await recordRow(page, "www", "A").waitFor();
      for (const name of [/^Add record/, /^Edit /, /^Delete/, /^Settings$/]) {
        expect(await page.getByRole("button", { name }).count(), `buttons named ${name}`).toBe(0);
      }
      expect(await page.getByRole("checkbox").count()).toBe(0);

      // The navigation has no admin entries; their URLs say why there is nothing.
      const nav = page.getByRole("navigation", { name: "Main", exact: true });
      expect(await nav.getByRole("link", { name: "Users" }).count()).toBe(0);
      expect(await nav.getByRole("link", { name: "Zones" }).count()).toBe(1);
      await page.goto("/users");
      await page.getByTestId("state-forbidden").getByText("Only admins can see users").waitFor();

      // Forced writes with the viewer's own token: the API refuses, and nothing changed.
      const results = await page.evaluate(
        async ({ key, zoneId, recordId }) => {
          const token = (JSON.parse(localStorage.getItem(key) ?? "{}") as { token?: string }).token ?? "";
          const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
          const calls: [string, string, unknown?][] = [
            ["POST", "/api/zones", { name: "forced.example" }],
            ["POST", `/api/zones/${zoneId}/records`, { name: "x", type: "A", value: "192.0.2.1" }],
            ["PATCH", `/api/zones/${zoneId}/records/${recordId}`, { value: "192.0.2.99" }],
            ["DELETE", `/api/zones/${zoneId}/records/${recordId}`],
            ["DELETE", `/api/zones/${zoneId}`],
          ];
          const out: { call: string; status: number; detail: unknown }[] = [];
          for (const [method, path, body] of calls) {
            const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
            out.push({ call: `${method} ${path}`, status: res.status, detail: ((await res.json()) as { detail?: unknown }).detail });
          }
          return out;
        },
        { key: SESSION_KEY, zoneId: zone.id, recordId: record.id },
      );
      for (const r of results) {
        expect(r.status, r.call).toBe(403);
        expect(typeof r.detail, r.call).toBe("string");
      }
      expect((await b.records(zone.id)).map((r) => r.value)).toEqual(["192.0.2.80"]);
      expect((await b.zones()).map((z) => z.name)).not.toContain("forced.example");
    },
    () => backend,
  );

  e2eIt(
    "two users edit the same record: the second save gets 412, sees what changed, and chooses",
    60_000,
    async () => {
      const b = backend!;
      const zone = await b.createZone("conflict-e2e.example");
      await b.createRecord(zone.id, { name: "www", type: "A", value: "192.0.2.1" });
      const first = await signedIn("operator", b.operator);
      const second = await signedIn("admin", b.admin);
      for (const page of [first, second]) {
        await page.goto(`/zones/${zone.id}`);
        await recordRow(page, "www", "A").getByRole("button", { name: /^Edit www A/ }).click();
      }
      const d1 = first.getByRole("dialog", { name: "Edit www A" });
      const d2 = second.getByRole("dialog", { name: "Edit www A" });
      await d1.getByLabel("Value", { exact: true }).fill("192.0.2.2");
      await d2.getByLabel("Value", { exact: true }).fill("192.0.2.3");
      await d1.getByRole("button", { name: "Save record" }).click();
      await d1.waitFor({ state: "hidden" });
      await d2.getByRole("button", { name: "Save record" }).click();
      const conflict = d2.getByTestId("conflict");
      await conflict.waitFor();
      expect(await text(conflict)).toContain("192.0.2.2");
      await conflict.getByRole("button", { name: "Apply mine over theirs" }).click();
      await d2.waitFor({ state: "hidden" });
      await waitUntil("the second user's value on the first user's page", async () => (await text(recordRow(first, "www", "A"))).includes("192.0.2.3"));
    },
    () => backend,
  );

  e2eIt(
    "presence: a second user's viewing and editing of a zone appears, and is gone when the tab closes",
    60_000,
    async () => {
      const b = backend!;
      const zone = await b.createZone("presence-e2e.example");
      const watcher = await signedIn("operator", b.operator);
      await watcher.goto(`/zones/${zone.id}`);
      const visitor = await signedIn("admin", b.admin);
      await visitor.goto(`/zones/${zone.id}`);
      const member = watcher.locator('[data-testid="presence-member"][data-user="admin"]');
      await member.waitFor({ timeout: 10_000 });
      expect(await member.getAttribute("data-state")).toBe("viewing");
      await visitor.getByRole("button", { name: "Add record", exact: true }).first().click();
      await waitUntil("admin shown as editing", async () => (await member.getAttribute("data-state")) === "editing", 10_000);
      await visitor.close();
      await member.waitFor({ state: "detached", timeout: 15_000 });
    },
    () => backend,
  );
});
