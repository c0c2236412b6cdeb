"""One conformance suite, run unchanged against every broker: the guarantees in broker/base.py."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import RedisServer, pg_database
from sqlalchemy import text

from hybrid_dns.db import Database
from hybrid_dns.realtime.broker import Broker, BrokerUnavailable, MemoryBroker, StreamPosition, cluster_for
from hybrid_dns.realtime.broker.redis import RedisBroker
from hybrid_dns.realtime.events import Event, EventDraft


class Recorder:
    """A listener that records what a broker delivers, as a hub would receive it."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.resets: list[tuple[StreamPosition, str]] = []
        self.notices: list[tuple[str, str]] = []
        self.changed = asyncio.Event()

    def dispatch(self, events: list[Event]) -> None:
        self.events.extend(events)
        self.changed.set()

    def reset(self, position: StreamPosition, reason: str) -> None:
        self.resets.append((position, reason))
        self.changed.set()

    def notify_user(self, user_id: str, frame: str) -> None:
        self.notices.append((user_id, frame))
        self.changed.set()

    async def until(self, predicate: Callable[[], bool], timeout: float = 5) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    @property
    def seqs(self) -> list[int]:
        return [e.seq for e in self.events]


MakeBroker = Callable[..., Awaitable[tuple[Broker, Recorder]]]


@pytest.fixture(params=["memory", "memory-postgresql", "redis"])
async def make_broker(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeBroker]:
    """Start brokers of one kind sharing one backend (one database, or one Redis)."""
    brokers: list[Broker] = []
    kind = request.param
    redis: RedisServer | None = None
    db: Database | None = None
    stack = contextlib.AsyncExitStack()
    if kind == "redis":
        redis = request.getfixturevalue("redis_server")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'events.db'}"
        if kind == "memory-postgresql":
            url = await stack.enter_async_context(pg_database())
        db = Database(url)
        await db.create_all()

    async def make(history_size: int = 1000, history_ttl: float = 3600) -> tuple[Broker, Recorder]:
        broker: Broker
        if redis is not None:
            broker = RedisBroker(redis.url, history_size=history_size, history_ttl=history_ttl, publish_timeout=1.0)
        else:
            broker = MemoryBroker(db, history_size=history_size, history_ttl=history_ttl)
        recorder = Recorder()
        await broker.start(recorder)
        brokers.append(broker)
        return broker, recorder

    make.kind = kind.split("-")[0]  # type: ignore[attr-defined]
    make.redis = redis  # type: ignore[attr-defined]
    make.db = db  # type: ignore[attr-defined]
    yield make
    for broker in brokers:
        await broker.close()
    if db is not None:
        await db.dispose()
    await stack.aclose()


def drafts(n: int, **data: Any) -> list[EventDraft]:
    return [EventDraft.make("zone_updated", {"i": i, **data}) for i in range(n)]


async def test_publish_gives_consecutive_seqs_in_one_order(make_broker: MakeBroker) -> None:
    broker, recorder = await make_broker()
    results = await asyncio.gather(*(broker.publish(drafts(3, job=j)) for j in range(20)))
    for events in results:
        assert [e.seq for e in events] == list(range(events[0].seq, events[0].seq + 3))
    all_seqs = sorted(e.seq for events in results for e in events)
    assert all_seqs == list(range(1, 61))
    await recorder.until(lambda: len(recorder.events) == 60)
    assert recorder.seqs == list(range(1, 61))  # each once, in order
    published = {e.id: e.seq for events in results for e in events}
    assert {e.id: e.seq for e in recorder.events} == published
    assert broker.position().last_seq == 60


async def test_history_replays_from_a_seq_in_order(make_broker: MakeBroker) -> None:
    broker, recorder = await make_broker()
    published = await broker.publish(drafts(25))
    await recorder.until(lambda: len(recorder.events) == 25)
    page = await broker.history(10, 100)
    assert [e.seq for e in page.events] == list(range(11, 26))
    assert [e.id for e in page.events] == [e.id for e in published[10:]]
    assert page.events[0].frame == published[10].frame
    assert page.first_kept_seq == 1
    limited = await broker.history(10, 5)
    assert [e.seq for e in limited.events] == [11, 12, 13, 14, 15]
    assert (await broker.history(25, 10)).events == []


async def test_history_is_bounded_by_count(make_broker: MakeBroker) -> None:
    broker, recorder = await make_broker(history_size=100)
    for i in range(5):
        await broker.publish(drafts(50))
        # Delivered before more is trimmed (a reader that lags past the bound gets a reset, tested below).
        await recorder.until(lambda i=i: len(recorder.events) == 50 * (i + 1))
    page = await broker.history(0, 1000)
    assert page.first_kept_seq == 151
    assert [e.seq for e in page.events] == []  # seq 1 is long gone: nothing pretends to follow it
    page = await broker.history(150, 1000)
    assert [e.seq for e in page.events] == list(range(151, 251))


async def test_history_is_bounded_by_age(make_broker: MakeBroker) -> None:
    broker, recorder = await make_broker(history_ttl=0.3)
    await broker.publish(drafts(3))
    await recorder.until(lambda: len(recorder.events) == 3)
    deadline = time.monotonic() + 0.35
    while time.monotonic() < deadline:  # the clock must pass the TTL; nothing to wait on but time
        await asyncio.sleep(0.05)
    await broker.publish(drafts(1))
    await recorder.until(lambda: len(recorder.events) == 4)
    page = await broker.history(3, 10)
    assert [e.seq for e in page.events] == [4]
    assert page.first_kept_seq == 4


# The embedded broker is one process by design (its restart is tested below): several instances are Redis's.
@pytest.mark.parametrize("make_broker", ["redis"], indirect=True)
async def test_second_instance_sees_one_order_and_the_same_epoch(make_broker: MakeBroker) -> None:
    a, rec_a = await make_broker()
    b, rec_b = await make_broker()
    await asyncio.gather(a.publish(drafts(10, by="a")), b.publish(drafts(10, by="b")), a.publish(drafts(5)))
    await rec_a.until(lambda: len(rec_a.events) == 25)
    await rec_b.until(lambda: len(rec_b.events) == 25)
    assert rec_a.seqs == rec_b.seqs == list(range(1, 26))
    assert [e.id for e in rec_a.events] == [e.id for e in rec_b.events]
    assert a.position() == b.position()
    await a.notify_user("alice", '{"type":"acked"}')
    await rec_b.until(lambda: rec_b.notices == [("alice", '{"type":"acked"}')])


async def test_epoch_and_position_survive_a_restart(make_broker: MakeBroker) -> None:
    broker, recorder = await make_broker()
    await broker.publish(drafts(7))
    await recorder.until(lambda: len(recorder.events) == 7)
    before = broker.position()
    await broker.close()
    again, rec2 = await make_broker()
    assert again.position() == before
    page = await again.history(0, 100)
    assert [e.seq for e in page.events] == list(range(1, 8))
    more = await again.publish(drafts(1))
    assert more[0].seq == 8
    await rec2.until(lambda: rec2.seqs == [8])


async def test_notices_reach_the_listener(make_broker: MakeBroker) -> None:
    broker, recorder = await make_broker()
    await broker.notify_user("bob", '{"type":"acked","unread_count":0}')
    await recorder.until(lambda: recorder.notices == [("bob", '{"type":"acked","unread_count":0}')])


# The embedded broker's history is its database: a new database is a new epoch (next test).
@pytest.mark.parametrize("make_broker", ["redis"], indirect=True)
async def test_lost_history_changes_the_epoch_and_resets_listeners(make_broker: MakeBroker) -> None:
    redis: RedisServer = make_broker.redis  # type: ignore[attr-defined]
    broker, recorder = await make_broker()
    before = await broker.publish(drafts(5))
    await recorder.until(lambda: len(recorder.events) == 5)
    old = broker.position()
    await asyncio.to_thread(redis.restart)  # comes back empty
    await recorder.until(lambda: bool(recorder.resets), timeout=15)
    position, reason = recorder.resets[0]
    assert reason == "epoch_changed" and position.epoch != old.epoch and position.last_seq == 0
    events = await broker.publish(drafts(2))
    await recorder.until(lambda: [e.id for e in recorder.events[-2:]] == [e.id for e in events])
    # The reset came between, so no client mixes the two; each event once (the five published again
    # into the new stream were delivered here before, and are not delivered twice).
    assert [e.id for e in recorder.events] == [e.id for e in before + events]
    assert [e.seq for e in recorder.events[:5]] == [1, 2, 3, 4, 5]
    assert recorder.events[5].seq < recorder.events[6].seq
    assert len(recorder.resets) == 1 and broker.position().epoch == position.epoch


@pytest.mark.parametrize("make_broker", ["redis"], indirect=True)
async def test_events_published_while_other_readers_reconnect_to_an_empty_redis_are_kept(
    make_broker: MakeBroker,
) -> None:
    """The first instance back makes the new epoch; the others join it and delete nothing."""
    redis: RedisServer = make_broker.redis  # type: ignore[attr-defined]
    a, rec_a = await make_broker()
    b, rec_b = await make_broker()
    await a.publish(drafts(5))
    for rec in (rec_a, rec_b):
        await rec.until(lambda rec=rec: len(rec.events) == 5)
    await asyncio.to_thread(redis.restart)  # empty; both readers are in their reconnect backoff
    published = [e for _ in range(3) for e in await a.publish(drafts(1))]
    assert published[0].seq < published[1].seq < published[2].seq
    ids = [e.id for e in published]
    for rec in (rec_a, rec_b):
        await rec.until(lambda rec=rec: ids == [e.id for e in rec.events[5:8]], timeout=10)
    for broker, rec in ((a, rec_a), (b, rec_b)):
        assert [(p.epoch, p.last_seq, reason) for p, reason in rec.resets] == [
            (a.position().epoch, 0, "epoch_changed")
        ], "one restart, one new epoch, one reset"
        assert {e.id for e in (await broker.history(0, 100)).events} >= set(ids)
    assert a.position().epoch == b.position().epoch


@pytest.mark.parametrize("make_broker", ["redis"], indirect=True)
async def test_events_acknowledged_before_redis_lost_them_are_published_again(make_broker: MakeBroker) -> None:
    """An acknowledged event outlives Redis's data while its instance lives: readers that had not read
    it (here, one that starts after the loss) find it in the new epoch; readers that had, skip it."""
    redis: RedisServer = make_broker.redis  # type: ignore[attr-defined]
    a, rec_a = await make_broker()
    before = [e for i in range(4) for e in await a.publish(drafts(1, i=i))]
    await rec_a.until(lambda: len(rec_a.events) == 4)
    await asyncio.to_thread(redis.restart)
    await rec_a.until(lambda: bool(rec_a.resets), timeout=15)
    late, rec_late = await make_broker()
    ids = [e.id for e in before]

    async def kept() -> list[str]:
        return [e.id for e in (await late.history(0, 100)).events]

    async with asyncio.timeout(10):
        while await kept() != ids:
            await asyncio.sleep(0.05)
    after = await a.publish(drafts(1))
    await rec_a.until(lambda: rec_a.events[-1].id == after[0].id)
    assert [e.id for e in rec_a.events] == [*ids, after[0].id], "an event reached the same listener twice"
    await rec_late.until(lambda: bool(rec_late.events) and rec_late.events[-1].id == after[0].id)


@pytest.mark.parametrize("make_broker", ["redis"], indirect=True)
async def test_a_redis_rolled_back_to_an_older_snapshot_is_a_new_epoch_that_deletes_nothing(
    make_broker: MakeBroker,
) -> None:
    broker, recorder = await make_broker()
    first = [e for _ in range(5) for e in await broker.publish(drafts(1))]
    await recorder.until(lambda: len(recorder.events) == 5)
    old = broker.position()
    # What Redis restarted from a snapshot taken at seq 2 looks like: later entries, the counter and
    # the later batches' dedup records are gone.
    r: Any = broker.redis  # type: ignore[attr-defined]
    stream = broker.k_stream  # type: ignore[attr-defined]
    snapshot = await r.xrange(stream, "-", "2-0")
    await r.delete(stream, *(broker.k_dedup + e.id for e in first[2:]))  # type: ignore[attr-defined]
    for entry_id, fields in snapshot:
        await r.xadd(stream, fields, id=entry_id)
    await r.set(broker.k_seq, 2)  # type: ignore[attr-defined]
    # An instance that starts now sees nothing wrong, and publishes at seq 3 of the old epoch.
    late, rec_late = await make_broker()
    (acknowledged,) = await late.publish(drafts(1))
    assert acknowledged.seq == 3
    await recorder.until(lambda: bool(recorder.resets), timeout=10)
    (position, reason), *more = recorder.resets
    assert reason == "epoch_changed" and position.epoch != old.epoch and not more
    kept = [e.id for e in (await broker.history(0, 100)).events]
    assert kept[:3] == [first[0].id, first[1].id, acknowledged.id], "an acknowledged event was deleted"
    # What the rollback lost (seqs 3 to 5 of the old epoch) is published again under the new one.
    async with asyncio.timeout(10):
        while not {e.id for e in first} <= {e.id for e in (await broker.history(0, 100)).events}:
            await asyncio.sleep(0.05)
    newer = await broker.publish(drafts(1))
    assert newer[0].seq > 3, "a seq of the old epoch was used again"
    for rec in (recorder, rec_late):
        await rec.until(lambda rec=rec: bool(rec.events) and rec.events[-1].id == newer[0].id)
    assert late.position().epoch == broker.position().epoch == position.epoch


async def test_a_new_database_is_a_new_epoch(tmp_path: Path) -> None:
    positions = []
    for name in ("one.db", "two.db"):
        db = Database(f"sqlite+aiosqlite:///{tmp_path / name}")
        await db.create_all()
        broker = MemoryBroker(db)
        await broker.start(Recorder())
        await broker.publish(drafts(1))
        positions.append(broker.position())
        await broker.close()
        await db.dispose()
    assert positions[0].epoch != positions[1].epoch


async def test_publish_to_an_unreachable_broker_fails_fast_and_clearly(make_broker: MakeBroker) -> None:
    if make_broker.kind == "memory":  # type: ignore[attr-defined]
        broker, _ = await make_broker()
        await broker.close()
        with pytest.raises(BrokerUnavailable):
            await broker.publish(drafts(1))
        return
    redis: RedisServer = make_broker.redis  # type: ignore[attr-defined]
    broker, recorder = await make_broker()
    await broker.publish(drafts(1))
    redis.stop()
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        await broker.publish(drafts(1))
    assert time.monotonic() - started < 3
    await recorder.until(lambda: not broker.healthy, timeout=5)


@pytest.mark.parametrize("make_broker", ["redis"], indirect=True)
async def test_an_instance_starting_while_others_publish_has_no_hole_in_its_history(make_broker: MakeBroker) -> None:
    publisher, _ = await make_broker()
    stop = asyncio.Event()
    published: list[int] = []

    async def publish_continuously() -> None:
        while not stop.is_set():
            published.extend(e.seq for e in await publisher.publish(drafts(1)))

    task = asyncio.ensure_future(publish_continuously())
    try:
        published.extend(e.seq for e in await publisher.publish(drafts(20)))
        late, recorder = await make_broker()
        await recorder.until(lambda: len(recorder.events) >= 10)
    finally:
        stop.set()
        await task
    # The highest seq published (not the publisher's own reader position, which may lag the late reader's).
    last = max(published)
    await recorder.until(lambda: recorder.seqs[-1] >= last)
    page = await late.history(0, 10_000)
    seqs = [e.seq for e in page.events]
    assert seqs == list(range(1, last + 1)), "the starting instance's history skipped events"


@pytest.mark.parametrize("make_broker", ["redis"], indirect=True)
async def test_a_lost_epoch_key_starts_a_new_epoch_and_keeps_the_stream(make_broker: MakeBroker) -> None:
    broker, recorder = await make_broker()
    published = await broker.publish(drafts(3))
    await recorder.until(lambda: len(recorder.events) == 3)
    await broker.redis.delete(broker.k_epoch)  # type: ignore[attr-defined]
    await recorder.until(lambda: bool(recorder.resets), timeout=10)
    assert recorder.resets[0][0].last_seq == 3  # the new epoch starts after what the stream holds
    assert [e.id for e in (await broker.history(0, 100)).events] == [e.id for e in published]
    assert [e.seq for e in await broker.publish(drafts(1))] == [4]
    await recorder.until(lambda: recorder.seqs == [1, 2, 3, 4])


@pytest.mark.parametrize("make_broker", ["memory", "redis"], indirect=True)
async def test_the_same_event_published_concurrently_is_published_once(make_broker: MakeBroker) -> None:
    broker, recorder = await make_broker()
    (draft,) = drafts(1)
    results = await asyncio.gather(*(broker.publish([draft]) for _ in range(5)), broker.publish(drafts(1)))
    assert len({events[0].seq for events in results[:5]}) == 1
    await recorder.until(lambda: len(recorder.events) == 2)
    assert sorted(e.id for e in recorder.events) == sorted([draft.id, results[5][0].id])


FAIL_INSERTS = {
    "sqlite": [
        "CREATE TRIGGER refuse_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk full'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_events() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
        " LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_events BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_events()",
    ],
}
ALLOW_INSERTS = {"sqlite": ["DROP TRIGGER refuse_events"], "postgresql": ["DROP TRIGGER refuse_events ON events"]}


@pytest.mark.parametrize("make_broker", ["memory", "memory-postgresql"], indirect=True)
async def test_a_history_write_that_fails_delivers_nothing_and_uses_no_seq(make_broker: MakeBroker) -> None:
    """The embedded broker's promise: a committed event is delivered, a failed commit delivers nothing."""
    db: Database = make_broker.db  # type: ignore[attr-defined]
    broker, recorder = await make_broker()
    await broker.publish(drafts(2))
    await recorder.until(lambda: recorder.seqs == [1, 2])
    dialect = db.engine.dialect.name
    async with db.engine.begin() as conn:
        for statement in FAIL_INSERTS[dialect]:
            await conn.execute(text(statement))
    with pytest.raises(BrokerUnavailable):
        await broker.publish(drafts(3))
    assert not broker.healthy and broker.position().last_seq == 2
    async with db.engine.begin() as conn:
        for statement in ALLOW_INSERTS[dialect]:
            await conn.execute(text(statement))
    published = await broker.publish(drafts(1))
    assert [e.seq for e in published] == [3] and broker.healthy
    await recorder.until(lambda: recorder.seqs[-1] == 3)
    assert recorder.seqs == [1, 2, 3], "an event whose write failed reached the listener"
    assert [e.seq for e in (await broker.history(0, 100)).events] == [1, 2, 3]


async def test_a_lease_has_one_holder_at_a_time(make_broker: MakeBroker) -> None:
    """The cluster coordination that goes with each broker (cluster.py)."""
    first_broker, _ = await make_broker()
    second_broker, _ = await make_broker()
    first, second = cluster_for(first_broker), cluster_for(second_broker)
    assert await first.hold_lease("leader", 0.5) is True
    assert await first.hold_lease("leader", 0.5) is True  # renewed by its holder
    if make_broker.kind == "memory":  # type: ignore[attr-defined]
        return  # one process: every instance object of it holds every lease
    assert await second.hold_lease("leader", 0.5) is False
    assert await second.hold_lease("other", 0.5) is True  # leases are independent
    # A holder that stops renewing loses it when the ttl runs out; the next try takes it.
    deadline = time.monotonic() + 3
    while not await second.hold_lease("leader", 0.5):
        assert time.monotonic() < deadline, "the lease did not expire"
        await asyncio.sleep(0.05)
    assert await first.hold_lease("leader", 0.5) is False
    await second.release_lease("leader")  # given up at shutdown: free at once
    assert await first.hold_lease("leader", 5) is True
    await second.release_lease("leader")  # only its holder can give it up
    assert await second.hold_lease("leader", 5) is False
