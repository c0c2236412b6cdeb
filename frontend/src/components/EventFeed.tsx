import type { ReactNode } from "react";
import type { StoredEvent } from "../services/eventStore";
import { SeverityBadge } from "./Badges";
import { describeEvent, formatClock } from "./format";
import { LockIcon } from "./icons";

export interface EventFeedProps {
  title: string;
  icon: ReactNode;
  events: StoredEvent[];
  listTestId: string;
  itemTestId: string;
  empty: string;
  limit?: number;
  /** Shown instead of the list when the stream is not available (role, refusal). */
  unavailable?: string | null;
  unavailableHint?: string;
}

/** A dense, newest-first table of recent events of one kind. */
export function EventFeed({ title, icon, events, listTestId, itemTestId, empty, limit = 40, unavailable, unavailableHint }: EventFeedProps) {
  const shown = events.slice(0, limit);
  const headingId = `${listTestId}-title`;
  return (
    <section className="panel feed" aria-labelledby={headingId}>
      <header className="panel-head">
        <h2 id={headingId}>
          <span className="panel-icon" aria-hidden="true">
            {icon}
          </span>
          {title}
        </h2>
        {!unavailable && <span className="muted small">{events.length === 0 ? "No events" : `${events.length} recent`}</span>}
      </header>
      {unavailable ? (
        <div className="unavailable-box">
          <span className="unavailable-icon" aria-hidden="true">
            <LockIcon size={16} />
          </span>
          <div className="unavailable" data-testid="security-unavailable">
            {unavailable}
          </div>
          {unavailableHint && <p className="muted small">{unavailableHint}</p>}
        </div>
      ) : (
        <div className="feed-scroll">
          <ol className="feed-list" data-testid={listTestId}>
            {shown.map((event) => {
              const { title: label, detail } = describeEvent(event);
              return (
                <li
                  key={event.id}
                  className={`feed-row sev-${event.severity}${event.read ? "" : " is-unread"}`}
                  data-testid={itemTestId}
                  data-seq={event.seq}
                  data-type={event.type}
                >
                  <time className="feed-time mono" dateTime={event.timestamp}>
                    {formatClock(event.timestamp)}
                  </time>
                  <span className="feed-main">
                    <span className="feed-line">
                      <SeverityBadge severity={event.severity} />
                      <span className="feed-title">{label}</span>
                    </span>
                    {detail && <span className="feed-detail" title={detail}>{detail}</span>}
                  </span>
                  <span className="feed-actor muted">{event.actor ?? "system"}</span>
                </li>
              );
            })}
          </ol>
          {shown.length === 0 && <p className="empty">{empty}</p>}
        </div>
      )}
    </section>
  );
}
