// The zone and record forms' rules (src/features/zones/schemas.ts) agree with the server's. The
// verdicts below were taken from the real API (POST /api/zones/{id}/records in zone cmp.example):
// 201 = accepted, otherwise the start of the server's 422 message.
import { describe, expect, it } from "vitest";
import {
  labelsProblem,
  ownerTypeProblem,
  recordNameProblem,
  recordSchema,
  recordValueProblem,
  serverProblem,
  serversProblem,
  ttlProblem,
  txtStrings,
  zoneCreateSchema,
  zoneNameProblem,
  zoneSettingsSchema,
} from "../../src/features/zones/schemas";
import type { RecordType } from "../../src/features/zones/api";

const ZONE = "cmp.example";

function problem(name: string, type: RecordType, value: string): string | null {
  return recordNameProblem(name, ZONE) ?? ownerTypeProblem(name, type, ZONE) ?? recordValueProblem(type, value, ZONE, name);
}

// [name, type, value, what the server said (null: 201 Created)]
const SERVER_VERDICTS: [string, RecordType, string, string | null][] = [
  ["@", "A", "192.0.2.1", null],
  ["www", "A", "1.2.3", "A value"],
  ["www", "A", "01.2.3.4", "A value"],
  ["www", "A", "256.1.1.1", "A value"],
  ["w_w", "A", "192.0.2.1", "an A record's name must be a host name"],
  ["_sip._tcp", "SRV", "10 5 5060 sip", null],
  ["x", "AAAA", "2001:db8::1", null],
  ["x", "AAAA", "2001:db8::g", "AAAA value"],
  ["x", "AAAA", "fe80::1%eth0", "AAAA value"],
  ["x", "AAAA", "::ffff:1.2.3.4", null],
  ["x", "AAAA", "192.0.2.1", "AAAA value"],
  ["@", "CNAME", "target", "a CNAME cannot be at the zone apex (@)"],
  ["alias", "CNAME", "@", null],
  ["alias", "CNAME", ".", "CNAME target may not be the root (.)"],
  ["alias", "CNAME", "_dmarc.other.org.", null],
  ["alias", "CNAME", "a..b", "CNAME target"],
  ["@", "MX", "10 mail", null],
  ["@", "MX", "70000 mail", "MX preference"],
  ["@", "MX", "10", "MX value"],
  ["@", "MX", "0 .", null],
  ["@", "MX", "10 _mail", "MX exchange '_mail.cmp.example' must be a host name"],
  ["m", "MX", "10 mail.example.net.", null],
  ["@", "TXT", "hello world", null],
  ["@", "TXT", '"v=spf1 mx -all"', null],
  ["@", "TXT", '"unclosed', "TXT value"],
  ["@", "TXT", '"a" "b"', null],
  ["@", "TXT", '"x""y"', null],
  ["s", "SRV", "1 2 3", "SRV value"],
  ["s", "SRV", "1 2 70000 t", "SRV port"],
  ["s", "SRV", "0 0 0 .", null],
  ["@", "NS", "ns1.example.net.", null],
  ["*", "NS", "ns1.example.net.", "a wildcard (*) cannot own NS records"],
  ["sub", "NS", "_ns.example.net.", "NS target '_ns.example.net' must be a host name"],
  ["p", "PTR", "host.example.com.", null],
  ["*.wild", "A", "192.0.2.1", null],
  ["a.*", "A", "192.0.2.1", "record name: label '*' may only hold letters, digits, '-' and '_'"],
  ["-bad", "A", "192.0.2.1", "record name: label '-bad' may only hold"],
  ["x.example.com.", "A", "192.0.2.1", "record name 'x.example.com.' is not inside the zone cmp.example"],
  ["x.other.com.", "A", "192.0.2.1", "record name 'x.other.com.' is not inside the zone cmp.example"],
  [`toolong-${"a".repeat(60)}`, "A", "192.0.2.1", "record name"],
  ["www", "A", "192.0.2.1 192.0.2.2", "A value"],
  ["gc._msdcs", "A", "192.0.2.9", null],
  ["sp ace", "A", "192.0.2.1", "record name"],
  ["x", "CNAME", "ünïcode.example.", null],
];

describe("record rules, as the server judges them", () => {
  it.each(SERVER_VERDICTS)("%s %s %s", (name, type, value, server) => {
    const mine = problem(name, type, value);
    if (server === null) expect(mine).toBeNull();
    else expect(mine).toMatch(new RegExp(`^${server.slice(0, 12).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  });

  it("uses the server's words where the server checks the same rule", () => {
    expect(problem("w_w", "A", "192.0.2.1")).toBe("an A record's name must be a host name: letters, digits and '-' (no '_'); 'w_w.cmp.example' is not one");
    expect(problem("-bad", "A", "192.0.2.1")).toBe(
      "record name: label '-bad' may only hold letters, digits, '-' and '_', may not start or end with '-', and has at most 63 characters",
    );
    expect(problem("*", "NS", "ns1.example.net.")).toBe("a wildcard (*) cannot own NS records");
  });
});

describe("names", () => {
  it("takes a record name relative, absolute, or written out without the final dot", () => {
    for (const name of ["", "@", "www", "www.cmp.example", "www.cmp.example.", "cmp.example.", "*.dev", "_acme-challenge"]) {
      expect(recordNameProblem(name, ZONE), name).toBeNull();
    }
  });

  it("refuses a name past 253 characters within the zone", () => {
    const label = "a".repeat(63);
    const long = [label, label, label, "a".repeat(50)].join(".");
    expect(recordNameProblem(long, ZONE)).toMatch(/longer than 253 characters/);
  });

  it("checks zone names: labels of letters, digits, - and _ up to 63, 253 in all, not the root", () => {
    expect(zoneNameProblem("example.com")).toBeNull();
    expect(zoneNameProblem("example.com.")).toBeNull();
    expect(zoneNameProblem("10.in-addr.arpa")).toBeNull();
    expect(zoneNameProblem("_msdcs.corp.local")).toBeNull();
    expect(zoneNameProblem("")).toBe("zone name is empty");
    expect(zoneNameProblem(".")).toBe("zone name may not be the root");
    expect(zoneNameProblem("bad_-.com")).toBe(
      "zone name: label 'bad_-' may only hold letters, digits, '-' and '_', may not start or end with '-', and has at most 63 characters",
    );
    expect(zoneNameProblem("a..b")).toMatch(/empty label/);
    expect(zoneNameProblem(`${"a".repeat(64)}.com`)).toMatch(/at most 63 characters/);
    expect(zoneNameProblem(Array(130).fill("ab").join("."))).toMatch(/longer than 253/);
    expect(zoneNameProblem("tab\there.com")).toBe("zone name contains control characters");
  });

  it("host names have no underscore", () => {
    expect(labelsProblem("ns_1.example", "NS target", { host: true })).toMatch(/must be a host name/);
    expect(labelsProblem("ns-1.example", "NS target", { host: true })).toBeNull();
  });
});

describe("values", () => {
  it("reads TXT as dnspython does: quoted strings and bare words, each at most 255 characters", () => {
    expect(txtStrings('"v=spf1 mx -all"')).toEqual(["v=spf1 mx -all"]);
    expect(txtStrings("hello world")).toEqual(["hello", "world"]);
    expect(txtStrings('"a\\"b" c')).toEqual(['a\\"b', "c"]);
    expect(txtStrings('"open')).toBeNull();
    expect(recordValueProblem("TXT", `"${"x".repeat(255)}"`, ZONE)).toBeNull();
    expect(recordValueProblem("TXT", `"${"x".repeat(256)}"`, ZONE)).toMatch(/at most 255 characters/);
    expect(recordValueProblem("TXT", `"${"x".repeat(200)}" "${"y".repeat(200)}"`, ZONE)).toBeNull();
  });

  it("says what an empty value of each type should look like", () => {
    expect(recordValueProblem("MX", "  ", ZONE)).toBe("MX value is empty (expected something like 10 mail.example.com.)");
    expect(recordValueProblem("A", "1.2.3.4\n", ZONE)).toBeNull(); // trimmed
    expect(recordValueProblem("A", "1.2.3.4\u0007", ZONE)).toMatch(/control characters/);
    expect(recordValueProblem("TXT", "x".repeat(4001), ZONE)).toMatch(/longer than 4000/);
  });

  it("PTR targets are host names in reverse zones only", () => {
    expect(recordValueProblem("PTR", "_svc.example.com.", "example.com", "p")).toBeNull();
    expect(recordValueProblem("PTR", "_svc.example.com.", "2.0.192.in-addr.arpa", "10")).toMatch(/must be a host name/);
  });
});

describe("TTL and servers", () => {
  it("a TTL is empty (the zone's default) or a whole number from 1 to 604800", () => {
    expect(ttlProblem("")).toBeNull();
    expect(ttlProblem("1")).toBeNull();
    expect(ttlProblem("604800")).toBeNull();
    expect(ttlProblem("0")).toBe("TTL must be from 1 to 604800");
    expect(ttlProblem("604801")).toBe("TTL must be from 1 to 604800");
    expect(ttlProblem("1.5")).toBe("TTL must be a whole number");
    expect(ttlProblem("-3")).toBe("TTL must be a whole number");
  });

  it("servers are ip, ip:port or [ipv6]:port", () => {
    for (const ok of ["192.0.2.53", "192.0.2.53:5353", "2001:db8::53", "[2001:db8::53]:53"]) expect(serverProblem(ok), ok).toBeNull();
    expect(serverProblem("192.0.2.53:0")).toMatch(/port must be a number from 1 to 65535/);
    expect(serverProblem("fe80::1%eth0")).toMatch(/scope id/);
    expect(serverProblem("dns.example")).toMatch(/not an IP address/);
    expect(serversProblem("", true)).toBe("a forward zone needs at least one forwarder server");
    expect(serversProblem("192.0.2.1, 192.0.2.1", true)).toBe("forwarders lists 192.0.2.1 twice");
    expect(serversProblem("192.0.2.1 192.0.2.2\n[2001:db8::1]:53", true)).toBeNull();
  });
});

describe("schemas", () => {
  it("the record form gives the API's body: '@' for an empty name, null TTL for the zone default", () => {
    const schema = recordSchema(ZONE);
    expect(schema.parse({ name: " ", type: "A", value: " 192.0.2.1 ", ttl: "" })).toEqual({ name: "@", type: "A", value: "192.0.2.1", ttl: null });
    expect(schema.parse({ name: "www", type: "MX", value: "10 mail", ttl: "300" })).toEqual({ name: "www", type: "MX", value: "10 mail", ttl: 300 });
  });

  it("the record form puts each problem on its field", () => {
    const result = recordSchema(ZONE).safeParse({ name: "w_w", type: "A", value: "1.2.3", ttl: "0" });
    expect(result.success).toBe(false);
    const byField = Object.fromEntries(result.error!.issues.map((i) => [i.path.join("."), i.message]));
    expect(Object.keys(byField).sort()).toEqual(["name", "ttl", "value"]);
    expect(byField.ttl).toBe("TTL must be from 1 to 604800");
    expect(recordSchema(ZONE).safeParse({ name: "x", type: "HINFO", value: "a", ttl: "" }).success).toBe(false);
  });

  it("a forward zone needs servers; a primary zone ignores the field", () => {
    expect(zoneCreateSchema.parse({ name: "example.com", zone_type: "master", default_ttl: "", forwarders: "junk" })).toEqual({
      name: "example.com",
      zone_type: "master",
    });
    expect(zoneCreateSchema.parse({ name: "corp.local", zone_type: "forward", default_ttl: "600", forwarders: "192.0.2.1, 192.0.2.2" })).toEqual({
      name: "corp.local",
      zone_type: "forward",
      default_ttl: 600,
      forwarders: ["192.0.2.1", "192.0.2.2"],
    });
    const missing = zoneCreateSchema.safeParse({ name: "corp.local", zone_type: "forward", default_ttl: "", forwarders: "" });
    expect(missing.error?.issues.map((i) => [i.path.join("."), i.message])).toEqual([["forwarders", "a forward zone needs at least one forwarder server"]]);
  });

  it("zone settings: the server's bounds, and expire greater than refresh and retry", () => {
    const schema = zoneSettingsSchema("master");
    const base = { default_ttl: "3600", refresh: "3600", retry: "900", expire: "1209600", minimum: "300", primary_ns: "localhost.", admin_email: "hostmaster", forwarders: "" };
    expect(schema.parse(base)).toEqual({ default_ttl: 3600, refresh: 3600, retry: 900, expire: 1209600, minimum: 300, primary_ns: "localhost.", admin_email: "hostmaster" });
    const bad = schema.safeParse({ ...base, refresh: "59", minimum: "86401" });
    expect(bad.error?.issues.map((i) => i.path.join(".")).sort()).toEqual(["minimum", "refresh"]);
    const order = schema.safeParse({ ...base, expire: "3600" });
    expect(order.error?.issues.map((i) => i.message)).toEqual(["expire must be greater than refresh and retry"]);
  });
});
