"""Protocol v1, sans I/O: close codes, client frame parsing, server frame building, rate limiting.

Nothing here touches a socket or the event loop, so every rule is unit-tested on its own; the
endpoint and the hub wrap these functions thinly. See docs/protocol.md for the wire format.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from ..limits import TokenBucket
from .events import EVENTS_BY_CONNECTION_TYPE, ConnectionType, EventType, dumps, utc_now_iso
from .filters import EventFilter, FilterError, parse_filter

PROTOCOL_VERSION = 1
SUBPROTOCOL = "hybrid-dns.v1"
BEARER_PREFIX = "bearer."


class CloseCode(enum.IntEnum):
    """4400-4499 are terminal: a client does not reconnect without the user doing something.
    Every other code means "reconnect with backoff"."""

    GOING_AWAY = 1001  # server shutting down
    INVALID_DATA = 1007  # a text message that is not UTF-8
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011  # a server bug on this connection; reconnecting (and resuming) is safe
    SESSION_EXPIRED = 4001
    NO_PONG = 4008
    TOO_MANY = 4029  # flooding (messages or pings), or too many connections for this user
    SLOW_CONSUMER = 4050
    BAD_REQUEST = 4400
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    UNKNOWN_CONNECTION_TYPE = 4404


def is_terminal(code: int) -> bool:
    return 4400 <= code <= 4499


class ErrorCode(enum.StrEnum):
    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_MESSAGE_TYPE = "unknown_message_type"
    UNKNOWN_EVENT = "unknown_event"
    FORBIDDEN_EVENT = "forbidden_event"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    TOO_MANY_TOPICS = "too_many_topics"
    INVALID_FILTER = "invalid_filter"


class ProtocolError(Exception):
    """A client frame we refuse; becomes an `error` frame, never a closed connection."""

    def __init__(self, code: ErrorCode, message: str, request_id: Any = None, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.field = field  # the part of the frame at fault, when one is named (invalid_filter)


# --- client -> server ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Ping:
    id: Any = None
    legacy_text: bool = False  # the bare text "ping" of older clients, answered with bare "pong"


@dataclasses.dataclass(frozen=True, slots=True)
class Subscribe:
    event_types: tuple[EventType, ...]
    unsubscribe: bool = False
    id: Any = None
    # With set_filter (the frame had a `filter` key), the connection's filter becomes `filter` (None: no
    # filter); without it, the filter in force stays.
    filter: EventFilter | None = None
    set_filter: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class GetStats:
    id: Any = None


@dataclasses.dataclass(frozen=True, slots=True)
class Ack:
    event_ids: tuple[str, ...] = ()
    up_to_seq: int | None = None
    id: Any = None


@dataclasses.dataclass(frozen=True, slots=True)
class PresenceUpdate:
    """Enter a presence topic (or change one's state in it), or leave it (`state` None)."""

    topic: str
    state: str | None
    id: Any = None


ClientMessage = Ping | Subscribe | GetStats | Ack | PresenceUpdate

MESSAGE_TYPES = ("ping", "subscribe", "unsubscribe", "get_stats", "ack", "presence")
MAX_ACK_IDS = 1000

# Presence topics: one zone or forwarder by id, or the RPZ rules and the forwarders as a whole.
PRESENCE_TOPIC = re.compile(r"(zone|forwarder):([1-9][0-9]{0,9})|rpz|forwarders")
PRESENCE_STATES = ("viewing", "editing")
MAX_PRESENCE_TOPICS = 8  # per connection
_MAX_TOPIC_ID = 2**31 - 1


def parse_ack(obj: dict[str, Any], request_id: Any = None) -> Ack:
    """`{"event_ids": [...]}` or `{"up_to_seq": N}` (or both), for the WebSocket frame and the HTTP body alike."""
    ids = obj.get("event_ids")
    up_to = obj.get("up_to_seq")
    if ids is None and up_to is None:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "ack needs 'event_ids' or 'up_to_seq'", request_id)
    if ids is not None and (
        not isinstance(ids, list)
        or len(ids) > MAX_ACK_IDS
        or not all(isinstance(i, str) and 0 < len(i) <= 64 for i in ids)
    ):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE, f"'event_ids' must be a list of at most {MAX_ACK_IDS} event ids", request_id
        )
    if up_to is not None and (not isinstance(up_to, int) or isinstance(up_to, bool) or up_to < 0):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "'up_to_seq' must be a non-negative integer", request_id)
    return Ack(tuple(dict.fromkeys(ids or ())), up_to, request_id)


def parse_presence(obj: dict[str, Any], request_id: Any = None) -> PresenceUpdate:
    """`{"topic": "zone:12" | "forwarder:3" | "rpz" | "forwarders", "state": "viewing" | "editing" | null}`."""
    topic = obj.get("topic")
    match = PRESENCE_TOPIC.fullmatch(topic) if isinstance(topic, str) else None
    if match is None or (match[2] is not None and int(match[2]) > _MAX_TOPIC_ID):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE,
            "'topic' must be 'zone:<id>', 'forwarder:<id>', 'rpz' or 'forwarders'",
            request_id,
        )
    if "state" not in obj or (obj["state"] is not None and obj["state"] not in PRESENCE_STATES):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE, "'state' must be 'viewing', 'editing' or null (to leave)", request_id
        )
    assert isinstance(topic, str)
    return PresenceUpdate(topic, obj["state"], request_id)


def _valid_id(value: Any) -> Any:
    # An id is echoed back, so keep it small and scalar.
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    if isinstance(value, str) and len(value) <= 128:
        return value
    return None


def parse_client_message(text: str, connection_type: ConnectionType) -> ClientMessage:
    """Parse one client text frame; raises ProtocolError with the reason."""
    stripped = text.strip()
    if stripped == "ping":
        return Ping(legacy_text=True)
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProtocolError(ErrorCode.INVALID_JSON, "frame is not valid JSON") from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "frame must be a JSON object")
    request_id = _valid_id(obj.get("id"))
    mtype = obj.get("type")
    if not isinstance(mtype, str) or not mtype:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "frame needs a string 'type'", request_id)
    if mtype == "ping":
        return Ping(id=request_id)
    if mtype == "get_stats":
        return GetStats(id=request_id)
    if mtype == "ack":
        return parse_ack(obj, request_id)
    if mtype == "presence":
        return parse_presence(obj, request_id)
    if mtype in ("subscribe", "unsubscribe"):
        return _parse_subscribe(obj, mtype, connection_type, request_id)
    raise ProtocolError(
        ErrorCode.UNKNOWN_MESSAGE_TYPE,
        f"unknown message type; expected one of: {', '.join(MESSAGE_TYPES)}",
        request_id,
    )


def _parse_subscribe(obj: dict[str, Any], mtype: str, connection_type: ConnectionType, request_id: Any) -> Subscribe:
    """event_types (or its alias events) and an optional filter, all checked before anything changes.
    With a `filter` key, event_types may be left out (the frame changes the filter only)."""
    set_filter = "filter" in obj
    names = obj.get("event_types", obj.get("events"))
    if names is None and set_filter:
        names = []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "'event_types' must be a list of event type names", request_id)
    unknown = [n for n in names if n not in EventType._value2member_map_]
    if unknown:
        raise ProtocolError(
            ErrorCode.UNKNOWN_EVENT, f"unknown event types: {', '.join(sorted(set(unknown)))}", request_id
        )
    allowed = EVENTS_BY_CONNECTION_TYPE[connection_type]
    types = tuple(dict.fromkeys(EventType(n) for n in names))
    forbidden = [t.value for t in types if t not in allowed]
    if forbidden:
        raise ProtocolError(
            ErrorCode.FORBIDDEN_EVENT,
            f"not available on {connection_type.value} connections: {', '.join(sorted(forbidden))}",
            request_id,
        )
    event_filter = None
    if set_filter:
        try:
            event_filter = parse_filter(obj["filter"])
        except FilterError as exc:
            raise ProtocolError(ErrorCode.INVALID_FILTER, str(exc), request_id, field=exc.field) from None
    return Subscribe(
        types, unsubscribe=mtype == "unsubscribe", id=request_id, filter=event_filter, set_filter=set_filter
    )


# --- server -> client ------------------------------------------------------------------------


def encode(frame: dict[str, Any]) -> str:
    return dumps(frame).decode()


def connected_frame(
    *,
    connection_id: str,
    connection_type: ConnectionType,
    user_id: str,
    role: str,
    ping_interval: float,
    subscriptions: Iterable[EventType],
    epoch: str,
    last_seq: int,
    instance_id: str = "",
    event_filter: EventFilter | None = None,
) -> str:
    return encode(
        {
            "type": "connected",
            "connection_id": connection_id,
            "connection_type": connection_type.value,
            "user_id": user_id,
            "role": role,
            "protocol": PROTOCOL_VERSION,
            "server_time": utc_now_iso(),
            "ping_interval": ping_interval,
            "subscriptions": sorted(t.value for t in subscriptions),
            "epoch": epoch,
            "last_seq": last_seq,
            "instance_id": instance_id,
            "filter": None if event_filter is None else event_filter.as_dict(),
        }
    )


def pong_frame(request_id: Any = None) -> str:
    return encode({"type": "pong", "timestamp": utc_now_iso(), "id": request_id})


def subscriptions_frame(
    subscriptions: Iterable[EventType], request_id: Any = None, event_filter: EventFilter | None = None
) -> str:
    """The subscriptions and the filter in force (null: none)."""
    return encode(
        {
            "type": "subscriptions",
            "subscriptions": sorted(t.value for t in subscriptions),
            "filter": None if event_filter is None else event_filter.as_dict(),
            "id": request_id,
        }
    )


def stats_frame(data: dict[str, Any], request_id: Any = None) -> str:
    return encode({"type": "stats", "data": data, "id": request_id})


def error_frame(code: ErrorCode, message: str, request_id: Any = None, field: str | None = None) -> str:
    frame: dict[str, Any] = {"type": "error", "code": code.value, "message": message}
    if field is not None:
        frame["field"] = field
    frame["id"] = request_id
    return encode(frame)


def reset_frame(reason: str, epoch: str, last_seq: int) -> str:
    """The client cannot catch up from history: it must refetch its state, then go on from here."""
    return encode({"type": "reset", "reason": reason, "epoch": epoch, "last_seq": last_seq})


def resumed_frame(from_seq: int, to_seq: int, replayed: int) -> str:
    return encode({"type": "resumed", "from_seq": from_seq, "to_seq": to_seq, "replayed": replayed})


def acked_frame(body: Mapping[str, Any]) -> str:
    """The user's read state changed: `body` is what the ack did (readstate.Acked.as_dict: the ids
    marked read, the new mark, the unread count, and after a "mark all matching this filter as read"
    the filter and the seq up to which the events matching it are now read, so that every tab can
    mark the rows it holds). The REST answer of the ack is the same keys."""
    return encode({"type": "acked", **body})


def presence_frame(topic: str, members: Sequence[dict[str, Any]], request_id: Any = None, *, reply: bool) -> str:
    """Who is in a topic: the reply to a `presence` frame (with its `id`), or a change pushed to
    every connection in the topic (no `id`)."""
    frame: dict[str, Any] = {"type": "presence", "topic": topic, "members": list(members)}
    if reply:
        frame["id"] = request_id
    return encode(frame)


def batch_frame(frames: Sequence[str]) -> str:
    """Wrap already-encoded event frames; nothing is encoded again."""
    return '{"type":"batch","events":[' + ",".join(frames) + "]}"


MAX_BATCH_CHARS = 512 * 1024  # a batch frame stops growing past this, so clients with a size limit cope


def batch_frames(frames: Sequence[str], max_count: int, max_chars: int = MAX_BATCH_CHARS) -> list[str]:
    """Group event frames into as few frames as the limits allow; a group of one is sent as is."""
    out: list[str] = []
    group: list[str] = []
    size = 0
    for frame in frames:
        if group and (len(group) >= max_count or size + len(frame) > max_chars):
            out.append(group[0] if len(group) == 1 else batch_frame(group))
            group, size = [], 0
        group.append(frame)
        size += len(frame)
    if group:
        out.append(group[0] if len(group) == 1 else batch_frame(group))
    return out


# --- handshake helpers -----------------------------------------------------------------------


def token_from_subprotocols(offered: Sequence[str]) -> tuple[str | None, str | None]:
    """(token, subprotocol to select) from the offered Sec-WebSocket-Protocol entries."""
    token = None
    for entry in offered:
        if entry.startswith(BEARER_PREFIX):
            token = entry[len(BEARER_PREFIX) :]
    selected = SUBPROTOCOL if SUBPROTOCOL in offered else None
    return token, selected


# --- inbound rate limiting -------------------------------------------------------------------


STRIKE_MEMORY = 10.0  # seconds after which earlier rate-limit strikes are forgotten

# A key the server's WebSocket protocol adds to the `websocket.disconnect` of a close it decided on
# its own (below the app), naming the alert it calls for: the code alone cannot tell, since a client
# may close with any code itself.
DISCONNECT_CAUSE = "hybrid_dns.cause"
FLOODING = "websocket_flooding"  # too many messages
PING_FLOODING = "websocket_ping_flooding"  # too many ping control frames


class Verdict(enum.Enum):
    ALLOW = "allow"
    REFUSE = "refuse"  # over the rate: drop it (a strike)
    FLOODING = "flooding"  # more strikes than allowed: close the connection


@dataclasses.dataclass(frozen=True, slots=True)
class RateLimit:
    rate: float  # per second
    burst: int
    strikes: int  # refusals allowed (none forgotten for STRIKE_MEMORY seconds) before FLOODING

    def guard(self, now: float) -> FloodGuard:
        return FloodGuard(TokenBucket.full(self.rate, self.burst, now), self.strikes)


@dataclasses.dataclass(slots=True)
class FloodGuard:
    """A token bucket with strikes: an occasional burst is refused and forgiven; a sender that
    keeps going past the rate is flooding."""

    bucket: TokenBucket
    max_strikes: int
    strikes: int = 0
    last_strike: float = float("-inf")

    def check(self, now: float) -> Verdict:
        if self.bucket.take(now):
            return Verdict.ALLOW
        if now - self.last_strike > STRIKE_MEMORY:
            self.strikes = 0
        self.last_strike = now
        self.strikes += 1
        return Verdict.FLOODING if self.strikes > self.max_strikes else Verdict.REFUSE
