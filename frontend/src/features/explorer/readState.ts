// The explorer's read marks, as pure functions (no React, no I/O): the history says `read` for each
// event it lists; an `acked` frame (from any tab of the user, or the answer to this page's own
// "Mark matching as read") says what became read since, and the pages held in the query cache
// follow it, so a row's unread dot and the detail panel's "Read" stay true without a reload.
//
// "Mark matching as read" is the server's "mark all matching this filter as read" (POST
// /api/events/ack {"filter", "all": true}): it takes the view's filter only, so it is offered only
// when the view is exactly a filter (no full-text `q`, no time range: an ack has neither).

import type { InfiniteData } from "@tanstack/react-query";
import { ackedReads, isNotification, type AckedFacts } from "../../services/eventStore";
import type { EventFilter } from "../../types/events";
import type { ExplorerEvent, ExplorerPage } from "./api";
import { wireFilter, type ExplorerSearch } from "./search";

/** Whether the row shows as unread: the history said so (a live event carries no flag), and it is news. */
export function isUnread(event: ExplorerEvent): boolean {
  return event.read === false && isNotification(event);
}

/**
 * The pages with what the ack made read marked so (only events the history called unread change);
 * the same object when nothing changes, and every unchanged page and event by reference.
 */
export function applyAckedToPages(data: InfiniteData<ExplorerPage> | undefined, frame: AckedFacts): InfiniteData<ExplorerPage> | undefined {
  if (data === undefined) return data;
  let changed = false;
  const pages = data.pages.map((page) => {
    const next = applyAckedToPage(page, [frame]);
    if (next !== page) changed = true;
    return next;
  });
  return changed ? { ...data, pages } : data;
}

/** One page with the marks of these acks (e.g. those that came while it was being fetched: it may predate them). */
export function applyAckedToPage(page: ExplorerPage, frames: readonly AckedFacts[]): ExplorerPage {
  const tests = frames.map(ackedReads).filter((t) => t !== null);
  if (!tests.length) return page;
  let changed = false;
  const events = page.events.map((event) => {
    if (event.read !== false || !tests.some((reads) => reads(event))) return event;
    changed = true;
    return { ...event, read: true };
  });
  return changed ? { ...page, events } : page;
}

/**
 * The acks a page has seen, numbered, the latest few: a page fetched while one came may hold the
 * flags from before it, so what came after the fetch started is applied to it on arrival.
 */
export class AckLog {
  private readonly entries: { n: number; frame: AckedFacts }[] = [];
  private count = 0;

  constructor(private readonly keep = 64) {}

  add(frame: AckedFacts): void {
    this.count += 1;
    this.entries.push({ n: this.count, frame });
    if (this.entries.length > this.keep) this.entries.shift();
  }

  /** A mark to pass to `since` later. */
  position(): number {
    return this.count;
  }

  since(position: number): AckedFacts[] {
    return this.entries.filter((e) => e.n > position).map((e) => e.frame);
  }
}

/** The filter "Mark matching as read" sends for this view, or null when the view is not exactly a filter. */
export function markableFilter(search: ExplorerSearch): EventFilter | null {
  if (search.q || search.since || search.until) return null;
  return wireFilter(search);
}
