"""Read state at scale on a real server: "mark all as read" and "mark all matching this filter as read"
(POST /api/events/ack with `all` / `filter`), exact unread counts and `read` flags afterwards, the
`acked` frame on every connection of the user, bad requests refused with nothing changed; and the
archive's retention by age and count, with the read state that only pruned events needed.
(Under 200 ms with 100,000 unread events is a benchmark figure: bench/history_bench.py.)"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, pg_database, ws_open
from sqlalchemy import func, select

from hybrid_dns.models import EventArchive, ReadEvent, ReadFilter
from hybrid_dns.realtime import archive
from hybrid_dns.realtime.events import EventDraft, EventType, Severity


async def unread(http: httpx.AsyncClient) -> int:
    response = await http.get("/api/events/unread-count")
    assert response.status_code == 200
    return int(response.json()["unread_count"])


async def publish(server: LiveServer, drafts: list[EventDraft]) -> list[Any]:
    return list(await server.call(server.realtime.service.publish(drafts)))


async def rows(server: LiveServer, model: Any) -> int:
    """Rows in a table, counted on the server's own loop (its database connections live there)."""

    async def count() -> int:
        async with server.app.state.db() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    return await server.call(count())


def records(zone: str, n: int, rtype: str = "A") -> list[EventDraft]:
    return [
        EventDraft.make(EventType.RECORD_CREATED, {"zone": zone, "name": f"h{i}", "type": rtype, "value": "192.0.2.1"})
        for i in range(n)
    ]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_mark_all_and_mark_all_matching_keep_the_count_exact(tmp_path: Path, database: str) -> None:
    async with contextlib.AsyncExitStack() as stack:
        settings: dict[str, Any] = {}
        if database == "postgresql":
            settings["DATABASE_URL"] = await stack.enter_async_context(pg_database())
        server = LiveServer(tmp_path / "data", **settings).start()
        stack.callback(server.stop)
        await publish(server, records("corp.example", 300))
        lab = await publish(server, records("lab.example", 200, "TXT"))
        status = await server.emit("system_status", {"cpu_percent": 1})  # state, never unread
        http = await stack.enter_async_context(server.http("viewer"))
        tab1 = await stack.enter_async_context(ws_open(server, "health", "viewer"))
        tab2 = await stack.enter_async_context(ws_open(server, "system", "viewer"))
        assert await unread(http) == 500

        # Everything under corp.example, up to now: one row, whatever the number of events.
        done = await http.post("/api/events/ack", json={"filter": {"zones": ["corp.example"]}, "all": True})
        assert done.status_code == 200, done.text
        assert done.json() == {
            "event_ids": [],
            "up_to_seq": None,
            "unread_count": 200,
            "filter": {"zones": ["corp.example"]},
            "filter_up_to_seq": status.seq,  # "all": up to the newest event archived
        }
        for tab in (tab1, tab2):
            assert (await tab.reply("acked"))["unread_count"] == 200
        page = (await http.get("/api/events", params={"zone": "corp.example", "limit": 500})).json()["events"]
        assert len(page) == 300 and all(e["read"] for e in page)
        assert [
            e["id"] for e in (await http.get("/api/events", params={"unread": "true", "limit": 500})).json()["events"]
        ] == [e.id for e in lab]
        # Only up to now: a new corp.example event is news.
        news = await server.emit("record_created", {"zone": "corp.example", "name": "new", "type": "A"})
        assert await unread(http) == 201
        # A filter up to a seq: the first 50 lab TXT records.
        done = await http.post(
            "/api/events/ack",
            json={"filter": {"record_types": ["txt"], "zones": ["lab.example"]}, "up_to_seq": lab[49].seq},
        )
        assert done.json()["unread_count"] == 151
        for tab in (tab1, tab2):
            assert (await tab.reply("acked"))["unread_count"] == 151
        flags = {e["id"]: e["read"] for e in (await http.get("/api/events", params={"limit": 500})).json()["events"]}
        assert [flags[e.id] for e in lab] == [True] * 50 + [False] * 150
        # The same filter again, further: the same row moves on (no new row).
        await http.post(
            "/api/events/ack", json={"filter": {"zones": ["lab.example"], "record_types": ["TXT"]}, "all": True}
        )
        assert await unread(http) == 1
        for tab in (tab1, tab2):
            assert (await tab.reply("acked"))["unread_count"] == 1
        assert await rows(server, ReadFilter) == 2

        # Mark all as read: one statement, nothing left, the filter rows it covers gone.
        done = await http.post("/api/events/ack", json={"all": True})
        assert done.json()["unread_count"] == 0 and done.json()["up_to_seq"] >= news.seq
        for tab in (tab1, tab2):
            assert (await tab.reply("acked"))["unread_count"] == 0
        assert await rows(server, ReadFilter) == 0
        assert (await http.get("/api/events", params={"unread": "true"})).json()["events"] == []
        after = await server.emit("zone_created", {"zone": "after.example"})
        assert await unread(http) == 1
        # Another user's read state is their own.
        async with server.http("viewer2") as other:
            assert await unread(other) == 502
        # Ids one by one still work beside the filters, and the count subtracts each once.
        await http.post("/api/events/ack", json={"event_ids": [after.id, after.id, "nope"]})
        assert await unread(http) == 0


async def test_a_filter_ack_tells_every_tab_which_events_it_read(server: LiveServer) -> None:
    """Every tab of the user learns, from the `acked` frame, which rows became read (the filter and
    how far), not only the count; events the filter does not match stay unread; the frames of other
    acks are as they always were."""
    corp_a = await publish(server, records("corp.example", 3))
    corp_txt = await publish(server, records("corp.example", 2, "TXT"))
    lab_txt = await publish(server, records("lab.example", 2, "TXT"))
    under = await server.emit("record_created", {"zone": "sub.corp.example", "name": "x", "type": "TXT"})
    top = under.seq
    matching = {e.id for e in [*corp_txt, under]}
    async with (
        server.http("viewer") as http,
        ws_open(server, "dns_management", "viewer") as tab1,
        ws_open(server, "dns_management", "viewer") as tab2,
    ):
        assert await unread(http) == 8
        # The filter as typed (any case, a final dot): the frame says it as the server applies it.
        done = await http.post(
            "/api/events/ack", json={"filter": {"zones": ["CORP.Example."], "record_types": ["txt"]}, "all": True}
        )
        assert done.status_code == 200, done.text
        answer = done.json()
        assert answer == {
            "event_ids": [],
            "up_to_seq": None,
            "unread_count": 5,
            "filter": {"zones": ["corp.example"], "record_types": ["TXT"]},
            "filter_up_to_seq": top,
        }
        for tab in (tab1, tab2):
            assert await tab.reply("acked") == {"type": "acked", **answer}
        flags = {e["id"]: e["read"] for e in (await http.get("/api/events", params={"limit": 500})).json()["events"]}
        assert flags == {e.id: e.id in matching for e in [*corp_a, *corp_txt, *lab_txt, under]}
        assert await unread(http) == 5

        # up_to_seq past the newest event counts as the newest: the frame says how far it really went.
        done = await http.post("/api/events/ack", json={"filter": {"zones": ["lab.example"]}, "up_to_seq": top + 50})
        answer = done.json()
        assert answer == {**answer, "filter": {"zones": ["lab.example"]}, "filter_up_to_seq": top, "unread_count": 3}
        for tab in (tab1, tab2):
            assert await tab.reply("acked") == {"type": "acked", **answer}

        # Acks without a filter: the frame has exactly the keys it always had.
        await tab1.send({"type": "ack", "event_ids": [corp_a[0].id], "id": 1})
        for tab in (tab1, tab2):
            frame = await tab.reply("acked")
            assert frame == {"type": "acked", "event_ids": [corp_a[0].id], "up_to_seq": None, "unread_count": 2}
        done = await http.post("/api/events/ack", json={"all": True})
        assert done.json() == {"event_ids": [], "up_to_seq": top, "unread_count": 0}
        for tab in (tab1, tab2):
            assert await tab.reply("acked") == {"type": "acked", **done.json()}
        # A filter whose events the mark covers already: still said (they are read), nothing changes.
        done = await http.post("/api/events/ack", json={"filter": {"actors": ["nobody"]}, "all": True})
        assert done.json() == {
            "event_ids": [],
            "up_to_seq": None,
            "unread_count": 0,
            "filter": {"actors": ["nobody"]},
            "filter_up_to_seq": top,
        }
        assert await rows(server, ReadFilter) == 0


async def test_bad_acks_are_refused_and_change_nothing(server: LiveServer) -> None:
    await publish(server, records("bad.example", 5))
    async with server.http("viewer") as http:
        assert await unread(http) == 5
        bad = [
            ({"filter": {"zones": ["bad.example"]}}, "filter"),  # how far: all or up_to_seq
            ({"filter": {"zones": ["bad zone"]}, "all": True}, "filter.zones.0"),
            ({"filter": {"min_severity": "loud"}, "all": True}, "filter.min_severity"),
            ({"filter": {"colour": "red"}, "all": True}, "filter.colour"),
            ({"filter": "corp.example", "all": True}, "filter"),
            ({"all": None}, "all"),
            ({"all": "yes"}, "all"),
        ]
        for body, field in bad:
            response = await http.post("/api/events/ack", json=body)
            assert response.status_code == 422, (body, response.text)
            named = [(e["field"], e["message"].split(" ")[0]) for e in response.json()["errors"]]
            assert any(f.startswith(field) or (f == "body" and m == field) for f, m in named), (body, response.text)
        assert await unread(http) == 5
        # An empty filter, or null, is no filter: everything.
        assert (await http.post("/api/events/ack", json={"filter": None, "up_to_seq": 0})).json()["unread_count"] == 5
        assert (await http.post("/api/events/ack", json={"filter": {}, "all": True})).json()["unread_count"] == 0


async def test_many_filters_marked_read_stay_bounded_and_exact(server: LiveServer) -> None:
    for i in range(20):
        await publish(server, records(f"z{i}.example", 3))
    async with server.http("viewer") as http:
        assert await unread(http) == 60
        for i in range(20):
            done = await http.post("/api/events/ack", json={"filter": {"zones": [f"z{i}.example"]}, "all": True})
            assert done.json()["unread_count"] == 60 - 3 * (i + 1)
        assert await rows(server, ReadFilter) == 16
        assert await rows(server, ReadEvent) == 12  # the 4 oldest filters, written out as the ids they covered
        assert await unread(http) == 0


async def test_retention_prunes_by_count_and_age_and_the_database_stays_bounded(
    make_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive, "PRUNE_EVERY", 0.2)  # the leader's periodic prune, soon
    server: LiveServer = make_server(EVENT_ARCHIVE_MAX_ROWS=100, EVENT_ARCHIVE_MAX_AGE_DAYS=1)
    old = (datetime.now(UTC) - timedelta(days=2)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    stale = [
        EventDraft(EventType.ZONE_UPDATED, b'{"zone":"old.example"}', Severity.INFO, timestamp=old) for _ in range(5)
    ]
    await publish(server, stale)
    async with server.http("viewer") as http:
        first = await publish(server, records("keep.example", 60))
        await http.post("/api/events/ack", json={"event_ids": [first[0].id, first[1].id]})
        await http.post("/api/events/ack", json={"filter": {"zones": ["keep.example"]}, "up_to_seq": first[5].seq})

        async def archived() -> list[str]:
            async with server.app.state.db() as session:
                return list((await session.scalars(select(EventArchive.id).order_by(EventArchive.seq))).all())

        async def wait_for(predicate: Any, what: str) -> None:
            async with asyncio.timeout(10):
                while not predicate(await server.call(archived())):
                    await asyncio.sleep(0.05)

        # By age: the five two-day-old events go, the 60 recent ones stay.
        await wait_for(lambda ids: ids == [e.id for e in first], "the old events to be pruned")
        assert await unread(http) == 60 - 6
        # By count: 250 more, and only the newest 100 stay; read state about pruned events goes too.
        more = await publish(server, records("more.example", 250))
        await wait_for(lambda ids: ids == [e.id for e in more[-100:]], "the archive to be cut to 100 rows")
        assert await unread(http) == 100
        assert await rows(server, ReadEvent) == 0 and await rows(server, ReadFilter) == 0
        page = (await http.get("/api/events", params={"limit": 500})).json()
        assert [e["id"] for e in page["events"]] == [e.id for e in more[-100:]] and page["has_more"] is False
