"""Transactional events: a change and its events commit together; nothing committed goes unannounced."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from conftest import LiveServer, RedisServer, ws_open

from hybrid_dns.models import AuditEntry, OutboxEvent
from hybrid_dns.realtime.broker import BrokerUnavailable
from hybrid_dns.realtime.events import EventDraft, EventType, Severity


async def stage(server: LiveServer, zone: str, fail: bool = False) -> str:
    """A change (here an audit entry stands in for it) and its event, in one transaction."""

    async def run() -> str:
        async with server.app.state.db() as session, session.begin():
            session.add(AuditEntry(action="zone.create", outcome="success", target=zone, details={}))
            batch = server.realtime.outbox.add(session, [EventDraft.make(EventType.ZONE_CREATED, {"zone": zone})])
            if fail:
                raise RuntimeError("the change failed after its event was staged")
            return batch

    return await server.call(run())


async def test_a_rolled_back_change_emits_nothing_and_a_committed_one_emits_once(server: LiveServer) -> None:
    async with ws_open(server, "dns_management", "viewer") as client:
        with pytest.raises(RuntimeError):
            await stage(server, "never.example", fail=True)
        batch = await stage(server, "ok.example")
        published = await server.call(server.realtime.outbox.publish(batch))
        assert [e.data["zone"] for e in published] == ["ok.example"]
        # Published again (the relay racing the request): still delivered once.
        assert await server.call(server.realtime.outbox.publish(batch)) == []
        marker = await server.emit("zone_updated", {"zone": "marker"})
        got = [await client.next_event(), await client.next_event()]
        assert [e["data"]["zone"] for e in got] == ["ok.example", "marker"] and got[1]["id"] == marker.id


async def test_events_published_but_not_cleared_are_not_delivered_twice(server: LiveServer) -> None:
    """A crash between publishing and deleting the outbox rows: the relay republishes, clients see it once."""
    async with ws_open(server, "dns_management", "viewer") as client:
        batch = await stage(server, "crash.example")

        async def publish_without_clearing() -> None:
            async with server.app.state.db() as session:
                rows = (await session.execute(OutboxEvent.__table__.select().where(OutboxEvent.batch == batch))).all()
            drafts = [
                EventDraft(
                    type=EventType(r.type),
                    data_json=bytes(r.data_json),
                    severity=Severity(r.severity),
                    id=r.id,
                    timestamp=r.timestamp,
                )
                for r in rows
            ]
            await server.realtime.service.publish(drafts)

        await server.call(publish_without_clearing())
        assert await server.call(server.realtime.outbox.relay_once(min_age=0)) == 1
        marker = await server.emit("zone_updated", {"zone": "marker"})
        got = [await client.next_event(), await client.next_event()]
        assert [e["data"]["zone"] for e in got] == ["crash.example", "marker"] and got[1]["id"] == marker.id


async def test_the_relay_publishes_what_an_unreachable_broker_refused(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    server = LiveServer(tmp_path / "data", BROKER_URL=redis_server.url).start()
    try:
        redis_server.stop()
        batch = await stage(server, "later.example")
        with pytest.raises(BrokerUnavailable):
            await server.call(server.realtime.outbox.publish(batch))
        redis_server.start()
        async with ws_open(server, "dns_management", "viewer") as client:
            frame = await client.recv(timeout=15)  # the relay runs every 2 s
            if frame["type"] == "reset":  # Redis came back empty: a new epoch, which this client is told about
                frame = await client.recv(timeout=15)
            assert frame["type"] == "zone_created" and frame["data"] == {"zone": "later.example"}

        async def outbox_rows() -> Any:
            async with server.app.state.db() as session:
                return (await session.execute(OutboxEvent.__table__.select())).all()

        # The relay clears the rows just after publishing (the client may see the event first).
        async with asyncio.timeout(10):
            while await server.call(outbox_rows()):
                await asyncio.sleep(0.05)
    finally:
        server.stop()
