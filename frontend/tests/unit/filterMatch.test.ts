// matchesFilter against the server: every case of the shared filter table (and a few more), with the
// events as the server sends them and what the server's EventFilter keeps of them, written by
// backend/tests/test_filter_fixture.py (which fails when this fixture is stale).

import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { casefold, compileFilter, matchesCompiled, matchesFilter } from "../../src/services/eventFilter";
import type { EventFilter, ServerEvent } from "../../src/types/events";

interface Fixture {
  events: { key: string; event: ServerEvent }[];
  cases: { name: string; filter: Record<string, unknown>; normalized: EventFilter | null; expected: string[] }[];
}

// (a path, not import.meta.url: under jsdom that is not a file URL)
const fixture = JSON.parse(readFileSync(path.resolve(__dirname, "../fixtures/filter_cases.json"), "utf-8")) as Fixture;

/** The filter as a client may send it: null values (as the table has some) are no condition. */
function asFilter(raw: Record<string, unknown>): EventFilter {
  return Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null)) as EventFilter;
}

function kept(filter: EventFilter | null): string[] {
  return fixture.events.filter(({ event }) => matchesFilter(event, filter)).map(({ key }) => key);
}

describe("matchesFilter keeps exactly what the server keeps", () => {
  it("has the fixture's cases", () => {
    expect(fixture.cases.length).toBeGreaterThan(20);
    expect(fixture.events.every(({ event }) => event.about !== undefined)).toBe(true);
  });

  it.each(fixture.cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    // as typed (any case, a final dot), and as the server echoes it in `acked`
    expect(kept(asFilter(c.filter))).toEqual(c.expected);
    expect(kept(c.normalized)).toEqual(c.expected);
  });
});

describe("matchesFilter", () => {
  const [first] = fixture.events;
  if (first === undefined) throw new Error("the fixture has no events");
  const event = first.event;

  it("keeps everything with no filter, and with an empty one", () => {
    expect(matchesFilter(event, null)).toBe(true);
    expect(matchesFilter(event, undefined)).toBe(true);
    expect(matchesFilter(event, {})).toBe(true);
  });

  it("matches nothing that needs `about` on an event without it (an older server)", () => {
    const bare = { ...event, about: undefined };
    expect(matchesFilter(bare, { zones: ["corp.example"] })).toBe(false);
    expect(matchesFilter(bare, { text: "zone" })).toBe(false);
    expect(matchesFilter(bare, { actors: ["alice"] })).toBe(true);
  });

  it("takes the category from the type when the event does not say it", () => {
    const { category: _category, ...noCategory } = event;
    expect(matchesFilter(noCategory, { categories: ["dns"] })).toBe(true);
    expect(matchesFilter(noCategory, { categories: ["user"] })).toBe(false);
  });

  it("compiles a filter once for many events", () => {
    const compiled = compileFilter({ zones: ["Corp.Example."] });
    expect(fixture.events.filter((e) => matchesCompiled(e.event, compiled)).map((e) => e.key)).toEqual(kept({ zones: ["corp.example"] }));
  });

  it("folds case beyond lower case, as Python's casefold", () => {
    expect(casefold("Straße")).toBe("strasse");
    expect(casefold("ΟΔΟΣ")).toBe("οδοσ");
    expect(casefold("MAIL")).toBe("mail");
  });
});
