"""The searchable history (GET /api/events over the event archive) on a real server: the shared table
of filter cases on SQLite, PostgreSQL and with the Redis broker; full-text search giving the same
answers on SQLite and PostgreSQL; time ranges; role rules; paging that stays exact while events keep
coming; bad parameters refused naming the field; history shared by two instances through their
database, across a leader change."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, RedisServer, pg_database
from filter_cases import CASES, EVENTS, KEYS
from test_multi_instance import Cluster, cluster  # noqa: F401  (the two-instance fixture)

from hybrid_dns.realtime.events import EventDraft, EventType, Severity

QUERY_NAMES = {
    "zones": "zone",
    "min_severity": "min_severity",
    "categories": "category",
    "actors": "actor",
    "record_types": "record_type",
    "text": "text",
}


def as_query(f: dict[str, Any]) -> list[tuple[str, str]]:
    """A filter (its JSON form) as GET /api/events query parameters (lists repeat the parameter)."""
    params: list[tuple[str, str]] = []
    for key, value in f.items():
        if value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            params.append((QUERY_NAMES[key], str(item)))
    return params


@contextlib.asynccontextmanager
async def backend_server(tmp_path: Path, backend: str, redis: RedisServer | None = None) -> AsyncIterator[LiveServer]:
    """A server on `backend`: sqlite (embedded broker), postgresql (embedded broker), redis (SQLite + Redis)."""
    async with contextlib.AsyncExitStack() as stack:
        settings: dict[str, Any] = {}
        if backend == "postgresql":
            settings["DATABASE_URL"] = await stack.enter_async_context(pg_database())
        if backend == "redis":
            assert redis is not None
            settings["BROKER_URL"] = redis.url
        server = LiveServer(tmp_path / "data", **settings).start()
        try:
            yield server
        finally:
            server.stop()


async def emit_all(server: LiveServer, events: Any) -> dict[str, Any]:
    emitted = {}
    for e in events:
        emitted[e.key] = await server.emit(e.type, e.data, **e.emit_kwargs())
    return emitted


async def history(http: httpx.AsyncClient, params: Any = None) -> list[dict[str, Any]]:
    """Every event the history shows for these parameters, paged forward 500 at a time."""
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        page = await http.get("/api/events", params=[*(params or []), ("after_seq", str(after)), ("limit", "500")])
        assert page.status_code == 200, page.text
        body = page.json()
        out.extend(body["events"])
        if not body["has_more"]:
            return out
        after = body["events"][-1]["seq"]


def keys(events: list[dict[str, Any]], emitted: dict[str, Any]) -> list[str]:
    by_id = {e.id: k for k, e in emitted.items()}
    return [by_id[e["id"]] for e in events if e["id"] in by_id]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "redis"])
async def test_the_table_of_filter_cases_on_the_history(tmp_path: Path, backend: str, request: Any) -> None:
    redis = request.getfixturevalue("redis_server") if backend == "redis" else None
    async with backend_server(tmp_path, backend, redis) as server, server.http("admin") as admin:
        emitted = await emit_all(server, EVENTS)
        assert keys(await history(admin), emitted) == KEYS
        failures = []
        for case in CASES:
            got = keys(await history(admin, as_query(case.filter)), emitted)
            if got != case.expected:
                failures.append(f"{case.name}: got {got}, expected {case.expected}")
        assert not failures, "\n".join(failures)
        # Each event carries `about` and `read`, as its frame plus read state.
        page = (await admin.get("/api/events", params={"zone": "www.corp.example"})).json()
        (event,) = page["events"]
        assert event["about"]["zone"] == "corp.example" and event["about"]["record_type"] == "A"
        assert event["read"] is False and event["data"]["value"] == "192.0.2.1"


# Full-text search: (q, the keys it finds). Word prefixes, every word (AND), any case, punctuation
# as a separator on both sides, over summary, zone, name, actor and type.
SEARCH_EVENTS = [
    (
        "mx",
        "record_created",
        {"zone": "mail.example", "name": "@", "type": "MX", "value": "10 mx1.mail.example."},
        "alice",
    ),
    ("www", "record_created", {"zone": "shop.example", "name": "www", "type": "A", "value": "192.0.2.7"}, "bob"),
    ("cafe", "zone_created", {"zone": "café.example"}, "chloé"),
    ("upd", "record_updated", {"zone": "shop.example", "name": "api", "type": "CNAME", "value": "www"}, "alice"),
    ("sec", "security_alert", {"alert": "x", "message": "Repeated login failures for Admin_Backup"}, None),
]
SEARCHES = [
    ("mail", ["mx"]),
    ("MAIL.example", ["mx"]),
    ("ma", ["mx"]),
    ("shop", ["www", "upd"]),
    ("shop www", ["www", "upd"]),  # "www" is upd's value too
    ("shop 192", ["www"]),
    ("192.0.2.7", ["www"]),
    ("alice", ["mx", "upd"]),
    ("record created", ["mx", "www"]),
    ("updated", ["upd"]),
    ("caf", ["cafe"]),
    ("café", ["cafe"]),
    ("chlo", ["cafe"]),
    ("backup", ["sec"]),
    ("admin_backup", ["sec"]),
    ("login-failures", ["sec"]),
    ("xample", []),  # a prefix of words, not any substring
    ("shop nothing", []),
    ("...", []),
    ('"', []),
    ("mail OR shop", []),  # no query language: OR is a word
    ("*", []),
]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_full_text_search_finds_the_same_on_sqlite_and_postgresql(tmp_path: Path, database: str) -> None:
    async with backend_server(tmp_path, database) as server, server.http("admin") as admin:
        emitted = {}
        for key, etype, data, actor in SEARCH_EVENTS:
            emitted[key] = await server.emit(etype, data, actor=actor)
        failures = []
        for q, expected in SEARCHES:
            got = keys(await history(admin, [("q", q)]), emitted)
            if got != expected:
                failures.append(f"q={q!r}: got {got}, expected {expected}")
        assert not failures, "\n".join(failures)
        # With the filters: AND.
        found = keys(await history(admin, [("q", "shop"), ("record_type", "cname")]), emitted)
        assert found == ["upd"]


async def test_time_range_since_and_until(server: LiveServer) -> None:
    now = datetime.now(UTC)

    def at(minutes: int) -> str:
        return (now + timedelta(minutes=minutes)).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    drafts = [
        EventDraft(EventType.ZONE_UPDATED, b'{"zone":"t.example"}', Severity.INFO, timestamp=at(m))
        for m in (-120, -60, -30, 0)
    ]
    published = await server.call(server.realtime.service.publish(drafts))
    ids = [e.id for e in published]
    async with server.http("viewer") as http:
        since = await history(http, [("since", at(-61))])
        assert [e["id"] for e in since] == ids[1:]
        window = await history(http, [("since", at(-60)), ("until", at(-30))])
        assert [e["id"] for e in window] == [ids[1]]  # since is inclusive, until exclusive
        offset = (now - timedelta(minutes=90)).astimezone(timezone_plus_two()).isoformat()
        assert [e["id"] for e in await history(http, [("until", offset)])] == [ids[0]]
        assert await history(http, [("since", at(1)), ("until", at(-1))]) == []
        for bad in ("yesterday", "2026-12-02", "1700000000", "2026-12-02T10:00:00"):  # no offset: which zone?
            response = await http.get("/api/events", params={"since": bad})
            assert response.status_code == 422, bad
            assert response.json()["errors"][0]["field"] == "query.since"


def timezone_plus_two() -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=2))


async def test_role_rules_apply_in_the_history(server: LiveServer) -> None:
    zone = await server.emit("zone_created", {"zone": "r.example"})
    alert = await server.emit("security_alert", {"alert": "x"})
    own = await server.emit("user_login", {"username": "viewer"}, actor="viewer")
    other = await server.emit("user_login", {"username": "op"}, actor="op")
    created = await server.emit("user_created", {"username": "new"}, actor="admin", target_user="new")
    expired = await server.emit("session_expired", {"reason": "logout"}, target_user="viewer")
    expected = {
        "viewer": [zone, own, expired],
        "op": [zone, alert, other],
        "admin": [zone, alert, own, other, created],
    }
    for user, events in expected.items():
        async with server.http(user) as http:
            got = [e["id"] for e in await history(http)]
            assert got == [e.id for e in events], user
            # Asking for a type the role may not see finds nothing, it does not widen anything.
            assert await history(http, [("type", "user_created"), ("actor", "admin")]) == (
                [] if user != "admin" else await history(http, [("type", "user_created")])
            )


async def test_paging_is_exact_while_events_keep_coming(server: LiveServer) -> None:
    first = [await server.emit("zone_updated", {"zone": f"p{i}.example"}) for i in range(300)]
    stop = asyncio.Event()
    later: list[Any] = []

    async def keep_emitting() -> None:
        i = 0
        while not stop.is_set():
            later.append(await server.emit("record_created", {"zone": "p.example", "name": f"n{i}", "type": "A"}))
            i += 1
            await asyncio.sleep(0)

    emitter = asyncio.ensure_future(keep_emitting())
    try:
        async with server.http("viewer") as http:
            # Backwards from the newest, 37 at a time, while new events arrive above.
            newest = (await http.get("/api/events", params={"limit": 37})).json()
            seen = [e["seq"] for e in newest["events"]]
            before = seen[0]
            while True:
                page = (await http.get("/api/events", params={"limit": 37, "before_seq": before})).json()
                if not page["events"]:
                    assert page["has_more"] is False
                    break
                seen = [e["seq"] for e in page["events"]] + seen
                before = page["events"][0]["seq"]
            assert seen == sorted(set(seen)) and seen[0] == first[0].seq
            assert set(range(first[0].seq, seen[-1] + 1)) == set(seen)  # nothing skipped, nothing twice
            # Forwards, 41 at a time, until the emitter has stopped and the last page is reached.
            forward: list[int] = []
            after = 0
            for round_ in range(1000):
                if round_ == 5:
                    stop.set()
                    await emitter
                page = (await http.get("/api/events", params={"limit": 41, "after_seq": after})).json()
                forward += [e["seq"] for e in page["events"]]
                if page["events"]:
                    after = page["events"][-1]["seq"]
                if stop.is_set() and not page["has_more"]:
                    break
    finally:
        stop.set()
        await emitter
    assert len(later) > 0
    assert forward == list(range(first[0].seq, later[-1].seq + 1))


async def test_bad_parameters_are_refused_naming_the_field(server: LiveServer) -> None:
    bad = [
        ({"zone": "bad zone"}, "query.zone.0"),
        ([("zone", "corp.example"), ("zone", "a..b")], "query.zone.1"),
        ({"zone": "-lead.example"}, "query.zone.0"),
        ({"zone": "x" * 64 + ".example"}, "query.zone.0"),
        ([("zone", f"z{i}.example") for i in range(17)], "query.zone"),
        ({"record_type": "SOA"}, "query.record_type.0"),
        ({"actor": "a" * 65}, "query.actor.0"),
        ({"actor": ""}, "query.actor.0"),
        ({"text": "t" * 129}, "query.text"),
        ({"text": ""}, "query.text"),
        ({"q": "q" * 201}, "query.q"),
        ({"min_severity": "loud"}, "query.min_severity"),
        ({"category": "weather"}, "query.category.0"),
        ({"unread": "maybe"}, "query.unread"),
    ]
    async with server.http("viewer") as http:
        for params, field in bad:
            response = await http.get("/api/events", params=params)
            assert response.status_code == 422, (params, response.text)
            assert field in [e["field"] for e in response.json()["errors"]], (params, response.text)
        # Accepted forms: any case, a final dot, a repeated or single category.
        for params in ({"zone": "CORP.Example."}, {"record_type": "aaaa"}, [("category", "dns"), ("category", "user")]):
            assert (await http.get("/api/events", params=params)).status_code == 200, params


async def test_two_instances_read_one_history_from_their_database_across_a_leader_change(
    cluster: Cluster,  # noqa: F811
) -> None:
    a, b = cluster.add("a"), cluster.add("b")
    async with httpx.AsyncClient(timeout=10, headers=cluster.headers()) as http:

        async def history_ids(server: Any) -> list[str]:
            ids: list[str] = []
            after = 0
            while True:
                page = (
                    await http.get(f"{server.base_url}/api/events", params={"after_seq": after, "limit": 500})
                ).json()
                ids += [e["id"] for e in page["events"] if e["type"] == "zone_updated"]
                if not page["has_more"]:
                    return ids
                after = page["events"][-1]["seq"]

        emitted = [(await cluster.emit(a if i % 2 else b, http, i)).json()["id"] for i in range(20)]
        # Whichever instance leads, both answer from the shared archive, each event once, in order.
        assert await history_ids(a) == emitted
        assert await history_ids(b) == emitted
        leaders = [(await http.get(f"{s.base_url}/api/websocket/stats")).json()["leader"] for s in (a, b)]
        assert leaders.count(True) == 1
        leader, other = (a, b) if leaders[0] else (b, a)
        # Emitted on the leader, which is killed at once, before it may have archived them: the other
        # instance archives them from the stream, with what it emits after.
        lost_leader = [(await cluster.emit(leader, http, 100 + i)).json()["id"] for i in range(10)]
        leader.kill()
        more = [(await cluster.emit(other, http, 200 + i)).json()["id"] for i in range(5)]
        assert await history_ids(other) == emitted + lost_leader + more


async def test_sparse_matches_page_exactly_over_a_large_archive(make_server: Any) -> None:
    """A filter that matches one event in 1,500 over 12,000: pages in both directions find exactly those."""
    server: LiveServer = make_server(EVENT_HISTORY_SIZE=20_000)  # about paging, not about an archiver behind
    drafts = [
        EventDraft.make(EventType.ZONE_UPDATED, {"zone": "rare.example" if i % 1500 == 7 else f"z{i}.example"})
        for i in range(12_000)
    ]
    for start in range(0, len(drafts), 1000):
        await server.call(server.realtime.service.publish(drafts[start : start + 1000]))
    rare = [d.id for i, d in enumerate(drafts) if i % 1500 == 7]
    async with server.http("viewer") as http:
        newest = (await http.get("/api/events", params={"zone": "rare.example", "limit": 3})).json()
        assert [e["id"] for e in newest["events"]] == rare[-3:] and newest["has_more"] is True
        older = (
            await http.get("/api/events", params={"zone": "rare.example", "before_seq": newest["events"][0]["seq"]})
        ).json()
        assert [e["id"] for e in older["events"]] == rare[:-3] and older["has_more"] is False
        assert [e["id"] for e in await history(http, [("zone", "rare.example")])] == rare
        export = (await http.get("/api/events/export", params={"zone": "rare.example"})).text.splitlines()
        assert [line.split('"id":"')[1][:36] for line in export] == rare


async def test_a_burst_larger_than_the_broker_history_is_archived_whole(make_server: Any) -> None:
    """The broker keeps 100 events for resume; a burst of 1,000 all reach the history (the leader
    archives what it was dispatched), each once."""
    server: LiveServer = make_server(EVENT_HISTORY_SIZE=100)
    published = []
    for start in range(0, 1000, 250):
        drafts = [EventDraft.make(EventType.ZONE_UPDATED, {"zone": f"b{i}.example"}) for i in range(start, start + 250)]
        published += await server.call(server.realtime.service.publish(drafts))
    async with server.http("viewer") as http:
        assert [e["id"] for e in await history(http)] == [e.id for e in published]
        assert (await http.get("/api/events/unread-count")).json() == {"unread_count": 1000}
    assert server.realtime.archiver.lost == 0
