// Validation of the zone and record forms as the user types, with the server's rules
// (backend dns/rules.py and dns/validation.py) and, as far as possible, its words. The server stays
// the judge: what it alone can know (a duplicate record, a zone BIND would not load, an IDN name
// after punycode) comes back as its 422 or 409 and is shown on the form.
//
// Each rule is a pure function returning the problem in words, or null; the zod schemas apply them
// to the forms' string inputs and turn the inputs into API bodies.

import { z } from "zod";
import {
  CONTROL,
  MAX_NAME,
  TTL_MAX,
  TTL_MIN,
  U16,
  bare,
  ipv4Problem,
  ipv6Problem,
  isHost,
  labelsProblem,
  listProblem,
  numberProblem,
  serverProblem,
  shown,
  splitList,
} from "../../lib/dnsRules";
import { RECORD_TYPES, type RecordBody, type RecordType, type ZoneCreateBody, type ZoneType, type ZoneUpdateBody } from "./api";

export { MAX_NAME, TTL_MAX, TTL_MIN, labelsProblem, serverProblem } from "../../lib/dnsRules";
export const MAX_VALUE = 4000;
const NUMBER = /^[0-9]{1,10}$/;
const REVERSE = ["in-addr.arpa", "ip6.arpa"];

function inZone(full: string, zone: string): boolean {
  return full === zone || full.endsWith(`.${zone}`);
}

/** Absolute form (no final dot) of a zone-file name: '@', relative, or absolute with a final dot. */
export function absoluteName(name: string, zone: string): string {
  if (name === "@") return zone;
  if (name.endsWith(".")) return name.slice(0, -1).toLowerCase();
  return `${name}.${zone}`.toLowerCase();
}

/** A zone's name: a domain (not the root), written with or without the final dot. */
export function zoneNameProblem(input: string): string | null {
  const text = input.trim();
  if (!text) return "zone name is empty";
  if (CONTROL.test(text)) return "zone name contains control characters";
  if (text === ".") return "zone name may not be the root";
  if (bare(text).includes(" ")) return `zone name ${shown(text)} may not contain spaces`;
  return labelsProblem(text, "zone name");
}

/**
 * A record's owner in `zone`: '@' (or empty) for the apex, a name relative to the zone ("www"),
 * the full name with or without the final dot ("www.example.com."); a leading '*' label is a wildcard.
 */
export function recordNameProblem(input: string, zone: string): string | null {
  const text = input.trim();
  if (text === "" || text === "@") return null;
  if (CONTROL.test(text)) return "record name contains control characters";
  if (text.includes(" ")) return `record name ${shown(text)} may not contain spaces`;
  const lower = text.toLowerCase();
  let relative: string;
  if (text.endsWith(".")) {
    const full = lower.slice(0, -1);
    if (!inZone(full, zone)) return `record name ${shown(text)} is not inside the zone ${zone}`;
    if (full === zone) return null;
    relative = full.slice(0, -(zone.length + 1));
  } else if (inZone(lower, zone)) {
    if (lower === zone) return null;
    relative = lower.slice(0, -(zone.length + 1));
  } else {
    relative = lower;
  }
  const problem = labelsProblem(relative, "record name", { wildcard: true });
  if (problem) return problem;
  if (`${relative}.${zone}`.length > MAX_NAME) return `record name ${shown(text)} is longer than ${MAX_NAME} characters within ${zone}`;
  return null;
}

/** The owner rules that depend on the record's type (a CNAME not at the apex, host names for A, AAAA, MX). */
export function ownerTypeProblem(input: string, type: RecordType, zone: string): string | null {
  const text = input.trim() || "@";
  if (recordNameProblem(text, zone) !== null) return null; // reported by the name rule
  const lower = text.toLowerCase();
  const full = text === "@" ? zone : lower.endsWith(".") || inZone(lower, zone) ? bare(lower) : `${lower}.${zone}`;
  const wild = full === "*" || full.startsWith("*.");
  if (type === "NS" && wild) return "a wildcard (*) cannot own NS records";
  if (type === "CNAME" && full === zone) return "a CNAME cannot be at the zone apex (@)";
  if ((type === "A" || type === "AAAA" || type === "MX") && !full.startsWith("gc._msdcs.") && !isHost(full, true)) {
    return `an ${type} record's name must be a host name: letters, digits and '-' (no '_'); ${shown(full)} is not one`;
  }
  return null;
}

function targetProblem(token: string, zone: string, what: string, options: { host: boolean; root?: boolean }): string | null {
  if (token === ".") return options.root ? null : `${what} may not be the root (.)`;
  if (token === "@") {
    // "@" is the zone itself (the server reads it so).
    return options.host && !isHost(zone) ? `${what} ${shown(zone)} must be a host name: letters, digits and '-' (no '_')` : null;
  }
  const problem = labelsProblem(token, what);
  if (problem) return problem;
  const full = absoluteName(token, zone);
  if (full.length > MAX_NAME) return `${what} ${shown(token)} is longer than ${MAX_NAME} characters within ${zone}`;
  if (options.host && !isHost(full)) return `${what} ${shown(full)} must be a host name: letters, digits and '-' (no '_')`;
  return null;
}

function u16Problem(token: string, what: string): string | null {
  return NUMBER.test(token) && Number(token) <= U16 ? null : `${what} must be a number from 0 to ${U16}`;
}

/** The quoted strings and bare words of a TXT value (how dnspython reads it), or null if a quote is left open. */
export function txtStrings(text: string): string[] | null {
  const strings: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charAt(i);
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === '"') {
      let j = i + 1;
      let content = "";
      while (j < text.length && text.charAt(j) !== '"') {
        const step = text.charAt(j) === "\\" ? 2 : 1;
        content += text.slice(j, j + step);
        j += step;
      }
      if (j >= text.length) return null;
      strings.push(content);
      i = j + 1;
    } else {
      let j = i;
      while (j < text.length && !/\s/.test(text.charAt(j)) && text.charAt(j) !== '"') j += 1;
      strings.push(text.slice(i, j));
      i = j;
    }
  }
  return strings;
}

function txtOctets(content: string): number {
  return content.replace(/\\[0-9]{3}|\\./g, "x").length;
}

export const VALUE_EXAMPLES: Record<RecordType, string> = {
  A: "192.0.2.10",
  AAAA: "2001:db8::10",
  CNAME: "www.example.com.",
  MX: "10 mail.example.com.",
  TXT: '"v=spf1 mx -all"',
  SRV: "10 5 5060 sip.example.com.",
  PTR: "host.example.com.",
  NS: "ns1.example.com.",
};

export const VALUE_HINTS: Record<RecordType, string> = {
  A: "An IPv4 address.",
  AAAA: "An IPv6 address.",
  CNAME: "The name this one is an alias of. A name without a final dot is inside this zone.",
  MX: "Preference (0-65535) and mail server host name.",
  TXT: 'Text in double quotes; quote text with spaces, or it becomes several strings. At most 255 characters per string.',
  SRV: "Priority, weight, port (0-65535 each) and target host name.",
  PTR: "The host name this address points to.",
  NS: "A name server's host name.",
};

/** A record value of `type` in `zone` (owner: the record's name, for the reverse-zone rule of PTR). */
export function recordValueProblem(type: RecordType, input: string, zone: string, owner = "@"): string | null {
  const text = input.trim();
  if (!text) return `${type} value is empty (expected something like ${VALUE_EXAMPLES[type]})`;
  if (text.length > MAX_VALUE) return `${type} value is longer than ${MAX_VALUE} characters`;
  if (CONTROL.test(text)) return `${type} value contains control characters or line breaks`;
  if (type === "TXT") {
    const strings = txtStrings(text);
    if (strings === null) return 'TXT value has a quote that is not closed: write text like "v=spf1 mx -all"';
    if (strings.some((s) => txtOctets(s) > 255)) return "a TXT string holds at most 255 characters: split longer text into several quoted strings";
    return null;
  }
  const tokens = text.split(/\s+/);
  const expected = { A: 1, AAAA: 1, CNAME: 1, PTR: 1, NS: 1, MX: 2, SRV: 4 }[type];
  if (tokens.length !== expected) {
    return `${type} value ${shown(text)} must have ${expected} part${expected === 1 ? "" : "s"} (like ${VALUE_EXAMPLES[type]})`;
  }
  const [first = "", second = "", third = "", fourth = ""] = tokens;
  switch (type) {
    case "A":
      return ipv4Problem(first, "A value");
    case "AAAA":
      return ipv6Problem(first, "AAAA value");
    case "CNAME":
      return targetProblem(first, zone, "CNAME target", { host: false });
    case "NS":
      return targetProblem(first, zone, "NS target", { host: true });
    case "PTR": {
      const reverse = REVERSE.some((r) => inZone(absoluteName(owner.trim() || "@", zone), r));
      return targetProblem(first, zone, "PTR target", { host: reverse });
    }
    case "MX":
      return u16Problem(first, "MX preference") ?? targetProblem(second, zone, "MX exchange", { host: true, root: true });
    case "SRV":
      return (
        u16Problem(first, "SRV priority") ??
        u16Problem(second, "SRV weight") ??
        u16Problem(third, "SRV port") ??
        targetProblem(fourth, zone, "SRV target", { host: true, root: true })
      );
    default:
      return null;
  }
}

export { numberProblem };

export function ttlProblem(input: string, what = "TTL"): string | null {
  return numberProblem(input, what, TTL_MIN, TTL_MAX);
}

/** Servers typed as a list: separated by commas, spaces or line breaks. */
export const splitServers = splitList;

export function serversProblem(input: string, required: boolean): string | null {
  return listProblem(splitServers(input), "servers", serverProblem, {
    max: 32,
    empty: required ? "a forward zone needs at least one forwarder server" : null,
    listName: "forwarders",
  });
}

// --- schemas ------------------------------------------------------------------------------------

type Issue = { path: string; message: string | null };

function report(ctx: z.RefinementCtx, issues: Issue[]): void {
  for (const { path, message } of issues) {
    if (message) ctx.addIssue({ code: "custom", path: [path], message });
  }
}

function optionalNumber(input: string): number | undefined {
  return input.trim() === "" ? undefined : Number(input.trim());
}

export interface RecordFormValues {
  name: string;
  type: RecordType;
  value: string;
  ttl: string;
}

export const RECORD_FIELDS = ["name", "type", "value", "ttl"] as const;

/** The record form for a record of `zone`: its inputs as typed, checked, and turned into the API's body. */
export function recordSchema(zone: string) {
  return z
    .object({
      name: z.string().max(MAX_NAME, `record name is longer than ${MAX_NAME} characters`),
      type: z.enum(RECORD_TYPES, "choose a record type"),
      value: z.string(),
      ttl: z.string(),
    })
    .superRefine((v, ctx) => {
      report(ctx, [
        { path: "name", message: recordNameProblem(v.name, zone) ?? ownerTypeProblem(v.name, v.type, zone) },
        { path: "value", message: recordValueProblem(v.type, v.value, zone, v.name) },
        { path: "ttl", message: ttlProblem(v.ttl) },
      ]);
    })
    .transform(
      (v): RecordBody => ({
        name: v.name.trim() || "@",
        type: v.type,
        value: v.value.trim(),
        ttl: v.ttl.trim() === "" ? null : Number(v.ttl.trim()),
      }),
    );
}

export interface ZoneCreateValues {
  name: string;
  zone_type: ZoneType;
  default_ttl: string;
  forwarders: string;
}

export const ZONE_CREATE_FIELDS = ["name", "zone_type", "default_ttl", "forwarders"] as const;

export const zoneCreateSchema = z
  .object({
    name: z.string(),
    zone_type: z.enum(["master", "forward"]),
    default_ttl: z.string(),
    forwarders: z.string(),
  })
  .superRefine((v, ctx) => {
    report(ctx, [
      { path: "name", message: zoneNameProblem(v.name) },
      { path: "default_ttl", message: ttlProblem(v.default_ttl, "default TTL") },
      { path: "forwarders", message: v.zone_type === "forward" ? serversProblem(v.forwarders, true) : null },
    ]);
  })
  .transform((v): ZoneCreateBody => {
    const body: ZoneCreateBody = { name: v.name.trim(), zone_type: v.zone_type };
    const ttl = optionalNumber(v.default_ttl);
    if (ttl !== undefined) body.default_ttl = ttl;
    if (v.zone_type === "forward") body.forwarders = splitServers(v.forwarders);
    return body;
  });

export interface ZoneSettingsValues {
  default_ttl: string;
  refresh: string;
  retry: string;
  expire: string;
  minimum: string;
  primary_ns: string;
  admin_email: string;
  forwarders: string;
}

export const ZONE_SETTINGS_FIELDS = ["default_ttl", "refresh", "retry", "expire", "minimum", "primary_ns", "admin_email", "forwarders"] as const;

export const SOA_BOUNDS = {
  refresh: [60, 2_419_200],
  retry: [60, 2_419_200],
  expire: [300, 31_536_000],
  minimum: [TTL_MIN, 86_400],
} as const;

function soaNameProblem(input: string, what: string): string | null {
  const text = input.trim();
  if (!text) return `${what} is required`;
  if (text.length > MAX_NAME) return `${what} is longer than ${MAX_NAME} characters`;
  if (CONTROL.test(text)) return `${what} contains control characters`;
  if (text.includes(" ")) return `${what} may not contain spaces`;
  return null;
}

/** The zone settings form (SOA timers and names, default TTL, a forward zone's servers), for a zone of `zoneType`. */
export function zoneSettingsSchema(zoneType: ZoneType) {
  return z
    .object({
      default_ttl: z.string(),
      refresh: z.string(),
      retry: z.string(),
      expire: z.string(),
      minimum: z.string(),
      primary_ns: z.string(),
      admin_email: z.string(),
      forwarders: z.string(),
    })
    .superRefine((v, ctx) => {
      const issues: Issue[] = [
        { path: "default_ttl", message: numberProblem(v.default_ttl, "default TTL", TTL_MIN, TTL_MAX, false) },
        { path: "refresh", message: numberProblem(v.refresh, "refresh", ...SOA_BOUNDS.refresh, false) },
        { path: "retry", message: numberProblem(v.retry, "retry", ...SOA_BOUNDS.retry, false) },
        { path: "expire", message: numberProblem(v.expire, "expire", ...SOA_BOUNDS.expire, false) },
        { path: "minimum", message: numberProblem(v.minimum, "minimum", ...SOA_BOUNDS.minimum, false) },
      ];
      if (zoneType === "forward") {
        issues.push({ path: "forwarders", message: serversProblem(v.forwarders, true) });
      } else {
        issues.push({ path: "primary_ns", message: soaNameProblem(v.primary_ns, "primary name server") });
        issues.push({ path: "admin_email", message: soaNameProblem(v.admin_email, "admin email") });
      }
      const timers = issues.slice(1, 4).every((i) => i.message === null);
      if (timers && Number(v.expire) <= Math.max(Number(v.refresh), Number(v.retry))) {
        issues.push({ path: "expire", message: "expire must be greater than refresh and retry" });
      }
      report(ctx, issues);
    })
    .transform((v): ZoneUpdateBody => {
      const body: ZoneUpdateBody = {
        default_ttl: Number(v.default_ttl),
        refresh: Number(v.refresh),
        retry: Number(v.retry),
        expire: Number(v.expire),
        minimum: Number(v.minimum),
      };
      if (zoneType === "forward") body.forwarders = splitServers(v.forwarders);
      else {
        body.primary_ns = v.primary_ns.trim();
        body.admin_email = v.admin_email.trim();
      }
      return body;
    });
}
