import { describe, expect, it } from "vitest";
import { fromFollowedInstance } from "../../src/features/overview/live";
import type { SystemStatusPayload } from "../../src/types/events";

function status(instance?: string): SystemStatusPayload {
  return { cpu_percent: 10, memory: { percent: 20 }, ...(instance === undefined ? {} : { instance_id: instance }) };
}

describe("fromFollowedInstance", () => {
  it("keeps only the figures of the instance the dashboard is connected to", () => {
    // Two instances each send their host's figures; the cards must not alternate between hosts.
    const arriving = [status("a"), status("b"), status("a"), status("b")];
    expect(arriving.filter((s) => fromFollowedInstance(s, "a")).map((s) => s.instance_id)).toEqual(["a", "a"]);
    expect(arriving.filter((s) => fromFollowedInstance(s, "b")).map((s) => s.instance_id)).toEqual(["b", "b"]);
  });

  it("takes every status until the instance is known, and statuses that name none", () => {
    expect(fromFollowedInstance(status("a"), null)).toBe(true);
    expect(fromFollowedInstance(status("b"), undefined)).toBe(true);
    expect(fromFollowedInstance(status(), "a")).toBe(true);
    expect(fromFollowedInstance(status(""), "a")).toBe(true);
  });
});
