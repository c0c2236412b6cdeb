// Screenshots of the pages in docs/ (npm run screenshots, after npm run build): each page built, in
// both themes on a laptop, and on a phone. A real backend with sample data: zones and records, two
// forwarders (one answered by a small local DNS responder, one with nobody listening), a few events.
import type * as dgram from "node:dgram";
import * as path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, it } from "vitest";
import { Backend, REPO_ROOT, SEL, describeE2E, launchBrowser, loginThroughUi, newContext, newPage, startDnsResponder, waitUntil } from "./harness";

const DOCS = path.join(REPO_ROOT, "docs");

describeE2E("screenshots", () => {
  let backend: Backend | null = null;
  let browser: Browser | null = null;
  let responder: dgram.Socket | null = null;
  let zoneId = 0;

  beforeAll(async () => {
    responder = (await startDnsResponder(15399)).socket;
    [backend, browser] = await Promise.all([Backend.start({ FORWARDER_CHECK_INTERVAL: "1", HEALTH_BROADCAST_INTERVAL: "2" }), launchBrowser()]);
    const b = backend;
    const token = await b.token();
    const zone = await b.createZone("example.com");
    zoneId = zone.id;
    const records: [string, string, string, number | null][] = [
      ["@", "A", "192.0.2.10", 3600],
      ["@", "AAAA", "2001:db8::10", 3600],
      ["www", "CNAME", "@", null],
      ["@", "MX", "10 mail.example.com.", null],
      ["mail", "A", "192.0.2.25", 300],
      ["@", "TXT", '"v=spf1 mx -all"', null],
      ["_dmarc", "TXT", '"v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com"', null],
      ["_sip._tcp", "SRV", "10 5 5060 sip.example.com.", null],
      ["sip", "A", "192.0.2.40", null],
      ["api", "A", "192.0.2.50", 60],
    ];
    for (const [name, type, value, ttl] of records) await b.createRecord(zoneId, { name, type, value, ttl });
    await b.createZone("lab.example");
    const reverse = await b.createZone("2.0.192.in-addr.arpa");
    await b.createRecord(reverse.id, { name: "10", type: "PTR", value: "example.com." });
    await b.request("POST", "/api/zones", { name: "corp.internal", zone_type: "forward", forwarders: ["192.0.2.53", "192.0.2.54"] }, token);
    await b.request("POST", "/api/forwarders", { name: "Public resolvers", type: "public", servers: ["127.0.0.1:15399"] }, token);
    await b.request("POST", "/api/forwarders", { name: "Branch office", type: "intranet", domains: ["branch.example"], servers: ["127.0.0.1:15398"] }, token);
    const rules: [string, string, string | undefined][] = [
      ["ads.example.net", "ads", undefined],
      ["*.tracker.example", "tracking", undefined],
      ["malware-download.example", "malware", undefined],
      ["login-paypa1.example", "phishing", "walled-garden.example.com"],
      ["cdn.partner.example", "allowlist", undefined],
    ];
    for (const [domain, category, redirect] of rules) {
      await b.createRule({ domain, category, ...(redirect ? { action: "redirect", redirect_to: redirect } : category === "allowlist" ? { action: "passthru" } : {}) }, b.operator);
    }
    await b.request("POST", "/api/rpz/rules/import", { domains: ["doubleclick.example", "adservice.example", "telemetry.example"], category: "ads" }, await b.token(b.operator));
    await b.request("POST", "/api/forwarders", { name: "Corp AD", type: "active_directory", domains: ["corp.example", "_msdcs.corp.example"], servers: ["127.0.0.1:15399", "[::1]:15397"], enabled: false }, token);
    await b.raw("POST", "/api/auth/login", { username: "viewer", password: "not the password" });
    await b.request("POST", "/api/users", { username: "carol", role: "operator", password: "carol-sample-password" }, token);
    await b.request("POST", "/api/users", { username: "dave@example.com", role: "viewer", password: "dave-sample-password" }, token);
    await b.request("PATCH", "/api/users/dave@example.com", { disabled: true }, token);
    await b.simulateDnsWorkflow({ zone_name: "shop.example", record_count: 2, delay_ms: 0 });
    await b.emitSecurityEvent("security_alert", { alert: "query_flood", message: "Query rate from 198.51.100.23 is 40x its baseline" }, "warning");
    await b.emitSecurityEvent("threat_detected", { client: "192.0.2.77", query: "malware.test", category: "malware" }, "error");
  });

  afterAll(async () => {
    await browser?.close();
    await backend?.dispose();
    responder?.close();
  });

  async function settle(page: Page): Promise<void> {
    await page.waitForSelector(SEL.connected, { timeout: 15_000 });
    await waitUntil("nothing loading", async () => (await page.getByTestId("state-loading").count()) === 0, 15_000);
    await page.evaluate(() => document.fonts.ready);
    await page.waitForTimeout(300); // let the last live patch paint
  }

  async function shot(page: Page, file: string, fullPage = true): Promise<void> {
    await settle(page);
    // the pages, not the toasts of the sample events
    await page.addStyleTag({ content: "[data-sonner-toaster] { display: none !important; }" });
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(DOCS, file), fullPage });
  }

  it("writes the screenshots", async () => {
    const b = backend!;
    for (const theme of ["light", "dark"] as const) {
      const context = await newContext(browser!, b, { viewport: { width: 1440, height: 900 }, colorScheme: theme });
      const page = await newPage(context, theme);
      await loginThroughUi(page, b.admin);
      // the health report with both forwarders, and a few samples in the sparklines
      await waitUntil("forwarder health rows", async () => (await page.locator("[data-forwarder]").count()) === 2, 30_000);
      await waitUntil("a trend in the CPU card", async () => (await page.locator('[data-testid="card-cpu"] path').count()) > 0, 30_000);
      await shot(page, `overview-${theme}.png`);
      await shot(page, `dashboard-${theme}.png`, false); // the README's picture: the first screen
      await page.goto("/zones");
      await shot(page, `zones-${theme}.png`);
      await page.goto(`/zones/${zoneId}`);
      await shot(page, `zone-${theme}.png`);
      await page.getByRole("button", { name: "Add record", exact: true }).click();
      const dialog = page.getByRole("dialog", { name: /Add a record/ });
      await dialog.getByLabel("Name", { exact: true }).fill("shop");
      await dialog.getByLabel("Type", { exact: true }).selectOption("MX");
      await dialog.getByLabel("Value", { exact: true }).fill("10");
      await dialog.locator(".field-error").waitFor();
      await shot(page, `zone-record-form-${theme}.png`, false);
      await page.keyboard.press("Escape");
      await page.goto("/rpz");
      await shot(page, `rpz-${theme}.png`);
      await page.getByRole("button", { name: "Import list", exact: true }).click();
      const list = page.getByRole("dialog", { name: "Import a list of domains" });
      await list.getByLabel("Domains", { exact: true }).fill("# from the weekly feed\nads.example.net\nnew-tracker.example\n0.0.0.0 beacon.example\ncom\nnew-tracker.example");
      await list.locator(".invalid-lines").waitFor();
      await shot(page, `rpz-import-${theme}.png`, false);
      await page.keyboard.press("Escape");
      await page.goto("/forwarders");
      await waitUntil("health on the forwarders page", async () => (await page.locator('[data-testid="forwarder-row"][data-health="healthy"]').count()) === 1, 30_000);
      await shot(page, `forwarders-${theme}.png`);
      await page.goto("/settings");
      await page.getByLabel("Check interval", { exact: true }).fill("5");
      await shot(page, `settings-${theme}.png`);
      await page.goto("/users");
      await shot(page, `users-${theme}.png`);
      await page.goto("/audit?action=rpz.");
      await page.locator('[data-testid="audit-row"] summary').nth(1).click();
      await shot(page, `audit-${theme}.png`);
      await context.close();
    }

    const phone = await newContext(browser!, b, { viewport: { width: 360, height: 740 }, mobile: true });
    const page = await newPage(phone, "phone");
    await loginThroughUi(page, b.operator);
    await shot(page, "phone-overview.png", false);
    await page.goto(`/zones/${zoneId}`);
    await shot(page, "phone-zone.png");
    await page.getByRole("button", { name: "Notifications", exact: true }).click();
    await page.getByRole("dialog", { name: "Notifications" }).waitFor();
    await shot(page, "phone-notifications.png", false);
    await page.keyboard.press("Escape");
    await page.getByRole("button", { name: "Open navigation", exact: true }).click();
    await page.getByRole("dialog", { name: "Hybrid DNS" }).waitFor();
    await shot(page, "phone-navigation.png", false);
    await page.keyboard.press("Escape");
    await page.goto("/rpz");
    await shot(page, "phone-rpz.png", false);
    await page.goto("/forwarders");
    await shot(page, "phone-forwarders.png", false);
    await phone.close();

    const phoneAdmin = await newContext(browser!, b, { viewport: { width: 360, height: 740 }, mobile: true });
    const adminPhone = await newPage(phoneAdmin, "phone admin");
    await loginThroughUi(adminPhone, b.admin);
    await adminPhone.goto("/audit");
    await shot(adminPhone, "phone-audit.png", false);
    await adminPhone.goto("/settings");
    await shot(adminPhone, "phone-settings.png", false);
    await phoneAdmin.close();

    const phoneDark = await newContext(browser!, b, { viewport: { width: 360, height: 740 }, mobile: true, colorScheme: "dark" });
    const dark = await newPage(phoneDark, "phone dark");
    await loginThroughUi(dark, b.operator);
    await dark.goto("/zones");
    await shot(dark, "phone-zones-dark.png", false);
    await phoneDark.close();

    // The server goes away: stale marks in the header and on the cards, the banner, the retry.
    const laptop = await newContext(browser!, b, { viewport: { width: 1440, height: 900 } });
    const desk = await newPage(laptop, "laptop, disconnected");
    await loginThroughUi(desk, b.admin);
    await waitUntil("a CPU figure in the header", async () => /\d+%/.test((await desk.getByTestId("live-vitals-cpu").textContent()) ?? ""), 15_000);
    const mobile = await newContext(browser!, b, { viewport: { width: 360, height: 740 }, mobile: true });
    const hand = await newPage(mobile, "phone, disconnected");
    await loginThroughUi(hand, b.operator);
    await waitUntil("health known on the phone", async () => (await hand.locator("[data-forwarder]").count()) === 2, 15_000);
    await b.stop();
    for (const page of [desk, hand]) await page.getByTestId("live-banner").waitFor({ timeout: 15_000 });
    await desk.addStyleTag({ content: "[data-sonner-toaster] { display: none !important; }" });
    await desk.screenshot({ path: path.join(DOCS, "overview-disconnected-light.png") });
    await hand.getByTestId("connection-status").click();
    await hand.getByRole("region", { name: "Connection details" }).waitFor();
    await hand.screenshot({ path: path.join(DOCS, "phone-disconnected.png") });
    await laptop.close();
    await mobile.close();
  }, 240_000);

  // The event explorer (run alone: `SCREENSHOTS=1 npx vitest run --config vitest.e2e.config.ts -t explorer`).
  // Runs before the test above stops the server only when filtered to it; otherwise the server is started again.
  it("writes the explorer screenshots", async () => {
    const b = backend!;
    if (!b.running) await b.restart();
    // a little history beside the sample data: records of a zone, a few warnings and errors
    await b.emitDnsEvent("record_updated", { zone: "example.com", name: "api.example.com", type: "A", value: "192.0.2.51", ttl: 60 });
    await b.emitDnsEvent("record_deleted", { zone: "example.com", name: "old.example.com", type: "CNAME" }, "warning");
    await b.emitSecurityEvent("rpz_update", { action: "block", domains: ["ads.example.net"], category: "ads" });
    await b.emitDnsEvent("bind_reload", { zones: ["lab.example"], success: false, error: "zone lab.example/IN: loading from master file failed" }, "error");
    for (const theme of ["light", "dark"] as const) {
      const context = await newContext(browser!, b, { viewport: { width: 1440, height: 900 }, colorScheme: theme });
      const page = await newPage(context, `explorer ${theme}`);
      await loginThroughUi(page, b.admin);
      await page.goto("/events?category=dns,security");
      await page.locator('[data-testid="explorer-row"]').nth(3).waitFor();
      await page.locator('[data-testid="explorer-row"][data-type="record_updated"] button').first().click();
      await page.getByTestId("event-detail").waitFor();
      await shot(page, `explorer-${theme}.png`, false);
      await context.close();
    }
    const phone = await newContext(browser!, b, { viewport: { width: 360, height: 740 }, mobile: true });
    const page = await newPage(phone, "explorer phone");
    await loginThroughUi(page, b.operator);
    await page.goto("/events?min_severity=warning");
    await page.locator('[data-testid="explorer-row"]').first().waitFor();
    await shot(page, "explorer-phone.png", false);
    await page.locator('[data-testid="explorer-row"] button').first().click();
    await page.getByTestId("event-detail").waitFor();
    await shot(page, "explorer-phone-detail.png", false);
    await phone.close();
  }, 120_000);

  // The webhooks page (run alone: `SCREENSHOTS=1 npx vitest run --config vitest.e2e.config.ts -t webhooks`): a server
  // of its own that may deliver to loopback, and a receiver on a fixed port (its URLs are in the pictures).
  it("writes the webhooks screenshots", async () => {
    const http = await import("node:http");
    const receiver = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(req.url?.startsWith("/tickets") ? 503 : 200).end());
    });
    await new Promise<void>((resolve) => receiver.listen(15400, "127.0.0.1", resolve));
    const b = await Backend.start({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: "1", WEBHOOK_RETRY_SCHEDULE: "60,300,1800" });
    try {
      const token = await b.token();
      const base = "http://127.0.0.1:15400";
      const chat = await b.request<{ id: number }>("POST", "/api/webhooks", { url: `${base}/chat/dns-team` }, token);
      await b.request("POST", "/api/webhooks", { url: `${base}/tickets/new`, event_types: ["health_alert", "security_alert", "threat_detected"], filter: { min_severity: "warning" } }, token);
      const archive = await b.request<{ id: number }>("POST", "/api/webhooks", { url: `${base}/archive`, event_types: ["config_change", "user_created", "user_updated"], ordered: true }, token);
      await b.request("PATCH", `/api/webhooks/${archive.id}`, { enabled: false }, token);
      await b.createZone("shop.example");
      await b.createZone("lab.example");
      await b.emitSecurityEvent("security_alert", { alert: "query_flood", message: "Query rate from 198.51.100.23 is 40x its baseline" }, "warning");
      await b.request("POST", `/api/webhooks/${chat.id}/test`, {}, token);
      await waitUntil("the deliveries made", async () => {
        const log = await b.request<{ items: { status: string }[] }>("GET", `/api/webhooks/${chat.id}/deliveries`, undefined, token);
        return log.items.length >= 4 && log.items.every((d) => d.status !== "pending");
      }, 30_000);
      for (const theme of ["light", "dark"] as const) {
        const context = await newContext(browser!, b, { viewport: { width: 1440, height: 900 }, colorScheme: theme });
        const page = await newPage(context, `webhooks ${theme}`);
        await loginThroughUi(page, b.admin);
        await page.goto("/webhooks");
        await page.getByRole("button", { name: `Deliveries of ${base}/chat/dns-team` }).click();
        await page.locator('[data-testid="delivery-row"]').nth(3).waitFor();
        await shot(page, `webhooks-${theme}.png`);
        await context.close();
      }
    } finally {
      await b.dispose();
      await new Promise((resolve) => receiver.close(resolve));
    }
  }, 120_000);
});
