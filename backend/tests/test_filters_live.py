"""Server-side filters on a real server with real WebSocket clients: the shared table of cases on
the live path and in resume/replay (embedded broker across a restart, and Redis), bad filters
refused with the field named and nothing changed, `filter: null`, the echoes, `?filter=` at connect."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import LiveServer, RedisServer, WsClient, pg_database, wait_until, ws_open
from filter_cases import BAD_FILTERS, CASES, EVENTS, KEYS
from websockets.asyncio.client import connect

from hybrid_dns.db import Database
from hybrid_dns.realtime.about import About
from hybrid_dns.realtime.broker import MemoryBroker
from hybrid_dns.realtime.events import EventDraft, EventType
from hybrid_dns.realtime.filters import parse_filter
from hybrid_dns.realtime.hub import Hub
from hybrid_dns.realtime.metrics import RealtimeMetrics
from hybrid_dns.realtime.outbox import Outbox
from hybrid_dns.realtime.service import WebSocketEventService

# Every case's connection at once, on one admin account.
MANY = {"WEBSOCKET_MAX_CONNECTIONS_PER_USER": 100}


async def emit_cases(server: LiveServer) -> dict[str, dict[str, Any]]:
    """Emit the shared events; returns {key: {"id", "seq"}}, once this instance has dispatched them all."""
    emitted = {}
    for e in EVENTS:
        event = await server.emit(e.type, e.data, **e.emit_kwargs())
        emitted[e.key] = {"id": event.id, "seq": event.seq}
    last = max(v["seq"] for v in emitted.values())
    assert await server.call(server.realtime.hub.wait_for_seq(last))
    return emitted


async def events_until_pong(client: WsClient, tag: str) -> list[dict[str, Any]]:
    """Every event queued for `client` before a ping sent now (its pong comes after them)."""
    await client.send({"type": "ping", "id": tag})
    events = list(client.pending)
    client.pending.clear()
    while True:
        frame = await client.recv()
        if frame.get("type") == "batch":
            events.extend(frame["events"])
        elif frame.get("type") == "pong" and frame.get("id") == tag:
            return events
        else:
            assert "seq" in frame, frame
            events.append(frame)


def keys_of(events: list[dict[str, Any]], emitted: dict[str, dict[str, Any]]) -> list[str]:
    by_id = {v["id"]: k for k, v in emitted.items()}
    return [by_id[e["id"]] for e in events if e["id"] in by_id]


@contextlib.asynccontextmanager
async def case_clients(server: LiveServer, **query: Any) -> AsyncIterator[list[WsClient]]:
    """One admin connection per case, each with the case's filter given at connect (`?filter=`)."""
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for case in CASES:
            q = {**query, "filter": orjson.dumps(case.filter).decode()}
            client = await stack.enter_async_context(ws_open(server, "admin", "admin", query=q))
            clients.append(client)
        yield clients


def check_cases(per_case: list[list[str]]) -> None:
    failures = [
        f"{case.name}: got {got}, expected {case.expected}"
        for case, got in zip(CASES, per_case, strict=True)
        if got != case.expected
    ]
    assert not failures, "\n".join(failures)


async def test_the_table_of_cases_on_the_live_path(make_server: Any) -> None:
    server = make_server(**MANY)
    async with case_clients(server) as clients:
        for case, client in zip(CASES, clients, strict=True):
            assert client.connected is not None
            assert client.connected["filter"] == _echo(case.filter), case.name
        emitted = await emit_cases(server)
        per_case = [keys_of(await events_until_pong(c, "end"), emitted) for c in clients]
    check_cases(per_case)


def _echo(obj: dict[str, Any]) -> dict[str, Any] | None:
    """What `connected`/`subscriptions` show for a filter sent as `obj` (normalized; null when nothing set)."""
    f = parse_filter(obj)
    return None if f is None else f.as_dict()


async def _replay_cases(server: LiveServer, since: int) -> list[list[dict[str, Any]]]:
    """Each case's replay from `since`, read up to its `resumed` frame."""
    out = []
    async with case_clients(server, since=since) as clients:
        for client in clients:
            events: list[dict[str, Any]] = []
            while True:
                frame = await client.recv()
                if frame["type"] == "batch":
                    events.extend(frame["events"])
                elif frame["type"] == "resumed":
                    break
                else:
                    assert "seq" in frame, frame  # a reset would fail here
                    events.append(frame)
            out.append(events)
    return out


async def test_replay_after_a_restart_gives_the_same_events_as_the_live_path(tmp_path: Path) -> None:
    """The embedded broker: events (and their `about`) read back from the database after a restart."""
    first = LiveServer(tmp_path / "data", **MANY).start()
    try:
        since = first.realtime.hub.last_seq
        async with ws_open(first, "admin", "admin") as unfiltered:
            emitted = await emit_cases(first)
            live = {e["id"]: e for e in await events_until_pong(unfiltered, "live")}
        assert keys_of(list(live.values()), emitted) == KEYS
        assert all(e["about"]["summary"] for e in live.values())
    finally:
        first.stop()
    second = LiveServer(tmp_path / "data", **MANY).start()
    try:
        replays = await _replay_cases(second, since)
    finally:
        second.stop()
    check_cases([keys_of(r, emitted) for r in replays])
    for replay in replays:
        for event in replay:
            assert event == live[event["id"]]  # the same frame, `about` included, as it went out live


async def test_live_and_replay_agree_with_the_redis_broker(tmp_path: Path, redis_server: RedisServer) -> None:
    """Two instances on one Redis: the cases live on one, and replayed on the other from Redis' stream."""
    a = LiveServer(tmp_path / "a", BROKER_URL=redis_server.url, **MANY).start()
    b: LiveServer | None = None
    try:
        since = a.realtime.hub.last_seq
        async with case_clients(a) as clients:
            emitted = await emit_cases(a)
            live = [await events_until_pong(c, "end") for c in clients]
        check_cases([keys_of(events, emitted) for events in live])
        b = LiveServer(tmp_path / "b", BROKER_URL=redis_server.url, **MANY).start()
        assert await b.call(b.realtime.hub.wait_for_seq(max(v["seq"] for v in emitted.values())))
        replays = await _replay_cases(b, since)
        check_cases([keys_of(r, emitted) for r in replays])
        for live_events, replay in zip(live, replays, strict=True):
            assert [e["about"] for e in replay] == [e["about"] for e in live_events]
    finally:
        a.stop()
        if b is not None:
            b.stop()


async def test_subscribe_sets_replaces_and_removes_the_filter(server: LiveServer) -> None:
    async with ws_open(server, "dns_management", "viewer") as client:
        assert client.connected is not None and client.connected["filter"] is None
        await client.send({"type": "subscribe", "event_types": [], "filter": {"zones": ["Corp.Example."]}, "id": 1})
        reply = await client.reply("subscriptions")
        assert reply["filter"] == {"zones": ["corp.example"]} and reply["id"] == 1
        await server.emit("zone_updated", {"zone": "other.example"})
        await server.emit("record_created", {"zone": "corp.example", "name": "www", "type": "A", "value": "192.0.2.1"})
        got = await client.next_event()
        assert got["about"]["name"] == "www.corp.example"  # other.example was not sent

        # A subscribe without `filter` leaves it; with one, replaces it.
        await client.send({"type": "unsubscribe", "event_types": ["zone_deleted"]})
        assert (await client.reply("subscriptions"))["filter"] == {"zones": ["corp.example"]}
        await client.send({"type": "subscribe", "filter": {"min_severity": "warning"}})
        reply = await client.reply("subscriptions")
        assert reply["filter"] == {"min_severity": "warning"} and "zone_deleted" not in reply["subscriptions"]
        await server.emit("zone_updated", {"zone": "corp.example"})
        await server.emit("zone_updated", {"zone": "corp.example"}, severity="error")
        assert (await client.next_event())["severity"] == "error"

        # null removes it: everything subscribed comes again.
        await client.send({"type": "subscribe", "event_types": ["zone_deleted"], "filter": None})
        reply = await client.reply("subscriptions")
        assert reply["filter"] is None and "zone_deleted" in reply["subscriptions"]
        marker = await server.emit("zone_updated", {"zone": "other.example"})
        assert (await client.next_event())["id"] == marker.id


async def test_a_bad_filter_is_refused_naming_the_field_and_changes_nothing(make_server: Any) -> None:
    server = make_server(WEBSOCKET_RATE_BURST=200, WEBSOCKET_RATE_LIMIT=200)
    async with ws_open(server, "dns_management", "viewer") as client:
        await client.send({"type": "subscribe", "event_types": [], "filter": {"zones": ["corp.example"]}})
        before = await client.reply("subscriptions")
        for i, (obj, field) in enumerate(BAD_FILTERS):
            # Event types and filter are all or nothing: the valid unsubscribe must not happen either.
            await client.send({"type": "unsubscribe", "event_types": ["zone_created"], "filter": obj, "id": i})
            error = await client.reply("error")
            assert error["code"] == "invalid_filter" and error["field"] == field and error["id"] == i, error
            assert error["message"].startswith(field + ": ")
        await client.send({"type": "subscribe", "event_types": [], "id": "after"})
        after = await client.reply("subscriptions")
        assert after["subscriptions"] == before["subscriptions"] and after["filter"] == {"zones": ["corp.example"]}
        # Still usable, and still filtering.
        await server.emit("zone_created", {"zone": "elsewhere.example"})
        marker = await server.emit("zone_created", {"zone": "corp.example"})
        assert (await client.next_event())["id"] == marker.id
        await client.send("{")
        assert (await client.reply("error"))["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"min_severity": "loud"}', "filter.min_severity"),
        ('{"zones": ["bad zone"]}', "filter.zones.0"),
        ('{"colour": "red"}', "filter.colour"),
        ("{not json", "filter"),
        ("[]", "filter"),
    ],
)
async def test_a_bad_filter_at_connect_is_a_terminal_4400_naming_the_field(
    server: LiveServer, raw: str, field: str
) -> None:
    async with ws_open(server, "dns_management", "viewer", query={"filter": raw}, expect_connected=False) as client:
        code, reason = await client.expect_close()
    assert code == 4400
    assert reason.startswith(f"invalid filter: {field}: ") and len(reason.encode()) <= 123


async def test_filter_given_twice_at_connect_is_refused(server: LiveServer) -> None:
    token = server.token("viewer")
    url = server.ws_url("dns_management", "viewer") + "?filter=%7B%7D&filter=%7B%7D"
    async with connect(url, subprotocols=["hybrid-dns.v1", f"bearer.{token}"]) as ws:  # type: ignore[list-item]
        client = WsClient(ws)
        code, reason = await client.expect_close()
    assert code == 4400 and "more than once" in reason


async def test_a_filter_never_widens_what_the_role_may_see(server: LiveServer) -> None:
    """A viewer's filter on user events still gets only its own (the audience rule comes first)."""
    query = {"filter": orjson.dumps({"categories": ["user"]}).decode()}
    async with ws_open(server, "system", "viewer", query=query) as client:
        await server.emit("user_created", {"username": "carol", "role": "viewer"}, actor="admin", target_user="carol")
        await server.emit("user_login", {"username": "viewer2"}, actor="viewer2")
        mine = await server.emit("user_login", {"username": "viewer"}, actor="viewer")
        await server.emit("zone_created", {"zone": "corp.example"})
        assert [e["id"] for e in await events_until_pong(client, "p")] == [mine.id]


async def test_demand_follows_what_filtered_connections_could_get(server: LiveServer) -> None:
    """A connection whose filter can never match health events is no demand for the health broadcaster."""
    query = {"filter": orjson.dumps({"categories": ["system"]}).decode()}
    hub = server.realtime.hub
    async with ws_open(server, "health", "viewer", query=query):
        assert await server.call_fn(lambda: hub.has_demand(EventType.SYSTEM_STATUS))
        assert not await server.call_fn(lambda: hub.has_demand(EventType.HEALTH_UPDATE))
        async with ws_open(server, "health", "viewer2") as unfiltered:
            assert await server.call_fn(lambda: hub.has_demand(EventType.HEALTH_UPDATE))
            await unfiltered.send({"type": "subscribe", "filter": {"categories": ["system"]}})
            await unfiltered.reply("subscriptions")
            assert not await server.call_fn(lambda: hub.has_demand(EventType.HEALTH_UPDATE))
            stats = await server.call_fn(hub.stats)
            assert stats["filtered_connections"] == 2
    await wait_until(lambda: hub.filtered_connections == 0, what="filtered connections gone")


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_about_is_stored_with_the_event_and_read_back_unchanged(tmp_path: Path, database: str) -> None:
    """The embedded broker's history and the outbox keep `about` in their columns (never recomputed):
    after a restart, and through the outbox, every event's frame is the one first published."""
    async with contextlib.AsyncExitStack() as stack:
        url = f"sqlite+aiosqlite:///{tmp_path / 'events.db'}"
        if database == "postgresql":
            url = await stack.enter_async_context(pg_database())
        db = Database(url)
        await db.create_all()
        stack.push_async_callback(db.dispose)
        drafts = [EventDraft.make(e.type, e.data, **e.emit_kwargs()) for e in EVENTS]
        # Given by their emitters: one cut to the 200 characters of a summary, one at the 253 of a name.
        drafts.append(EventDraft.make("security_alert", {}, about=About(None, None, None, "é" * 400)))
        given = About("a" * 63 + ".example", ("b" * 63 + ".") * 3 + "c" * 61, "A", "Given by its emitter")
        drafts.append(EventDraft.make("config_change", {"section": "x"}, about=given))
        metrics = RealtimeMetrics()
        broker = MemoryBroker(db)
        await broker.start(Hub(metrics))
        published = await broker.publish(drafts)
        staged = EventDraft.make("record_deleted", {"zone": "corp.example", "name": "old", "type": "CNAME"})
        outbox = Outbox(db, WebSocketEventService(broker, metrics))
        async with db() as session, session.begin():
            batch = outbox.add(session, [staged])
        (relayed,) = await outbox.publish(batch)
        await broker.close()
        assert len(published[-2].about.summary) == 200 and len(given.name or "") == 253
        assert published[-1].about == given
        assert relayed.about == staged.about and relayed.about.name == "old.corp.example"

        again = MemoryBroker(db)
        await again.start(Hub(metrics))
        try:
            page = await again.history(0, 100)
        finally:
            await again.close()
        assert [e.frame for e in page.events] == [e.frame for e in [*published, relayed]]
        assert [e.about for e in page.events] == [e.about for e in [*published, relayed]]
