// End-to-end harness: starts the real backend (`hybrid-dns serve`) on a free port with a temporary
// DATA_DIR, drives Debian's Chromium through playwright-core, and offers condition-based waits
// (deadlines, never fixed sleeps) plus screenshots of every open page when a test fails.
//
// Everything is resolved from this file's location: <repo>/frontend/tests/e2e/harness.ts.
import { spawn, type ChildProcess } from "node:child_process";
import * as dgram from "node:dgram";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { describe, it } from "vitest";

// --- locations -----------------------------------------------------------------------------------

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, "..", "..", "..");
export const FRONTEND_DIR = path.join(REPO_ROOT, "frontend");
// HYBRID_DNS_E2E_DIST: another build to test (default: <repo>/frontend/dist, made by `npm run build`).
export const DIST_DIR = process.env.HYBRID_DNS_E2E_DIST || path.join(FRONTEND_DIR, "dist");
export const VENV_BIN = path.join(REPO_ROOT, ".venv", "bin");
export const HYBRID_DNS = path.join(VENV_BIN, "hybrid-dns");
export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// Test ids and names from /tmp/frontend_contract.md ("UI ids and names").
export const SEL = {
  status: '[data-testid="connection-status"]',
  connected: '[data-testid="connection-status"][data-state="connected"]',
  reconnecting: '[data-testid="connection-status"][data-state="reconnecting"]',
  connectionCard: '[data-testid="connection-card"]',
  unreadBadge: '[data-testid="unread-badge"]',
  notificationItem: '[data-testid="notification-item"]',
  dnsList: '[data-testid="recent-dns-events"]',
  dnsItem: '[data-testid="recent-dns-events"] [data-testid="dns-event"]',
  securityList: '[data-testid="recent-security-events"]',
  securityItem: '[data-testid="recent-security-events"] [data-testid="security-event"]',
  securityUnavailable: '[data-testid="security-unavailable"]',
  toast: "[data-sonner-toast]",
} as const;

export const SESSION_KEY = "hybrid-dns.session";

// --- Chromium availability: skip loudly locally, fail in CI ---------------------------------------

export function chromiumAvailable(): boolean {
  try {
    fs.accessSync(CHROMIUM, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `describe`, unless Chromium is missing: then a failing test under HYBRID_DNS_REQUIRE_ALL=1, else a loud skip. */
export function describeE2E(name: string, body: () => void): void {
  if (chromiumAvailable()) {
    describe(name, body);
    return;
  }
  const why = `Chromium not found (or not executable) at ${CHROMIUM}: install it (apt-get install chromium) or set CHROMIUM_PATH`;
  if (process.env.HYBRID_DNS_REQUIRE_ALL === "1") {
    describe(name, () => {
      it("needs Chromium (HYBRID_DNS_REQUIRE_ALL=1 forbids skipping)", () => {
        throw new Error(why);
      });
    });
    return;
  }
  console.warn(`\n*** SKIPPING end-to-end suite "${name}": ${why} ***\n`);
  describe.skip(name, body);
}

// --- waiting --------------------------------------------------------------------------------------

/** Polls `probe` until it returns a truthy value, or throws after `timeoutMs` with the last value seen. */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs = 10_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      // A probe that hangs (e.g. a locator waiting for an element) must not outlive the deadline.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const overdue = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("the check itself did not finish in time")), Math.max(deadline - Date.now(), 0) + 50);
      });
      const value = await Promise.race([Promise.resolve(probe()), overdue]).finally(() => clearTimeout(timer));
      if (value) return value;
      last = value;
    } catch (err) {
      last = err instanceof Error ? err.message : err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${describeValue(last)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** For `waitUntil` probes: not there yet, and here is what was seen instead (shown if the wait times out). */
export function notYet(detail: unknown): never {
  throw new Error(typeof detail === "string" ? detail : describeValue(detail));
}

/** A compact view of list items for failure messages: "seq:type" newest first. */
export function brief(items: ListItem[]): string {
  return items.map((i) => `${i.seq}:${i.type}${i.id ? `:${i.id.slice(0, 8)}` : ""}`).join(", ") || "(empty)";
}

function describeValue(value: unknown): string {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.length > 2000 ? text.slice(0, 2000) + "…" : text;
  } catch {
    return String(value);
  }
}

// --- the backend ----------------------------------------------------------------------------------

export interface EmittedEvent {
  id: string;
  seq: number;
  type: string;
}

export interface Credentials {
  username: string;
  password: string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error("no free port"))));
    });
  });
}

const liveProcesses = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  liveProcesses.add(child);
  child.once("exit", () => liveProcesses.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Last resort if the worker dies without afterAll: never leave a server behind.
    process.once("exit", () => {
      for (const p of liveProcesses) {
        try {
          p.kill("SIGKILL");
        } catch {
          /* already gone */
        }
      }
    });
  }
}

function backendEnv(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Never inherit settings that would point the test server at real data or change its behaviour.
  for (const key of Object.keys(env)) {
    if (/^(DATABASE_URL|BROKER_URL|SECRET_KEY|ALLOWED_ORIGINS|INSTANCE_ID|FRONTEND_DIR|WEBSOCKET_.*|EVENT_.*|ACCESS_TOKEN_TTL|HEALTH_BROADCAST_INTERVAL|SYSTEM_BROADCAST_INTERVAL|LOG_FORMAT|LOG_LEVEL|HYBRID_DNS_PASSWORD)$/i.test(key)) {
      delete env[key];
    }
  }
  return {
    ...env,
    DATA_DIR: dataDir,
    BROKER_URL: "memory://",
    FRONTEND_DIR: DIST_DIR,
    WEBSOCKET_RECONNECT_INTERVAL: "1",
    WEBSOCKET_RECONNECT_MAX_INTERVAL: "2",
    WEBSOCKET_MAX_RECONNECT_ATTEMPTS: "30",
    SYSTEM_BROADCAST_INTERVAL: "2",
    HEALTH_BROADCAST_INTERVAL: "2",
    LOG_LEVEL: "info",
    PYTHONUNBUFFERED: "1",
    ...extra,
  };
}

export class Backend {
  readonly baseUrl: string;
  readonly logFile: string;
  private proc: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private tokens = new Map<string, string>();
  admin: Credentials = { username: "admin", password: "" };
  operator: Credentials = { username: "operator", password: randomBytes(12).toString("base64url") };
  viewer: Credentials = { username: "viewer", password: randomBytes(12).toString("base64url") };

  private constructor(
    readonly port: number,
    readonly workDir: string,
    readonly dataDir: string,
    readonly env: Record<string, string> = {},
  ) {
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.logFile = path.join(workDir, "server.log");
  }

  /**
   * A fresh server: free port, temporary DATA_DIR, the first admin's password, an operator and a
   * viewer. `env` overrides the test settings (e.g. WEBSOCKET_MAX_RECONNECT_ATTEMPTS).
   */
  static async start(env: Record<string, string> = {}): Promise<Backend> {
    if (!fs.existsSync(path.join(DIST_DIR, "index.html"))) {
      throw new Error(
        `${path.join(DIST_DIR, "index.html")} is missing: the end-to-end tests serve the built dashboard. ` +
          "Run `cd frontend && npm run build` first (`make test-frontend` builds before `npm run e2e`).",
      );
    }
    if (!fs.existsSync(HYBRID_DNS)) {
      throw new Error(`${HYBRID_DNS} is missing: create the backend venv first (\`make test-backend\` or \`make run\`).`);
    }
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "hybrid-dns-e2e-"));
    const dataDir = path.join(workDir, "data");
    const backend = new Backend(await freePort(), workDir, dataDir, env);
    try {
      await backend.launch();
      backend.admin.password = fs.readFileSync(path.join(dataDir, "initial-admin-password"), "utf8").trim();
      await Promise.all([
        backend.createUser(backend.operator, "operator"),
        backend.createUser(backend.viewer, "viewer"),
      ]);
    } catch (err) {
      await backend.dispose(); // no server or temp folder left behind (the error carries the log tail)
      throw err;
    }
    return backend;
  }

  /**
   * Runs the server at a lower CPU priority from now on (a nice value; the process keeps it until it
   * exits). For measurements of the page itself: here the server shares two cores with Chromium,
   * where an operator's browser and the server are on different machines.
   */
  lowerPriority(nice = 10): void {
    if (this.proc?.pid === undefined) throw new Error("the server is not running");
    os.setPriority(this.proc.pid, nice);
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  private async launch(): Promise<void> {
    const log = fs.openSync(this.logFile, "a");
    fs.writeSync(log, `\n===== start ${new Date().toISOString()} port ${this.port} =====\n`);
    const child = spawn(HYBRID_DNS, ["serve", "--host", "127.0.0.1", "--port", String(this.port)], {
      cwd: this.workDir, // no stray .env from the caller's directory
      env: backendEnv(this.dataDir, this.env),
      stdio: ["ignore", log, log],
    });
    fs.closeSync(log);
    track(child);
    this.proc = child;
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    try {
      const died = this.exited.then(() => {
        throw new Error(`the server exited (${child.exitCode ?? child.signalCode}) before GET /healthz answered 200`);
      });
      died.catch(() => undefined); // observed below; never an unhandled rejection
      await Promise.race([
        died,
        waitUntil(
          `GET ${this.baseUrl}/healthz = 200`,
          async () => {
            if (child.exitCode !== null || child.signalCode !== null) return true; // `died` reports it
            const res = await fetch(`${this.baseUrl}/healthz`, { signal: AbortSignal.timeout(2000) });
            return res.status === 200;
          },
          30_000,
          50,
        ),
      ]);
      if (child.exitCode !== null || child.signalCode !== null) await died;
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n--- server log ---\n${this.logTail()}`, { cause: err });
    }
    // The server decides at start-up whether it serves the dashboard: make sure it does.
    const index = await fetch(`${this.baseUrl}/`, { signal: AbortSignal.timeout(5000) });
    const html = await index.text();
    if (index.status !== 200 || !/<html/i.test(html)) {
      throw new Error(
        `the server does not serve the dashboard at / (HTTP ${index.status}: ${html.slice(0, 120)}). ` +
          `Was ${DIST_DIR} missing or being rebuilt when it started? Build first, and do not rebuild during the run ` +
          "(or point HYBRID_DNS_E2E_DIST at a copy of the build).\n--- server log ---\n" +
          this.logTail(),
      );
    }
  }

  /** SIGTERM, then wait for the process to exit (SIGKILL after 15 s). */
  async stop(): Promise<void> {
    const child = this.proc;
    if (!child || !this.running) return;
    child.kill("SIGTERM");
    const killed = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 15_000).unref()),
    ]);
    if (killed) {
      child.kill("SIGKILL");
      await this.exited;
    }
  }

  /** Same port, same DATA_DIR (so the same users, secret key, event history and stream epoch). */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** For afterAll: stop the server and remove the temporary directory (kept when KEEP_E2E_DATA=1). */
  async dispose(): Promise<void> {
    await this.stop();
    if (process.env.KEEP_E2E_DATA !== "1") {
      fs.rmSync(this.workDir, { recursive: true, force: true });
    } else {
      console.warn(`e2e: kept the server's files in ${this.workDir}`);
    }
  }

  logTail(lines = 40): string {
    try {
      return fs.readFileSync(this.logFile, "utf8").split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }

  /** Another user, made with the CLI as the first ones are (e.g. a second admin). */
  async addUser(user: Credentials, role: "admin" | "operator" | "viewer"): Promise<void> {
    await this.createUser(user, role);
  }

  private async createUser(user: Credentials, role: "admin" | "operator" | "viewer"): Promise<void> {
    const run = () =>
      new Promise<{ code: number | null; output: string }>((resolve, reject) => {
        const child = spawn(HYBRID_DNS, ["create-user", user.username, "--role", role], {
          cwd: this.workDir,
          env: { ...backendEnv(this.dataDir), HYBRID_DNS_PASSWORD: user.password },
          stdio: ["ignore", "pipe", "pipe"],
        });
        track(child);
        let output = "";
        child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
        child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
        child.once("error", reject);
        child.once("exit", (code) => resolve({ code, output }));
      });
    let result = await run();
    if (result.code !== 0 && !/exists/.test(result.output)) result = await run(); // e.g. a locked database
    if (result.code !== 0 && !/exists/.test(result.output)) {
      throw new Error(`hybrid-dns create-user ${user.username} --role ${role} failed (${result.code}): ${result.output}`);
    }
  }

  // --- HTTP API ---

  /** The raw answer (status and parsed body), for checking refusals. */
  async raw(method: string, pathname: string, body?: unknown, token?: string): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    const res = await fetch(`${this.baseUrl}${pathname}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed };
  }

  async request<T>(method: string, pathname: string, body?: unknown, token?: string): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    const res = await fetch(`${this.baseUrl}${pathname}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${pathname} -> ${res.status}: ${text}`);
    return (text ? JSON.parse(text) : null) as T;
  }

  /** POST /api/auth/login; the token is cached per user (tokens survive a restart: the key is in DATA_DIR). */
  async token(user: Credentials = this.admin): Promise<string> {
    const cached = this.tokens.get(user.username);
    if (cached) return cached;
    const res = await this.request<{ access_token: string }>("POST", "/api/auth/login", {
      username: user.username,
      password: user.password,
    });
    this.tokens.set(user.username, res.access_token);
    return res.access_token;
  }

  async simulateDnsWorkflow(body: { zone_name: string; record_count: number; delay_ms: number }): Promise<EmittedEvent[]> {
    return this.request("POST", "/api/websocket-demo/simulate-dns-workflow", body, await this.token());
  }

  async emitDnsEvent(eventType: string, data: Record<string, unknown> = {}, severity?: string): Promise<EmittedEvent> {
    return this.request(
      "POST",
      "/api/websocket-demo/emit-dns-event",
      { event_type: eventType, data, severity: severity ?? null },
      await this.token(),
    );
  }

  async emitSecurityEvent(
    eventType: string,
    data: Record<string, unknown> = {},
    severity?: string,
  ): Promise<EmittedEvent> {
    return this.request(
      "POST",
      "/api/websocket-demo/emit-security-event",
      { event_type: eventType, data, severity: severity ?? null },
      await this.token(),
    );
  }

  // --- zones (as the admin unless told) ---

  async createZone(name: string, user: Credentials = this.admin): Promise<{ id: number; name: string; serial: number }> {
    return this.request("POST", "/api/zones", { name }, await this.token(user));
  }

  async createRecord(
    zoneId: number,
    record: { name: string; type: string; value: string; ttl?: number | null },
    user: Credentials = this.admin,
  ): Promise<{ id: number; name: string; type: string; value: string }> {
    return this.request("POST", `/api/zones/${zoneId}/records`, record, await this.token(user));
  }

  async records(zoneId: number): Promise<{ id: number; name: string; type: string; value: string; ttl: number | null }[]> {
    const page = await this.request<{ items: { id: number; name: string; type: string; value: string; ttl: number | null }[] }>(
      "GET",
      `/api/zones/${zoneId}/records?limit=1000`,
      undefined,
      await this.token(),
    );
    return page.items;
  }

  async zones(): Promise<{ id: number; name: string }[]> {
    const page = await this.request<{ items: { id: number; name: string }[] }>("GET", "/api/zones?limit=500", undefined, await this.token());
    return page.items;
  }

  // --- RPZ rules and forwarders (as the admin unless told) ---

  async createRule(body: { domain: string; action?: string; category?: string; redirect_to?: string }, user: Credentials = this.admin): Promise<{ id: number; domain: string }> {
    return this.request("POST", "/api/rpz/rules", body, await this.token(user));
  }

  async rules(): Promise<{ id: number; domain: string; action: string; redirect_to: string | null; category: string }[]> {
    const page = await this.request<{ items: { id: number; domain: string; action: string; redirect_to: string | null; category: string }[] }>(
      "GET",
      "/api/rpz/rules?limit=1000",
      undefined,
      await this.token(),
    );
    return page.items;
  }

  async createForwarder(body: { name: string; type: string; domains?: string[]; servers: string[]; enabled?: boolean }, user: Credentials = this.admin): Promise<{ id: number; name: string }> {
    return this.request("POST", "/api/forwarders", body, await this.token(user));
  }

  async forwarders(): Promise<{ id: number; name: string; enabled: boolean; servers: string[] }[]> {
    const page = await this.request<{ items: { id: number; name: string; enabled: boolean; servers: string[] }[] }>("GET", "/api/forwarders?limit=500", undefined, await this.token());
    return page.items;
  }

  async settings(): Promise<Record<string, number>> {
    return this.request("GET", "/api/settings", undefined, await this.token());
  }

  async unreadCount(user: Credentials = this.admin): Promise<number> {
    const res = await this.request<{ unread_count: number }>("GET", "/api/events/unread-count", undefined, await this.token(user));
    return res.unread_count;
  }

  async ackAll(user: Credentials = this.admin): Promise<number> {
    const res = await this.request<{ unread_count: number }>(
      "POST",
      "/api/events/ack",
      { up_to_seq: 1_000_000_000 },
      await this.token(user),
    );
    return res.unread_count;
  }

  async connectionCount(): Promise<number> {
    const res = await this.request<{ total_connections: number }>("GET", "/api/websocket/stats", undefined, await this.token());
    return res.total_connections;
  }
}

// --- a DNS server for forwarder health checks -----------------------------------------------------

/** Answers every DNS query over UDP with an empty NOERROR reply (what the forwarder health check asks). */
export function startDnsResponder(port = 0): Promise<{ socket: dgram.Socket; port: number }> {
  const socket = dgram.createSocket("udp4");
  socket.on("message", (msg, rinfo) => {
    if (msg.length < 12) return;
    const reply = Buffer.from(msg);
    reply[2] = (reply[2]! | 0x80) & 0xf9; // QR, not truncated
    reply[3] = 0x80; // RA, RCODE 0
    socket.send(reply, rinfo.port, rinfo.address);
  });
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, "127.0.0.1", () => resolve({ socket, port: socket.address().port }));
  });
}

/** A UDP port on 127.0.0.1 where nobody answers (bound, then released). */
export async function silentUdpPort(): Promise<number> {
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

// --- the browser ----------------------------------------------------------------------------------

export interface Probe {
  states: { state: string; t: number }[];
  toasts: string[];
}

/** Runs in every page before the app: records every connection state shown and every toast added,
 * so that a short-lived state or toast cannot slip between two polls. Kept as plain text so that no
 * transpiler helper (e.g. esbuild's __name) ends up in the page. */
const PROBE_SCRIPT = `(() => {
  if (window.__e2e) return;
  var probe = { states: [], toasts: [] };
  window.__e2e = probe;
  var last = null;
  function look() {
    var el = document.querySelector('[data-testid="connection-status"]');
    var state = el ? el.getAttribute("data-state") : null;
    if (state !== last) {
      last = state;
      if (state) probe.states.push({ state: state, t: Date.now() });
    }
  }
  new MutationObserver(function (records) {
    for (var i = 0; i < records.length; i++) {
      var added = records[i].addedNodes;
      for (var j = 0; j < added.length; j++) {
        var node = added[j];
        if (node.nodeType !== 1) continue;
        var found = node.matches("[data-sonner-toast]") ? [node] : Array.prototype.slice.call(node.querySelectorAll("[data-sonner-toast]"));
        for (var k = 0; k < found.length; k++) probe.toasts.push((found[k].textContent || "").trim());
      }
    }
    look();
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"] });
})();`;

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
}

/** The backend and the browser, started together; if either fails, the other is stopped again. */
export async function startBackendAndBrowser(): Promise<{ backend: Backend; browser: Browser }> {
  const [backend, browser] = await Promise.allSettled([Backend.start(), launchBrowser()]);
  if (backend.status === "fulfilled" && browser.status === "fulfilled") {
    return { backend: backend.value, browser: browser.value };
  }
  if (backend.status === "fulfilled") await backend.value.dispose();
  if (browser.status === "fulfilled") await browser.value.close();
  throw backend.status === "rejected" ? backend.reason : (browser as PromiseRejectedResult).reason;
}

export interface ContextOptions {
  viewport?: { width: number; height: number };
  colorScheme?: "light" | "dark";
  /** A phone: touch, mobile viewport meta honoured. */
  mobile?: boolean;
}

/** A fresh context (its own profile: cookies, localStorage) with the probe installed. */
export async function newContext(browser: Browser, backend: Backend, options: ContextOptions = {}): Promise<BrowserContext> {
  const context = await browser.newContext({
    baseURL: backend.baseUrl,
    viewport: options.viewport ?? { width: 1280, height: 900 },
    colorScheme: options.colorScheme ?? "light",
    isMobile: options.mobile ?? false,
    hasTouch: options.mobile ?? false,
    deviceScaleFactor: options.mobile ? 2 : 1,
  });
  context.setDefaultTimeout(10_000);
  await context.addInitScript({ content: PROBE_SCRIPT });
  return context;
}

// Pages of the running file, for screenshots and console output on failure.
const trackedPages = new Map<Page, { label: string; console: string[] }>();

export async function newPage(context: BrowserContext, label: string): Promise<Page> {
  const page = await context.newPage();
  const entry = { label, console: [] as string[] };
  trackedPages.set(page, entry);
  const note = (line: string): void => {
    entry.console.push(`${new Date().toISOString().slice(11, 23)} ${line}`);
    if (entry.console.length > 200) entry.console.shift();
  };
  page.on("console", (msg) => note(`[${msg.type()}] ${msg.text()}`));
  page.on("pageerror", (err) => note(`[pageerror] ${err.message}`));
  page.on("websocket", (ws) => {
    note(`[ws open] ${ws.url().replace(/token=[^&]+/, "token=…")}`);
    ws.on("close", () => note(`[ws close] ${ws.url().replace(/token=[^&]+/, "token=…")}`));
  });
  page.on("close", () => trackedPages.delete(page));
  return page;
}

export async function probeOf(page: Page): Promise<Probe> {
  return page.evaluate(() => (window as unknown as { __e2e: Probe }).__e2e);
}

let shotsDir: string | null = null;

async function captureFailure(testName: string, backend: Backend | null): Promise<void> {
  shotsDir ??= fs.mkdtempSync(path.join(os.tmpdir(), "hybrid-dns-e2e-shots-"));
  const slug = testName.replace(/[^A-Za-z0-9]+/g, "-").slice(0, 60);
  let index = 0;
  for (const [page, entry] of trackedPages) {
    if (page.isClosed()) continue;
    const file = path.join(shotsDir, `${slug}-${++index}-${entry.label.replace(/[^A-Za-z0-9]+/g, "-")}.png`);
    try {
      await page.screenshot({ path: file, fullPage: true, timeout: 5_000 });
      console.error(`e2e: screenshot of page "${entry.label}" (${page.url()}) on failure: ${file}`);
    } catch (err) {
      console.error(`e2e: could not screenshot page "${entry.label}": ${String(err)}`);
    }
    console.error(`e2e: last browser console lines of "${entry.label}":\n  ${entry.console.slice(-25).join("\n  ")}`);
  }
  if (backend) console.error(`e2e: server log tail (${backend.logFile}):\n${backend.logTail(25)}`);
}

/**
 * `it`, with screenshots of every open page (and the console and server log tails) when it fails.
 * Keep the test's own waits shorter than `timeoutMs`, so that failures are reported by the test itself.
 */
export function e2eIt(name: string, timeoutMs: number, body: () => Promise<void>, backend?: () => Backend | null): void {
  it(
    name,
    async () => {
      try {
        await body();
      } catch (err) {
        await captureFailure(name, backend?.() ?? null);
        throw err;
      }
    },
    timeoutMs,
  );
}

// --- app helpers ----------------------------------------------------------------------------------

/** Logs in through the login page and waits until the main connection says Connected. */
export async function loginThroughUi(page: Page, user: Credentials): Promise<void> {
  await page.goto("/", { waitUntil: "domcontentloaded" });
  await page.getByLabel("Username", { exact: true }).fill(user.username);
  await page.getByLabel("Password", { exact: true }).fill(user.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForSelector(SEL.connected, { timeout: 15_000 });
}

export interface ListItem {
  seq: number;
  type: string | null;
  id: string | null;
  read: string | null;
}

/** The items matched by `selector`, in DOM order, with their data attributes. */
export async function listItems(page: Page, selector: string): Promise<ListItem[]> {
  return page.$$eval(selector, (els) =>
    els.map((el) => ({
      seq: Number(el.getAttribute("data-seq")),
      type: el.getAttribute("data-type"),
      id: el.getAttribute("data-event-id"),
      read: el.getAttribute("data-read"),
    })),
  );
}

export function notificationsButton(page: Page) {
  return page.getByRole("button", { name: "Notifications", exact: true });
}

export function notificationsDialog(page: Page) {
  return page.getByRole("dialog", { name: "Notifications", exact: true });
}

export async function openNotifications(page: Page): Promise<void> {
  if (await notificationsDialog(page).isVisible()) return;
  await notificationsButton(page).click();
  await notificationsDialog(page).waitFor({ state: "visible", timeout: 5_000 });
}

/** The unread badge's text, or null when it is not rendered (count 0). Read in one step in the page,
 * so that a badge disappearing between two calls cannot stall the caller. */
export async function badgeText(page: Page): Promise<string | null> {
  return page.evaluate((selector) => {
    const badge = document.querySelector(selector);
    if (!(badge instanceof HTMLElement)) return null;
    const style = getComputedStyle(badge);
    if (style.display === "none" || style.visibility === "hidden" || badge.getClientRects().length === 0) return null;
    return (badge.textContent ?? "").trim();
  }, SEL.unreadBadge);
}

export function expectStrictlyDecreasing(seqs: number[], what: string): void {
  for (let i = 1; i < seqs.length; i++) {
    const prev = seqs[i - 1] as number;
    const cur = seqs[i] as number;
    if (!(cur < prev)) {
      throw new Error(`${what}: data-seq should be strictly decreasing (newest first), got ${JSON.stringify(seqs)}`);
    }
  }
}

// --- accessibility and layout checks ------------------------------------------------------------

const requireFromHere = createRequire(import.meta.url);
let axeSource: string | null = null;

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/**
 * Runs axe-core (WCAG 2.x A and AA rules, best practices) in the page and returns the serious and
 * critical violations, each with the elements concerned.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  axeSource ??= fs.readFileSync(requireFromHere.resolve("axe-core/axe.min.js"), "utf8");
  const loaded = await page.evaluate(() => typeof (window as unknown as { axe?: unknown }).axe !== "undefined");
  if (!loaded) await page.addScriptTag({ content: axeSource });
  // Colours mid-transition (a button still fading from its hover or pressed state) are not what the
  // user reads: let finite transitions and animations end first (a pulsing dot never does: skipped).
  await page.evaluate(() =>
    Promise.all(
      document
        .getAnimations()
        .filter((a) => Number.isFinite(a.effect?.getComputedTiming().endTime ?? Infinity))
        .map((a) => a.finished.catch(() => undefined)),
    ),
  );
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const result = await axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"] },
      resultTypes: ["violations"],
    });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }));
  });
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}

export function describeViolations(violations: AxeViolation[]): string {
  return violations.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.targets.join(", ")})`).join("\n");
}

/** How much wider than the viewport the page is (0: no horizontal scroll). */
export async function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth);
}

/** Whether an element's box lies entirely inside the viewport. */
export async function fullyOnScreen(page: Page, selector: string): Promise<{ inside: boolean; box: unknown; viewport: unknown }> {
  return page.evaluate((sel) => {
    const el = document.querySelector(sel);
    if (!el) return { inside: false, box: null, viewport: null };
    const r = el.getBoundingClientRect();
    const viewport = { width: window.innerWidth, height: window.innerHeight };
    return {
      inside: r.left >= 0 && r.top >= 0 && r.right <= viewport.width + 0.5 && r.bottom <= viewport.height + 0.5 && r.width > 0,
      box: { left: r.left, top: r.top, right: r.right, bottom: r.bottom },
      viewport,
    };
  }, selector);
}
