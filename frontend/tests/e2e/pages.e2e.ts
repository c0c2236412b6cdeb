// RPZ, forwarders, settings, audit and users from the dashboard, against the real backend: an
// operator adds, edits, imports and deletes RPZ rules and forwarders while a second user's page
// follows every change live (forwarder health included, from a real DNS responder); one admin's
// settings change appears on another admin's page; the audit log filters through its URL; a viewer
// sees no write control and a forced write gets 403; users are managed from the page; presence on
// the RPZ page and in a forwarder's dialog; two users editing one forwarder meet a 412 and choose.
import type * as dgram from "node:dgram";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import { SETTINGS } from "../../src/features/settings/schemas";
import {
  Backend,
  type Credentials,
  SESSION_KEY,
  describeE2E,
  e2eIt,
  launchBrowser,
  loginThroughUi,
  newContext,
  newPage,
  silentUdpPort,
  startDnsResponder,
  waitUntil,
} from "./harness";

const RULE_ROW = '[data-testid="rule-row"]';
const FORWARDER_ROW = '[data-testid="forwarder-row"]';

function ruleRow(page: Page, domain: string): Locator {
  return page.locator(`${RULE_ROW}[data-domain="${domain}"]`);
}

function forwarderRow(page: Page, name: string): Locator {
  return page.locator(`${FORWARDER_ROW}[data-name="${name}"]`);
}

async function text(locator: Locator): Promise<string> {
  return ((await locator.textContent({ timeout: 5_000 })) ?? "").replace(/\s+/g, " ").trim();
}

async function markNoReload(page: Page): Promise<void> {
  await page.evaluate(() => ((window as unknown as { __noReload: boolean }).__noReload = true));
}

async function stillNotReloaded(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload === true);
}

describeE2E("RPZ, forwarders, settings, audit and users pages", () => {
  let backend: Backend | null = null;
  let browser: Browser | null = null;
  let responder: dgram.Socket | null = null;
  const contexts: BrowserContext[] = [];
  const admin2: Credentials = { username: "admin2", password: "second-admin-password" };

  beforeAll(async () => {
    const dns = await startDnsResponder();
    responder = dns.socket;
    // Health checks every second (a dead server gives up after 0.5 s), reports every 2 s.
    [backend, browser] = await Promise.all([
      Backend.start({ FORWARDER_CHECK_INTERVAL: "1", FORWARDER_CHECK_TIMEOUT: "0.5", HEALTH_BROADCAST_INTERVAL: "2" }),
      launchBrowser(),
    ]);
    await backend.addUser(admin2, "admin");
  });

  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close();
  });

  afterAll(async () => {
    await browser?.close();
    await backend?.dispose();
    responder?.close();
  });

  async function signedIn(label: string, user: Credentials): Promise<Page> {
    const context = await newContext(browser!, backend!);
    contexts.push(context);
    const page = await newPage(context, label);
    await loginThroughUi(page, user);
    return page;
  }

  e2eIt(
    "RPZ: an operator adds, edits, imports, filters and deletes rules; a second user's page follows live",
    90_000,
    async () => {
      const b = backend!;
      const op = await signedIn("operator", b.operator);
      const other = await signedIn("admin (second user)", b.admin);
      await op.getByRole("link", { name: "RPZ", exact: true }).first().click();
      await op.waitForURL(/\/rpz$/);
      await op.getByText("No RPZ rules yet").waitFor();
      await other.goto("/rpz");
      await other.getByText("No RPZ rules yet").waitFor();
      await markNoReload(other);

      // Add: the domain is checked as typed, with the server's words.
      await op.getByRole("button", { name: "New rule", exact: true }).click();
      let dialog = op.getByRole("dialog", { name: "New RPZ rule" });
      const domain = dialog.getByLabel("Domain", { exact: true });
      await domain.fill("com");
      await dialog.getByText("domain 'com' is a top-level domain: a rule would cover every name in it", { exact: false }).waitFor();
      expect(await domain.getAttribute("aria-invalid")).toBe("true");
      await domain.fill("ads.example");
      await dialog.getByLabel("Category", { exact: true }).fill("ads");
      await dialog.getByRole("button", { name: "Add rule", exact: true }).click();
      await dialog.waitFor({ state: "hidden" });
      await ruleRow(other, "ads.example").waitFor({ timeout: 10_000 });

      // What only the server knows comes back on the field it concerns: a rule that exists (409).
      await op.getByRole("button", { name: "New rule", exact: true }).click();
      dialog = op.getByRole("dialog", { name: "New RPZ rule" });
      await dialog.getByLabel("Domain", { exact: true }).fill("ADS.example.");
      await dialog.getByRole("button", { name: "Add rule", exact: true }).click();
      await dialog.locator(".field-error").getByText("a rule for ads.example already exists").waitFor();
      await dialog.getByRole("button", { name: "Cancel", exact: true }).click();

      // Edit: a redirect needs a target, checked as typed; the second user sees the change.
      await ruleRow(op, "ads.example").getByRole("button", { name: "Edit rule ads.example" }).click();
      dialog = op.getByRole("dialog", { name: "Edit rule ads.example" });
      await dialog.getByLabel("Action", { exact: true }).selectOption("redirect");
      const target = dialog.getByLabel("Redirect to", { exact: true });
      await target.fill("999.1.1.1");
      await dialog.getByText("redirect_to '999.1.1.1' is not an IP address").waitFor();
      await target.fill("192.0.2.80");
      await dialog.getByRole("button", { name: "Save rule", exact: true }).click();
      await dialog.waitFor({ state: "hidden" });
      await waitUntil("the redirect on the second user's page", async () => (await ruleRow(other, "ads.example").getAttribute("data-action")) === "redirect", 10_000);
      expect(await text(ruleRow(other, "ads.example"))).toContain("192.0.2.80");

      // Import a list: counted as typed (valid, repeated, invalid and why), then added / already there.
      await op.getByRole("button", { name: "Import list", exact: true }).click();
      dialog = op.getByRole("dialog", { name: "Import a list of domains" });
      await dialog.getByLabel("Domains", { exact: true }).fill(["# a blocklist", "imp1.example", "0.0.0.0 imp2.example", "ads.example", "com", "IMP1.example."].join("\n"));
      await waitUntil("the list's counts", async () => (await text(dialog.getByTestId("import-valid"))) === "3 valid domains", 5_000);
      expect(await text(dialog.getByTestId("import-repeats"))).toBe("1 repeat (sent once)");
      expect(await text(dialog.getByTestId("import-invalid"))).toBe("1 invalid line (not sent)");
      expect(await text(dialog.locator(".invalid-lines"))).toContain("line 5: com · domain 'com' is a top-level domain");
      await dialog.getByRole("button", { name: "Import 3 domains", exact: true }).click();
      const result = dialog.getByTestId("import-result");
      await result.waitFor();
      for (const part of ["2 rules added", "1 domain already listed", "1 repeat", "1 invalid line not sent"]) expect(await text(result)).toContain(part);
      await dialog.getByRole("button", { name: "Close", exact: true }).last().click();
      await ruleRow(other, "imp1.example").waitFor({ timeout: 10_000 });
      await ruleRow(other, "imp2.example").waitFor({ timeout: 10_000 });
      expect(await ruleRow(other, "imp1.example").getAttribute("data-action")).toBe("block");

      // The search is in the URL: it survives a reload.
      await op.getByLabel("Search domains", { exact: true }).fill("imp");
      await op.waitForURL(/[?&]q=imp/);
      await waitUntil("only the imported rules shown", async () => {
        const domains = await op.locator(RULE_ROW).evaluateAll((rows) => rows.map((r) => r.getAttribute("data-domain")));
        return domains.length === 2 && domains.every((d) => d?.startsWith("imp"));
      });
      await op.reload();
      await ruleRow(op, "imp2.example").waitFor();
      expect(await op.locator(RULE_ROW).count()).toBe(2);

      // Bulk delete: select both, delete them at once; gone on the second user's page.
      await op.getByRole("checkbox", { name: "Select imp1.example" }).check();
      await op.getByRole("checkbox", { name: "Select imp2.example" }).check();
      await op.getByRole("button", { name: "Delete selected", exact: true }).click();
      await op.getByRole("dialog", { name: "Delete 2 rules?" }).getByRole("button", { name: "Delete 2 rules", exact: true }).click();
      await ruleRow(other, "imp1.example").waitFor({ state: "detached", timeout: 10_000 });
      await ruleRow(other, "imp2.example").waitFor({ state: "detached", timeout: 10_000 });

      // One rule deleted on its own: the second user's list is empty again, without a reload.
      await op.goto("/rpz");
      await ruleRow(op, "ads.example").getByRole("button", { name: "Delete rule ads.example" }).click();
      await op.getByRole("dialog", { name: "Delete the rule for ads.example?" }).getByRole("button", { name: "Delete rule", exact: true }).click();
      await other.getByText("No RPZ rules yet").waitFor({ timeout: 10_000 });
      expect(await b.rules()).toEqual([]);
      expect(await stillNotReloaded(other)).toBe(true);
    },
    () => backend,
  );

  e2eIt(
    "forwarders: an operator adds, disables, edits and deletes; the second user's page follows, with live health",
    90_000,
    async () => {
      const b = backend!;
      const port = (responder!.address() as { port: number }).port;
      const dead = await silentUdpPort();
      const op = await signedIn("operator", b.operator);
      const other = await signedIn("admin (second user)", b.admin);
      await op.goto("/forwarders");
      await op.getByText("No forwarders yet").waitFor();
      await other.goto("/forwarders");
      await other.getByText("No forwarders yet").waitFor();
      await markNoReload(other);

      // A public forwarder answered by the local responder: checked as typed, then healthy on both pages.
      await op.getByRole("button", { name: "New forwarder", exact: true }).click();
      let dialog = op.getByRole("dialog", { name: "New forwarder" });
      await dialog.getByLabel("Name", { exact: true }).fill("Resolvers");
      await dialog.getByLabel("Type", { exact: true }).selectOption("public");
      const servers = dialog.getByLabel("Servers", { exact: true });
      await servers.fill("dns.example");
      await dialog.getByText("server 'dns.example' is not an IP address or ip:port").waitFor();
      await servers.fill(`127.0.0.1:${port}`);
      await dialog.getByRole("button", { name: "Add forwarder", exact: true }).click();
      await dialog.waitFor({ state: "hidden" });
      await forwarderRow(other, "Resolvers").waitFor({ timeout: 10_000 });
      await waitUntil("Resolvers healthy on the second user's page", async () => (await forwarderRow(other, "Resolvers").getAttribute("data-health")) === "healthy", 20_000);
      expect(await text(forwarderRow(other, "Resolvers").getByTestId("forwarder-health"))).toContain("Healthy");

      // An intranet forwarder needs a domain; one whose server does not answer shows as unhealthy.
      await op.getByRole("button", { name: "New forwarder", exact: true }).click();
      dialog = op.getByRole("dialog", { name: "New forwarder" });
      await dialog.getByLabel("Name", { exact: true }).fill("Branch");
      await dialog.getByLabel("Type", { exact: true }).selectOption("intranet");
      await dialog.getByLabel("Servers", { exact: true }).fill(`127.0.0.1:${dead}`);
      await dialog.getByText("an active_directory or intranet forwarder needs at least one domain").waitFor();
      await dialog.getByLabel("Domains", { exact: true }).fill("branch.example");
      await dialog.getByRole("button", { name: "Add forwarder", exact: true }).click();
      await dialog.waitFor({ state: "hidden" });
      await waitUntil("Branch unhealthy on the second user's page", async () => (await forwarderRow(other, "Branch").getAttribute("data-health")) === "unhealthy", 20_000);

      // Disable: no longer checked, on both pages.
      await forwarderRow(op, "Resolvers").getByRole("button", { name: "Disable forwarder Resolvers" }).click();
      await waitUntil("Resolvers disabled on the second user's page", async () => (await forwarderRow(other, "Resolvers").getAttribute("data-enabled")) === "false", 10_000);
      expect(await text(forwarderRow(other, "Resolvers").getByTestId("forwarder-health"))).toContain("Not checked (disabled)");
      expect((await b.forwarders()).find((f) => f.name === "Resolvers")?.enabled).toBe(false);

      // Edit: the server refuses a name another forwarder has (409, on the field); a rename reaches the other page.
      await forwarderRow(op, "Branch").getByRole("button", { name: "Edit forwarder Branch" }).click();
      dialog = op.getByRole("dialog", { name: "Edit forwarder Branch" });
      const name = dialog.getByLabel("Name", { exact: true });
      await name.fill("resolvers");
      await dialog.getByRole("button", { name: "Save forwarder", exact: true }).click();
      await dialog.locator(".field-error").getByText("a forwarder named 'Resolvers' already exists").waitFor();
      await name.fill("Branch office");
      await dialog.getByRole("button", { name: "Save forwarder", exact: true }).click();
      await dialog.waitFor({ state: "hidden" });
      await forwarderRow(other, "Branch office").waitFor({ timeout: 10_000 });
      expect(await forwarderRow(other, "Branch").count()).toBe(0);

      // Delete: gone from the second user's page.
      await forwarderRow(op, "Resolvers").getByRole("button", { name: "Delete forwarder Resolvers" }).click();
      await op.getByRole("dialog", { name: "Delete forwarder Resolvers?" }).getByRole("button", { name: "Delete forwarder", exact: true }).click();
      await forwarderRow(other, "Resolvers").waitFor({ state: "detached", timeout: 10_000 });
      expect((await b.forwarders()).map((f) => f.name)).toEqual(["Branch office"]);
      expect(await stillNotReloaded(other)).toBe(true);
    },
    () => backend,
  );

  e2eIt(
    "settings: bounds as the API's; one admin's change appears on another admin's page, a field being edited keeps its value",
    60_000,
    async () => {
      const b = backend!;
      // The form's bounds are the API's (the RuntimeSettings schema of /openapi.json).
      const doc = (await (await fetch(`${b.baseUrl}/openapi.json`)).json()) as {
        components: { schemas: { RuntimeSettings: { properties: Record<string, { anyOf: { type: string; minimum?: number; maximum?: number; exclusiveMinimum?: number }[] }> } } };
      };
      const api = doc.components.schemas.RuntimeSettings.properties;
      expect(Object.keys(api).sort()).toEqual(SETTINGS.map((s) => s.key).sort());
      for (const spec of SETTINGS) {
        const bound = api[spec.key]!.anyOf.find((a) => a.type !== "null")!;
        expect({ key: spec.key, integer: bound.type === "integer", min: bound.minimum ?? bound.exclusiveMinimum, exclusive: bound.exclusiveMinimum !== undefined, max: bound.maximum }).toEqual({
          key: spec.key,
          integer: spec.integer,
          min: spec.min,
          exclusive: spec.exclusiveMin,
          max: spec.max,
        });
      }

      const a = await signedIn("admin", b.admin);
      const other = await signedIn("admin2", admin2);
      for (const page of [a, other]) {
        await page.goto("/settings");
        await page.getByTestId("settings-form").waitFor();
      }
      await markNoReload(other);
      // The second admin is changing the reload gathering time (not saved yet).
      await other.getByLabel("Reload gathering time", { exact: true }).fill("2");

      const limit = a.getByLabel("Failed sign-ins allowed", { exact: true });
      await limit.fill("0");
      await a.getByText("Failed sign-ins allowed must be 1 to 1,000").waitFor();
      await limit.fill("7");
      await a.getByLabel("Reload gathering time", { exact: true }).fill("3");
      await a.getByRole("button", { name: "Save changes", exact: true }).click();
      await a.getByText("No unsaved changes.").waitFor();

      // On the other admin's page: who changed what, the untouched field follows, the edited one keeps its value.
      await waitUntil("the new limit on the other admin's page", async () => (await other.getByLabel("Failed sign-ins allowed", { exact: true }).inputValue()) === "7", 10_000);
      expect(await text(other.getByTestId("settings-changed-by"))).toContain("admin changed Failed sign-ins allowed, Reload gathering time");
      expect(await other.getByLabel("Reload gathering time", { exact: true }).inputValue()).toBe("2");
      expect(await text(other.getByTestId("theirs-BIND_RELOAD_DEBOUNCE"))).toContain("Changed meanwhile to 3 seconds");
      expect(await stillNotReloaded(other)).toBe(true);

      // The other admin saves theirs: only that field is sent, and the first admin's page follows.
      await other.getByRole("button", { name: "Save changes", exact: true }).click();
      await other.getByText("No unsaved changes.").waitFor();
      await waitUntil("the second admin's value on the first admin's page", async () => (await a.getByLabel("Reload gathering time", { exact: true }).inputValue()) === "2", 10_000);
      expect(await text(a.getByTestId("settings-changed-by"))).toContain("admin2 changed Reload gathering time");
      const stored = await b.settings();
      expect([stored.LOGIN_FAILURE_LIMIT, stored.BIND_RELOAD_DEBOUNCE]).toEqual([7, 2]);
    },
    () => backend,
  );

  e2eIt(
    "audit log: filters through the URL (actor, action prefix, outcome, time range), kept on reload and back; details open",
    60_000,
    async () => {
      const b = backend!;
      await b.createRule({ domain: "audited.example" }, b.operator);
      const failed = await b.raw("POST", "/api/auth/login", { username: "viewer", password: "wrong password" });
      expect(failed.status).toBe(401);
      const page = await signedIn("admin", b.admin);

      // A link with filters: the operator's RPZ changes.
      await page.goto("/audit?actor=operator&action=rpz.");
      await page.getByTestId("audit-table").waitFor();
      const rows = page.locator('[data-testid="audit-row"]');
      await waitUntil("the operator's RPZ entries", async () => {
        const seen = await rows.evaluateAll((els) => els.map((e) => [e.getAttribute("data-actor"), e.getAttribute("data-action")]));
        return seen.length > 0 && seen.every(([actor, action]) => actor === "operator" && action?.startsWith("rpz.")) && seen.some(([, action]) => action === "rpz.create");
      });
      expect(await page.getByLabel("Actor", { exact: true }).inputValue()).toBe("operator");
      // Full time with date and zone; UTC on hover.
      const time = rows.first().locator("time");
      expect(await time.textContent()).toMatch(/20\d\d/);
      expect(await time.getAttribute("title")).toMatch(/^20\d\d-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
      // Details open in place.
      await rows.first().locator("summary").click();
      await waitUntil("the details shown", async () => (await rows.first().locator("pre").textContent())?.includes('"category"') ?? false, 5_000);

      // Typed filters go into the URL: a failed sign-in (no actor), by action and outcome.
      await page.getByLabel("Actor", { exact: true }).fill("");
      await page.getByLabel("Action", { exact: true }).fill("auth.login");
      await page.getByLabel("Outcome", { exact: true }).selectOption("failure");
      await page.waitForURL((url) => url.searchParams.get("action") === "auth.login" && url.searchParams.get("outcome") === "failure" && !url.searchParams.has("actor"));
      await waitUntil("only failed sign-ins", async () => {
        const seen = await rows.evaluateAll((els) => els.map((e) => [e.getAttribute("data-action"), e.getAttribute("data-outcome")]));
        return seen.length > 0 && seen.every(([action, outcome]) => action === "auth.login" && outcome === "failure");
      });
      expect(await text(rows.first())).toContain("viewer");

      // Kept on reload, and after leaving and coming back.
      await page.reload();
      await rows.first().waitFor();
      expect(await page.getByLabel("Outcome", { exact: true }).inputValue()).toBe("failure");
      await page.getByRole("link", { name: "RPZ", exact: true }).first().click();
      await page.waitForURL(/\/rpz/);
      await page.goBack();
      await page.waitForURL((url) => url.pathname === "/audit" && url.searchParams.get("outcome") === "failure");
      await rows.first().waitFor();

      // A time range: from tomorrow on, nothing; the API got RFC 3339 with an offset.
      const tomorrow = new Date(Date.now() + 86_400_000);
      const local = `${tomorrow.getFullYear()}-${String(tomorrow.getMonth() + 1).padStart(2, "0")}-${String(tomorrow.getDate()).padStart(2, "0")}T00:00`;
      await page.getByLabel("From (local time)", { exact: true }).fill(local);
      await page.getByText("No entry matches the filters").waitFor();
      expect(new URL(page.url()).searchParams.get("since")).toMatch(/^\d{4}-\d\d-\d\dT00:00:00(?:Z|[+-]\d\d:\d\d)$/);
    },
    () => backend,
  );

  e2eIt(
    "a viewer sees no write control on RPZ and forwarders, admin pages are forbidden, and forced writes get 403",
    60_000,
    async () => {
      const b = backend!;
      const rule = await b.createRule({ domain: "viewer-sees.example", category: "malware" });
      const fwd = await b.createForwarder({ name: "Viewer sees", type: "public", servers: ["192.0.2.99"] });
      const page = await signedIn("viewer", b.viewer);

      await page.goto("/rpz");
      await ruleRow(page, "viewer-sees.example").waitFor();
      await page.getByTestId("not-live-note").waitFor();
      for (const name of [/^New rule/, /^Import/, /^Edit rule/, /^Delete/]) expect(await page.getByRole("button", { name }).count(), `buttons named ${name}`).toBe(0);
      expect(await page.getByRole("checkbox").count()).toBe(0);

      await page.goto("/forwarders");
      await forwarderRow(page, "Viewer sees").waitFor();
      for (const name of [/^New forwarder/, /^Disable/, /^Enable/, /^Edit forwarder/, /^Delete forwarder/]) {
        expect(await page.getByRole("button", { name }).count(), `buttons named ${name}`).toBe(0);
      }

      const nav = page.getByRole("navigation", { name: "Main", exact: true });
      for (const [path, entry, message] of [
        ["/settings", "Settings", "Only admins can see the server's settings"],
        ["/audit", "Audit log", "Only admins can see the audit log"],
        ["/users", "Users", "Only admins can see users"],
      ] as const) {
        expect(await nav.getByRole("link", { name: entry }).count()).toBe(0);
        await page.goto(path);
        await page.getByTestId("state-forbidden").getByText(message).waitFor();
      }

      const results = await page.evaluate(
        async ({ key, ruleId, fwdId }) => {
          const token = (JSON.parse(localStorage.getItem(key) ?? "{}") as { token?: string }).token ?? "";
          const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
          const calls: [string, string, unknown?][] = [
            ["POST", "/api/rpz/rules", { domain: "forced.example" }],
            ["PATCH", `/api/rpz/rules/${ruleId}`, { category: "custom" }],
            ["DELETE", `/api/rpz/rules/${ruleId}`],
            ["POST", "/api/rpz/rules/import", { domains: ["forced2.example"] }],
            ["POST", "/api/rpz/rules/bulk-delete", { domains: ["viewer-sees.example"] }],
            ["POST", "/api/forwarders", { name: "Forced", type: "public", servers: ["192.0.2.1"] }],
            ["PATCH", `/api/forwarders/${fwdId}`, { enabled: false }],
            ["DELETE", `/api/forwarders/${fwdId}`],
            ["GET", "/api/settings"],
            ["PUT", "/api/settings", { LOGIN_FAILURE_LIMIT: 100 }],
            ["GET", "/api/audit"],
          ];
          const out: { call: string; status: number; detail: unknown }[] = [];
          for (const [method, path, body] of calls) {
            const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
            out.push({ call: `${method} ${path}`, status: res.status, detail: ((await res.json()) as { detail?: unknown }).detail });
          }
          return out;
        },
        { key: SESSION_KEY, ruleId: rule.id, fwdId: fwd.id },
      );
      for (const r of results) {
        expect(r.status, r.call).toBe(403);
        expect(typeof r.detail, r.call).toBe("string");
      }
      const rules = await b.rules();
      expect(rules.find((r) => r.domain === "viewer-sees.example")?.category).toBe("malware");
      expect(rules.map((r) => r.domain)).not.toContain("forced.example");
      expect((await b.forwarders()).find((f) => f.id === fwd.id)?.enabled).toBe(true);
      expect((await b.settings()).LOGIN_FAILURE_LIMIT).not.toBe(100);
    },
    () => backend,
  );

  e2eIt(
    "keyboard only: add an RPZ rule and disable a forwarder, with a visible focus at every stop",
    60_000,
    async () => {
      const b = backend!;
      await b.createForwarder({ name: "Keyboard", type: "public", servers: ["192.0.2.97"] });
      const page = await signedIn("operator", b.operator);
      const focus = () =>
        page.evaluate(() => {
          const el = document.activeElement as HTMLElement | null;
          if (!el || el === document.body) return null;
          const style = getComputedStyle(el);
          const visible = (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== "none";
          return { label: el.getAttribute("aria-label") ?? el.textContent?.trim() ?? el.tagName, visible };
        });
      const tabTo = async (label: string) => {
        for (let i = 0; i < 80; i++) {
          await page.keyboard.press("Tab");
          const at = await focus();
          expect(at?.visible, `focus visible on ${at?.label}`).toBe(true);
          if (at?.label === label) return;
        }
        throw new Error(`${label} not reached with Tab`);
      };

      await page.goto("/rpz");
      await page.getByTestId("rules-table").or(page.getByText("No RPZ rules yet")).first().waitFor();
      await tabTo("New rule");
      await page.keyboard.press("Enter");
      const dialog = page.getByRole("dialog", { name: "New RPZ rule" });
      await dialog.waitFor();
      await page.keyboard.type("keyboard.example"); // the domain field has the focus
      await page.keyboard.press("Enter");
      await dialog.waitFor({ state: "hidden" });
      await ruleRow(page, "keyboard.example").waitFor();
      await waitUntil("focus back on New rule", async () => (await focus())?.label === "New rule", 5_000);

      await page.goto("/forwarders");
      await forwarderRow(page, "Keyboard").waitFor();
      await tabTo("Disable forwarder Keyboard");
      await page.keyboard.press("Enter");
      await waitUntil("Keyboard disabled", async () => (await forwarderRow(page, "Keyboard").getAttribute("data-enabled")) === "false", 10_000);
    },
    () => backend,
  );

  e2eIt(
    "users: an admin creates a user, changes the role, disables and enables, resets the password; another admin's page follows",
    60_000,
    async () => {
      const b = backend!;
      const a = await signedIn("admin", b.admin);
      const other = await signedIn("admin2", admin2);
      for (const page of [a, other]) {
        await page.goto("/users");
        await page.getByTestId("users-table").waitFor();
      }
      const row = (page: Page, name: string) => page.locator(`[data-testid="user-row"][data-user="${name}"]`);

      await a.getByRole("button", { name: "New user", exact: true }).click();
      const dialog = a.getByRole("dialog", { name: "New user" });
      await dialog.getByLabel("Username", { exact: true }).fill("_bad");
      await dialog.getByText("username: 1-64 letters, digits").waitFor();
      await dialog.getByLabel("Username", { exact: true }).fill("carol");
      await dialog.getByLabel("Role", { exact: true }).selectOption("operator");
      await dialog.getByLabel("Password", { exact: true }).fill("carol-password-1");
      await dialog.getByLabel("Password again", { exact: true }).fill("carol-password-1");
      await dialog.getByRole("button", { name: "Create user", exact: true }).click();
      await dialog.waitFor({ state: "hidden" });
      await row(other, "carol").waitFor({ timeout: 10_000 });
      expect(await row(other, "carol").getAttribute("data-role")).toBe("operator");

      await row(a, "carol").getByRole("button", { name: "Change the role of carol" }).click();
      const roleDialog = a.getByRole("dialog", { name: "Role of carol" });
      await roleDialog.getByRole("radio", { name: /^Viewer/ }).check();
      await roleDialog.getByRole("button", { name: "Change role", exact: true }).click();
      await waitUntil("carol a viewer on the other page", async () => (await row(other, "carol").getAttribute("data-role")) === "viewer", 10_000);

      await row(a, "carol").getByRole("button", { name: "Disable carol" }).click();
      await a.getByRole("dialog", { name: "Disable carol?" }).getByRole("button", { name: "Disable user", exact: true }).click();
      await waitUntil("carol disabled on the other page", async () => (await row(other, "carol").getAttribute("data-disabled")) === "true", 10_000);
      expect((await b.raw("POST", "/api/auth/login", { username: "carol", password: "carol-password-1" })).status).toBe(401);
      await row(a, "carol").getByRole("button", { name: "Enable carol" }).click();
      await waitUntil("carol enabled on the other page", async () => (await row(other, "carol").getAttribute("data-disabled")) === "false", 10_000);

      await row(a, "carol").getByRole("button", { name: "Reset the password of carol" }).click();
      const pw = a.getByRole("dialog", { name: "New password for carol" });
      await pw.getByLabel("New password", { exact: true }).fill("carol-password-2");
      await pw.getByLabel("New password again", { exact: true }).fill("carol-password-2");
      await pw.getByRole("button", { name: "Reset password", exact: true }).click();
      await pw.waitFor({ state: "hidden" });
      expect((await b.raw("POST", "/api/auth/login", { username: "carol", password: "carol-password-2" })).status).toBe(200);
      // No button to disable oneself.
      expect(await row(a, "admin").getByRole("button", { name: "Disable admin" }).count()).toBe(0);
    },
    () => backend,
  );

  e2eIt(
    "presence: a second user on the RPZ page and in a forwarder's edit dialog appears, and is gone when the tab closes",
    60_000,
    async () => {
      const b = backend!;
      const fwd = await b.createForwarder({ name: "Shared", type: "public", servers: ["192.0.2.98"] });
      const watcher = await signedIn("operator", b.operator);
      const visitor = await signedIn("admin", b.admin);
      await watcher.goto("/rpz");
      await visitor.goto("/rpz");
      const member = watcher.locator('[data-testid="presence-member"][data-user="admin"]');
      await member.waitFor({ timeout: 10_000 });
      expect(await member.getAttribute("data-state")).toBe("viewing");
      await visitor.getByRole("button", { name: "New rule", exact: true }).click();
      await waitUntil("admin shown as editing", async () => (await member.getAttribute("data-state")) === "editing", 10_000);

      await watcher.goto("/forwarders");
      await visitor.goto("/forwarders");
      for (const page of [watcher, visitor]) await forwarderRow(page, "Shared").getByRole("button", { name: "Edit forwarder Shared" }).click();
      const inDialog = watcher.getByRole("dialog", { name: "Edit forwarder Shared" }).getByTestId("forwarder-presence").locator('[data-user="admin"]');
      await inDialog.waitFor({ timeout: 10_000 });
      expect(await inDialog.getAttribute("data-state")).toBe("editing");
      await visitor.close();
      await inDialog.waitFor({ state: "detached", timeout: 15_000 });
      expect(fwd.id).toBeGreaterThan(0);
    },
    () => backend,
  );

  e2eIt(
    "two users edit the same forwarder: the second save gets 412, sees what changed and by whom, and chooses",
    60_000,
    async () => {
      const b = backend!;
      await b.createForwarder({ name: "Contested", type: "intranet", domains: ["contested.example"], servers: ["192.0.2.10"] });
      const first = await signedIn("operator", b.operator);
      const second = await signedIn("admin", b.admin);
      for (const page of [first, second]) {
        await page.goto("/forwarders");
        await forwarderRow(page, "Contested").getByRole("button", { name: "Edit forwarder Contested" }).click();
      }
      const d1 = first.getByRole("dialog", { name: "Edit forwarder Contested" });
      const d2 = second.getByRole("dialog", { name: "Edit forwarder Contested" });
      await d1.getByLabel("Servers", { exact: true }).fill("192.0.2.11");
      await d2.getByLabel("Servers", { exact: true }).fill("192.0.2.12");
      await d1.getByRole("button", { name: "Save forwarder" }).click();
      await d1.waitFor({ state: "hidden" });
      await d2.getByRole("button", { name: "Save forwarder" }).click();
      const conflict = d2.getByTestId("conflict");
      await conflict.waitFor();
      expect(await text(conflict)).toContain("operator changed this forwarder while you were editing it");
      expect(await text(conflict)).toContain("192.0.2.11");
      await conflict.getByRole("button", { name: "Apply mine over theirs" }).click();
      await d2.waitFor({ state: "hidden" });
      await waitUntil("the second user's servers on the first user's page", async () => (await text(forwarderRow(first, "Contested"))).includes("192.0.2.12"));
    },
    () => backend,
  );
});
