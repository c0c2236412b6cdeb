"""`about` (what every event carries) and the filter, without a server: the per-type table, parsing
and its refusals, matching (the shared table of cases), the frame's envelope, and the protocol's
subscribe `filter`."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from filter_cases import BAD_FILTERS, CASES, EVENTS, KEYS, FilterCase

from hybrid_dns.auth.roles import Role
from hybrid_dns.realtime.about import MAX_SUMMARY, About, about_for, untitled
from hybrid_dns.realtime.connection import Connection
from hybrid_dns.realtime.events import Event, EventDraft, EventType, Severity
from hybrid_dns.realtime.filters import EventFilter, FilterError, parse_filter, parse_filter_json, zone_keys
from hybrid_dns.realtime.hub import Hub
from hybrid_dns.realtime.metrics import RealtimeMetrics
from hybrid_dns.realtime.protocol import ConnectionType, ErrorCode, ProtocolError, Subscribe, parse_client_message

# --- about ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("etype", "data", "kwargs", "expected"),
    [
        (
            "record_created",
            {"zone": "Corp.Example", "name": "www", "type": "a", "value": "192.0.2.1"},
            {},
            About("corp.example", "www.corp.example", "A", "Record created: www.corp.example A 192.0.2.1"),
        ),
        (
            "record_deleted",
            {"zone": "corp.example.", "name": "@", "type": "TXT"},
            {},
            About("corp.example", "corp.example", "TXT", "Record deleted: corp.example TXT"),
        ),
        (
            "record_updated",  # the demo's FQDN without its dot, and the API's `previous`
            {
                "zone": "demo.example",
                "name": "host1.demo.example",
                "type": "A",
                "value": "192.0.2.11",
                "previous": {"value": "192.0.2.10"},
            },
            {},
            About(
                "demo.example",
                "host1.demo.example",
                "A",
                "Record updated: host1.demo.example A 192.0.2.11 (was 192.0.2.10)",
            ),
        ),
        (
            "zone_created",
            {"zone": "corp.example", "zone_type": "master", "serial": 1},
            {},
            About("corp.example", "corp.example", None, "Zone created: corp.example (master)"),
        ),
        (
            "rpz_update",  # one rule: its domain is the name, not a zone
            {"action": "added", "domains": ["Bad.Example"], "rule_action": "block", "category": "malware"},
            {},
            About(None, "bad.example", None, "RPZ update: added bad.example (block, malware)"),
        ),
        (
            "rpz_update",  # an import in parts: no one name
            {
                "action": "imported",
                "domains": ["a.example", "b.example", "c.example", "d.example"],
                "rule_action": "block",
                "category": None,
                "part": 1,
                "parts": 2,
            },
            {},
            About(
                None,
                None,
                None,
                "RPZ update: imported 4 domains: a.example, b.example, c.example and 1 more (block, part 1 of 2)",
            ),
        ),
        (
            "threat_detected",
            {"client": "192.0.2.50", "name": "evil.example", "category": "malware", "action": "block", "count": 3},
            {},
            About(
                None, "evil.example", None, "Threat detected: evil.example from 192.0.2.50 (malware, block, 3 times)"
            ),
        ),
        (
            "config_change",
            {"section": "forwarders", "change": "created", "forwarder": "corp-ad"},
            {"actor": "alice"},
            About(None, "corp-ad", None, "Configuration change: forwarders: created corp-ad"),
        ),
        (
            "config_change",
            {"section": "settings", "changes": {"BIND_RELOAD_DEBOUNCE": {"old": 1, "new": 2}}},
            {"actor": "alice"},
            About(None, None, None, "Configuration change: settings: changed BIND_RELOAD_DEBOUNCE"),
        ),
        (
            "forwarder_status_change",
            {"forwarder": "corp-ad", "old_status": "healthy", "new_status": "degraded", "reason": "slow"},
            {},
            About(None, "corp-ad", None, "Forwarder status change: corp-ad healthy -> degraded (slow)"),
        ),
        (
            "bind_reload",
            {"zones": ["demo.example"], "success": True, "duration_ms": 42},
            {},
            About("demo.example", "demo.example", None, "BIND reload: ok demo.example (42 ms)"),
        ),
        (
            "user_login",
            {"username": "alice", "role": "admin", "source": "192.0.2.9"},
            {"actor": "alice"},
            About(None, "alice", None, "User signed in: alice (admin, from 192.0.2.9)"),
        ),
        (
            "session_expired",  # no username in the payload: the user it is shown to
            {"reason": "token_expired", "session_id": "j1"},
            {"target_user": "bob"},
            About(None, "bob", None, "Session expired: bob (token expired)"),
        ),
        (
            "health_update",
            {"forwarders": [], "summary": {"total": 3, "healthy": 2, "degraded": 1, "unhealthy": 0}},
            {},
            About(None, None, None, "Health update: 3 forwarders, 2 healthy, 1 degraded, 0 unhealthy"),
        ),
        (
            "system_status",
            {"cpu_percent": 12.5, "memory": {"percent": 40.0}},
            {},
            About(None, None, None, "System status: CPU 12.5%, memory 40%"),
        ),
    ],
)
def test_about_per_type(etype: str, data: dict[str, Any], kwargs: dict[str, Any], expected: About) -> None:
    assert about_for(etype, data, **kwargs) == expected


@pytest.mark.parametrize("etype", list(EventType))
@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"zone": 5, "name": ["x"], "type": None, "domains": "x", "summary": [], "changes": 3},
        {"zones": [1, 2]},
    ],
)
def test_about_never_raises_and_always_has_a_summary(etype: EventType, data: Any) -> None:
    about = about_for(etype, data)
    assert about.summary and len(about.summary) <= MAX_SUMMARY
    assert about.summary.startswith(untitled(etype).summary)
    assert about.zone is None or isinstance(about.zone, str)


def test_about_summary_is_bounded() -> None:
    about = about_for("security_alert", {"message": "x " * 500})
    assert len(about.summary) <= MAX_SUMMARY


def test_emitter_may_give_about_explicitly() -> None:
    given = About("corp.example", "corp.example", None, "Custom line")
    draft = EventDraft.make("config_change", {"section": "x"}, about=given)
    assert draft.about is given


def test_the_frame_carries_about_and_old_events_get_the_title() -> None:
    draft = EventDraft.make(
        "record_created", {"zone": "corp.example", "name": "www", "type": "A", "value": "192.0.2.1"}
    )
    event = Event.from_draft(draft, 7)
    frame = orjson.loads(event.frame)
    assert frame["about"] == {
        "zone": "corp.example",
        "name": "www.corp.example",
        "record_type": "A",
        "summary": "Record created: www.corp.example A 192.0.2.1",
    }
    assert frame["data"]["name"] == "www"
    stored = Event(  # as read from storage written before `about` existed
        type=EventType.ZONE_DELETED,
        id="x",
        seq=1,
        severity=Severity.WARNING,
        timestamp="t",
        actor=None,
        target_user=None,
        data_json=b'{"zone":"old.example"}',
    )
    assert stored.about == About(None, None, None, "Zone deleted")
    assert orjson.loads(stored.frame)["about"]["summary"] == "Zone deleted"


def test_a_draft_made_without_make_computes_its_about_once() -> None:
    draft = EventDraft(type=EventType.ZONE_UPDATED, data_json=b'{"zone":"a.example"}', severity=Severity.INFO)
    assert draft.about.zone == "a.example"


def test_about_round_trips_through_its_dict() -> None:
    about = about_for("record_created", {"zone": "a.example", "name": "www", "type": "AAAA"})
    assert About.from_dict(EventType.RECORD_CREATED, about.as_dict()) == about
    assert About.from_dict(EventType.RECORD_CREATED, None) == untitled(EventType.RECORD_CREATED)
    assert About.from_row(EventType.RECORD_CREATED, None, None, None, None) == untitled("record_created")


# --- parsing -------------------------------------------------------------------------------------


def test_parse_normalizes_and_echoes_only_what_is_set() -> None:
    f = parse_filter(
        {
            "zones": ["Corp.Example.", "corp.example", "lab.example"],
            "min_severity": "warning",
            "categories": ["security", "dns"],
            "actors": ["bob", "alice"],
            "record_types": ["a", "MX"],
            "text": "Mail",
        }
    )
    assert f is not None
    assert f.as_dict() == {
        "zones": ["corp.example", "lab.example"],
        "min_severity": "warning",
        "categories": ["dns", "security"],
        "actors": ["alice", "bob"],
        "record_types": ["A", "MX"],
        "text": "Mail",
    }
    assert parse_filter(f.as_dict()) == f
    assert parse_filter({"min_severity": "error"}) == EventFilter(min_severity=Severity.ERROR)
    assert parse_filter({"min_severity": "error"}).as_dict() == {"min_severity": "error"}  # type: ignore[union-attr]


@pytest.mark.parametrize("obj", [None, {}, {"zones": [], "actors": None, "text": None}])
def test_nothing_set_is_no_filter(obj: Any) -> None:
    assert parse_filter(obj) is None


@pytest.mark.parametrize(("obj", "field"), BAD_FILTERS)
def test_bad_filters_name_the_field(obj: Any, field: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_filter(obj)
    assert info.value.field == field
    assert str(info.value).startswith(field + ": ") and info.value.message


def test_bad_filter_json_text() -> None:
    with pytest.raises(FilterError) as info:
        parse_filter_json("{not json")
    assert info.value.field == "filter"
    with pytest.raises(FilterError) as info:
        parse_filter_json('{"zones": ["x"' + " " * 5000 + "]}")
    assert info.value.field == "filter" and "4096" in info.value.message
    assert parse_filter_json('{"min_severity": "error"}') == EventFilter(min_severity=Severity.ERROR)


def test_zone_keys_are_every_parent() -> None:
    assert zone_keys("corp.example", "www.corp.example") == ["corp.example", "example", "www.corp.example"]
    assert zone_keys(None, "corp-ad") == ["corp-ad"]
    assert zone_keys(None, None) == []


# --- matching: the shared table ------------------------------------------------------------------


def _events() -> dict[str, Event]:
    out = {}
    for seq, e in enumerate(EVENTS, 1):
        draft = EventDraft.make(e.type, e.data, **e.emit_kwargs())
        out[e.key] = Event.from_draft(draft, seq)
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_filter_cases(case: FilterCase) -> None:
    events = _events()
    f = parse_filter(case.filter)
    got = [k for k in KEYS if f is None or f.matches(events[k])]
    assert got == case.expected


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_event_types_a_filter_could_match_are_a_superset_of_what_it_matches(case: FilterCase) -> None:
    f = parse_filter(case.filter)
    if f is None:
        return
    possible = f.event_types(EventType)
    for key, event in _events().items():
        if f.matches(event):
            assert event.type in possible, key


# --- the protocol's subscribe `filter` ------------------------------------------------------------


def _parse(frame: dict[str, Any], ctype: ConnectionType = ConnectionType.ADMIN) -> Any:
    return parse_client_message(orjson.dumps(frame).decode(), ctype)


def test_subscribe_without_filter_leaves_it_unchanged() -> None:
    msg = _parse({"type": "subscribe", "event_types": ["zone_created"]})
    assert msg == Subscribe((EventType.ZONE_CREATED,), unsubscribe=False)
    assert msg.set_filter is False


def test_subscribe_with_filter_sets_it_and_null_removes_it() -> None:
    msg = _parse({"type": "subscribe", "event_types": [], "filter": {"zones": ["corp.example"]}, "id": 3})
    assert isinstance(msg, Subscribe) and msg.set_filter and msg.id == 3
    assert msg.filter == EventFilter(zones=("corp.example",))
    msg = _parse({"type": "unsubscribe", "event_types": ["zone_created"], "filter": None})
    assert isinstance(msg, Subscribe) and msg.set_filter and msg.filter is None and msg.unsubscribe


def test_a_filter_alone_needs_no_event_types() -> None:
    msg = _parse({"type": "subscribe", "filter": {"min_severity": "error"}})
    assert isinstance(msg, Subscribe) and msg.event_types == () and msg.filter is not None


@pytest.mark.parametrize(("obj", "field"), BAD_FILTERS)
def test_a_bad_filter_in_a_frame_is_invalid_filter_naming_the_field(obj: Any, field: str) -> None:
    with pytest.raises(ProtocolError) as info:
        _parse({"type": "subscribe", "event_types": ["zone_created"], "filter": obj, "id": "f"})
    err = info.value
    assert err.code is ErrorCode.INVALID_FILTER and err.field == field and err.request_id == "f"
    assert err.message.startswith(field + ": ")


def test_bad_event_types_are_refused_before_the_filter_is_looked_at() -> None:
    with pytest.raises(ProtocolError) as info:
        _parse({"type": "subscribe", "event_types": ["nope"], "filter": {"min_severity": "loud"}})
    assert info.value.code is ErrorCode.UNKNOWN_EVENT


# --- the hub's index of filtered connections: the same answer as checking every connection --------


async def _noop_send(message: dict[str, Any]) -> None:
    raise AssertionError("nothing is sent: the connections are not started")


def _random_filter(rng: random.Random) -> dict[str, Any]:
    pools: dict[str, list[Any]] = {
        "zones": ["corp.example", "example", "www.corp.example", "lab.corp.example", "xcorp.example", "corp-ad"],
        "min_severity": ["info", "warning", "error", "critical"],
        "categories": ["dns", "security", "health", "system", "user"],
        "actors": ["alice", "bob", "carol"],
        "record_types": ["A", "MX", "TXT"],
        "text": ["corp", "mail", "created", "zzz"],
    }
    obj: dict[str, Any] = {}
    for key, pool in pools.items():
        if rng.random() < 0.35:
            obj[key] = rng.choice(pool) if key in ("min_severity", "text") else rng.sample(pool, rng.randint(1, 2))
    return obj


def _queued_ids(conn: Connection) -> list[str]:
    return [orjson.loads(text)["id"] for text, _, seq in conn.queue if seq]


def test_the_hub_sends_each_event_to_exactly_the_connections_that_may_see_it() -> None:
    rng = random.Random(12)
    hub = Hub(RealtimeMetrics(), queue_limit=10_000)
    users = [("admin", Role.ADMIN), ("viewer", Role.VIEWER), ("carol", Role.VIEWER)]
    conns = []
    for i in range(300):
        user, role = users[i % len(users)]
        ctype = (
            ConnectionType.ADMIN
            if role is Role.ADMIN
            else rng.choice([ConnectionType.SYSTEM, ConnectionType.DNS_MANAGEMENT])
        )
        f = parse_filter(_random_filter(rng)) if i % 5 else None  # every fifth without a filter
        conns.append(
            hub.register(
                _noop_send,
                connection_type=ctype,
                user_id=user,
                role=role,
                first_frame=lambda c: "{}",
                start=False,
                event_filter=f,
            )
        )
    # Some change their filter (or drop it, or take one) after registering.
    for conn in rng.sample(conns, 60):
        hub.set_subscriptions(
            conn, conn.subscriptions, parse_filter(_random_filter(rng)) if rng.random() < 0.8 else None
        )
    events = list(_events().values())
    seq = len(events)
    for e in EVENTS:  # the same events again, about other names and at other severities
        for zone in ("corp.example", "other.example"):
            seq += 1
            data = {**e.data, "zone": zone} if "zone" in e.data else e.data
            severity = rng.choice(list(Severity))
            events.append(
                Event.from_draft(
                    EventDraft.make(e.type, data, actor=e.actor, target_user=e.target_user, severity=severity), seq
                )
            )
    hub.dispatch(events[: len(events) // 2])  # a batch (queued, then flushed) ...
    for event in events[len(events) // 2 :]:  # ... and one at a time (the direct path)
        hub.dispatch([event])
    wrong = []
    for conn in conns:
        expected = [e.id for e in events if conn.may_see(e)]
        if _queued_ids(conn) != expected:
            wrong.append((conn.filter, conn.connection_type, conn.user_id))
    assert not wrong, wrong[:5]
    assert hub.filtered_connections == sum(1 for c in conns if c.filter is not None)
    for conn in conns:
        hub.unregister(conn)
    assert not hub.filtered and hub.filtered_connections == 0
    assert not any(hub.by_type.values())


def test_demand_counts_filtered_connections_only_for_types_they_could_get() -> None:
    hub = Hub(RealtimeMetrics())
    changes: list[tuple[EventType, bool]] = []
    hub.add_demand_listener(lambda t, active: changes.append((t, active)))
    conn = hub.register(
        _noop_send,
        connection_type=ConnectionType.HEALTH,
        user_id="viewer",
        role=Role.VIEWER,
        first_frame=lambda c: "{}",
        start=False,
        event_filter=parse_filter({"categories": ["system"]}),
    )
    assert hub.has_demand(EventType.SYSTEM_STATUS) and not hub.has_demand(EventType.HEALTH_UPDATE)
    changes.clear()
    hub.set_subscriptions(conn, conn.subscriptions, None)  # the filter removed: every health type is wanted
    assert (EventType.HEALTH_UPDATE, True) in changes and (EventType.SYSTEM_STATUS, True) not in changes
    changes.clear()
    hub.unregister(conn)
    assert (EventType.HEALTH_UPDATE, False) in changes and (EventType.SYSTEM_STATUS, False) in changes
