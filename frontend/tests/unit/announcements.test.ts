// What screen readers are told about new events: critical and error events interrupt (aria-live
// assertive), the rest wait their turn (polite).
import { describe, expect, it } from "vitest";
import { announcementFor } from "../../src/features/events";
import { EventType, type ServerEvent } from "../../src/types/events";
import { makeEvent } from "./fakeWebSocket";

function withSeverity(event: ServerEvent, severity: ServerEvent["severity"], data: Record<string, unknown> = {}): ServerEvent {
  return { ...event, severity, data: { ...event.data, ...data } as ServerEvent["data"] };
}

describe("announcementFor", () => {
  it("announces a critical event assertively and the others politely", () => {
    const critical = withSeverity(makeEvent(1, EventType.SecurityAlert), "critical", { message: "Query flood from 198.51.100.23" });
    const info = makeEvent(2, EventType.ZoneUpdated);
    expect(announcementFor([critical, info])).toEqual({
      assertive: "Critical event: Security alert, Query flood from 198.51.100.23",
      polite: "New notification: Zone updated, a.example",
    });
  });

  it("counts a burst instead of reading each one", () => {
    const burst = [1, 2, 3].map((n) => makeEvent(n, EventType.RecordCreated));
    expect(announcementFor(burst)).toEqual({ assertive: "", polite: "3 new notifications" });
    const errors = [4, 5].map((n) => withSeverity(makeEvent(n, EventType.BindReload), "error"));
    expect(announcementFor(errors).assertive).toBe("2 error events");
  });
});
