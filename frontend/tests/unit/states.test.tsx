// Loading, empty, error and forbidden are four different things: a feed whose history request
// failed says so, with the server's message and a retry, and never "No DNS changes yet".
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { EventFeed } from "../../src/features/overview/EventFeed";
import { ApiError } from "../../src/services/api";
import { makeEvent } from "./fakeWebSocket";

const EMPTY = "No DNS changes yet. Zone, record and reload events appear here as they happen.";

function feed(props: Partial<Parameters<typeof EventFeed>[0]>) {
  return render(<EventFeed title="DNS activity" icon={null} events={[]} listTestId="recent-dns-events" itemTestId="dns-event" empty={EMPTY} {...props} />);
}

afterEach(cleanup);

describe("a feed's states", () => {
  it("loading: a status, not the empty text", () => {
    feed({ loading: true });
    expect(screen.getByRole("status").textContent).toContain("Loading dns activity");
    expect(screen.queryByText(EMPTY)).toBeNull();
  });

  it("error: the API's message and a retry, not the empty text", () => {
    const retry = vi.fn();
    feed({ error: new ApiError(503, "event broker unavailable; try again"), onRetry: retry });
    expect(screen.getByRole("alert").textContent).toContain("Could not load dns activity");
    expect(screen.getByTestId("state-error-message").textContent).toBe("event broker unavailable; try again");
    expect(screen.queryByText(EMPTY)).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: /Retry/ }));
    expect(retry).toHaveBeenCalledOnce();
  });

  it("empty: only when the history was loaded and holds nothing", () => {
    feed({});
    expect(screen.getByText(EMPTY)).toBeTruthy();
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("forbidden: what the role cannot see, and why", () => {
    feed({ unavailable: "Your role (viewer) cannot view security events", unavailableHint: "Shown to operators and admins." });
    expect(screen.getByTestId("security-unavailable").textContent).toBe("Your role (viewer) cannot view security events");
    expect(screen.queryByText(EMPTY)).toBeNull();
  });

  it("an error after events were shown keeps them", () => {
    feed({ events: [makeEvent(3)], error: new ApiError(0, "Cannot reach the server.") });
    expect(screen.getAllByTestId("dns-event")).toHaveLength(1);
  });
});
