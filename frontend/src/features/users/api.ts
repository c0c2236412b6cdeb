// The users API (/api/users, admins): list, create, change a role, disable or enable, reset a
// password. A user carries a `version`; a change is sent with If-Match, so one someone else made
// meanwhile comes back as 412 with the user as it is now instead of being overwritten.

import type { Role } from "../../types/events";
import { apiFetch, ifMatch, postJson, query } from "../../services/api";

export const ROLES = ["viewer", "operator", "admin"] as const satisfies readonly Role[];

export interface User {
  username: string;
  role: Role;
  disabled: boolean;
  created_at: string;
  /** The last sign-in; null if never. */
  last_login_at?: string | null;
  version?: number;
  /** Who made the last change (an admin, or the command line). */
  updated_by?: string | null;
}

export interface UserList {
  items: User[];
  total: number;
}

/** The API's largest page: the page shows every user. */
export const USER_LIMIT = 1000;

export function listUsers(signal?: AbortSignal): Promise<UserList> {
  return apiFetch<UserList>(`/api/users${query({ limit: USER_LIMIT })}`, { signal });
}

export interface UserCreateBody {
  username: string;
  role: Role;
  password: string;
}

export function createUser(body: UserCreateBody): Promise<User> {
  return apiFetch<User>("/api/users", postJson(body));
}

export interface UserUpdateBody {
  role?: Role;
  disabled?: boolean;
}

export function updateUser(username: string, body: UserUpdateBody, version?: number): Promise<User> {
  return apiFetch<User>(`/api/users/${encodeURIComponent(username)}`, { method: "PATCH", body: JSON.stringify(body), headers: ifMatch(version) });
}

export async function setPassword(username: string, password: string): Promise<void> {
  await apiFetch<void>(`/api/users/${encodeURIComponent(username)}/password`, postJson({ password }));
}
