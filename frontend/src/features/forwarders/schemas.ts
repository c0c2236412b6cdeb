// The forwarder form, checked as the user types with the server's rules (backend api/forwarders.py,
// dns/validation.py `forwarder_name`, `domain_name`, `server_address`) and its words. A server is an
// IP address with an optional port ("ip", "ip:port", "[v6]:port"), never with a scope id; an
// active_directory or intranet forwarder needs at least one domain (a public one may have none: it
// then takes every name no zone or other forwarder covers). The server stays the judge of what only
// it knows: a name or a domain another forwarder already has, a domain that is a zone here.

import { z } from "zod";
import { bare, domainProblem, listProblem, serverProblem, splitList } from "../../lib/dnsRules";
import { FORWARDER_TYPES, type Forwarder, type ForwarderBody, type ForwarderType } from "./api";

const NAME = /^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$/;

export const TYPE_LABELS: Record<ForwarderType, string> = {
  active_directory: "Active Directory",
  intranet: "Intranet",
  public: "Public",
};

export const TYPE_HINTS: Record<ForwarderType, string> = {
  active_directory: "Domain controllers for an AD domain (and its _msdcs names).",
  intranet: "Internal servers for internal domains.",
  public: "Public resolvers; without domains, they answer every name nothing else covers.",
};

export function forwarderNameProblem(input: string): string | null {
  return NAME.test(input.trim()) ? null : "name must be 1-64 letters, digits, spaces, '_', '-' or '.', starting with a letter or digit";
}

/** Domains as the server stores them: lower case, without the final dot. */
export function normalDomains(input: string): string[] {
  return splitList(input).map((d) => bare(d).toLowerCase());
}

export function domainsProblem(input: string, type: ForwarderType): string | null {
  const domains = splitList(input);
  return listProblem(domains, "domains", (d) => domainProblem(d, "domain"), {
    max: 256,
    empty: type === "public" ? null : "an active_directory or intranet forwarder needs at least one domain",
    same: (d) => bare(d).toLowerCase(),
  });
}

export function serversProblem(input: string): string | null {
  return listProblem(splitList(input), "servers", serverProblem, { max: 32, empty: "a forwarder needs at least one server" });
}

export interface ForwarderFormValues {
  name: string;
  type: ForwarderType;
  domains: string;
  servers: string;
  enabled: boolean;
}

export const FORWARDER_FIELDS = ["name", "type", "domains", "servers", "enabled"] as const;

/** Where the server's refusals without field details belong, read from their first words. */
export const FORWARDER_MESSAGE_FIELDS = [
  [/^name\b|^a forwarder named /, "name"],
  [/^server|^a forwarder needs at least one server/, "servers"],
  [/^domain|^an active_directory or intranet forwarder|is already forwarded by|is a zone on this server/, "domains"],
] as const satisfies readonly (readonly [RegExp, (typeof FORWARDER_FIELDS)[number]])[];

export function toFormValues(forwarder: Forwarder | null): ForwarderFormValues {
  return forwarder
    ? { name: forwarder.name, type: forwarder.type, domains: forwarder.domains.join("\n"), servers: forwarder.servers.join("\n"), enabled: forwarder.enabled }
    : { name: "", type: "intranet", domains: "", servers: "", enabled: true };
}

export const forwarderSchema = z
  .object({
    name: z.string(),
    type: z.enum(FORWARDER_TYPES, "choose a type"),
    domains: z.string(),
    servers: z.string(),
    enabled: z.boolean(),
  })
  .superRefine((v, ctx) => {
    const issues: [keyof ForwarderFormValues, string | null][] = [
      ["name", forwarderNameProblem(v.name)],
      ["domains", domainsProblem(v.domains, v.type)],
      ["servers", serversProblem(v.servers)],
    ];
    for (const [path, message] of issues) if (message) ctx.addIssue({ code: "custom", path: [path], message });
  })
  .transform(
    (v): ForwarderBody => ({
      name: v.name.trim(),
      type: v.type,
      domains: normalDomains(v.domains),
      servers: splitList(v.servers),
      enabled: v.enabled,
    }),
  );

/** The fields of `body` that differ from `base`: an update sends only what this user changed. */
export function changedFields(base: Forwarder, body: ForwarderBody): Partial<ForwarderBody> {
  const out: Partial<ForwarderBody> = {};
  if (body.name !== base.name) out.name = body.name;
  if (body.type !== base.type) out.type = body.type;
  if (body.domains.join("\n") !== base.domains.join("\n")) out.domains = body.domains;
  if (body.servers.join("\n") !== base.servers.join("\n")) out.servers = body.servers;
  if (body.enabled !== base.enabled) out.enabled = body.enabled;
  return out;
}
