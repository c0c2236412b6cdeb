// Server answers placed on forms (src/lib/forms.ts): a 422's field errors on their fields, the
// rest at the top; and the API's error shape read by apiFetch (src/services/api.ts).
import { afterEach, describe, expect, it, vi } from "vitest";
import { serverFormErrors } from "../../src/lib/forms";
import { ApiError, apiFetch, ifMatch } from "../../src/services/api";

const FIELDS = ["name", "type", "value", "ttl"] as const;

describe("serverFormErrors", () => {
  it("puts each field error of a 422 on its field, and nothing on top", () => {
    const error = new ApiError(422, "ttl: Input should be greater than or equal to 1", [{ field: "ttl", message: "Input should be greater than or equal to 1" }]);
    expect(serverFormErrors(error, FIELDS)).toEqual({ fields: { ttl: "Input should be greater than or equal to 1" }, form: null });
  });

  it("shows a message that concerns no field of the form at the top (a BIND refusal, a conflict, a 403)", () => {
    const bind = new ApiError(422, "zone example.com would not load: name server ns1.example.com is inside the zone and has no address");
    expect(serverFormErrors(bind, FIELDS)).toEqual({ fields: {}, form: bind.message });
    const conflict = new ApiError(409, "www already has the A record 1.2.3.4");
    expect(serverFormErrors(conflict, FIELDS).form).toBe("www already has the A record 1.2.3.4");
    const forbidden = new ApiError(403, "role viewer may not do this");
    expect(serverFormErrors(forbidden, FIELDS)).toEqual({ fields: {}, form: "role viewer may not do this" });
  });

  it("a field path matches on its first part; fields the form lacks go on top with their name", () => {
    const error = new ApiError(422, "x", [
      { field: "value.0", message: "bad" },
      { field: "zone_type", message: "unknown" },
      { field: "body", message: "not valid JSON text (UTF-8)" },
    ]);
    expect(serverFormErrors(error, FIELDS)).toEqual({ fields: { value: "bad" }, form: "zone_type: unknown; not valid JSON text (UTF-8)" });
  });

  it("never shows an exception's own text", () => {
    expect(serverFormErrors(new TypeError("x is undefined at foo.js:12"), FIELDS)).toEqual({ fields: {}, form: "Something went wrong. Try again." });
  });
});

describe("apiFetch errors", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("reads detail and errors[], keeps the body (a 412's current object), and sends If-Match", async () => {
    const fetchMock = vi.fn<typeof fetch>().mockResolvedValue(
      new Response(JSON.stringify({ detail: "changed meanwhile", current: { id: 3, version: 8 } }), { status: 412 }),
    );
    vi.stubGlobal("fetch", fetchMock);
    const error = await apiFetch("/api/zones/1", { method: "PATCH", body: "{}", headers: ifMatch(7) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).conflict).toBe(true);
    expect((error as ApiError).body).toEqual({ detail: "changed meanwhile", current: { id: 3, version: 8 } });
    expect(new Headers(fetchMock.mock.calls[0]![1]!.headers).get("If-Match")).toBe('"7"');
    expect(ifMatch(undefined)).toEqual({});
  });

  it("an answer that is not the API's error shape (a proxy's HTML page) becomes a plain sentence", async () => {
    vi.stubGlobal("fetch", vi.fn<typeof fetch>().mockResolvedValue(new Response("<html><body>Bad Gateway</body></html>", { status: 502 })));
    const error = (await apiFetch("/api/zones").catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(502);
    expect(error.message).toBe("The server failed to answer this request. Try again.");
    vi.stubGlobal("fetch", vi.fn<typeof fetch>().mockResolvedValue(new Response("", { status: 403 })));
    expect(((await apiFetch("/api/zones").catch((e: unknown) => e)) as ApiError).message).toBe("Your role does not allow this.");
  });
});

describe("serverFormErrors: refusals without field details", () => {
  const RULE_FIELDS = ["domain", "redirect_to", "category"] as const;
  const BY_MESSAGE = [
    [/^domain\b|^a rule for /, "domain"],
    [/^redirect_to\b/, "redirect_to"],
  ] as const;

  it("goes on the field its first words name (a 409 or a business 422)", () => {
    expect(serverFormErrors(new ApiError(409, "a rule for ads.example already exists"), RULE_FIELDS, BY_MESSAGE)).toEqual({
      fields: { domain: "a rule for ads.example already exists" },
      form: null,
    });
    expect(serverFormErrors(new ApiError(422, "redirect_to 'x%y': a scope id (%...) is not allowed"), RULE_FIELDS, BY_MESSAGE).fields).toEqual({
      redirect_to: "redirect_to 'x%y': a scope id (%...) is not allowed",
    });
  });

  it("stays on top when no pattern matches, or for other statuses", () => {
    expect(serverFormErrors(new ApiError(422, "rules could not be deployed: ..."), RULE_FIELDS, BY_MESSAGE)).toEqual({ fields: {}, form: "rules could not be deployed: ..." });
    expect(serverFormErrors(new ApiError(403, "domain of another role"), RULE_FIELDS, BY_MESSAGE)).toEqual({ fields: {}, form: "domain of another role" });
  });
});
