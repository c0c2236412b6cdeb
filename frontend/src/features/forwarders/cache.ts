// Pure updates of the cached forwarder list, used after this user's own writes and for live events
// (app/liveCache.ts): `config_change` with section "forwarders" carries the whole forwarder. Each
// returns the same list when nothing changes, and never moves a forwarder back to an older `version`.

import type { Page } from "../../services/api";
import { FORWARDER_TYPES, type Forwarder, type ForwarderType } from "./api";

function older(current: { version?: number }, next: { version?: number }): boolean {
  return typeof current.version === "number" && typeof next.version === "number" && next.version < current.version;
}

/** The API's order: by name (code point order, as the database sorts). */
function byName(a: Forwarder, b: Forwarder): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id;
}

/** Adds the forwarder, or merges it into the one with its id (unless the cached one is newer). */
export function upsertForwarder(page: Page<Forwarder>, forwarder: Forwarder): Page<Forwarder> {
  const index = page.items.findIndex((f) => f.id === forwarder.id);
  if (index >= 0) {
    const current = page.items[index] as Forwarder;
    if (older(current, forwarder)) return page;
    const merged = { ...current, ...forwarder, created_at: current.created_at };
    if (JSON.stringify(merged) === JSON.stringify(current)) return page;
    return { ...page, items: page.items.map((f, i) => (i === index ? merged : f)).sort(byName) };
  }
  return { ...page, items: [...page.items, forwarder].sort(byName), total: page.total + 1 };
}

export function removeForwarder(page: Page<Forwarder>, id: number): Page<Forwarder> {
  const items = page.items.filter((f) => f.id !== id);
  return items.length === page.items.length ? page : { ...page, items, total: Math.max(0, page.total - 1) };
}

function strings(value: unknown): string[] | null {
  return Array.isArray(value) && value.every((v) => typeof v === "string") ? (value as string[]) : null;
}

/** The forwarder a `config_change` (section "forwarders") describes, or null when it lacks what one needs. */
export function forwarderFromChange(data: Record<string, unknown>, timestamp: string): Forwarder | null {
  const id = data["id"];
  const name = data["forwarder"];
  const type = data["type"];
  const domains = strings(data["domains"]);
  const servers = strings(data["servers"]);
  const enabled = data["enabled"];
  if (typeof id !== "number" || !Number.isInteger(id) || id <= 0 || typeof name !== "string" || !name) return null;
  if (typeof type !== "string" || !(FORWARDER_TYPES as readonly string[]).includes(type) || domains === null || servers === null || typeof enabled !== "boolean") return null;
  const version = data["version"];
  return {
    id,
    name,
    type: type as ForwarderType,
    domains,
    servers,
    enabled,
    created_at: timestamp,
    updated_at: timestamp,
    ...(typeof version === "number" ? { version } : {}),
  };
}
