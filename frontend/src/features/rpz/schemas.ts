// The RPZ rule form and the import list, checked as the user types with the server's rules
// (backend dns/rules.py `rpz_domain`, `rpz_redirect`; dns/validation.py `category`) and, as far as
// possible, its words. A rule's domain has two labels or more, may start with '*.' (only the
// subdomains), and holds no label starting with 'rpz-' (those are RPZ triggers and actions); a
// lone '*' would match every name. A redirect points to an IP address (no scope id) or a host name,
// and only the redirect action has one. The server stays the judge (e.g. a domain too long to be
// listed in its RPZ zone, whose name only it knows).

import { z } from "zod";
import { CONTROL, MAX_NAME, bare, domainProblem, ipProblem, labelsProblem, looksLikeIp, shown } from "../../lib/dnsRules";
import { MAX_BULK, RPZ_ACTIONS, type ImportBody, type RpzAction, type RuleCreateBody, type RuleUpdateBody } from "./api";

const CATEGORY = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
const RPZ_PREFIX = "rpz-";

export const ACTION_LABELS: Record<RpzAction, string> = {
  block: "Block",
  redirect: "Redirect",
  passthru: "Pass through",
};

export const ACTION_HINTS: Record<RpzAction, string> = {
  block: "Clients get no answer for the domain (NXDOMAIN).",
  redirect: "Clients are sent to another address or host instead.",
  passthru: "Always answered normally, even if another rule would block it.",
};

/** Categories the page suggests; any other category of letters, digits, '_', '-' and '.' is allowed. */
export const COMMON_CATEGORIES = ["custom", "malware", "phishing", "ads", "tracking", "adult", "gambling", "allowlist"];

/** A rule's domain (as the server normalises it: lower case, no final dot), or the problem in words. */
export function rpzDomainProblem(input: string): string | null {
  const text = input.trim();
  if (!text) return "domain is empty";
  if (CONTROL.test(text)) return "domain contains control characters";
  if (bare(text) === "*") return "domain '*' alone would match every name; name a domain like example.com";
  if (text === ".") return "domain may not be the root";
  const plain = bare(text).toLowerCase();
  const labelProblem = labelsProblem(plain, "domain", { wildcard: true });
  if (labelProblem) return labelProblem;
  const parts = plain.split(".");
  if (parts.some((label) => label.startsWith(RPZ_PREFIX))) {
    return (
      `domain ${shown(plain)}: labels starting with 'rpz-' are RPZ triggers and actions ` +
      "(rpz-ip, rpz-client-ip, rpz-nsdname, rpz-nsip...), not domains"
    );
  }
  const base = parts[0] === "*" ? parts.slice(1) : parts;
  if (base.length < 2) {
    return `domain ${shown(plain)} is a top-level domain: a rule would cover every name in it; name a domain of at least two labels like example.com`;
  }
  return null;
}

/** The domain as the server stores it. */
export function normalDomain(input: string): string {
  return bare(input.trim()).toLowerCase();
}

/** Where a redirect points: an IP address (no scope id) or a host name (no wildcard, no 'rpz-' label). */
export function redirectProblem(input: string): string | null {
  const text = input.trim();
  if (!text) return "redirect_to is empty";
  if (CONTROL.test(text)) return "redirect_to contains control characters";
  if (looksLikeIp(text)) return ipProblem(text, "redirect_to");
  const problem = domainProblem(text, "redirect_to");
  if (problem) return problem;
  if (bare(text).length > MAX_NAME) return `redirect_to is longer than ${MAX_NAME} characters`;
  if (bare(text).toLowerCase().split(".").some((label) => label.startsWith(RPZ_PREFIX))) {
    return "redirect_to: labels starting with 'rpz-' are RPZ actions, not host names";
  }
  return null;
}

export function categoryProblem(input: string): string | null {
  const text = input.trim().toLowerCase();
  if (CATEGORY.test(text)) return null;
  return "category must be 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit";
}

/** redirect_to as the action needs it: a target for a redirect, never one for the other actions. */
function redirectIssue(action: RpzAction, redirect: string): string | null {
  if (action !== "redirect") return null;
  if (!redirect.trim()) return "the redirect action needs redirect_to (a host name or IP address)";
  return redirectProblem(redirect);
}

// --- the rule form ------------------------------------------------------------------------------

export interface RuleFormValues {
  domain: string;
  action: RpzAction;
  redirect_to: string;
  category: string;
}

export const RULE_FIELDS = ["domain", "action", "redirect_to", "category"] as const;

/** Where the server's refusals without field details belong, read from their first words. */
export const RULE_MESSAGE_FIELDS = [
  [/^domain\b|^a rule for /, "domain"],
  [/^redirect_to\b|^the redirect action/, "redirect_to"],
  [/^category\b/, "category"],
] as const satisfies readonly (readonly [RegExp, (typeof RULE_FIELDS)[number]])[];

const ruleValues = z.object({
  domain: z.string(),
  action: z.enum(RPZ_ACTIONS, "choose an action"),
  redirect_to: z.string(),
  category: z.string(),
});

type Issue = { path: string; message: string | null };

function report(ctx: z.RefinementCtx, issues: Issue[]): void {
  for (const { path, message } of issues) {
    if (message) ctx.addIssue({ code: "custom", path: [path], message });
  }
}

/** A new rule: every field checked; the body has a redirect target only for the redirect action. */
export const ruleCreateSchema = ruleValues
  .superRefine((v, ctx) =>
    report(ctx, [
      { path: "domain", message: rpzDomainProblem(v.domain) },
      { path: "redirect_to", message: redirectIssue(v.action, v.redirect_to) },
      { path: "category", message: categoryProblem(v.category) },
    ]),
  )
  .transform(
    (v): RuleCreateBody => ({
      domain: normalDomain(v.domain),
      action: v.action,
      category: v.category.trim().toLowerCase(),
      ...(v.action === "redirect" ? { redirect_to: v.redirect_to.trim() } : {}),
    }),
  );

/** A rule changed: its domain stays (a rule for another domain is another rule). */
export const ruleUpdateSchema = ruleValues
  .superRefine((v, ctx) =>
    report(ctx, [
      { path: "redirect_to", message: redirectIssue(v.action, v.redirect_to) },
      { path: "category", message: categoryProblem(v.category) },
    ]),
  )
  .transform(
    (v): RuleUpdateBody => ({
      action: v.action,
      category: v.category.trim().toLowerCase(),
      redirect_to: v.action === "redirect" ? v.redirect_to.trim() : null,
    }),
  );

// --- import lists -------------------------------------------------------------------------------

export interface InvalidLine {
  /** 1-based. */
  line: number;
  text: string;
  problem: string;
}

export interface ParsedList {
  /** Valid domains, normalised, each once, in the order given. */
  domains: string[];
  /** Repeats of a domain already in the list. */
  duplicates: number;
  invalid: InvalidLine[];
}

const HOSTS_ADDRESS = /^(?:0\.0\.0\.0|127\.0\.0\.1|::1?|::)$/;

/**
 * A pasted or uploaded list: one domain per line; '#' starts a comment (whole line or after the
 * domain); blank lines are skipped. A hosts-file line ("0.0.0.0 ads.example") gives its domain.
 */
export function parseDomainList(text: string): ParsedList {
  const seen = new Set<string>();
  const out: ParsedList = { domains: [], duplicates: 0, invalid: [] };
  const lines = text.split(/\r\n|\n|\r/);
  lines.forEach((raw, index) => {
    const content = raw.replace(/#.*$/, "").trim();
    if (!content) return;
    let tokens = content.split(/\s+/);
    if (tokens.length === 2 && HOSTS_ADDRESS.test(tokens[0] ?? "")) tokens = tokens.slice(1);
    if (tokens.length !== 1) {
      out.invalid.push({ line: index + 1, text: content.slice(0, 120), problem: "one domain per line" });
      return;
    }
    const token = tokens[0] ?? "";
    const problem = rpzDomainProblem(token);
    if (problem) {
      out.invalid.push({ line: index + 1, text: token.slice(0, 120), problem });
      return;
    }
    const domain = normalDomain(token);
    if (seen.has(domain)) {
      out.duplicates += 1;
      return;
    }
    seen.add(domain);
    out.domains.push(domain);
  });
  return out;
}

export interface ImportFormValues {
  action: RpzAction;
  redirect_to: string;
  category: string;
}

export const IMPORT_FIELDS = ["action", "redirect_to", "category"] as const;

/** A refusal about the list itself (invalid domains) goes on top, above the list; these go on their fields. */
export const IMPORT_MESSAGE_FIELDS = [
  [/^redirect_to\b|^the redirect action/, "redirect_to"],
  [/^category\b/, "category"],
] as const satisfies readonly (readonly [RegExp, (typeof IMPORT_FIELDS)[number]])[];

/** The settings every imported rule gets (the list itself is checked line by line). */
export const importOptionsSchema = z
  .object({ action: z.enum(RPZ_ACTIONS, "choose an action"), redirect_to: z.string(), category: z.string() })
  .superRefine((v, ctx) =>
    report(ctx, [
      { path: "redirect_to", message: redirectIssue(v.action, v.redirect_to) },
      { path: "category", message: categoryProblem(v.category) },
    ]),
  )
  .transform((v): Omit<ImportBody, "domains"> => ({
    action: v.action,
    category: v.category.trim().toLowerCase(),
    ...(v.action === "redirect" ? { redirect_to: v.redirect_to.trim() } : {}),
  }));

/** A long list in requests the API takes (at most MAX_BULK domains each). */
export function chunked<T>(items: readonly T[], size = MAX_BULK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
