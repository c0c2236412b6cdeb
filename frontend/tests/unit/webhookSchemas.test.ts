// The webhook form's rules (src/features/webhooks/schemas.ts) against the server's
// (backend integrations/webhooks_net.py `check_url`, realtime/filters.py), and what the form sends.
import { describe, expect, it } from "vitest";
import type { Webhook } from "../../src/features/webhooks/api";
import { changedFields, describeEvents, formField, makeWebhookSchema, toBody, toFormValues, urlProblem, zonesProblem } from "../../src/features/webhooks/schemas";
import { untilLabel } from "../../src/features/webhooks/DeliveriesLog";

const HOOK: Webhook = {
  id: 7,
  url: "https://hooks.example.com/dns",
  event_types: ["zone_created", "record_created"],
  filter: { zones: ["corp.example"], actors: ["alice"] },
  enabled: true,
  ordered: false,
  version: 3,
  created_at: "2026-12-02T10:00:00Z",
  updated_at: "2026-12-02T10:00:00Z",
  created_by: "admin",
  updated_by: "admin",
  failing_since: null,
  disabled_reason: null,
  last_success_at: null,
  last_failure_at: null,
  previous_secret_expires_at: null,
  backlog: 0,
};

describe("a webhook's URL, as the server judges it", () => {
  it.each([
    ["https://hooks.example.com/x?y=1", null],
    ["http://192.0.2.10:8080/hook", null],
    ["", "url is required"],
    ["ftp://example.com/", "url must start with http:// or https://"],
    ["hooks.example.com/x", "url is not a valid URL"],
    ["https://user:pw@example.com/", "url must not carry a user name or password"],
    ["https://example.com/#part", "url must not have a #fragment"],
    ["https://exa mple.com/", "url must not contain spaces"],
    [`https://example.com/${"x".repeat(2048)}`, "url must be at most 2048 characters"],
  ])("url %#", (url, verdict) => {
    expect(urlProblem(url)).toBe(verdict);
  });

  it("checks zones as DNS names, at most 16", () => {
    expect(zonesProblem("corp.example, lab.example")).toBeNull();
    expect(zonesProblem("not a zone")).not.toBeNull();
    expect(zonesProblem(Array.from({ length: 17 }, (_, i) => `z${i}.example`).join(","))).toBe("at most 16 zones");
  });
});

describe("what the form sends", () => {
  it("keeps the filter keys the form does not show, and sends only what changed", () => {
    const values = { ...toFormValues(HOOK), zones: "Corp.Example.\nlab.example", minSeverity: "warning" as const };
    const body = toBody(values, HOOK);
    expect(body.filter).toEqual({ actors: ["alice"], zones: ["corp.example", "lab.example"], min_severity: "warning" });
    expect(body.event_types).toEqual(["record_created", "zone_created"]);
    expect(changedFields(HOOK, body)).toEqual({ filter: body.filter });
    expect(changedFields(HOOK, toBody(toFormValues(HOOK), HOOK))).toEqual({});
  });

  it("sends no types for all notifications, and no filter when none is left", () => {
    const values = { ...toFormValues(null), url: " https://hooks.example.com/x " };
    expect(toBody(values, null)).toEqual({ url: "https://hooks.example.com/x", event_types: [], filter: null, enabled: true, ordered: false });
  });

  it("refuses chosen types with none ticked", () => {
    const result = makeWebhookSchema(null).safeParse({ ...toFormValues(null), url: "https://x.example/", scope: "chosen", types: [] });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join("."))).toEqual(["types"]);
  });

  it("puts the server's fields on the form's", () => {
    expect(formField("url")).toBe("url");
    expect(formField("event_types.0")).toBe("types");
    expect(formField("filter.zones.2")).toBe("zones");
    expect(formField("filter.min_severity")).toBe("minSeverity");
    expect(formField("filter.actors.0")).toBeNull();
  });

  it("describes an endpoint's events in a few words", () => {
    expect(describeEvents(HOOK)).toBe("Zone created, Record created · in corp.example · by alice");
    expect(describeEvents({ event_types: [], filter: null })).toBe("All notifications");
  });

  it("says when the next attempt is due", () => {
    const now = Date.parse("2026-12-02T10:00:00Z");
    expect(untilLabel("2026-12-02T10:00:12Z", now)).toBe("in 12s");
    expect(untilLabel("2026-12-02T10:05:00Z", now)).toBe("in 5m");
    expect(untilLabel("2026-12-02T09:59:00Z", now)).toBe("now");
  });
});
