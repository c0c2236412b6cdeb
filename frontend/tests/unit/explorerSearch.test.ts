// The explorer's URL <-> filter mapping: what a link says is what the socket filters and the
// history query asks, nothing invalid gets through, and a URL survives the router's own
// serialisation (a reload) unchanged.
import { defaultParseSearch, defaultStringifySearch } from "@tanstack/react-router";
import { describe, expect, it } from "vitest";
import {
  checkTypedList,
  historyParams,
  isLiveView,
  localInputToRfc3339,
  rfc3339ToLocalInput,
  searchKey,
  validateExplorerSearch,
  wireFilter,
  withField,
  zoneProblem,
} from "../../src/features/explorer/search";

/** What the /events route does with a URL's search string. */
function fromUrl(search: string) {
  return validateExplorerSearch(defaultParseSearch(search) as Record<string, unknown>);
}

describe("explorer search: URL -> filter", () => {
  it("reads every filter from a shared link", () => {
    const search = fromUrl(
      "?zone=Corp.Example.,lab.example&min_severity=warning&category=dns,security&actor=alice,bob&record_type=a,MX&text=mail&q=backup%20host&since=2026-12-01T00:00:00Z&until=2026-12-02T10:00:00%2B01:00",
    );
    expect(search).toEqual({
      zone: "corp.example,lab.example",
      min_severity: "warning",
      category: "dns,security",
      actor: "alice,bob",
      record_type: "A,MX",
      text: "mail",
      q: "backup host",
      since: "2026-12-01T00:00:00Z",
      until: "2026-12-02T10:00:00+01:00",
    });
    expect(wireFilter(search)).toEqual({
      zones: ["corp.example", "lab.example"],
      min_severity: "warning",
      categories: ["dns", "security"],
      actors: ["alice", "bob"],
      record_types: ["A", "MX"],
      text: "mail",
    });
    expect([...historyParams(search).entries()]).toEqual([
      ["zone", "corp.example"],
      ["zone", "lab.example"],
      ["min_severity", "warning"],
      ["category", "dns"],
      ["category", "security"],
      ["actor", "alice"],
      ["actor", "bob"],
      ["record_type", "A"],
      ["record_type", "MX"],
      ["text", "mail"],
      ["q", "backup host"],
      ["since", "2026-12-01T00:00:00Z"],
      ["until", "2026-12-02T10:00:00+01:00"],
    ]);
  });

  it("drops what is not valid, keeps the rest, and never throws", () => {
    const search = fromUrl(
      "?zone=ok.example,bad..name,-x-.example&min_severity=loud&category=dns,nonsense&record_type=A,SOA&since=yesterday&until=2026-13-40T00:00:00Z&unknown=1&text=%20%20",
    );
    expect(search).toEqual({ zone: "ok.example", category: "dns", record_type: "A" });
    expect(fromUrl("?zone=%5B1%2C2%5D&actor=42")).toEqual({ actor: "42" }); // a JSON-looking value is not a list of zones
    expect(fromUrl("")).toEqual({});
    expect(wireFilter({})).toBeNull();
  });

  it("keeps the server's limits: 16 entries a list, 128 characters of text", () => {
    const zones = Array.from({ length: 20 }, (_, i) => `z${i}.example`).join(",");
    const search = fromUrl(`?zone=${zones}&text=${"x".repeat(300)}`);
    expect(search.zone?.split(",")).toHaveLength(16);
    expect(search.text).toHaveLength(128);
    expect(zoneProblem("a".repeat(64) + ".example")).toMatch(/not a DNS name/);
    expect(zoneProblem("x".repeat(250) + ".example")).toMatch(/at most 253/);
  });

  it("survives the router's serialisation: a reload opens the same view", () => {
    const search = fromUrl("?zone=corp.example&category=dns,user&min_severity=error&actor=123&text=true&since=2026-12-01T08:00:00Z");
    const url = defaultStringifySearch(search);
    expect(fromUrl(url)).toEqual(search);
    expect(search.actor).toBe("123"); // a number-looking actor stays text
    expect(search.text).toBe("true");
  });

  it("gives equal searches one cache key, whatever the key order", () => {
    expect(searchKey({ category: "dns", zone: "a.example" })).toBe(searchKey({ zone: "a.example", category: "dns" }));
    expect(searchKey({ zone: "a.example" })).not.toBe(searchKey({ zone: "b.example" }));
  });

  it("is live unless it searches full text or ends in the past", () => {
    expect(isLiveView({ zone: "a.example", since: "2026-12-01T00:00:00Z" })).toBe(true);
    expect(isLiveView({ q: "mail" })).toBe(false);
    expect(isLiveView({ until: "2026-12-01T00:00:00Z" })).toBe(false);
  });

  it("checks what is typed into a list field", () => {
    expect(checkTypedList("zone", " Corp.Example. , lab.example,corp.example")).toEqual({ value: "corp.example,lab.example", problem: null });
    expect(checkTypedList("zone", "good.example, bad..example")).toEqual({ value: "good.example", problem: "'bad..example' is not a DNS name" });
    expect(checkTypedList("actor", "")).toEqual({ value: undefined, problem: null });
    expect(checkTypedList("record_type", "aaaa, soa").problem).toMatch(/record type must be one of/);
  });

  it("sets and clears one field", () => {
    expect(withField({ zone: "a.example" }, "min_severity", "error")).toEqual({ zone: "a.example", min_severity: "error" });
    expect(withField({ zone: "a.example", text: "x" }, "text", "")).toEqual({ zone: "a.example" });
    expect(withField({ zone: "a.example" }, "zone", undefined)).toEqual({});
  });

  it("turns a local date and time into RFC 3339 with the offset, and back", () => {
    const rfc = localInputToRfc3339("2026-12-02T09:30");
    expect(rfc).toMatch(/^2026-12-02T09:30:00[+-]\d{2}:\d{2}$/);
    expect(rfc3339ToLocalInput(rfc!)).toBe("2026-12-02T09:30");
    expect(localInputToRfc3339("not a time")).toBeNull();
  });
});
