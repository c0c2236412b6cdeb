// The Webhooks page against the real backend and a real receiver (an HTTP server this test starts):
// an admin adds an endpoint (the URL checked as typed), copies its secret (shown once), and every
// delivery that reaches the receiver verifies with that secret by the Standard Webhooks algorithm;
// the delivery log shows each one (status, code, duration, attempts, next attempt) as it happens: a
// 500 with its retry pending, then delivered; "Redeliver" sends the same webhook-id again; "Send
// test event"; "Rotate secret" (both secrets sign during the grace period); edit, disable, enable,
// delete. A viewer sees neither the page nor its entry. axe finds nothing serious, in both themes,
// and at 360 px nothing scrolls sideways.
import { createHmac, timingSafeEqual } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import {
  Backend,
  type Credentials,
  axeViolations,
  describeE2E,
  describeViolations,
  e2eIt,
  horizontalOverflow,
  launchBrowser,
  loginThroughUi,
  newContext,
  newPage,
  waitUntil,
} from "./harness";

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver: records every request, answers `status` (200 unless the test says otherwise). */
class Receiver {
  readonly requests: Received[] = [];
  status = 200;
  private server: http.Server | null = null;
  port = 0;

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        this.requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
        res.writeHead(this.status, { "Content-Type": "text/plain" }).end(this.status === 200 ? "ok" : "broken");
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  withId(id: string): Received[] {
    return this.requests.filter((r) => r.headers["webhook-id"] === id);
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** The Standard Webhooks check: HMAC-SHA256 of `id.timestamp.body` with the base64-decoded secret, one of the `v1,` signatures. */
function verifies(request: Received, secret: string): boolean {
  const id = String(request.headers["webhook-id"]);
  const timestamp = String(request.headers["webhook-timestamp"]);
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${request.body}`).digest();
  return String(request.headers["webhook-signature"])
    .split(" ")
    .some((sig) => {
      const [version, value] = sig.split(",");
      const got = Buffer.from(value ?? "", "base64");
      return version === "v1" && got.length === expected.length && timingSafeEqual(got, expected);
    });
}

const ROW = '[data-testid="webhook-row"]';
const DELIVERY = '[data-testid="delivery-row"]';

async function text(locator: Locator): Promise<string> {
  return ((await locator.textContent({ timeout: 5_000 })) ?? "").replace(/\s+/g, " ").trim();
}

describeE2E("Webhooks page", () => {
  let backend: Backend | null = null;
  let browser: Browser | null = null;
  let receiver: Receiver | null = null;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    receiver = await new Receiver().start();
    // Loopback receivers allowed (as in the backend tests); retries half a second apart.
    [backend, browser] = await Promise.all([
      Backend.start({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: "1", WEBHOOK_RETRY_SCHEDULE: "0.5,0.5,0.5,0.5,0.5", WEBHOOK_SECRET_ROTATION_GRACE: "300" }),
      launchBrowser(),
    ]);
  });

  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close();
  });

  afterAll(async () => {
    await browser?.close();
    await backend?.dispose();
    await receiver?.close();
  });

  async function signedIn(label: string, user: Credentials, options: Parameters<typeof newContext>[2] = {}): Promise<Page> {
    const context = await newContext(browser!, backend!, options);
    contexts.push(context);
    const page = await newPage(context, label);
    await loginThroughUi(page, user);
    return page;
  }

  /** Makes a zone through the API; its zone_created event is what the endpoint asked for. Returns the event's id. */
  async function zoneEvent(name: string): Promise<string> {
    await backend!.createZone(name);
    const request = await waitUntil(`a delivery about ${name} at the receiver`, () =>
      receiver!.requests.find((req) => (JSON.parse(req.body) as { data?: { zone?: string } }).data?.zone === name),
    );
    return String(request.headers["webhook-id"]);
  }

  e2eIt(
    "an admin adds an endpoint, copies its secret, and follows its deliveries; tests, redelivers, rotates, edits, disables and deletes it",
    120_000,
    async () => {
      const r = receiver!;
      const page = await signedIn("admin", backend!.admin);
      await page.getByRole("link", { name: "Webhooks" }).click();
      await page.waitForURL("**/webhooks");
      await page.getByTestId("state-empty").waitFor();
      expect(await axeViolations(page), "axe on the empty page").toEqual([]);

      // Add: the URL is checked as typed; the secret is shown once, with a copy button.
      await page.getByRole("button", { name: "New webhook" }).click();
      const dialog = page.getByTestId("webhook-dialog");
      await dialog.getByLabel("URL").fill("ftp://hooks.example.com/x");
      await dialog.getByText("url must start with http:// or https://").waitFor();
      await dialog.getByLabel("URL").fill(r.url);
      await dialog.getByText("Chosen types").click();
      await dialog.getByLabel("Zone created").check();
      expect(describeViolations(await axeViolations(page)), "axe on the form").toBe("");
      await dialog.getByRole("button", { name: "Add webhook" }).click();
      const secretDialog = page.getByTestId("secret-dialog");
      const secret = await secretDialog.getByTestId("webhook-secret").inputValue();
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{40,}={0,2}$/);
      await secretDialog.getByTestId("copy-secret").click();
      await secretDialog.getByText(/Copied to the clipboard|did not allow copying/).waitFor();
      await secretDialog.getByRole("button", { name: "I have copied it" }).click();
      const row = page.locator(ROW).first();
      expect(await text(row)).toContain(r.url);
      expect(await text(row)).toContain("Zone created");

      // A delivery: signed with that secret, the event's id as webhook-id, logged as delivered.
      const log = page.getByTestId("deliveries-panel");
      await log.getByTestId("state-empty").waitFor();
      const first = await zoneEvent("hooks-one.example");
      await waitUntil("the first delivery at the receiver", () => r.withId(first).length === 1);
      const got = r.withId(first)[0]!;
      expect(verifies(got, secret)).toBe(true);
      expect(JSON.parse(got.body)).toMatchObject({ type: "zone_created", id: first, data: { zone: "hooks-one.example" } });
      const firstRow = log.locator(`${DELIVERY}[data-event-id="${first}"]`);
      await waitUntil("the delivery logged as delivered", async () => (await firstRow.getAttribute("data-status")) === "succeeded");
      expect(await text(firstRow)).toMatch(/Zone created.*Delivered.*200.*\d+ ms.*1/);

      // A 500: the log says so and when the next attempt is; fixed, it is delivered on a retry.
      r.status = 500;
      const second = await zoneEvent("hooks-two.example");
      const secondRow = log.locator(`${DELIVERY}[data-event-id="${second}"]`);
      await waitUntil("the failed attempt in the log", async () => /answered 500/.test(await text(secondRow)));
      expect(await secondRow.getAttribute("data-status")).toBe("pending");
      expect(await text(secondRow)).toMatch(/Pending.*500.*next (in \d+s|now)/);
      r.status = 200;
      await waitUntil("the retry delivered", async () => (await secondRow.getAttribute("data-status")) === "succeeded", 15_000);
      expect(Number(await text(secondRow.locator('td[data-label="Attempts"]')))).toBeGreaterThanOrEqual(2);
      expect(r.withId(second).every((req) => verifies(req, secret))).toBe(true);

      // Redeliver: the same webhook-id again.
      await firstRow.getByRole("button", { name: /^Redeliver/ }).click();
      await waitUntil("the redelivery at the receiver", () => r.withId(first).length === 2);
      expect(r.withId(first)[1]!.body).toBe(got.body);
      await log.locator(`${DELIVERY}[data-event-id="${first}"]`).filter({ hasText: "redelivery" }).waitFor();

      // A test event.
      const before = r.requests.length;
      await row.getByRole("button", { name: /^Send test event/ }).click();
      await waitUntil("the test event at the receiver", () => r.requests.slice(before).some((req) => JSON.parse(req.body).type === "webhook_test"));
      await log.locator(`${DELIVERY}[data-test="true"][data-status="succeeded"]`).waitFor();
      expect(describeViolations(await axeViolations(page)), "axe with the log open").toBe("");

      // Rotate: a new secret, shown once; during the grace period deliveries verify with either.
      await row.getByRole("button", { name: /^Rotate the secret/ }).click();
      await page.getByTestId("confirm-dialog").getByRole("button", { name: "Rotate secret" }).click();
      const rotated = await page.getByTestId("secret-dialog").getByTestId("webhook-secret").inputValue();
      expect(rotated).not.toBe(secret);
      await page.getByTestId("secret-dialog").getByRole("button", { name: "I have copied it" }).click();
      await row.getByText("two secrets").waitFor();
      const third = await zoneEvent("hooks-three.example");
      await waitUntil("the delivery after the rotation", () => r.withId(third).length === 1);
      expect(verifies(r.withId(third)[0]!, rotated) && verifies(r.withId(third)[0]!, secret)).toBe(true);

      // Edit: all notifications in one zone.
      await row.getByRole("button", { name: /^Edit/ }).click();
      const edit = page.getByTestId("webhook-dialog");
      await edit.getByText("All notifications").click();
      await edit.getByLabel("Zones (optional)").fill("not a zone");
      await edit.getByText(/zone 'not a zone' may not contain spaces|may not contain spaces/).waitFor();
      await edit.getByLabel("Zones (optional)").fill("hooks-four.example");
      await edit.getByRole("button", { name: "Save webhook" }).click();
      await waitUntil("the row's new events", async () => (await text(row)).includes("All notifications · in hooks-four.example"));

      // Disable, enable, delete.
      await row.getByRole("button", { name: /^Disable/ }).click();
      await waitUntil("disabled", async () => (await row.getAttribute("data-enabled")) === "false");
      expect(await text(row)).toContain("Disabled");
      await row.getByRole("button", { name: /^Enable/ }).click();
      await waitUntil("enabled", async () => (await row.getAttribute("data-enabled")) === "true");
      await row.getByRole("button", { name: /^Delete/ }).click();
      await page.getByTestId("confirm-dialog").getByRole("button", { name: "Delete webhook" }).click();
      await page.getByTestId("state-empty").waitFor();
      const left = await backend!.request<{ total: number }>("GET", "/api/webhooks", undefined, await backend!.token());
      expect(left.total).toBe(0);
    },
    () => backend,
  );

  e2eIt(
    "a phone at 360 px and the dark theme: nothing scrolls sideways, axe finds nothing serious; a viewer sees no Webhooks",
    60_000,
    async () => {
      const token = await backend!.token();
      const hook = await backend!.request<{ id: number }>("POST", "/api/webhooks", { url: `${receiver!.url}?phone=1`, event_types: ["zone_created"], ordered: true }, token);
      await backend!.request("POST", `/api/webhooks/${hook.id}/test`, {}, token);
      const phone = await signedIn("phone", backend!.admin, { viewport: { width: 360, height: 780 }, mobile: true, colorScheme: "dark" });
      await phone.goto("/webhooks");
      const row = phone.locator(ROW).first();
      await row.waitFor();
      await row.getByRole("button", { name: /^Deliveries/ }).click();
      await phone.locator(`${DELIVERY}[data-status="succeeded"]`).first().waitFor({ timeout: 15_000 });
      expect(await horizontalOverflow(phone)).toBeLessThanOrEqual(0);
      expect(describeViolations(await axeViolations(phone)), "axe at 360 px, dark").toBe("");
      await phone.getByRole("button", { name: "New webhook" }).click();
      expect(await horizontalOverflow(phone)).toBeLessThanOrEqual(0);
      expect(describeViolations(await axeViolations(phone)), "axe on the form at 360 px").toBe("");

      const viewer = await signedIn("viewer", backend!.viewer);
      expect(await viewer.getByRole("link", { name: "Webhooks" }).count()).toBe(0);
      await viewer.goto("/webhooks");
      await viewer.getByText(/admins/i).first().waitFor();
      expect(await viewer.locator(ROW).count()).toBe(0);
      const forced = await backend!.raw("GET", "/api/webhooks", undefined, await backend!.token(backend!.viewer));
      expect(forced.status).toBe(403);
    },
    () => backend,
  );
});
