// One event in full: every field of its envelope, what it is about, its data as JSON, a copy
// button, and links to what it concerns (its zone, the RPZ rules, the forwarders, the users or
// settings page, and the other events of its zone). A panel beside the list on a wide screen, the
// whole screen on a phone; Escape or the close button closes it and gives the focus back.

import { Link } from "@tanstack/react-router";
import { useEffect, useId, useRef, useState, type ReactNode } from "react";
import { CATEGORY_LABELS, EVENT_LABELS, formatTimestamp, formatUtc } from "../../lib/format";
import { isAdmin } from "../../lib/session";
import { SeverityBadge } from "../../lib/ui/Badges";
import { CheckIcon, XIcon } from "../../lib/ui/icons";
import { EventType, type Role } from "../../types/events";
import type { ExplorerEvent } from "./api";
import { normaliseName } from "./search";

type Data = Record<string, unknown>;

function int(data: Data, key: string): number | null {
  const value = data[key];
  return typeof value === "number" && Number.isInteger(value) && value > 0 ? value : null;
}

function str(data: Data, key: string): string | null {
  const value = data[key];
  return typeof value === "string" && value ? value : null;
}

export type EventLink =
  | { kind: "zone"; zoneId: number; label: string }
  | { kind: "zones"; q: string; label: string }
  | { kind: "rpz"; q: string; label: string }
  | { kind: "forwarders"; label: string }
  | { kind: "users"; label: string }
  | { kind: "settings"; label: string }
  | { kind: "events"; zone: string; label: string };

/** Where an event leads: the page of what it concerns (only pages the role may open). */
export function eventLinks(event: ExplorerEvent, role: Role): EventLink[] {
  const data: Data = typeof event.data === "object" && event.data !== null ? (event.data as Data) : {};
  const about = event.about ?? null;
  const zoneName = about?.zone ?? (str(data, "zone") ? normaliseName(str(data, "zone") ?? "") : null);
  const links: EventLink[] = [];
  switch (event.type) {
    case EventType.ZoneCreated:
    case EventType.ZoneUpdated: {
      const id = int(data, "id");
      if (id !== null) links.push({ kind: "zone", zoneId: id, label: `Open zone ${zoneName ?? id}` });
      else if (zoneName) links.push({ kind: "zones", q: zoneName, label: `Find zone ${zoneName}` });
      break;
    }
    case EventType.RecordCreated:
    case EventType.RecordUpdated:
    case EventType.RecordDeleted: {
      const id = int(data, "zone_id");
      if (id !== null) links.push({ kind: "zone", zoneId: id, label: `Open zone ${zoneName ?? id}` });
      else if (zoneName) links.push({ kind: "zones", q: zoneName, label: `Find zone ${zoneName}` });
      break;
    }
    case EventType.RpzUpdate:
    case EventType.ThreatDetected: {
      const domains = Array.isArray(data["domains"]) ? (data["domains"] as unknown[]).filter((d): d is string => typeof d === "string") : [];
      const rule = about?.name ?? str(data, "rule") ?? domains[0] ?? null;
      links.push(rule ? { kind: "rpz", q: rule, label: `RPZ rules for ${rule}` } : { kind: "rpz", q: "", label: "RPZ rules" });
      break;
    }
    case EventType.HealthAlert:
    case EventType.ForwarderStatusChange:
      links.push({ kind: "forwarders", label: "Forwarders" });
      break;
    case EventType.ConfigChange: {
      const section = str(data, "section");
      if (section === "forwarders") links.push({ kind: "forwarders", label: "Forwarders" });
      else if (section === "settings" && isAdmin(role)) links.push({ kind: "settings", label: "Settings" });
      else if (section === "rpz") links.push({ kind: "rpz", q: "", label: "RPZ rules" });
      break;
    }
    case EventType.UserCreated:
    case EventType.UserUpdated:
      if (isAdmin(role)) links.push({ kind: "users", label: "Users" });
      break;
    default:
      break;
  }
  if (zoneName) links.push({ kind: "events", zone: zoneName, label: `All events in ${zoneName}` });
  return links;
}

function LinkTo({ link }: { link: EventLink }) {
  switch (link.kind) {
    case "zone":
      return (
        <Link to="/zones/$zoneId" params={{ zoneId: String(link.zoneId) }} className="button small" data-testid="event-link-zone">
          {link.label}
        </Link>
      );
    case "zones":
      return (
        <Link to="/zones" search={{ q: link.q }} className="button small" data-testid="event-link-zones">
          {link.label}
        </Link>
      );
    case "rpz":
      return (
        <Link to="/rpz" search={link.q ? { q: link.q } : {}} className="button small" data-testid="event-link-rpz">
          {link.label}
        </Link>
      );
    case "forwarders":
      return (
        <Link to="/forwarders" className="button small" data-testid="event-link-forwarders">
          {link.label}
        </Link>
      );
    case "users":
      return (
        <Link to="/users" className="button small">
          {link.label}
        </Link>
      );
    case "settings":
      return (
        <Link to="/settings" className="button small">
          {link.label}
        </Link>
      );
    case "events":
      return (
        <Link to="/events" search={{ zone: link.zone }} className="button small ghost" data-testid="event-link-events">
          {link.label}
        </Link>
      );
  }
}

/** Copies text: the Clipboard API where the page may use it, else a hidden text area and execCommand. */
async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    /* fall back below */
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  try {
    return document.execCommand("copy");
  } catch {
    return false;
  } finally {
    area.remove();
  }
}

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </>
  );
}

const none = <span className="muted">—</span>;

export function EventDetail({ event, role, onClose }: { event: ExplorerEvent; role: Role; onClose: () => void }) {
  const titleId = useId();
  const closeRef = useRef<HTMLButtonElement>(null);
  const [copied, setCopied] = useState<{ id: string; ok: boolean } | null>(null);
  const json = JSON.stringify(event, null, 2);
  const data = JSON.stringify(event.data ?? null, null, 2);
  const about = event.about ?? null;
  const links = eventLinks(event, role);

  // The panel takes the focus when it opens on another event (the close button: Escape is announced with it).
  useEffect(() => {
    closeRef.current?.focus({ preventScroll: true });
  }, [event.id]);

  const copiedNow = copied !== null && copied.id === event.id ? copied : null;

  return (
    <section
      className="ex-detail"
      role="dialog"
      aria-modal="false"
      aria-labelledby={titleId}
      data-testid="event-detail"
      data-event-id={event.id}
      data-seq={event.seq}
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.preventDefault();
          e.stopPropagation();
          onClose();
        }
      }}
    >
      <header className="ex-detail-head">
        <div className="ex-detail-title">
          <h2 id={titleId}>{EVENT_LABELS[event.type] ?? event.type}</h2>
          <p className="muted small">
            <time dateTime={event.timestamp} title={formatUtc(event.timestamp)}>
              {formatTimestamp(event.timestamp)}
            </time>
          </p>
        </div>
        <button ref={closeRef} type="button" className="icon-button" aria-label="Close details" aria-keyshortcuts="Escape" onClick={onClose}>
          <XIcon size={16} />
        </button>
      </header>
      <div className="ex-detail-body">
        {about?.summary && <p className="ex-detail-summary">{about.summary}</p>}
        {links.length > 0 && (
          <nav className="ex-detail-links" aria-label="Related pages">
            {links.map((link) => (
              <LinkTo key={`${link.kind}-${link.label}`} link={link} />
            ))}
          </nav>
        )}
        <h3>Event</h3>
        <dl className="ex-fields">
          <Field label="Type">
            <code>{event.type}</code>
          </Field>
          <Field label="Severity">
            <SeverityBadge severity={event.severity} />
          </Field>
          <Field label="Category">{CATEGORY_LABELS[event.category] ?? event.category}</Field>
          <Field label="Actor">{event.actor ?? none}</Field>
          <Field label="Time (local)">
            <time dateTime={event.timestamp}>{formatTimestamp(event.timestamp)}</time>
          </Field>
          <Field label="Time (UTC)">
            <span className="mono">{formatUtc(event.timestamp)}</span>
          </Field>
          <Field label="Sequence">
            <span className="mono">{event.seq}</span>
          </Field>
          <Field label="ID">
            <span className="mono ex-id">{event.id}</span>
          </Field>
          {typeof event.read === "boolean" && <Field label="Read">{event.read ? "Yes" : "No"}</Field>}
        </dl>
        <h3>About</h3>
        {about === null ? (
          <p className="muted small">This event was stored before events carried what they are about.</p>
        ) : (
          <dl className="ex-fields">
            <Field label="Zone">{about.zone ? <span className="mono">{about.zone}</span> : none}</Field>
            <Field label="Name">{about.name ? <span className="mono">{about.name}</span> : none}</Field>
            <Field label="Record type">{about.record_type ? <span className="mono">{about.record_type}</span> : none}</Field>
            <Field label="Summary">{about.summary}</Field>
          </dl>
        )}
        <div className="ex-data-head">
          <h3>Data</h3>
          <button
            type="button"
            className="button small"
            onClick={() => {
              void copyText(json).then((ok) => setCopied({ id: event.id, ok }));
            }}
          >
            {copiedNow?.ok ? <CheckIcon size={14} /> : null}
            {copiedNow?.ok ? "Copied" : "Copy JSON"}
          </button>
        </div>
        <p className="sr-only" role="status" aria-live="polite">
          {copiedNow === null ? "" : copiedNow.ok ? "The event's JSON was copied" : "Could not copy: select the text and copy it"}
        </p>
        {copiedNow !== null && !copiedNow.ok && <p className="inline-error">Could not copy: select the text below and copy it.</p>}
        <pre className="ex-json mono" tabIndex={0} aria-label="The event's data as JSON" data-testid="event-json">
          {data}
        </pre>
      </div>
    </section>
  );
}
