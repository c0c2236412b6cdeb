"""Sans-I/O unit tests of protocol v1 and of the event registry: no sockets, no event loop."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from typing import Any

import orjson
import pytest

from hybrid_dns.auth.roles import Role
from hybrid_dns.limits import TokenBucket
from hybrid_dns.realtime.events import (
    EVENTS_BY_CONNECTION_TYPE,
    REGISTRY,
    ROLE_CONNECTION_TYPES,
    Audience,
    ConnectionType,
    Event,
    EventDraft,
    EventType,
    Severity,
    visible_to_user,
)
from hybrid_dns.realtime.presence import Member, per_user
from hybrid_dns.realtime.protocol import (
    SUBPROTOCOL,
    CloseCode,
    ErrorCode,
    GetStats,
    Ping,
    PresenceUpdate,
    ProtocolError,
    RateLimit,
    Subscribe,
    Verdict,
    batch_frame,
    error_frame,
    is_terminal,
    parse_client_message,
    presence_frame,
    token_from_subprotocols,
)

H, D, S, Y, A = (
    ConnectionType.HEALTH,
    ConnectionType.DNS_MANAGEMENT,
    ConnectionType.SECURITY,
    ConnectionType.SYSTEM,
    ConnectionType.ADMIN,
)

# The spec's table: which event types each connection type carries (session_expired aside).
SPEC_EVENTS: dict[ConnectionType, set[str]] = {
    H: {"health_update", "health_alert", "forwarder_status_change", "system_status"},
    D: {
        "zone_created",
        "zone_updated",
        "zone_deleted",
        "record_created",
        "record_updated",
        "record_deleted",
        "bind_reload",
        "config_change",
    },
    S: {"security_alert", "rpz_update", "threat_detected", "system_status"},
    Y: {"system_status", "bind_reload", "config_change", "user_login", "user_logout", "user_created", "user_updated"},
    A: {t.value for t in EventType},
}


def parse(frame: Any, ctype: ConnectionType = A) -> Any:
    text = frame if isinstance(frame, str) else orjson.dumps(frame).decode()
    return parse_client_message(text, ctype)


def parse_error(frame: Any, ctype: ConnectionType = A) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse(frame, ctype)
    return info.value


# --- parse_client_message: the frames a client may send --------------------------------------


def test_ping_with_id() -> None:
    assert parse({"type": "ping", "id": 7}) == Ping(id=7, legacy_text=False)


def test_ping_without_id() -> None:
    assert parse({"type": "ping"}) == Ping(id=None)


@pytest.mark.parametrize("text", ["ping", " ping", "ping\n", "\tping "])
def test_bare_text_ping_is_legacy(text: str) -> None:
    assert parse_client_message(text, H) == Ping(legacy_text=True)


def test_json_string_ping_is_not_the_bare_text_ping() -> None:
    assert parse_error('"ping"').code is ErrorCode.INVALID_MESSAGE


def test_get_stats() -> None:
    assert parse({"type": "get_stats", "id": "s1"}) == GetStats(id="s1")


def test_subscribe() -> None:
    msg = parse({"type": "subscribe", "event_types": ["zone_created", "zone_deleted"], "id": 1}, D)
    assert msg == Subscribe((EventType.ZONE_CREATED, EventType.ZONE_DELETED), unsubscribe=False, id=1)


def test_unsubscribe() -> None:
    msg = parse({"type": "unsubscribe", "event_types": ["zone_created"]}, D)
    assert msg == Subscribe((EventType.ZONE_CREATED,), unsubscribe=True, id=None)


@pytest.mark.parametrize("mtype", ["subscribe", "unsubscribe"])
def test_events_is_an_alias_of_event_types(mtype: str) -> None:
    msg = parse({"type": mtype, "events": ["health_alert"]}, H)
    assert isinstance(msg, Subscribe)
    assert msg.event_types == (EventType.HEALTH_ALERT,)
    assert msg.unsubscribe is (mtype == "unsubscribe")


def test_event_types_wins_over_the_alias() -> None:
    msg = parse({"type": "subscribe", "event_types": ["health_alert"], "events": ["health_update"]}, H)
    assert isinstance(msg, Subscribe)
    assert msg.event_types == (EventType.HEALTH_ALERT,)


def test_subscribe_to_nothing_is_allowed() -> None:
    assert parse({"type": "subscribe", "event_types": []}, H) == Subscribe((), unsubscribe=False)


def test_subscribe_drops_duplicates_in_order() -> None:
    msg = parse({"type": "subscribe", "event_types": ["zone_updated", "zone_created", "zone_updated"]}, D)
    assert isinstance(msg, Subscribe)
    assert msg.event_types == (EventType.ZONE_UPDATED, EventType.ZONE_CREATED)


# --- parse_client_message: every error code ---------------------------------------------------


@pytest.mark.parametrize("text", ["{", "", "   ", "pong", "{'type': 'ping'}", '{"type": "ping",}', "ping ping"])
def test_invalid_json(text: str) -> None:
    err = parse_error(text)
    assert err.code is ErrorCode.INVALID_JSON
    assert err.request_id is None
    # The parser's own message (line/column, exception names) stays inside the server.
    assert "line" not in err.message and "char" not in err.message and "Error" not in err.message


@pytest.mark.parametrize("text", ["[]", '[{"type": "ping"}]', "1", "null", "true", '"subscribe"'])
def test_non_object_is_invalid_message(text: str) -> None:
    assert parse_error(text).code is ErrorCode.INVALID_MESSAGE


@pytest.mark.parametrize(
    "frame",
    [{}, {"id": 1}, {"type": None}, {"type": 1}, {"type": ["ping"]}, {"type": {"name": "ping"}}, {"type": ""}],
)
def test_missing_or_non_string_type_is_invalid_message(frame: dict[str, Any]) -> None:
    assert parse_error(frame).code is ErrorCode.INVALID_MESSAGE


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"event_types": None},
        {"event_types": "zone_created"},
        {"event_types": {"zone_created": True}},
        {"event_types": ["zone_created", 1]},
        {"event_types": [None]},
        {"events": "zone_created"},
    ],
)
@pytest.mark.parametrize("mtype", ["subscribe", "unsubscribe"])
def test_bad_event_types_is_invalid_message(mtype: str, extra: dict[str, Any]) -> None:
    err = parse_error({"type": mtype, "id": "r", **extra}, D)
    assert err.code is ErrorCode.INVALID_MESSAGE
    assert err.request_id == "r"


@pytest.mark.parametrize("mtype", ["pong", "PING", "hello", "batch", "connected", "get-stats"])
def test_unknown_message_type(mtype: str) -> None:
    err = parse_error({"type": mtype, "id": 3})
    assert err.code is ErrorCode.UNKNOWN_MESSAGE_TYPE
    assert err.request_id == 3
    assert "ping" in err.message  # names the types it does accept


def test_unknown_event() -> None:
    err = parse_error({"type": "subscribe", "event_types": ["zone_created", "no_such_event"], "id": 9}, D)
    assert err.code is ErrorCode.UNKNOWN_EVENT
    assert err.request_id == 9
    assert "no_such_event" in err.message


def test_unknown_event_wins_over_forbidden() -> None:
    # On health, zone_created is forbidden and bogus is unknown: the unknown name is reported.
    assert parse_error({"type": "subscribe", "event_types": ["zone_created", "bogus"]}, H).code is (
        ErrorCode.UNKNOWN_EVENT
    )


@pytest.mark.parametrize("ctype", list(ConnectionType))
@pytest.mark.parametrize("mtype", ["subscribe", "unsubscribe"])
def test_forbidden_event_per_connection_type(ctype: ConnectionType, mtype: str) -> None:
    allowed = SPEC_EVENTS[ctype] | {"session_expired"}
    for etype in EventType:
        frame = {"type": mtype, "event_types": [etype.value], "id": etype.value}
        if etype.value in allowed:
            msg = parse(frame, ctype)
            assert isinstance(msg, Subscribe) and msg.event_types == (etype,), (ctype, etype)
        else:
            err = parse_error(frame, ctype)
            assert err.code is ErrorCode.FORBIDDEN_EVENT, (ctype, etype)
            assert err.request_id == etype.value
            assert etype.value in err.message


def test_forbidden_is_all_or_nothing() -> None:
    err = parse_error({"type": "subscribe", "event_types": ["health_update", "zone_created"]}, H)
    assert err.code is ErrorCode.FORBIDDEN_EVENT
    assert "zone_created" in err.message and "health_update" not in err.message


def test_protocol_error_codes_are_the_documented_strings() -> None:
    assert {c.value for c in ErrorCode} == {
        "invalid_json",
        "invalid_message",
        "unknown_message_type",
        "unknown_event",
        "forbidden_event",
        "rate_limited",
        "unavailable",
        "too_many_topics",
        "invalid_filter",
    }


def test_error_frame_shape() -> None:
    frame = orjson.loads(error_frame(ErrorCode.UNKNOWN_EVENT, "unknown event types: x", "r1"))
    assert frame == {"type": "error", "code": "unknown_event", "message": "unknown event types: x", "id": "r1"}


# --- presence -----------------------------------------------------------------------------------


@pytest.mark.parametrize("ctype", list(ConnectionType))
@pytest.mark.parametrize(
    ("topic", "state"),
    [
        ("zone:12", "viewing"),
        ("forwarder:3", "editing"),
        ("rpz", "viewing"),
        ("forwarders", None),
        ("zone:2147483647", None),
    ],
)
def test_presence_frames_are_taken_on_every_connection_type(ctype: ConnectionType, topic: str, state: Any) -> None:
    msg = parse({"type": "presence", "topic": topic, "state": state, "id": "p"}, ctype)
    assert msg == PresenceUpdate(topic, state, "p")


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "presence", "state": "viewing"},  # no topic
        {"type": "presence", "topic": "zone:12"},  # no state: leaving is an explicit null
        {"type": "presence", "topic": "zone", "state": "viewing"},
        {"type": "presence", "topic": "zone:0", "state": "viewing"},
        {"type": "presence", "topic": "zone:012", "state": "viewing"},
        {"type": "presence", "topic": "zone:2147483648", "state": "viewing"},  # past the ids the database has
        {"type": "presence", "topic": "zone:12 ", "state": "viewing"},
        {"type": "presence", "topic": "record:1", "state": "viewing"},
        {"type": "presence", "topic": "RPZ", "state": "viewing"},
        {"type": "presence", "topic": ["rpz"], "state": "viewing"},
        {"type": "presence", "topic": "rpz", "state": "typing"},
        {"type": "presence", "topic": "rpz", "state": True},
    ],
)
def test_bad_presence_frames_are_refused_with_the_reason(frame: dict[str, Any]) -> None:
    err = parse_error({**frame, "id": 9})
    assert err.code is ErrorCode.INVALID_MESSAGE and err.request_id == 9
    assert ("'topic'" in err.message) or ("'state'" in err.message)


def test_presence_members_are_one_per_user_with_the_strongest_state() -> None:
    members = [
        Member("c1", "bob", "viewing", "2026-12-02T08:00:01.000Z"),
        Member("c2", "alice", "viewing", "2026-12-02T08:00:00.000Z"),
        Member("c3", "alice", "editing", "2026-12-02T08:00:05.000Z"),  # another tab of alice's, editing
        Member("c4", "alice", "editing", "2026-12-02T08:00:03.000Z"),  # and a third, editing for longer
        Member("c5", "bob", "viewing", "2026-12-02T08:00:00.500Z"),
    ]
    assert per_user(members) == [
        {"user_id": "alice", "state": "editing", "since": "2026-12-02T08:00:03.000Z"},
        {"user_id": "bob", "state": "viewing", "since": "2026-12-02T08:00:00.500Z"},
    ]
    assert per_user([]) == []


def test_presence_frames_echo_the_id_only_in_replies() -> None:
    members = [{"user_id": "alice", "state": "viewing", "since": "2026-12-02T08:00:00.000Z"}]
    reply = orjson.loads(presence_frame("rpz", members, "r1", reply=True))
    assert reply == {"type": "presence", "topic": "rpz", "members": members, "id": "r1"}
    push = orjson.loads(presence_frame("rpz", members, reply=False))
    assert push == {"type": "presence", "topic": "rpz", "members": members}


# --- ids: echoed only when small scalars ------------------------------------------------------


@pytest.mark.parametrize("value", [0, 7, -3, 2**40, 1.5, "abc", "", "x" * 128])
def test_small_scalar_ids_are_echoed(value: Any) -> None:
    assert parse({"type": "ping", "id": value}).id == value
    assert parse_error({"type": "nope", "id": value}).request_id == value


@pytest.mark.parametrize("value", [True, False, None, "x" * 129, [1], {"a": 1}, ["x"] * 1000])
def test_other_ids_are_dropped(value: Any) -> None:
    assert parse({"type": "ping", "id": value}).id is None
    assert parse({"type": "get_stats", "id": value}).id is None
    assert parse_error({"type": "nope", "id": value}).request_id is None
    assert parse_error({"type": "subscribe", "event_types": ["bogus"], "id": value}, D).request_id is None


def test_id_of_an_invalid_message_is_echoed() -> None:
    assert parse_error({"type": 5, "id": "req-1"}).request_id == "req-1"


# --- TokenBucket --------------------------------------------------------------------------------


def test_bucket_allows_the_burst_then_refuses() -> None:
    bucket = TokenBucket.full(rate=2, burst=5, now=100.0)
    assert [bucket.take(100.0) for _ in range(5)] == [True] * 5
    assert bucket.take(100.0) is False
    assert bucket.take(100.0) is False


def test_bucket_refills_over_time() -> None:
    bucket = TokenBucket.full(rate=2, burst=5, now=0.0)
    for _ in range(5):
        assert bucket.take(0.0)
    assert bucket.take(0.25) is False  # half a token
    assert bucket.take(0.5) is True  # 2 tokens/s * 0.5 s = 1 token (the half from before included)
    assert bucket.take(0.5) is False
    assert bucket.take(1.5) is True  # +2 tokens
    assert bucket.take(1.5) is True
    assert bucket.take(1.5) is False


def test_bucket_never_exceeds_its_burst() -> None:
    bucket = TokenBucket.full(rate=10, burst=3, now=0.0)
    assert bucket.take(0.0)
    got = [bucket.take(1_000_000.0) for _ in range(5)]  # a long idle time refills to the burst only
    assert got == [True, True, True, False, False]
    assert bucket.tokens <= bucket.burst


def test_bucket_ignores_a_clock_going_backwards() -> None:
    bucket = TokenBucket.full(rate=1, burst=1, now=50.0)
    assert bucket.take(50.0)
    assert bucket.take(10.0) is False  # negative elapsed time gives no tokens
    assert bucket.tokens >= 0


# --- FloodGuard (the ping rate) ---------------------------------------------------------------


def test_flood_guard_refuses_past_the_rate_then_calls_it_flooding() -> None:
    guard = RateLimit(rate=5, burst=20, strikes=3).guard(now=0.0)
    assert [guard.check(0.0) for _ in range(20)] == [Verdict.ALLOW] * 20
    assert [guard.check(0.0) for _ in range(4)] == [Verdict.REFUSE] * 3 + [Verdict.FLOODING]


def test_flood_guard_forgives_an_occasional_burst() -> None:
    guard = RateLimit(rate=1, burst=2, strikes=1).guard(now=0.0)
    assert [guard.check(0.0) for _ in range(3)] == [Verdict.ALLOW, Verdict.ALLOW, Verdict.REFUSE]
    # Eleven seconds later the strike is forgotten (STRIKE_MEMORY): a new refusal is a first strike.
    assert [guard.check(11.0) for _ in range(3)] == [Verdict.ALLOW, Verdict.ALLOW, Verdict.REFUSE]
    assert guard.check(11.0) is Verdict.FLOODING  # the second strike within the memory


# --- close codes --------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [4400, 4401, 4403, 4404, 4499])
def test_terminal_codes(code: int) -> None:
    assert is_terminal(code) is True


@pytest.mark.parametrize("code", [1000, 1001, 1006, 1009, 1011, 4001, 4008, 4029, 4050, 4399, 4500])
def test_non_terminal_codes(code: int) -> None:
    assert is_terminal(code) is False


def test_close_code_values() -> None:
    assert {c.name: int(c) for c in CloseCode} == {
        "GOING_AWAY": 1001,
        "INVALID_DATA": 1007,
        "MESSAGE_TOO_BIG": 1009,
        "INTERNAL_ERROR": 1011,
        "SESSION_EXPIRED": 4001,
        "NO_PONG": 4008,
        "TOO_MANY": 4029,
        "SLOW_CONSUMER": 4050,
        "BAD_REQUEST": 4400,
        "UNAUTHORIZED": 4401,
        "FORBIDDEN": 4403,
        "UNKNOWN_CONNECTION_TYPE": 4404,
    }


# --- batch_frame --------------------------------------------------------------------------------


def test_batch_frame_wraps_frames_verbatim() -> None:
    frames = ['{"seq":2,"b":1,"a":"x"}', '{ "seq" : 3,  "data": {"é": "\\u00e9"} }', '{"seq":4}']
    text = batch_frame(frames)
    assert text == '{"type":"batch","events":[' + ",".join(frames) + "]}"
    for frame in frames:
        assert frame in text  # byte for byte: nothing re-encoded or re-ordered
    assert orjson.loads(text) == {"type": "batch", "events": [orjson.loads(f) for f in frames]}


def test_batch_frame_of_one_and_of_none() -> None:
    assert orjson.loads(batch_frame(['{"seq":1}'])) == {"type": "batch", "events": [{"seq": 1}]}
    assert orjson.loads(batch_frame([])) == {"type": "batch", "events": []}


# --- token_from_subprotocols -------------------------------------------------------------------


def test_token_and_subprotocol_from_the_offer() -> None:
    assert token_from_subprotocols(["hybrid-dns.v1", "bearer.abc.def-ghi_jkl"]) == (
        "abc.def-ghi_jkl",
        SUBPROTOCOL,
    )
    assert SUBPROTOCOL == "hybrid-dns.v1"


def test_order_of_the_offer_does_not_matter() -> None:
    assert token_from_subprotocols(["bearer.tok", "hybrid-dns.v1"]) == ("tok", "hybrid-dns.v1")


def test_bearer_without_the_protocol_selects_nothing() -> None:
    # The bearer entry is never echoed back as the selected subprotocol (that would expose the token).
    assert token_from_subprotocols(["bearer.tok"]) == ("tok", None)


def test_no_token_offered() -> None:
    assert token_from_subprotocols(["hybrid-dns.v1"]) == (None, "hybrid-dns.v1")
    assert token_from_subprotocols([]) == (None, None)
    assert token_from_subprotocols(["chat", "hybrid-dns.v2"]) == (None, None)


def test_empty_bearer_is_no_token() -> None:
    token, selected = token_from_subprotocols(["hybrid-dns.v1", "bearer."])
    assert not token
    assert selected == "hybrid-dns.v1"


# --- the event registry -----------------------------------------------------------------------


def test_there_are_20_event_types() -> None:
    assert len(EventType) == 20
    assert set(REGISTRY) == set(EventType)


@pytest.mark.parametrize("ctype", list(ConnectionType))
def test_events_by_connection_type_match_the_spec(ctype: ConnectionType) -> None:
    # session_expired goes to its own user on every connection type (audience: subject only).
    got = {t.value for t in EVENTS_BY_CONNECTION_TYPE[ctype]}
    assert got == SPEC_EVENTS[ctype] | {"session_expired"}


def test_admin_sees_all_20() -> None:
    assert EVENTS_BY_CONNECTION_TYPE[A] == frozenset(EventType)


def test_session_expired_is_for_its_own_user_on_every_connection_type() -> None:
    spec = REGISTRY[EventType.SESSION_EXPIRED]
    assert spec.connection_types == frozenset(ConnectionType)
    assert spec.audience is Audience.SUBJECT_ONLY
    for ctype in ConnectionType:
        assert EventType.SESSION_EXPIRED in EVENTS_BY_CONNECTION_TYPE[ctype]


def test_user_events_are_for_the_subject_or_an_admin() -> None:
    assert REGISTRY[EventType.USER_LOGIN].audience is Audience.SUBJECT_OR_ADMIN
    assert REGISTRY[EventType.USER_LOGOUT].audience is Audience.SUBJECT_OR_ADMIN
    everyone = {t for t, s in REGISTRY.items() if s.audience is Audience.EVERYONE}
    accounts = {EventType.USER_LOGIN, EventType.USER_LOGOUT, EventType.SESSION_EXPIRED}
    assert everyone == set(EventType) - accounts - {EventType.USER_CREATED, EventType.USER_UPDATED}


def test_account_changes_are_for_admins_only() -> None:
    """Who was created, disabled or given another role is the admins' business, not the user's own."""
    for etype in (EventType.USER_CREATED, EventType.USER_UPDATED):
        assert REGISTRY[etype].audience is Audience.ADMINS
        event = Event.from_draft(EventDraft.make(etype, {"username": "alice"}, actor="admin", target_user="alice"), 1)
        assert visible_to_user(event, "root", Role.ADMIN)
        assert not visible_to_user(event, "alice", Role.OPERATOR)  # not even the subject
        assert not visible_to_user(event, "bob", Role.VIEWER)


def test_role_connection_types() -> None:
    assert ROLE_CONNECTION_TYPES[Role.VIEWER] == {H, D, Y}
    assert ROLE_CONNECTION_TYPES[Role.OPERATOR] == {H, D, Y, S}
    assert ROLE_CONNECTION_TYPES[Role.ADMIN] == set(ConnectionType)


# --- EventDraft.make: serialization -----------------------------------------------------------


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


def data_of(draft: EventDraft) -> Any:
    return orjson.loads(draft.data_json)


def test_naive_datetime_is_utc_with_z() -> None:
    draft = EventDraft.make("zone_created", {"at": dt.datetime(2024, 1, 2, 3, 4, 5)})
    assert data_of(draft) == {"at": "2024-01-02T03:04:05Z"}


def test_utc_datetime_ends_in_z() -> None:
    draft = EventDraft.make("zone_created", {"at": dt.datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=dt.UTC)})
    assert data_of(draft)["at"] in ("2024-01-02T03:04:05.120000Z", "2024-01-02T03:04:05.12Z")


def test_aware_datetime_in_another_zone_is_converted_to_utc() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    draft = EventDraft.make("zone_created", {"at": dt.datetime(2024, 1, 2, 5, 4, 5, tzinfo=plus_two)})
    assert data_of(draft) == {"at": "2024-01-02T03:04:05Z"}


def test_uuid_enum_and_decimal() -> None:
    uid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    draft = EventDraft.make(
        "zone_created",
        {
            "id": uid,
            "color": Color.RED,
            "level": Level.HIGH,
            "severity": Severity.CRITICAL,
            "price": decimal.Decimal("1.25"),
            "nested": [{"when": dt.date(2024, 5, 6)}],
        },
    )
    assert data_of(draft) == {
        "id": "12345678-1234-5678-1234-567812345678",
        "color": "red",
        "level": 3,
        "severity": "critical",
        "price": 1.25,
        "nested": [{"when": "2024-05-06"}],
    }


def test_none_data_is_an_empty_object() -> None:
    assert EventDraft.make("zone_created").data_json == b"{}"


def test_defaults_from_the_registry() -> None:
    draft = EventDraft.make(EventType.ZONE_DELETED, {}, actor="op")
    assert draft.type is EventType.ZONE_DELETED
    assert draft.severity is Severity.WARNING
    assert draft.actor == "op"
    assert draft.timestamp.endswith("Z")
    uuid.UUID(draft.id)


def test_explicit_severity() -> None:
    assert EventDraft.make("zone_created", {}, severity="critical").severity is Severity.CRITICAL


@pytest.mark.parametrize(
    "data",
    [
        {"x": object()},
        {"x": {object(), object()}},
        {"x": b"raw bytes"},
        {"x": [1, 2, object()]},
        {"x": decimal.Decimal("NaN")},
        {"x": decimal.Decimal("Infinity")},
        {"x": 1 + 2j},
    ],
    ids=["object", "set-of-objects", "bytes", "nested-object", "decimal-nan", "decimal-inf", "complex"],
)
def test_non_serializable_payload_raises_type_error(data: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        EventDraft.make("zone_created", data)


@pytest.mark.parametrize("data", [[1, 2], "text", 42, ("a", 1)], ids=["list", "str", "int", "tuple"])
def test_non_mapping_data_raises_type_error(data: Any) -> None:
    with pytest.raises(TypeError):
        EventDraft.make("zone_created", data)


@pytest.mark.parametrize("name", ["no_such_event", "", "ZONE_CREATED", "zone-created"])
def test_unknown_event_type_raises_value_error(name: str) -> None:
    with pytest.raises(ValueError):
        EventDraft.make(name, {})


def test_unknown_severity_raises_value_error() -> None:
    with pytest.raises(ValueError):
        EventDraft.make("zone_created", {}, severity="apocalyptic")


def test_session_expired_needs_target_user() -> None:
    with pytest.raises(ValueError):
        EventDraft.make("session_expired", {"reason": "token_expired"})
    with pytest.raises(ValueError):
        EventDraft.make("session_expired", {"reason": "token_expired"}, actor="viewer")
    draft = EventDraft.make("session_expired", {"reason": "token_expired"}, target_user="viewer")
    assert draft.target_user == "viewer"


# --- metrics ---------------------------------------------------------------------------------------


def test_bulk_histogram_exposes_a_standard_prometheus_histogram() -> None:
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from hybrid_dns.realtime.metrics import RealtimeMetrics

    metrics = RealtimeMetrics()
    metrics.latency.observe(0.0003, 1000)  # one frame written to a thousand sockets
    metrics.latency.observe(0.003)
    metrics.latency.observe(7.0, 2)  # past the last bucket
    text = generate_latest(metrics.registry).decode()
    (family,) = [f for f in text_string_to_metric_families(text) if f.name == "hybrid_dns_ws_emit_to_send_seconds"]
    assert family.type == "histogram"
    samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    assert samples[("hybrid_dns_ws_emit_to_send_seconds_bucket", "0.0005")] == 1000
    assert samples[("hybrid_dns_ws_emit_to_send_seconds_bucket", "0.005")] == 1001  # cumulative
    assert samples[("hybrid_dns_ws_emit_to_send_seconds_bucket", "5.0")] == 1001
    assert samples[("hybrid_dns_ws_emit_to_send_seconds_bucket", "+Inf")] == 1003
    assert samples[("hybrid_dns_ws_emit_to_send_seconds_count", None)] == 1003
    assert samples[("hybrid_dns_ws_emit_to_send_seconds_sum", None)] == pytest.approx(0.3 + 0.003 + 14.0)
