// Every time shown has a date, a time and a zone (local), and UTC on hover: the explorer's rows,
// the notifications and the overview's feeds all go through these.
import { describe, expect, it } from "vitest";
import { formatClock, formatTimestamp, formatUtc } from "../../src/lib/format";
import { rowDetail } from "../../src/features/explorer/ExplorerPage";
import { EventType } from "../../src/types/events";

const AT = "2026-12-02T08:40:35.123Z";
const paris = { locale: "en-GB", timeZone: "Europe/Paris" };

describe("timestamps for people", () => {
  it("shows the full local date, time and zone", () => {
    expect(formatTimestamp(AT, paris)).toBe("2 Dec 2026, 09:40:35 CET");
    expect(formatTimestamp(AT, { locale: "en-US", timeZone: "America/New_York" })).toBe("Dec 2, 2026, 03:40:35 EST");
  });

  it("feeds: date, time and zone, the year only when it is not this year's", () => {
    const now = Date.parse("2026-12-05T00:00:00Z");
    expect(formatClock(AT, { ...paris, now })).toBe("2 Dec, 09:40:35 CET");
    expect(formatClock("2025-06-30T22:00:00Z", { ...paris, now })).toBe("1 Jul 2025, 00:00:00 CEST");
  });

  it("gives the UTC moment for the hover title, and nothing for a bad time", () => {
    expect(formatUtc(AT)).toBe("2026-12-02 08:40:35 UTC");
    expect(formatTimestamp("not a time")).toBe("");
    expect(formatClock("")).toBe("");
  });
});

describe("a row's words", () => {
  const base = { id: "x", seq: 1, category: "dns" as const, severity: "info" as const, timestamp: AT, actor: "alice" };
  it("uses the summary without repeating the title", () => {
    const event = {
      ...base,
      type: EventType.RecordCreated,
      data: { name: "www.corp.example", type: "A", value: "192.0.2.1" },
      about: { zone: "corp.example", name: "www.corp.example", record_type: "A", summary: "Record created: www.corp.example A 192.0.2.1" },
    };
    expect(rowDetail(event)).toBe("www.corp.example A 192.0.2.1");
  });
  it("falls back to the payload when the event has no `about` (an older server)", () => {
    expect(rowDetail({ ...base, type: EventType.ZoneCreated, data: { zone: "corp.example", zone_type: "master" } })).toBe("corp.example · master");
  });
});
