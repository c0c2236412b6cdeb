// The user forms, checked as typed with the server's rules (backend auth/users.py): a username of
// 1-64 letters, digits, '_', '.', '@' or '-' starting with a letter or digit; a password of at least
// 8 characters (at most 1024), typed twice. The server stays the judge (a name already taken comes
// back as 409).

import { z } from "zod";
import { ROLES, type UserCreateBody } from "./api";

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 1024;

export const ROLE_HINTS = {
  viewer: "Reads zones, RPZ rules, forwarders and health; changes nothing.",
  operator: "Also changes zones, records, RPZ rules and forwarders.",
  admin: "Also manages users and settings, and reads the audit log.",
} as const;

export function usernameProblem(input: string): string | null {
  return USERNAME.test(input) ? null : "username: 1-64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit";
}

export function passwordProblem(input: string): string | null {
  if (input.length < PASSWORD_MIN) return `password: at least ${PASSWORD_MIN} characters`;
  if (input.length > PASSWORD_MAX) return `password: at most ${PASSWORD_MAX} characters`;
  return null;
}

export interface UserCreateValues {
  username: string;
  role: UserCreateBody["role"];
  password: string;
  confirm: string;
}

export const USER_CREATE_FIELDS = ["username", "role", "password", "confirm"] as const;

export const USER_MESSAGE_FIELDS = [
  [/^username\b|^user '.*' exists|already exists/, "username"],
  [/^password\b/, "password"],
  [/^role\b/, "role"],
] as const satisfies readonly (readonly [RegExp, (typeof USER_CREATE_FIELDS)[number]])[];

function confirmProblem(password: string, confirm: string): string | null {
  return password === confirm ? null : "the two passwords differ";
}

export const userCreateSchema = z
  .object({ username: z.string(), role: z.enum(ROLES, "choose a role"), password: z.string(), confirm: z.string() })
  .superRefine((v, ctx) => {
    const issues: [keyof UserCreateValues, string | null][] = [
      ["username", usernameProblem(v.username)],
      ["password", passwordProblem(v.password)],
      ["confirm", v.confirm ? confirmProblem(v.password, v.confirm) : "type the password again"],
    ];
    for (const [path, message] of issues) if (message) ctx.addIssue({ code: "custom", path: [path], message });
  })
  .transform((v): UserCreateBody => ({ username: v.username, role: v.role, password: v.password }));

export interface PasswordValues {
  password: string;
  confirm: string;
}

export const PASSWORD_FIELDS = ["password", "confirm"] as const;

export const passwordSchema = z
  .object({ password: z.string(), confirm: z.string() })
  .superRefine((v, ctx) => {
    const issues: [keyof PasswordValues, string | null][] = [
      ["password", passwordProblem(v.password)],
      ["confirm", v.confirm ? confirmProblem(v.password, v.confirm) : "type the password again"],
    ];
    for (const [path, message] of issues) if (message) ctx.addIssue({ code: "custom", path: [path], message });
  })
  .transform((v) => v.password);
