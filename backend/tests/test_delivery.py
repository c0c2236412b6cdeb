"""Delivery: who receives what, in which order, in which frames, and what one slow client costs others."""

from __future__ import annotations

import asyncio
import decimal
import enum
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import LiveServer, WsClient, wait_until, ws_open

from hybrid_dns.realtime.events import EventType
from hybrid_dns.realtime.service import WebSocketEventBatch, get_websocket_event_service

ALL = {t.value for t in EventType}
# The sets from the protocol, plus session_expired, which reaches its own user on every connection type
# (so that any tab learns its session ended before the 4001 close).
EXPECTED = {
    "health": {"health_update", "health_alert", "forwarder_status_change", "system_status", "session_expired"},
    "dns_management": {
        "zone_created", "zone_updated", "zone_deleted", "record_created", "record_updated", "record_deleted",
        "bind_reload", "config_change", "session_expired",
    },
    "security": {"security_alert", "rpz_update", "threat_detected", "system_status", "session_expired"},
    "system": {
        "system_status", "bind_reload", "config_change", "user_login", "user_logout", "session_expired",
        "user_created", "user_updated",
    },
    "admin": ALL,
}  # fmt: skip


async def test_each_connection_type_receives_exactly_its_set(server: LiveServer) -> None:
    clients: dict[str, WsClient] = {}
    async with (
        ws_open(server, "health", "admin") as clients["health"],
        ws_open(server, "dns_management", "admin") as clients["dns_management"],
        ws_open(server, "security", "admin") as clients["security"],
        ws_open(server, "system", "admin") as clients["system"],
        ws_open(server, "admin", "admin") as clients["admin"],
    ):
        for ctype, client in clients.items():
            assert client.connected is not None
            assert set(client.connected["subscriptions"]) == EXPECTED[ctype]
            assert client.connected["instance_id"] == server.realtime.instance_id
        async with server.http("admin") as http:
            response = await http.post("/api/websocket-demo/test-all-events")
        assert response.status_code == 200, response.text
        emitted = response.json()
        assert [e["type"] for e in emitted] == [t.value for t in EventType]
        # Then a sentinel every connection of admin receives: nothing else may arrive before it.
        sentinel = await server.emit("session_expired", {"reason": "sentinel"}, target_user="admin")
        for ctype, client in clients.items():
            got = await client.events_until(lambda e: e["id"] == sentinel.id)
            types = [e["type"] for e in got[:-1]]
            assert set(types) == EXPECTED[ctype], ctype
            assert len(types) == len(EXPECTED[ctype]), f"{ctype} got duplicates: {types}"
            seqs = [e["seq"] for e in got]
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert len(clients["admin"].pending) == 0


async def test_account_events_reach_their_user_and_admins_only(server: LiveServer) -> None:
    async with (
        ws_open(server, "system", "viewer") as viewer,
        ws_open(server, "system", "viewer2") as other,
        ws_open(server, "admin", "admin") as admin,
    ):
        await server.emit("user_login", {"username": "viewer2"}, actor="viewer2")
        await server.emit("user_login", {"username": "viewer"}, actor="viewer")
        expired = await server.emit("session_expired", {"reason": "test"}, target_user="viewer2")
        last = await server.emit("config_change", {"section": "x"}, actor="admin")

        def until_last(e: dict[str, Any]) -> bool:
            return e["id"] == last.id

        seen_viewer = [(e["type"], e["actor"]) for e in await viewer.events_until(until_last)]
        seen_other = [(e["type"], e["actor"]) for e in await other.events_until(until_last)]
        seen_admin = [(e["type"], e["actor"]) for e in await admin.events_until(until_last)]
        assert seen_viewer == [("user_login", "viewer"), ("config_change", "admin")]
        assert seen_other == [("user_login", "viewer2"), ("session_expired", None), ("config_change", "admin")]
        assert seen_admin == [("user_login", "viewer2"), ("user_login", "viewer"), ("config_change", "admin")]
        assert expired.target_user == "viewer2"


class Color(enum.Enum):
    RED = "red"


async def test_datetimes_and_other_values_serialize_and_keep_health_connections_alive(server: LiveServer) -> None:
    """A datetime (or UUID, Decimal, enum...) in a payload is encoded by the project's JSON rules; it never
    fails a send loop, which would drop every health connection at once."""
    async with ws_open(server, "health", "viewer") as health:
        stamp = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
        ident = uuid.uuid4()
        await server.emit(
            "health_update",
            {
                "checked_at": stamp,
                "naive": datetime(2026, 1, 2, 3, 4, 5),
                "id": ident,
                "ms": decimal.Decimal("12.5"),
                "color": Color.RED,
            },
        )
        event = await health.next_event()
        assert event["data"] == {
            "checked_at": "2026-01-02T03:04:05.678000Z",
            "naive": "2026-01-02T03:04:05Z",
            "id": str(ident),
            "ms": 12.5,
            "color": "red",
        }
        assert event["timestamp"].endswith("Z")
        await health.send({"type": "ping", "id": 7})
        assert (await health.reply("pong"))["id"] == 7
        follow = await server.emit("health_alert", {"message": "still here"})
        assert (await health.next_event())["id"] == follow.id


async def test_unserializable_payload_fails_in_the_caller_and_publishes_nothing(server: LiveServer) -> None:
    async with ws_open(server, "admin", "admin") as admin:
        before = await server.emit("zone_created", {"zone": "a.example"})
        with pytest.raises(TypeError):
            await server.emit("zone_created", {"zone": object()})
        with pytest.raises(ValueError):
            await server.emit("no_such_event", {})
        after = await server.emit("zone_created", {"zone": "b.example"})
        assert after.seq == before.seq + 1
        got = [await admin.next_event(), await admin.next_event()]
        assert [e["data"]["zone"] for e in got] == ["a.example", "b.example"]


async def test_batch_arrives_as_one_frame_with_consecutive_seqs(server: LiveServer) -> None:
    async with ws_open(server, "dns_management", "op") as client:

        async def emit_batch() -> list[int]:
            async with WebSocketEventBatch() as batch:
                batch.add(EventType.ZONE_CREATED, {"zone": "batch.example"}, actor="op")
                batch.add(EventType.RECORD_CREATED, {"name": "a", "v": 1}, dedup_key="a")
                batch.add(EventType.RECORD_CREATED, {"name": "b"})
                batch.add(EventType.RECORD_CREATED, {"name": "a", "v": 2}, dedup_key="a")  # replaces v=1
                batch.add(EventType.BIND_RELOAD, {"zones": ["batch.example"], "success": True})
            return [e.seq for e in batch.events]

        seqs = await server.call(emit_batch())
        frame = await client.recv()
        assert frame["type"] == "batch"
        events = frame["events"]
        assert [e["seq"] for e in events] == seqs
        assert seqs == list(range(seqs[0], seqs[0] + 4))
        assert [(e["type"], e["data"].get("name"), e["data"].get("v")) for e in events] == [
            ("zone_created", None, None),
            ("record_created", "b", None),
            ("record_created", "a", 2),
            ("bind_reload", None, None),
        ]


async def test_batch_rolls_back_on_exception(server: LiveServer) -> None:
    async with ws_open(server, "dns_management", "op") as client:

        async def failing_batch() -> None:
            async with WebSocketEventBatch() as batch:
                batch.add(EventType.ZONE_CREATED, {"zone": "never.example"})
                raise RuntimeError("the change failed")

        before = await server.emit("zone_updated", {"zone": "before"})
        with pytest.raises(RuntimeError):
            await server.call(failing_batch())
        after = await server.emit("zone_updated", {"zone": "after"})
        assert after.seq == before.seq + 1
        got = [await client.next_event(), await client.next_event()]
        assert [e["data"]["zone"] for e in got] == ["before", "after"]


async def test_seq_strictly_increases_under_concurrent_emitters(server: LiveServer) -> None:
    async with ws_open(server, "admin", "admin") as client, server.http("admin") as http:

        async def emitter(n: int) -> None:
            service = get_websocket_event_service()
            for i in range(50):
                await service.emit_zone_updated({"emitter": n, "i": i})
                if i % 7 == 0:
                    await asyncio.sleep(0)

        async def all_emitters() -> None:
            await asyncio.gather(*(emitter(n) for n in range(10)))

        http_posts = [http.post("/api/websocket-demo/emit-dns-event", json={"data": {"http": i}}) for i in range(30)]
        results = await asyncio.gather(server.call(all_emitters()), *http_posts)
        assert all(r.status_code == 200 for r in results[1:])
        events = [await client.next_event(timeout=10) for _ in range(530)]
        seqs = [e["seq"] for e in events]
        assert seqs == list(range(seqs[0], seqs[0] + 530))
        per_emitter: dict[int, list[int]] = {}
        for e in events:
            if "emitter" in e["data"]:
                per_emitter.setdefault(e["data"]["emitter"], []).append(e["data"]["i"])
        assert all(v == list(range(50)) for v in per_emitter.values()) and len(per_emitter) == 10


async def test_slow_client_does_not_delay_others_and_is_closed_4050(make_server: Any) -> None:
    server: LiveServer = make_server(WEBSOCKET_SEND_QUEUE_SIZE=100)
    pad = "x" * 32_000
    total = 800  # ~25 MB: more than loopback socket buffers hold, so the stalled client's queue fills
    # max_queue=1: the stalled client's library stops reading the socket after one message.
    async with (
        ws_open(server, "dns_management", "viewer", max_queue=1) as slow,
        ws_open(server, "dns_management", "viewer2", max_size=None) as fast,
    ):

        async def produce() -> None:
            service = get_websocket_event_service()
            for i in range(total):
                await service.emit_record_updated({"i": i, "t": time.time(), "pad": pad})
                if i % 10 == 9:
                    await asyncio.sleep(0.005)

        producer = asyncio.ensure_future(server.call(produce()))
        latencies = []
        received = 0
        while received < total:
            event = await fast.next_event(timeout=10)
            latencies.append(time.time() - event["data"]["t"])
            assert event["data"]["i"] == received
            received += 1
        await producer
        p99 = statistics.quantiles(latencies, n=100)[98]
        assert p99 < 0.5, f"fast client p99 latency {p99:.3f}s while another client stalls"

        # The stalled client was cut off server-side, with a bounded queue...
        await wait_until(
            lambda: all(c.user_id != "viewer" for c in server.realtime.hub.connections.values()),
            10,
            "the stalled client to be closed",
        )
        # ...and when it reads again it finds what was sent, then the 4050 close: it may resume.
        code, reason = await slow.expect_close(timeout=15)
        assert code == 4050, (code, reason)
    metrics = (await server.http().get("/metrics")).text
    assert "hybrid_dns_ws_frames_dropped_total" in metrics
    dropped = [line for line in metrics.splitlines() if line.startswith("hybrid_dns_ws_frames_dropped_total")]
    assert float(dropped[0].split()[-1]) > 0


async def test_shutdown_closes_every_connection_with_1001(make_server: Any) -> None:
    server: LiveServer = make_server()
    async with ws_open(server, "health", "viewer") as health, ws_open(server, "admin", "admin") as admin:
        stopping = asyncio.get_running_loop().run_in_executor(None, server.stop)
        assert (await health.expect_close())[0] == 1001
        assert (await admin.expect_close())[0] == 1001
        await stopping


async def test_a_client_that_falls_behind_and_catches_up_gets_everything_in_order(server: LiveServer) -> None:
    """While a socket is backed up its frames wait in the queue and go out as batches once it drains;
    then frames go straight to the socket again. Nothing is lost, doubled or reordered across the switch."""
    pad = "x" * 32_000
    total = 400  # ~13 MB: more than loopback socket buffers hold while the client does not read
    async with ws_open(server, "dns_management", "viewer", max_queue=1, max_size=None) as client:
        service = get_websocket_event_service()
        conn = next(c for c in server.realtime.hub.connections.values() if c.user_id == "viewer")

        async def produce() -> None:
            for i in range(total):
                await service.emit_record_updated({"i": i, "pad": pad})

        await server.call(produce())
        await wait_until(lambda: len(conn.queue) > 0, 10, "the stalled socket's frames to queue up")
        frames: list[Any] = []
        seen: list[int] = []
        while len(seen) < total:
            frame = await client.recv(timeout=10)
            frames.append(frame)
            seen.extend(e["data"]["i"] for e in (frame["events"] if frame["type"] == "batch" else [frame]))
        assert seen == list(range(total))
        assert any(f["type"] == "batch" for f in frames), "the backlog should go out as batch frames"
        # Caught up: the next event is written at once, on its own.
        await wait_until(lambda: not conn.queue, 10, "the queue to drain")
        event = await server.emit("zone_created", {"zone": "after.example"})
        got = await client.recv(timeout=5)
        assert got["type"] == "zone_created" and got["seq"] == event.seq


async def test_batches_split_at_the_count_and_size_limits(make_server: Any) -> None:
    server: LiveServer = make_server(WEBSOCKET_MAX_BATCH=3)
    async with ws_open(server, "dns_management", "viewer", max_size=None) as client:

        async def publish(datas: list[dict[str, Any]]) -> list[int]:
            async with WebSocketEventBatch() as batch:
                for data in datas:
                    batch.add(EventType.ZONE_UPDATED, data)
            return [e.seq for e in batch.events]

        seqs = await server.call(publish([{"i": i} for i in range(7)]))
        shapes = []
        for _ in range(3):
            frame = await client.recv()
            events = frame["events"] if frame["type"] == "batch" else [frame]
            shapes.append((frame["type"], [e["seq"] for e in events]))
        assert shapes == [("batch", seqs[0:3]), ("batch", seqs[3:6]), ("zone_updated", seqs[6:7])]

        # Two events that together pass 512 Ki characters do not share a frame; each goes plain.
        big = "x" * 300_000
        seqs = await server.call(publish([{"pad": big}, {"pad": big}]))
        frames = [await client.recv(timeout=10), await client.recv(timeout=10)]
        assert [(f["type"], f["seq"]) for f in frames] == [("zone_updated", seqs[0]), ("zone_updated", seqs[1])]


async def test_an_event_id_given_twice_is_published_once(server: LiveServer) -> None:
    """What lets several instances announce one thing (a session that expired) once."""
    async with ws_open(server, "admin", "admin") as client:
        first = await server.emit(
            "zone_updated", {"zone": "once.example"}, event_id="4b0c7a52-0d5e-4d1b-9c1e-000000000001"
        )
        again = await server.emit(
            "zone_updated", {"zone": "once.example"}, event_id="4b0c7a52-0d5e-4d1b-9c1e-000000000001"
        )
        assert (again.id, again.seq) == (first.id, first.seq)
        after = await server.emit("zone_updated", {"zone": "after.example"})
        got = await client.events_until(lambda e: e["id"] == after.id)
        assert [e["id"] for e in got] == [first.id, after.id]
