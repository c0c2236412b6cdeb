// The webhook form, checked as typed with the server's rules (backend integrations/webhooks_net.py
// `check_url`, realtime/filters.py): an http:// or https:// URL of at most 2,048 characters, without
// a user name, password or #fragment; the event types (none chosen: every notification); a filter
// on zones (DNS names, at most 16), the least severity and words of the summary. The server stays
// the judge of what only it knows (a loopback or private address, unless it allows them).

import { z } from "zod";
import { EVENT_LABELS, SEVERITY_LABELS } from "../../lib/format";
import { domainProblem } from "../../lib/dnsRules";
import type { EventType, Severity } from "../../types/events";
import { WEBHOOK_EVENT_TYPES, type Webhook, type WebhookBody, type WebhookFilter } from "./api";

export const URL_MAX = 2048;
export const ZONES_MAX = 16;
export const TEXT_MAX = 128;
export const SEVERITIES = ["info", "warning", "error", "critical"] as const satisfies readonly Severity[];

export function urlProblem(input: string): string | null {
  const text = input.trim();
  if (!text) return "url is required";
  if (text.length > URL_MAX) return `url must be at most ${URL_MAX} characters`;
  if (/\s/.test(text)) return "url must not contain spaces";
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    return "url is not a valid URL";
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return "url must start with http:// or https://";
  if (parsed.username || parsed.password) return "url must not carry a user name or password";
  if (text.includes("#")) return "url must not have a #fragment";
  if (!parsed.hostname) return "url must name a host";
  return null;
}

/** Zones typed one per line or separated by commas (a space inside one is an error, not a separator). */
export function splitZones(input: string): string[] {
  return input
    .split(/[,\n]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export function zonesProblem(input: string): string | null {
  const zones = splitZones(input);
  if (zones.length > ZONES_MAX) return `at most ${ZONES_MAX} zones`;
  for (const zone of zones) {
    const problem = domainProblem(zone, "zone");
    if (problem) return problem;
  }
  return null;
}

export interface WebhookFormValues {
  url: string;
  /** "all": every notification type; "chosen": the types ticked below. */
  scope: "all" | "chosen";
  types: string[];
  zones: string;
  minSeverity: "" | Severity;
  text: string;
  enabled: boolean;
  ordered: boolean;
}

export const WEBHOOK_FIELDS = ["url", "types", "zones", "minSeverity", "text", "enabled", "ordered"] as const;

/** Where the server's refusals belong: its field names (`filter.zones.0`) to the form's. */
export function formField(serverField: string): (typeof WEBHOOK_FIELDS)[number] | null {
  if (serverField === "url") return "url";
  if (serverField.startsWith("event_types")) return "types";
  if (serverField.startsWith("filter.zones")) return "zones";
  if (serverField.startsWith("filter.min_severity")) return "minSeverity";
  if (serverField.startsWith("filter.text")) return "text";
  return null;
}

export function toFormValues(hook: Webhook | null): WebhookFormValues {
  if (hook === null) return { url: "", scope: "all", types: [], zones: "", minSeverity: "", text: "", enabled: true, ordered: false };
  return {
    url: hook.url,
    scope: hook.event_types.length ? "chosen" : "all",
    types: [...hook.event_types],
    zones: (hook.filter?.zones ?? []).join("\n"),
    minSeverity: hook.filter?.min_severity ?? "",
    text: hook.filter?.text ?? "",
    enabled: hook.enabled,
    ordered: hook.ordered,
  };
}

/**
 * The body to send. `base`'s filter keys that this form does not show (categories, actors, record
 * types, set through the API) are kept as they are.
 */
export function toBody(values: WebhookFormValues, base: Webhook | null): WebhookBody {
  const filter: WebhookFilter = { ...(base?.filter ?? {}) };
  delete filter.zones;
  delete filter.min_severity;
  delete filter.text;
  const zones = splitZones(values.zones).map((z) => z.replace(/\.$/, "").toLowerCase());
  if (zones.length) filter.zones = zones;
  if (values.minSeverity) filter.min_severity = values.minSeverity;
  if (values.text.trim()) filter.text = values.text.trim();
  return {
    url: values.url.trim(),
    event_types: values.scope === "all" ? [] : [...values.types].sort(),
    filter: Object.keys(filter).length ? filter : null,
    enabled: values.enabled,
    ordered: values.ordered,
  };
}

export function makeWebhookSchema(base: Webhook | null) {
  return z
    .object({
      url: z.string(),
      scope: z.enum(["all", "chosen"]),
      types: z.array(z.string()),
      zones: z.string(),
      minSeverity: z.enum(["", ...SEVERITIES]),
      text: z.string(),
      enabled: z.boolean(),
      ordered: z.boolean(),
    })
    .superRefine((v, ctx) => {
      const issues: [keyof WebhookFormValues, string | null][] = [
        ["url", urlProblem(v.url)],
        ["types", v.scope === "chosen" && v.types.length === 0 ? "choose at least one event type (or all notifications)" : null],
        ["zones", zonesProblem(v.zones)],
        ["text", v.text.trim().length > TEXT_MAX ? `at most ${TEXT_MAX} characters` : null],
      ];
      for (const [path, message] of issues) if (message) ctx.addIssue({ code: "custom", path: [path], message });
    })
    .transform((v): WebhookBody => toBody(v, base));
}

/** JSON with object keys sorted: two filters with the same keys and values compare equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

/** The fields of `body` that differ from `base`: an update sends only what this user changed. */
export function changedFields(base: Webhook, body: WebhookBody): Partial<WebhookBody> {
  const out: Partial<WebhookBody> = {};
  if (body.url !== base.url) out.url = body.url;
  if (JSON.stringify(body.event_types) !== JSON.stringify([...base.event_types].sort())) out.event_types = body.event_types;
  if (canonical(body.filter) !== canonical(base.filter)) out.filter = body.filter;
  if (body.enabled !== base.enabled) out.enabled = body.enabled;
  if (body.ordered !== base.ordered) out.ordered = body.ordered;
  return out;
}

export function typeLabel(type: string): string {
  if (type === "webhook_test") return "Test event";
  return EVENT_LABELS[type as EventType] ?? type;
}

/** "All notifications" or the chosen types, and the filter, in a few words. */
export function describeEvents(hook: Pick<Webhook, "event_types" | "filter">): string {
  const types = hook.event_types.length === 0 ? "All notifications" : hook.event_types.length <= 2 ? hook.event_types.map(typeLabel).join(", ") : `${hook.event_types.length} event types`;
  const f = hook.filter;
  const parts: string[] = [];
  if (f?.zones?.length) parts.push(`in ${f.zones.join(", ")}`);
  if (f?.min_severity) parts.push(`${SEVERITY_LABELS[f.min_severity].toLowerCase()} or worse`);
  if (f?.text) parts.push(`“${f.text}”`);
  if (f?.categories?.length) parts.push(f.categories.join(", "));
  if (f?.actors?.length) parts.push(`by ${f.actors.join(", ")}`);
  if (f?.record_types?.length) parts.push(f.record_types.join(", "));
  return parts.length ? `${types} · ${parts.join(" · ")}` : types;
}

export const TYPE_OPTIONS = WEBHOOK_EVENT_TYPES.map((t) => ({ value: t as string, label: EVENT_LABELS[t] }));
