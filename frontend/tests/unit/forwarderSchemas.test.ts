// The forwarder form's rules (src/features/forwarders/schemas.ts) agree with the server's. The
// verdicts were taken from the real API (POST /api/forwarders): null = 201 accepted, otherwise the
// server's 422 message.
import { describe, expect, it } from "vitest";
import { changedFields, domainsProblem, forwarderNameProblem, forwarderSchema, serversProblem } from "../../src/features/forwarders/schemas";
import type { Forwarder } from "../../src/features/forwarders/api";

const NAME_MESSAGE = "name must be 1-64 letters, digits, spaces, '_', '-' or '.', starting with a letter or digit";

describe("a forwarder's fields, as the server judges them", () => {
  it.each([
    ["Branch office_2.x", null],
    [" x", null], // the server trims
    ["-x", NAME_MESSAGE],
    ["a/b", NAME_MESSAGE],
    ["", NAME_MESSAGE],
  ])("name %j", (name, verdict) => {
    expect(forwarderNameProblem(name)).toBe(verdict);
  });

  it.each([
    ["192.0.2.1:5353", null],
    ["2001:db8::53", null],
    ["[2001:db8::53]:53", null],
    ["2001:db8::53:53", null], // a bare IPv6 address (its last group is 53)
    ["192.0.2.1:0", "server '192.0.2.1:0': the port must be a number from 1 to 65535"],
    ["fe80::1%eth0", "server 'fe80::1%eth0': a scope id (%...) is not allowed"],
    ["dns.example", "server 'dns.example' is not an IP address or ip:port"],
    ["192.0.2.1, 192.0.2.1", "servers lists 192.0.2.1 twice"],
    ["", "a forwarder needs at least one server"],
  ])("servers %j", (servers, verdict) => {
    expect(serversProblem(servers)).toBe(verdict);
  });

  it.each([
    ["intranet", "", "an active_directory or intranet forwarder needs at least one domain"],
    ["active_directory", "", "an active_directory or intranet forwarder needs at least one domain"],
    ["public", "", null],
    ["intranet", "bad_-.example", "domain: label 'bad_-' may only hold letters, digits, '-' and '_', may not start or end with '-', and has at most 63 characters"],
    [
      "intranet",
      "*.corp.example",
      "domain: label '*' may only hold letters, digits, '-' and '_', may not start or end with '-', and has at most 63 characters (a wildcard * may only be the first label)",
    ],
    ["intranet", "corp.example\nCorp.Example.", "domains lists corp.example twice"],
    ["intranet", ".", "domain may not be the root"],
    ["active_directory", "_msdcs.corp.example", null],
    ["intranet", "corp", null],
  ] as const)("%s with domains %j", (type, domains, verdict) => {
    expect(domainsProblem(domains, type)).toBe(verdict);
  });
});

describe("the forwarder form", () => {
  it("turns what was typed into the API's body: lists split on lines, commas or spaces; domains normalised", () => {
    expect(
      forwarderSchema.parse({ name: " Corp AD ", type: "active_directory", domains: "Corp.Example.,\n_msdcs.corp.example", servers: "192.0.2.53\n[2001:db8::53]:53", enabled: true }),
    ).toEqual({ name: "Corp AD", type: "active_directory", domains: ["corp.example", "_msdcs.corp.example"], servers: ["192.0.2.53", "[2001:db8::53]:53"], enabled: true });
  });

  it("reports each wrong field on its field", () => {
    const result = forwarderSchema.safeParse({ name: "-x", type: "intranet", domains: "", servers: "dns.example", enabled: true });
    expect(result.error?.issues.map((i) => i.path.join("."))).toEqual(["name", "domains", "servers"]);
  });

  it("an update sends only what changed", () => {
    const base: Forwarder = {
      id: 1,
      name: "Corp AD",
      type: "active_directory",
      domains: ["corp.example"],
      servers: ["192.0.2.53"],
      enabled: true,
      created_at: "2026-12-02T08:00:00Z",
      updated_at: "2026-12-02T08:00:00Z",
    };
    expect(changedFields(base, { name: "Corp AD", type: "active_directory", domains: ["corp.example"], servers: ["192.0.2.53", "192.0.2.54"], enabled: true })).toEqual({
      servers: ["192.0.2.53", "192.0.2.54"],
    });
    expect(changedFields(base, { ...base, enabled: false })).toEqual({ enabled: false });
  });
});
