// The admin pages' rules: the settings' bounds and what the form sends (only what changed), the user
// forms (the server's username and password rules), and the audit log's URL (times RFC 3339 with an
// offset, kept as the API takes them, shown in local time).
import { describe, expect, it } from "vitest";
import { isRfc3339, localInputToRfc3339, rfc3339ToLocalInput, validateAuditSearch } from "../../src/features/audit/search";
import { SETTINGS, SETTING_BY_KEY, settingProblem, settingsSchema } from "../../src/features/settings/schemas";
import { passwordSchema, userCreateSchema, usernameProblem } from "../../src/features/users/schemas";

const CURRENT = Object.fromEntries(SETTINGS.map((s) => [s.key, s.exclusiveMin ? s.min + 1 : s.min])) as Record<(typeof SETTINGS)[number]["key"], number>;

describe("settings", () => {
  it("checks a value against its bounds, in words", () => {
    const timeout = SETTING_BY_KEY.FORWARDER_CHECK_TIMEOUT;
    expect(settingProblem(timeout, "0")).toBe("Check timeout must be more than 0, at most 30");
    expect(settingProblem(timeout, "0.5")).toBeNull();
    expect(settingProblem(timeout, "30")).toBeNull();
    expect(settingProblem(timeout, "30.01")).toBe("Check timeout must be more than 0, at most 30");
    const failures = SETTING_BY_KEY.FORWARDER_FAILURES_TO_DEGRADE;
    expect(settingProblem(failures, "2.5")).toBe("Failures before worse must be a whole number");
    expect(settingProblem(failures, "")).toBe("Failures before worse is required");
    expect(settingProblem(SETTING_BY_KEY.BIND_RELOAD_DEBOUNCE, "0")).toBeNull();
    expect(settingProblem(SETTING_BY_KEY.LOGIN_FAILURE_WINDOW, "9")).toBe("Forget failures after must be 10 to 86,400");
    expect(settingProblem(SETTING_BY_KEY.HEALTH_ALERT_FAILURE_RATIO, "1e-3")).toBe("Failure ratio threshold must be a number");
  });

  it("sends only the settings whose value changed, as numbers", () => {
    const values = Object.fromEntries(SETTINGS.map((s) => [s.key, String(CURRENT[s.key])]));
    const schema = settingsSchema(CURRENT);
    expect(schema.parse(values)).toEqual({});
    expect(schema.parse({ ...values, FORWARDER_CHECK_INTERVAL: "5", HEALTH_ALERT_FAILURE_RATIO: ".25" })).toEqual({ FORWARDER_CHECK_INTERVAL: 5, HEALTH_ALERT_FAILURE_RATIO: 0.25 });
  });

  it("a value the server holds outside the bounds (its configuration) does not block saving another one", () => {
    const current = { ...CURRENT, HEALTH_BROADCAST_INTERVAL: 0.5 };
    const values = Object.fromEntries(SETTINGS.map((s) => [s.key, String(current[s.key])]));
    expect(settingsSchema(current).parse({ ...values, LOGIN_FAILURE_LIMIT: "7" })).toEqual({ LOGIN_FAILURE_LIMIT: 7 });
    expect(settingsSchema(current).safeParse({ ...values, HEALTH_BROADCAST_INTERVAL: "0.6" }).success).toBe(false);
  });
});

describe("users", () => {
  it.each([
    ["alice", null],
    ["a.b@c-d_e", null],
    ["9lives", null],
    ["_alice", "username: 1-64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit"],
    ["al ice", "username: 1-64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit"],
    ["x".repeat(65), "username: 1-64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit"],
    ["", "username: 1-64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit"],
  ])("username %j", (name, verdict) => {
    expect(usernameProblem(name)).toBe(verdict);
  });

  it("a new user needs a password of 8 characters, typed twice", () => {
    const ok = userCreateSchema.parse({ username: "alice", role: "operator", password: "correct horse", confirm: "correct horse" });
    expect(ok).toEqual({ username: "alice", role: "operator", password: "correct horse" });
    const bad = userCreateSchema.safeParse({ username: "alice", role: "operator", password: "short", confirm: "shorts" });
    expect(bad.error?.issues.map((i) => [i.path.join("."), i.message])).toEqual([
      ["password", "password: at least 8 characters"],
      ["confirm", "the two passwords differ"],
    ]);
    expect(passwordSchema.safeParse({ password: "long enough", confirm: "" }).error?.issues[0]?.message).toBe("type the password again");
    const long = "x".repeat(1025);
    expect(passwordSchema.safeParse({ password: long, confirm: long }).error?.issues[0]?.message).toBe("password: at most 1024 characters");
  });
});

describe("the audit log's URL", () => {
  it("keeps the filters it can use, times only as RFC 3339 with an offset", () => {
    expect(
      validateAuditSearch({ actor: " alice ", action: "rpz.", outcome: "refused", since: "2026-12-02T09:00:00+01:00", until: "2026-12-02T10:00:00Z", page: "2", x: 1 }),
    ).toEqual({ actor: "alice", action: "rpz.", outcome: "refused", since: "2026-12-02T09:00:00+01:00", until: "2026-12-02T10:00:00Z", page: 2 });
    expect(validateAuditSearch({ outcome: "maybe", since: "2026-12-02T09:00:00", until: "yesterday" })).toEqual({});
    expect(isRfc3339("2026-13-40T99:00:00Z")).toBe(false);
  });

  it("a local time typed in the page becomes RFC 3339 with this browser's offset, and back", () => {
    const rfc = localInputToRfc3339("2026-12-02T09:30")!;
    expect(isRfc3339(rfc)).toBe(true);
    expect(new Date(rfc).getTime()).toBe(new Date(2026, 11, 2, 9, 30).getTime());
    expect(rfc3339ToLocalInput(rfc)).toBe("2026-12-02T09:30");
    expect(localInputToRfc3339("")).toBeNull();
  });
});
