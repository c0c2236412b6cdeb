"""Nothing lost: resume after a reconnect or a restart, reset when history cannot cover it, read state."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from conftest import LiveServer, WsClient, pg_database, wait_until, ws_open

from hybrid_dns.realtime.service import get_websocket_event_service


async def read_until_resumed(client: WsClient) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Replayed events, then the `resumed` (or `reset`) frame that ends the replay."""
    events: list[dict[str, Any]] = []
    while True:
        frame = await client.recv()
        if frame["type"] == "batch":
            events.extend(frame["events"])
        elif frame["type"] in ("resumed", "reset"):
            return events, frame
        else:
            assert "seq" in frame, frame
            events.append(frame)


async def test_reconnect_replays_what_was_missed_then_goes_live(server: LiveServer) -> None:
    async with ws_open(server, "dns_management", "viewer") as first:
        for i in range(3):
            await server.emit("zone_created", {"zone": f"z{i}.example"})
        seen = [await first.next_event() for _ in range(3)]
        epoch = first.connected["epoch"]  # type: ignore[index]
    last = seen[-1]["seq"]
    missed = [await server.emit("record_created", {"i": i}) for i in range(4)]
    await server.emit("security_alert", {"not": "for dns_management"})
    missed.append(await server.emit("zone_deleted", {"zone": "z0.example"}))
    async with ws_open(server, "dns_management", "viewer", query={"since": last, "epoch": epoch}) as again:
        replayed, resumed = await read_until_resumed(again)
        assert [e["id"] for e in replayed] == [e.id for e in missed]
        assert resumed == {"type": "resumed", "from_seq": last + 1, "to_seq": missed[-1].seq + 0, "replayed": 5}
        live = await server.emit("zone_updated", {"zone": "z1.example"})
        assert (await again.next_event())["id"] == live.id


async def test_handover_from_replay_to_live_has_no_gap_and_no_duplicate(server: LiveServer) -> None:
    async with ws_open(server, "admin", "admin") as first:
        await server.emit("zone_created", {"zone": "start.example"})
        start = await first.next_event()
        epoch = first.connected["epoch"]  # type: ignore[index]

    stop = asyncio.Event()

    async def keep_emitting() -> int:
        service = get_websocket_event_service()
        count = 0
        while not stop.is_set() or count < 200:
            await service.emit_zone_updated({"n": count})
            count += 1
            if count % 5 == 0:
                await asyncio.sleep(0.001)
        return count

    emitting = asyncio.ensure_future(server.call(keep_emitting()))
    await wait_until(lambda: server.realtime.hub.last_seq > start["seq"] + 50, what="events while away")
    async with ws_open(server, "admin", "admin", query={"since": start["seq"], "epoch": epoch}) as again:
        replayed, resumed = await read_until_resumed(again)
        assert resumed["type"] == "resumed"
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, stop.set)
        total = await emitting
        seqs = [e["seq"] for e in replayed]
        while len(seqs) < total:
            seqs.append((await again.next_event())["seq"])
    assert seqs == list(range(start["seq"] + 1, start["seq"] + 1 + total))


async def test_reset_when_history_cannot_cover_the_gap(make_server: Any) -> None:
    server: LiveServer = make_server(EVENT_HISTORY_SIZE=100, EVENT_REPLAY_LIMIT=30)
    async with ws_open(server, "admin", "admin") as client:
        epoch = client.connected["epoch"]  # type: ignore[index]
    for i in range(150):
        await server.emit("zone_updated", {"i": i})
    last = server.realtime.hub.last_seq

    async def reset_for(query: dict[str, Any]) -> dict[str, Any]:
        async with ws_open(server, "admin", "admin", query=query) as c:
            events, frame = await read_until_resumed(c)
            assert events == []
            return frame

    wrong_epoch = await reset_for({"since": last - 1, "epoch": "not-this-stream"})
    assert wrong_epoch == {"type": "reset", "reason": "epoch_changed", "epoch": epoch, "last_seq": last}
    assert (await reset_for({"since": 10, "epoch": epoch}))["reason"] == "too_far_behind"
    server.realtime.settings.EVENT_REPLAY_LIMIT = 10_000
    assert (await reset_for({"since": 10, "epoch": epoch}))["reason"] == "history_expired"
    assert (await reset_for({"since": last + 50, "epoch": epoch}))["reason"] == "history_expired"
    async with ws_open(server, "admin", "admin", query={"since": last - 2, "epoch": epoch}) as ok:
        events, frame = await read_until_resumed(ok)
        assert [e["seq"] for e in events] == [last - 1, last] and frame["type"] == "resumed"


async def test_events_emitted_while_away_arrive_after_a_server_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = LiveServer(data).start()
    try:
        async with ws_open(first, "dns_management", "op") as client:
            await first.emit("zone_created", {"zone": "before.example"})
            last = (await client.next_event())["seq"]
            epoch = client.connected["epoch"]  # type: ignore[index]
        away = [await first.emit("record_created", {"i": i}) for i in range(3)]
    finally:
        first.stop()
    second = LiveServer(data).start()
    try:
        away += [await second.emit("record_updated", {"i": i}) for i in range(2)]
        async with ws_open(second, "dns_management", "op", query={"since": last, "epoch": epoch}) as client:
            assert client.connected["epoch"] == epoch  # type: ignore[index]
            replayed, resumed = await read_until_resumed(client)
            assert [e["id"] for e in replayed] == [e.id for e in away]
            assert [e["seq"] for e in replayed] == list(range(last + 1, last + 6))
            assert resumed["replayed"] == 5
    finally:
        second.stop()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_ack_in_one_tab_updates_the_badge_in_another_and_survives_a_restart(
    tmp_path: Path, database: str
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        settings = {}
        if database == "postgresql":
            settings["DATABASE_URL"] = await stack.enter_async_context(pg_database())
        await ack_across_tabs_and_restart(tmp_path / "data", settings)


async def ack_across_tabs_and_restart(data: Path, settings: dict[str, Any]) -> None:
    server = LiveServer(data, **settings).start()
    try:
        async with ws_open(server, "dns_management", "viewer") as tab1, ws_open(server, "system", "viewer") as tab2:
            zones = [await server.emit("zone_created", {"zone": f"{i}.example"}) for i in range(3)]
            await server.emit("system_status", {"cpu_percent": 1})  # state, not a notification
            await server.emit("security_alert", {"x": 1})  # not visible to a viewer
            for _ in range(3):
                await tab1.next_event()
            await tab2.next_event()
            async with server.http("viewer") as http:
                assert (await http.get("/api/events/unread-count")).json() == {"unread_count": 3}
                await tab1.send({"type": "ack", "event_ids": [zones[0].id, "no-such-id"]})
                for tab in (tab1, tab2):
                    acked = await tab.reply("acked")
                    assert acked["event_ids"] == [zones[0].id] and acked["unread_count"] == 2
                assert (await http.get("/api/events/unread-count")).json() == {"unread_count": 2}
                page = (await http.get("/api/events", params={"unread": "true"})).json()
                assert [e["id"] for e in page["events"]] == [zones[1].id, zones[2].id]
                assert all(e["read"] is False for e in page["events"])
    finally:
        server.stop()
    server = LiveServer(data, **settings).start()
    try:
        async with server.http("viewer") as http, ws_open(server, "health", "viewer") as tab:
            assert (await http.get("/api/events/unread-count")).json() == {"unread_count": 2}
            response = await http.post("/api/events/ack", json={"up_to_seq": zones[-1].seq})
            assert response.status_code == 200 and response.json()["unread_count"] == 0
            assert (await tab.reply("acked"))["unread_count"] == 0
            bad = await http.post("/api/events/ack", json={"up_to_seq": -1})
            assert bad.status_code == 422 and "up_to_seq" in bad.json()["detail"]
            assert (await http.post("/api/events/ack", json={"up_to_seq": None})).status_code == 422
            empty = await http.post("/api/events/ack", json={})  # acks nothing: says the count, changes nothing
            assert empty.status_code == 200 and empty.json()["unread_count"] == 0
    finally:
        server.stop()


async def test_history_api_pages_and_filters_by_role(server: LiveServer) -> None:
    emitted = [await server.emit("zone_created", {"i": i}) for i in range(5)]
    alert = await server.emit("security_alert", {"alert": "x"})
    async with server.http("viewer") as viewer, server.http("op") as op:
        newest = (await viewer.get("/api/events", params={"limit": 2})).json()
        assert [e["id"] for e in newest["events"]] == [emitted[3].id, emitted[4].id]
        assert newest["has_more"] is True and newest["last_seq"] == alert.seq
        older = (await viewer.get("/api/events", params={"limit": 2, "before_seq": emitted[3].seq})).json()
        assert [e["id"] for e in older["events"]] == [emitted[1].id, emitted[2].id]
        after = (await viewer.get("/api/events", params={"after_seq": emitted[0].seq, "limit": 10})).json()
        assert [e["seq"] for e in after["events"]] == [e.seq for e in emitted[1:]]
        assert after["has_more"] is False
        security = (await op.get("/api/events", params={"category": "security"})).json()
        assert [e["id"] for e in security["events"]] == [alert.id]
        assert (await viewer.get("/api/events", params={"category": "security"})).json()["events"] == []
        assert (await viewer.get("/api/events", params={"limit": 0})).status_code == 422
        assert (await viewer.get("/api/events", params={"type": "nope"})).status_code == 422
    async with server.http() as anonymous:
        assert (await anonymous.get("/api/events")).status_code == 401


async def test_unread_count_covers_the_archive_beyond_the_resume_history(make_server: Any) -> None:
    # The stream keeps 100 events for resume; the archive (what unread counts and /api/events read) keeps
    # all 150, so nothing the user has not read is dropped from the count when the stream moves on.
    server: LiveServer = make_server(EVENT_HISTORY_SIZE=100)
    for i in range(150):
        await server.emit("zone_updated", {"i": i})
    async with server.http("viewer") as http:
        assert (await http.get("/api/events/unread-count")).json() == {"unread_count": 150}
        page = (await http.get("/api/events", params={"unread": "true", "limit": 500})).json()
        assert len(page["events"]) == 150
        oldest = page["events"][0]
        response = await http.post("/api/events/ack", json={"event_ids": [oldest["id"]]})
        assert response.json()["event_ids"] == [oldest["id"]] and response.json()["unread_count"] == 149


async def test_a_connection_closed_while_it_resumes_is_unregistered(make_server: Any) -> None:
    server: LiveServer = make_server(WEBSOCKET_SEND_QUEUE_SIZE=3)
    async with ws_open(server, "dns_management", "viewer") as first:
        epoch = first.connected["epoch"]  # type: ignore[index]
    ahead = server.realtime.hub.last_seq + 1000  # a seq this server has not reached: the resume waits for it
    async with ws_open(
        server, "dns_management", "viewer", query={"since": ahead, "epoch": epoch}, expect_connected=False
    ) as client:
        # The handshake completes before the server has authenticated and registered the connection.
        await wait_until(lambda: bool(server.realtime.hub.connections), what="the connection to be registered")
        for i in range(10):  # meanwhile the queue overflows and the connection is closed
            await server.emit("zone_updated", {"i": i})
        code, _ = await client.expect_close()
        assert code == 4050
    await wait_until(lambda: not server.realtime.hub.connections, what="the connection to be unregistered")
