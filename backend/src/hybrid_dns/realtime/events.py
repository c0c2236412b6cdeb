"""Event types, the one registry table that describes them, and the event model.

Adding an event type is one `EventType` member and one `REGISTRY` row; adding a connection type
is one `ConnectionType` member and a column in the rows that it may see. Everything else (which
connection receives what, the default severity, the category) is derived from this table.

Serialization happens once, in the caller of `emit()`: `Event.frame` is the encoded JSON text
that every connection receives unchanged, so a payload that cannot be encoded raises `TypeError`
where the event is made, never later in a send loop.
"""

from __future__ import annotations

import dataclasses
import decimal
import enum
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from datetime import time as dt_time
from typing import Any

import orjson

from ..auth.roles import Role
from .about import About, about_for, bounded, untitled


class EventType(enum.StrEnum):
    ZONE_CREATED = "zone_created"
    ZONE_UPDATED = "zone_updated"
    ZONE_DELETED = "zone_deleted"
    RECORD_CREATED = "record_created"
    RECORD_UPDATED = "record_updated"
    RECORD_DELETED = "record_deleted"
    SECURITY_ALERT = "security_alert"
    RPZ_UPDATE = "rpz_update"
    THREAT_DETECTED = "threat_detected"
    HEALTH_UPDATE = "health_update"
    HEALTH_ALERT = "health_alert"
    FORWARDER_STATUS_CHANGE = "forwarder_status_change"
    SYSTEM_STATUS = "system_status"
    BIND_RELOAD = "bind_reload"
    CONFIG_CHANGE = "config_change"
    USER_LOGIN = "user_login"
    USER_LOGOUT = "user_logout"
    SESSION_EXPIRED = "session_expired"
    USER_CREATED = "user_created"
    USER_UPDATED = "user_updated"


class ConnectionType(enum.StrEnum):
    HEALTH = "health"
    DNS_MANAGEMENT = "dns_management"
    SECURITY = "security"
    SYSTEM = "system"
    ADMIN = "admin"


class Category(enum.StrEnum):
    DNS = "dns"
    SECURITY = "security"
    HEALTH = "health"
    SYSTEM = "system"
    USER = "user"


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class Audience(enum.Enum):
    """Who, among the connections subscribed to a type, may see one event of it."""

    EVERYONE = "everyone"
    SUBJECT_OR_ADMIN = "subject_or_admin"  # admins see all; others only events about themselves
    SUBJECT_ONLY = "subject_only"  # only the user the event is about
    ADMINS = "admins"  # only admins (the accounts of others)


@dataclasses.dataclass(frozen=True, slots=True)
class EventSpec:
    category: Category
    severity: Severity
    connection_types: frozenset[ConnectionType]
    audience: Audience = Audience.EVERYONE


_H, _D, _S, _Y, _A = (
    ConnectionType.HEALTH,
    ConnectionType.DNS_MANAGEMENT,
    ConnectionType.SECURITY,
    ConnectionType.SYSTEM,
    ConnectionType.ADMIN,
)


def _spec(
    category: Category, severity: Severity, *types: ConnectionType, audience: Audience = Audience.EVERYONE
) -> EventSpec:
    # Admin connections see every event type.
    return EventSpec(category, severity, frozenset((*types, _A)), audience)


REGISTRY: dict[EventType, EventSpec] = {
    EventType.ZONE_CREATED: _spec(Category.DNS, Severity.INFO, _D),
    EventType.ZONE_UPDATED: _spec(Category.DNS, Severity.INFO, _D),
    EventType.ZONE_DELETED: _spec(Category.DNS, Severity.WARNING, _D),
    EventType.RECORD_CREATED: _spec(Category.DNS, Severity.INFO, _D),
    EventType.RECORD_UPDATED: _spec(Category.DNS, Severity.INFO, _D),
    EventType.RECORD_DELETED: _spec(Category.DNS, Severity.INFO, _D),
    EventType.SECURITY_ALERT: _spec(Category.SECURITY, Severity.WARNING, _S),
    EventType.RPZ_UPDATE: _spec(Category.SECURITY, Severity.INFO, _S),
    EventType.THREAT_DETECTED: _spec(Category.SECURITY, Severity.WARNING, _S),
    EventType.HEALTH_UPDATE: _spec(Category.HEALTH, Severity.INFO, _H),
    EventType.HEALTH_ALERT: _spec(Category.HEALTH, Severity.WARNING, _H),
    EventType.FORWARDER_STATUS_CHANGE: _spec(Category.HEALTH, Severity.WARNING, _H),
    EventType.SYSTEM_STATUS: _spec(Category.SYSTEM, Severity.INFO, _H, _S, _Y),
    EventType.BIND_RELOAD: _spec(Category.DNS, Severity.INFO, _D, _Y),
    EventType.CONFIG_CHANGE: _spec(Category.SYSTEM, Severity.INFO, _D, _Y),
    EventType.USER_LOGIN: _spec(Category.USER, Severity.INFO, _Y, audience=Audience.SUBJECT_OR_ADMIN),
    EventType.USER_LOGOUT: _spec(Category.USER, Severity.INFO, _Y, audience=Audience.SUBJECT_OR_ADMIN),
    EventType.SESSION_EXPIRED: _spec(Category.USER, Severity.WARNING, *ConnectionType, audience=Audience.SUBJECT_ONLY),
    EventType.USER_CREATED: _spec(Category.USER, Severity.INFO, _Y, audience=Audience.ADMINS),
    EventType.USER_UPDATED: _spec(Category.USER, Severity.INFO, _Y, audience=Audience.ADMINS),
}

# The event types each connection type may see (derived), and the connection types each role may open:
# the real-time layer's rule for the roles of auth/roles.py.
EVENTS_BY_CONNECTION_TYPE: dict[ConnectionType, frozenset[EventType]] = {
    ctype: frozenset(et for et, spec in REGISTRY.items() if ctype in spec.connection_types) for ctype in ConnectionType
}

ROLE_CONNECTION_TYPES: dict[Role, frozenset[ConnectionType]] = {
    Role.VIEWER: frozenset({_H, _D, _Y}),
    Role.OPERATOR: frozenset({_H, _D, _Y, _S}),
    Role.ADMIN: frozenset(ConnectionType),
}

# Periodic status events are state, not news: they never count as unread notifications.
NOT_NOTIFICATIONS = frozenset({EventType.HEALTH_UPDATE, EventType.SYSTEM_STATUS})

EVENTS_BY_ROLE: dict[Role, frozenset[EventType]] = {
    role: frozenset().union(*(EVENTS_BY_CONNECTION_TYPE[c] for c in ctypes))
    for role, ctypes in ROLE_CONNECTION_TYPES.items()
}


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        # Every datetime leaves as UTC ending in Z; a naive one is taken to be UTC already.
        utc = obj.replace(tzinfo=UTC) if obj.tzinfo is None else obj.astimezone(UTC)
        return utc.isoformat().replace("+00:00", "Z")
    if isinstance(obj, date | dt_time):
        return obj.isoformat()
    if isinstance(obj, decimal.Decimal):
        if obj.is_finite():
            return float(obj)
        raise TypeError("non-finite Decimal is not JSON")
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=str)
    if hasattr(obj, "model_dump"):  # pydantic models
        return obj.model_dump(mode="json")
    raise TypeError(f"Type is not JSON serializable: {type(obj).__name__}")


_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> bytes:
    """JSON with the project's rules: datetimes as ISO-8601 UTC ending in Z, UUIDs, enums, Decimals."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError as exc:  # a TypeError subclass; keep the caller's view simple
        raise TypeError(f"event payload is not JSON serializable: {exc}") from None


def payload_dict(data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The payload as the dict that is encoded (and that `about` is computed from)."""
    if data is None:
        return None
    if hasattr(data, "model_dump"):
        data = data.model_dump(mode="json")
    if not isinstance(data, Mapping):
        raise TypeError(f"event data must be a mapping, not {type(data).__name__}")
    return dict(data)


def encode_payload(data: Mapping[str, Any] | None) -> bytes:
    """Encode a payload once, in the caller: a value that cannot be encoded raises TypeError here."""
    payload = payload_dict(data)
    return b"{}" if payload is None else dumps(payload)


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def coerce_event_type(value: EventType | str) -> EventType:
    try:
        return EventType(value)
    except ValueError:
        raise ValueError(f"unknown event type: {value!r}") from None


# "Not given": a draft computes its `about` from its payload, an event from storage gets its title.
NO_ABOUT = About(None, None, None, "")


@dataclasses.dataclass(slots=True)
class EventDraft:
    """An event before the broker gives it its place (seq) in the stream."""

    type: EventType
    data_json: bytes
    severity: Severity
    actor: str | None = None
    target_user: str | None = None
    id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))
    timestamp: str = dataclasses.field(default_factory=utc_now_iso)
    # What the event is about (about.py); a draft made without one gets it from its payload, here, once.
    about: About = NO_ABOUT

    def __post_init__(self) -> None:
        if self.about is NO_ABOUT:
            payload = orjson.loads(self.data_json) if self.data_json else None
            self.about = about_for(self.type, payload, actor=self.actor, target_user=self.target_user)

    @classmethod
    def make(
        cls,
        event_type: EventType | str,
        data: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
        target_user: str | None = None,
        severity: Severity | str | None = None,
        event_id: str | None = None,
        about: About | None = None,
    ) -> EventDraft:
        """`event_id`: give the event a known id (default: a new uuid4). Brokers publish an id once, so
        instances that would each announce the same thing (a session that expired) announce it once.
        `about`: what the event is about, when the emitter knows better than `about_for(type, data)`."""
        etype = coerce_event_type(event_type)
        spec = REGISTRY[etype]
        sev = Severity(severity) if severity is not None else spec.severity
        if spec.audience is Audience.SUBJECT_ONLY and target_user is None:
            raise ValueError(f"{etype.value} needs target_user: it is shown only to that user")
        actor = None if actor is None else str(actor)
        target_user = None if target_user is None else str(target_user)
        payload = payload_dict(data)
        return cls(
            type=etype,
            data_json=b"{}" if payload is None else dumps(payload),
            severity=sev,
            actor=actor,
            target_user=target_user,
            about=bounded(about)
            if about is not None
            else about_for(etype, payload, actor=actor, target_user=target_user),
            **({"id": event_id} if event_id is not None else {}),
        )


@dataclasses.dataclass(slots=True)
class Event:
    """A published event: its place in the stream and the frame every allowed connection receives."""

    type: EventType
    id: str
    seq: int
    severity: Severity
    timestamp: str
    actor: str | None
    target_user: str | None
    data_json: bytes
    # What it is about (about.py), as computed when it was made; an event stored before `about`
    # existed gets its type's title only.
    about: About = NO_ABOUT
    frame: str = ""  # the encoded JSON object, sent as is to every connection
    emitted_at: float = dataclasses.field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.about is NO_ABOUT:
            self.about = untitled(self.type)
        if not self.frame:
            # The payload was encoded once by the emitter; only the small envelope is encoded here.
            head = dumps(
                {
                    "type": self.type.value,
                    "id": self.id,
                    "seq": self.seq,
                    "category": REGISTRY[self.type].category.value,
                    "severity": self.severity.value,
                    "timestamp": self.timestamp,
                    "actor": self.actor,
                    "about": self.about.as_dict(),
                }
            )
            self.frame = (head[:-1] + b',"data":' + self.data_json + b"}").decode()

    @property
    def spec(self) -> EventSpec:
        return REGISTRY[self.type]

    @property
    def category(self) -> Category:
        return REGISTRY[self.type].category

    @property
    def data(self) -> dict[str, Any]:
        return orjson.loads(self.data_json)

    @property
    def subject(self) -> str | None:
        """The user an event is about: its target if it has one, else who caused it."""
        return self.target_user if self.target_user is not None else self.actor

    def as_dict(self) -> dict[str, Any]:
        return orjson.loads(self.frame)

    @classmethod
    def from_draft(cls, draft: EventDraft, seq: int) -> Event:
        return cls(
            type=draft.type,
            id=draft.id,
            seq=seq,
            severity=draft.severity,
            timestamp=draft.timestamp,
            actor=draft.actor,
            target_user=draft.target_user,
            data_json=draft.data_json,
            about=draft.about,
        )


def audience_allows(event: Event, user_id: str, role: Role) -> bool:
    """The per-event rule on top of the per-type sets: whom an account event is about."""
    audience = REGISTRY[event.type].audience
    if audience is Audience.EVERYONE:
        return True
    if audience is Audience.SUBJECT_ONLY:
        return event.subject == user_id
    if audience is Audience.ADMINS:
        return role is Role.ADMIN
    return role is Role.ADMIN or event.subject == user_id


def visible_to_user(event: Event, user_id: str, role: Role) -> bool:
    """Whether a user could receive this event on some connection their role may open."""
    return event.type in EVENTS_BY_ROLE[role] and audience_allows(event, user_id, role)
