"""What every event carries: `about`, the fields that filters and search need, in one place.

    "about": {"zone": "corp.example", "name": "www.corp.example", "record_type": "A",
              "summary": "Record created: www.corp.example A 192.0.2.1"}

`about_for(event_type, data)` computes it once, where the event is made (EventDraft.make), from the
payload its emitter already has; it is stored with the event (outbox row, broker history, Redis
stream entry), so nothing ever parses `data` again to filter or search. The per-type table is here
and in docs/protocol.md ("What every event carries"):

- zone: the DNS zone the event concerns (zone_*, record_*, a bind_reload of one zone); else null.
- name: the most specific name: a record's FQDN, a zone's name, an RPZ rule's domain (one rule),
  the queried name of a threat, a forwarder's name, the username of a user_* / session event.
- record_type: for record_* events only.
- summary: one human line, never empty, at most 200 characters: the type's title and key facts.

Names are lowercase without the trailing dot. A payload of unexpected shape (the demo endpoints take
any JSON) never raises here: a field that is not what it should be is left out, and the summary falls
back to the type's title.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # events.py imports this module: the type names below are its EventType's values
    from .events import EventType

log = logging.getLogger("hybrid_dns.realtime")

MAX_SUMMARY = 200
MAX_NAME = 253


@dataclasses.dataclass(frozen=True, slots=True)
class About:
    zone: str | None
    name: str | None
    record_type: str | None
    summary: str
    # The summary casefolded, once per event, for the filters' `text` (filters.py).
    folded: str = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "folded", self.summary.casefold())

    def as_dict(self) -> dict[str, Any]:
        return {"zone": self.zone, "name": self.name, "record_type": self.record_type, "summary": self.summary}

    def as_row(self) -> tuple[str | None, str | None, str | None, str]:
        return (self.zone, self.name, self.record_type, self.summary)

    @classmethod
    def from_row(
        cls,
        event_type: EventType | str,
        zone: str | None,
        name: str | None,
        record_type: str | None,
        summary: str | None,
    ) -> About:
        """As stored; an event stored before `about` existed (no summary) gets its type's title only."""
        if not summary:
            return untitled(event_type)
        return cls(zone, name, record_type, summary)

    @classmethod
    def from_dict(cls, event_type: EventType | str, obj: Any) -> About:
        """From `as_dict()` (or anything else: what is not a string is left out)."""
        if not isinstance(obj, Mapping):
            return untitled(event_type)
        return cls.from_row(
            event_type,
            _str(obj.get("zone")),
            _str(obj.get("name")),
            _str(obj.get("record_type")),
            _str(obj.get("summary")),
        )


TITLES: dict[str, str] = {
    "zone_created": "Zone created",
    "zone_updated": "Zone updated",
    "zone_deleted": "Zone deleted",
    "record_created": "Record created",
    "record_updated": "Record updated",
    "record_deleted": "Record deleted",
    "security_alert": "Security alert",
    "rpz_update": "RPZ update",
    "threat_detected": "Threat detected",
    "health_update": "Health update",
    "health_alert": "Health alert",
    "forwarder_status_change": "Forwarder status change",
    "system_status": "System status",
    "bind_reload": "BIND reload",
    "config_change": "Configuration change",
    "user_login": "User signed in",
    "user_logout": "User signed out",
    "session_expired": "Session expired",
    "user_created": "User created",
    "user_updated": "User updated",
}

_UNTITLED: dict[str, About] = {t: About(None, None, None, title) for t, title in TITLES.items()}


def untitled(event_type: EventType | str) -> About:
    """The `about` of an event with nothing known but its type (stored before `about` existed)."""
    return _UNTITLED[str(event_type)]


# --- field helpers: never raise, leave out what is not what it should be -----------------------------


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _text(value: Any, limit: int = 80) -> str | None:
    """A short display form of a scalar payload value."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        text = " ".join(str(value).split())
        return (text[: limit - 1] + "…" if len(text) > limit else text) or None
    return None


def normalize_name(value: Any) -> str | None:
    """A DNS name as events and filters compare it: lowercase, no trailing dot; None if not a name."""
    if not isinstance(value, str):
        return None
    name = value.strip().lower().rstrip(".")
    if not name or len(name) > MAX_NAME or any(c.isspace() for c in name):
        return None
    return name


def _fqdn(name: Any, zone: str | None) -> str | None:
    """A record's owner as an FQDN: "@" is the apex, "www" is relative to the zone; a name already
    ending in the zone (or a dot) is taken as written out in full (the API's own convention)."""
    if not isinstance(name, str):
        return None
    raw = name.strip()
    if raw in ("", "@"):
        return zone
    if raw.endswith(".") or zone is None:
        return normalize_name(raw)
    lowered = raw.lower()
    if lowered == zone or lowered.endswith("." + zone):
        return normalize_name(lowered)
    return normalize_name(f"{lowered}.{zone}")


def _names(value: Any, limit: int = 3) -> tuple[list[str], int]:
    """Up to `limit` strings of a list, and how many the list holds."""
    if not isinstance(value, list):
        return [], 0
    strings = [v for v in value if isinstance(v, str) and v]
    return strings[:limit], len(value)


def _listing(items: list[str], total: int) -> str:
    if not items:
        return ""
    more = total - len(items)
    return ", ".join(items) + (f" and {more} more" if more > 0 else "")


def _line(title: str, *parts: str | None, detail: str | None = None) -> str:
    body = " ".join(p for p in parts if p)
    line = f"{title}: {body}" if body else title
    if detail:
        line = f"{line} ({detail})"
    return line


# --- the per-type table ------------------------------------------------------------------------------


def _zone(etype: str, d: Mapping[str, Any], who: str | None) -> About:
    zone = normalize_name(d.get("zone"))
    details = []
    zone_type = _text(d.get("zone_type"), 16)
    if zone_type and etype == "zone_created":
        details.append(zone_type)
    changes, count = _names(d.get("changes"), 4)
    if changes:
        details.append("changed " + _listing(changes, count))
    records = d.get("records")
    if isinstance(records, int) and not isinstance(records, bool) and etype == "zone_deleted":
        details.append(f"{records} records")
    return About(zone, zone, None, _line(TITLES[etype], zone, detail=", ".join(details) or None))


def _record(etype: str, d: Mapping[str, Any], who: str | None) -> About:
    zone = normalize_name(d.get("zone"))
    name = _fqdn(d.get("name"), zone)
    rtype = d.get("type")
    record_type = rtype.strip().upper()[:16] or None if isinstance(rtype, str) else None
    value = _text(d.get("value"), 100)
    detail = None
    previous = d.get("previous")
    if etype == "record_updated" and isinstance(previous, Mapping):
        old = _text(previous.get("value"), 60)
        if old is not None and old != value:
            detail = f"was {old}"
    return About(zone, name, record_type, _line(TITLES[etype], name, record_type, value, detail=detail))


def _security_alert(etype: str, d: Mapping[str, Any], who: str | None) -> About:
    message = _text(d.get("message"), 180) or _text(d.get("alert"), 80)
    return About(None, None, None, _line(TITLES[etype], message))


def _rpz(etype: str, d: Mapping[str, Any], who: str | None) -> About:
    domains, total = _names(d.get("domains"))
    name = normalize_name(domains[0]) if total == 1 and domains else None
    change = _text(d.get("action"), 16)
    details = [t for t in (_text(d.get("rule_action"), 16), _text(d.get("category"), 32)) if t]
    part, parts = d.get("part"), d.get("parts")
    if isinstance(part, int) and isinstance(parts, int) and parts > 1:
        details.append(f"part {part} of {parts}")
    listed = name if name is not None else _listing(domains, total)
    if total > 1:
        listed = f"{total} domains: {listed}"
    return About(None, name, None, _line(TITLES[etype], change, listed, detail=", ".join(details) or None))


def _threat(etype: str, d: Mapping[str, Any], who: str | None) -> About:
    name = normalize_name(d.get("name")) or normalize_name(d.get("query"))
    client = _text(d.get("client"), 64)
    details = [t for t in (_text(d.get("category"), 32), _text(d.get("action"), 16)) if t]
    count = d.get("count")
    if isinstance(count, int) and not isinstance(count, bool) and count > 1:
        details.append(f"{count} times")
    return About(
        None,
        name,
        None,
        _line(TITLES[etype], name, f"from {client}" if client else None, detail=", ".join(details) or None),
    )


def _health_update(etype: str, d: Mapping[str, Any], who: str | None) -> About:
    summary = d.get("summary")
    if not isinstance(summary, Mapping):
        return untitled(etype)
    parts = [
        f"{summary[k]} {k}"
        for k in ("total", "healthy", "degraded", "unhealthy")
        if isinstance(summary.get(k), int) and not isinstance(summary.get(k), bool)
    ]
    if parts and parts[0].endswith(" total"):
        parts[0] = parts[0].replace(" total", " forwarders")
    return About(None, None, None, _line(TITLES[etype], ", ".join(parts)))


def _health_alert(etype: str, d: Mapping[str, Any], who: str | None) -> About:
    forwarder = _text(d.get("forwarder"), 64)
    zones, total = _names(d.get("zones"))
    zone = normalize_name(zones[0]) if total == 1 and zones else None
    message = _text(d.get("message"), 180) or _text(d.get("alert"), 80)
    return About(zone, forwarder or zone, None, _line(TITLES[etype], message))


def _forwarder_status(etype: str, d: Mapping[str, Any], who: str | None) -> About:
    forwarder = _text(d.get("forwarder"), 64)
    old, new = _text(d.get("old_status"), 16), _text(d.get("new_status"), 16)
    change = f"{old or '?'} -> {new}" if new else None
    return About(None, forwarder, None, _line(TITLES[etype], forwarder, change, detail=_text(d.get("reason"), 100)))


def _system_status(etype: str, d: Mapping[str, Any], who: str | None) -> About:
    parts = []
    cpu = d.get("cpu_percent")
    if isinstance(cpu, int | float) and not isinstance(cpu, bool):
        parts.append(f"CPU {cpu:g}%")
    memory = d.get("memory")
    if isinstance(memory, Mapping):
        mem = memory.get("percent")
        if isinstance(mem, int | float) and not isinstance(mem, bool):
            parts.append(f"memory {mem:g}%")
    instance = _text(d.get("instance_id"), 40)
    return About(None, None, None, _line(TITLES[etype], ", ".join(parts), detail=instance))


def _bind_reload(etype: str, d: Mapping[str, Any], who: str | None) -> About:
    zones, total = _names(d.get("zones"))
    zone = normalize_name(zones[0]) if total == 1 and zones else None
    success = d.get("success")
    outcome = "failed" if success is False else ("ok" if success is True else None)
    stage = _text(d.get("stage"), 16)
    if outcome == "failed" and stage:
        outcome = f"failed at {stage}"
    details = []
    duration = d.get("duration_ms")
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        details.append(f"{duration:g} ms")
    error = d.get("error")
    if isinstance(error, str) and error.strip():
        details.append(_text(error.strip().splitlines()[0], 100) or "")
    listed = _listing([normalize_name(z) or z for z in zones], total) or None
    return About(
        zone, zone, None, _line(TITLES[etype], outcome, listed, detail=", ".join(t for t in details if t) or None)
    )


def _config_change(etype: str, d: Mapping[str, Any], who: str | None) -> About:
    section = _text(d.get("section"), 32)
    forwarder = _text(d.get("forwarder"), 64)
    change = _text(d.get("change"), 100)
    changes = d.get("changes")
    keys: list[str] = []
    if isinstance(changes, list):
        keys = [c["key"] for c in changes if isinstance(c, Mapping) and isinstance(c.get("key"), str)]
    if isinstance(changes, Mapping):
        keys = [k for k in changes if isinstance(k, str)]
    changed = "changed " + _listing(keys[:4], len(keys)) if keys and change is None else None
    return About(
        None, forwarder, None, _line(TITLES[etype], f"{section}:" if section else None, change, changed, forwarder)
    )


def _user(etype: str, d: Mapping[str, Any], who: str | None) -> About:
    username = _text(d.get("username"), 64) or who
    details = []
    role = _text(d.get("role"), 16)
    if role and etype in ("user_created", "user_login"):
        details.append(role)
    source = _text(d.get("source"), 64)
    if source and etype in ("user_login", "user_logout"):
        details.append(f"from {source}")
    changes, count = _names(d.get("changes"), 4)
    if changes:
        details.append("changed " + _listing(changes, count))
    if d.get("disabled") is True:
        details.append("disabled")
    return About(None, username, None, _line(TITLES[etype], username, detail=", ".join(details) or None))


def _session_expired(etype: str, d: Mapping[str, Any], who: str | None) -> About:
    reason = _text(d.get("reason"), 32)
    shown = {"token_expired": "token expired", "logout": "signed out", "password_reset": "password reset"}
    return About(None, who, None, _line(TITLES[etype], who, detail=shown.get(reason or "", reason)))


_BY_TYPE: dict[str, Callable[[str, Mapping[str, Any], str | None], About]] = {
    "zone_created": _zone,
    "zone_updated": _zone,
    "zone_deleted": _zone,
    "record_created": _record,
    "record_updated": _record,
    "record_deleted": _record,
    "security_alert": _security_alert,
    "rpz_update": _rpz,
    "threat_detected": _threat,
    "health_update": _health_update,
    "health_alert": _health_alert,
    "forwarder_status_change": _forwarder_status,
    "system_status": _system_status,
    "bind_reload": _bind_reload,
    "config_change": _config_change,
    "user_login": _user,
    "user_logout": _user,
    "session_expired": _session_expired,
    "user_created": _user,
    "user_updated": _user,
}


def about_for(
    event_type: EventType | str,
    data: Mapping[str, Any] | None,
    *,
    actor: str | None = None,
    target_user: str | None = None,
) -> About:
    """The `about` of an event of this type with this payload (see the module's table). Never raises
    for a payload of unexpected shape; `target_user` (else `actor`) names the user of user events
    whose payload does not."""
    etype = str(event_type)
    if etype not in _BY_TYPE:
        raise ValueError(f"unknown event type: {event_type!r}")
    if not isinstance(data, Mapping):
        data = {}
    who = target_user if target_user is not None else actor
    try:
        about = _BY_TYPE[etype](etype, data, who)
    except Exception:  # a payload shape nobody thought of: the title is still true
        log.warning("about_for(%s) failed on its payload; using the title", etype, exc_info=True)
        return untitled(etype)
    return bounded(about)


def bounded(about: About) -> About:
    """`about` within what storage holds: a one-line summary of at most 200 characters (never empty),
    names of at most 253, a record type of at most 16."""
    summary = " ".join(about.summary.split()) or "Event"
    if len(summary) > MAX_SUMMARY:
        summary = summary[: MAX_SUMMARY - 1] + "…"
    zone = about.zone[:MAX_NAME] if about.zone is not None else None
    name = about.name[:MAX_NAME] if about.name is not None else None
    record_type = about.record_type[:16] if about.record_type is not None else None
    if (summary, zone, name, record_type) == (about.summary, about.zone, about.name, about.record_type):
        return about
    return About(zone, name, record_type, summary)
