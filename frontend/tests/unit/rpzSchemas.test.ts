// The RPZ forms' rules (src/features/rpz/schemas.ts) agree with the server's. The verdicts below were
// taken from the real API (POST /api/rpz/rules): null = 201 accepted, otherwise the server's 422
// message; where the server's words come from its DNS library ("A DNS label is empty"), the test
// only asks that both refuse.
import { describe, expect, it } from "vitest";
import {
  categoryProblem,
  importOptionsSchema,
  parseDomainList,
  redirectProblem,
  rpzDomainProblem,
  ruleCreateSchema,
  ruleUpdateSchema,
} from "../../src/features/rpz/schemas";
import { validateRpzSearch } from "../../src/features/rpz/search";

const DOMAINS: [string, string | null][] = [
  ["com", "domain 'com' is a top-level domain: a rule would cover every name in it; name a domain of at least two labels like example.com"],
  ["*.com", "domain '*.com' is a top-level domain: a rule would cover every name in it; name a domain of at least two labels like example.com"],
  ["*", "domain '*' alone would match every name; name a domain like example.com"],
  ["*.", "domain '*' alone would match every name; name a domain like example.com"],
  ["example.com", null],
  ["Example.COM.", null],
  ["*.ads.example", null],
  [
    "a.*.example",
    "domain: label '*' may only hold letters, digits, '-' and '_', may not start or end with '-', and has at most 63 characters (a wildcard * may only be the first label)",
  ],
  ["rpz-ip.example", "domain 'rpz-ip.example': labels starting with 'rpz-' are RPZ triggers and actions (rpz-ip, rpz-client-ip, rpz-nsdname, rpz-nsip...), not domains"],
  [
    "x.rpz-nsdname.example",
    "domain 'x.rpz-nsdname.example': labels starting with 'rpz-' are RPZ triggers and actions (rpz-ip, rpz-client-ip, rpz-nsdname, rpz-nsip...), not domains",
  ],
  ["bad_-.example", "domain: label 'bad_-' may only hold letters, digits, '-' and '_', may not start or end with '-', and has at most 63 characters"],
  ["-x.example", "domain: label '-x' may only hold letters, digits, '-' and '_', may not start or end with '-', and has at most 63 characters"],
  ["under_score.example", null],
  ["a b.example", "domain: label 'a b' may only hold letters, digits, '-' and '_', may not start or end with '-', and has at most 63 characters"],
  ["xn--bcher-kva.example", null],
  ["bücher.example", null],
  [".", "domain may not be the root"],
  ["ads.example.com", null],
];

const REDIRECTS: [string, string | null][] = [
  ["192.0.2.80", null],
  ["999.1.1.1", "redirect_to '999.1.1.1' is not an IP address"],
  ["01.2.3.4", "redirect_to '01.2.3.4' is not an IP address"],
  ["2001:db8::80", null],
  ["::1", null],
  ["fe80::1%eth0", "redirect_to 'fe80::1%eth0': a scope id (%...) is not allowed"],
  ["blocked.example.net", null],
  [
    "*.x.example",
    "redirect_to: label '*' may only hold letters, digits, '-' and '_', may not start or end with '-', and has at most 63 characters (a wildcard * may only be the first label)",
  ],
  ["rpz-passthru.", "redirect_to: labels starting with 'rpz-' are RPZ actions, not host names"],
  ["walled_garden.example", null],
  ["1.2.3", null],
  [".", "redirect_to may not be the root"],
];

const CATEGORY_MESSAGE = "category must be 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit";

describe("an RPZ rule's domain", () => {
  it.each(DOMAINS)("%s: as the server says", (domain, verdict) => {
    expect(rpzDomainProblem(domain)).toBe(verdict);
  });

  it("refuses what the server refuses in its DNS library's words", () => {
    expect(rpzDomainProblem("a..example")).not.toBeNull(); // server: "domain is not a valid DNS name: A DNS label is empty."
    expect(rpzDomainProblem(`${"x".repeat(64)}.example`)).not.toBeNull(); // server: "... A DNS label is > 63 octets long."
    expect(rpzDomainProblem("")).toBe("domain is empty");
    expect(rpzDomainProblem("a.example\n")).toBeNull(); // trimmed, as the server trims
    expect(rpzDomainProblem("a.exa\u0007mple")).toBe("domain contains control characters");
  });
});

describe("a redirect target and a category", () => {
  it.each(REDIRECTS)("redirect_to %s: as the server says", (target, verdict) => {
    expect(redirectProblem(target)).toBe(verdict);
  });

  it.each([
    ["malware", null],
    ["Malware", null],
    ["a.b-c_d", null],
    ["x".repeat(64), null],
    ["bad cat", CATEGORY_MESSAGE],
    ["_x", CATEGORY_MESSAGE],
    ["", CATEGORY_MESSAGE],
    ["x".repeat(65), CATEGORY_MESSAGE], // server: "category: String should have at most 64 characters"
  ])("category %j", (category, verdict) => {
    expect(categoryProblem(category)).toBe(verdict);
  });
});

describe("the rule form", () => {
  it("turns a new rule into the API's body: normalised domain, lower-case category, a target only for a redirect", () => {
    expect(ruleCreateSchema.parse({ domain: " Ads.Example.COM. ", action: "block", redirect_to: "192.0.2.1", category: "Malware" })).toEqual({
      domain: "ads.example.com",
      action: "block",
      category: "malware",
    });
    expect(ruleCreateSchema.parse({ domain: "x.example", action: "redirect", redirect_to: " 192.0.2.80 ", category: "custom" })).toEqual({
      domain: "x.example",
      action: "redirect",
      category: "custom",
      redirect_to: "192.0.2.80",
    });
  });

  it("a redirect needs its target; the other actions ignore one left in the hidden field", () => {
    const result = ruleCreateSchema.safeParse({ domain: "x.example", action: "redirect", redirect_to: "", category: "custom" });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => [i.path.join("."), i.message])).toEqual([
      ["redirect_to", "the redirect action needs redirect_to (a host name or IP address)"],
    ]);
    expect(ruleUpdateSchema.parse({ domain: "x.example", action: "passthru", redirect_to: "garbage%%", category: "allowlist" })).toEqual({
      action: "passthru",
      category: "allowlist",
      redirect_to: null,
    });
  });

  it("reports every wrong field at once, on its field", () => {
    const result = ruleCreateSchema.safeParse({ domain: "com", action: "redirect", redirect_to: "999.1.1.1", category: "bad cat" });
    expect(result.error?.issues.map((i) => i.path.join("."))).toEqual(["domain", "redirect_to", "category"]);
  });

  it("the import options follow the same rules", () => {
    expect(importOptionsSchema.parse({ action: "block", redirect_to: "", category: "Ads" })).toEqual({ action: "block", category: "ads" });
    expect(importOptionsSchema.safeParse({ action: "redirect", redirect_to: "rpz-passthru.", category: "ads" }).success).toBe(false);
  });
});

describe("an import list", () => {
  it("one domain per line, comments and blank lines skipped, repeats counted once, invalid lines named with why", () => {
    const parsed = parseDomainList(
      ["# a blocklist", "ads.example.com", "", "  tracker.example  # inline comment", "ADS.example.com.", "com", "0.0.0.0 hosts.example", "two words.example here", "*.wild.example"].join("\r\n"),
    );
    expect(parsed.domains).toEqual(["ads.example.com", "tracker.example", "hosts.example", "*.wild.example"]);
    expect(parsed.duplicates).toBe(1);
    expect(parsed.invalid).toEqual([
      { line: 6, text: "com", problem: expect.stringContaining("top-level domain") as string },
      { line: 8, text: "two words.example here", problem: "one domain per line" },
    ]);
  });

  it("an empty list has nothing to send", () => {
    expect(parseDomainList("\n# only a comment\n   \n")).toEqual({ domains: [], duplicates: 0, invalid: [] });
  });
});

describe("the RPZ page's URL", () => {
  it("keeps a search, a category and an action; drops anything else", () => {
    expect(validateRpzSearch({ q: "ads", category: " Malware ", action: "redirect", page: "3", other: "x" })).toEqual({ q: "ads", category: "malware", action: "redirect", page: 3 });
    expect(validateRpzSearch({ action: "drop", page: "0", q: "  " })).toEqual({});
  });
});
