// Pure updates of the cached user list, after this admin's own changes and for live events
// (user_created, user_updated: app/liveCache.ts). Each returns the same list when
// nothing changes, and never moves a user back to an older `version`.

import type { Role } from "../../types/events";
import { ROLES, type User, type UserList } from "./api";

function older(current: { version?: number }, next: { version?: number }): boolean {
  return typeof current.version === "number" && typeof next.version === "number" && next.version < current.version;
}

function byName(a: User, b: User): number {
  return a.username < b.username ? -1 : a.username > b.username ? 1 : 0;
}

/** Adds the user, or merges the change into the one with its name (unless the cached one is newer). */
export function upsertUser(list: UserList, user: Partial<User> & { username: string }): UserList {
  const index = list.items.findIndex((u) => u.username === user.username);
  if (index >= 0) {
    const current = list.items[index] as User;
    if (older(current, user)) return list;
    const merged: User = { ...current, ...user, created_at: current.created_at };
    if (JSON.stringify(merged) === JSON.stringify(current)) return list;
    return { ...list, items: list.items.map((u, i) => (i === index ? merged : u)) };
  }
  if (user.role === undefined || user.created_at === undefined) return list; // not enough to show: the list is refetched
  const added: User = { disabled: false, ...user, role: user.role, created_at: user.created_at };
  return { ...list, items: [...list.items, added].sort(byName), total: list.total + 1 };
}

/** What a user event says about the user: its name and the fields it carries. */
export function userFromEvent(data: Record<string, unknown>, timestamp: string): (Partial<User> & { username: string }) | null {
  const username = data["username"];
  if (typeof username !== "string" || !username) return null;
  const created = data["created_at"];
  const out: Partial<User> & { username: string } = { username, created_at: typeof created === "string" ? created : timestamp };
  const role = data["role"];
  if (typeof role === "string" && (ROLES as readonly string[]).includes(role)) out.role = role as Role;
  if (typeof data["disabled"] === "boolean") out.disabled = data["disabled"];
  if (typeof data["version"] === "number") out.version = data["version"];
  if (typeof data["updated_by"] === "string") out.updated_by = data["updated_by"];
  const login = data["last_login_at"];
  if (typeof login === "string" || login === null) out.last_login_at = login;
  return out;
}
