"""The embedded broker: one process, history kept in the app database, so it survives a restart.

Publishing goes through one writer task (group commit): every `publish()` waiting when the writer
wakes gets its seqs, all of them are written in one transaction with the stream's new last seq,
and only then fanned out, in seq order. So concurrent emitters can never interleave out of order,
a committed event is always delivered and a failed commit delivers nothing, and the events of one
`publish()` reach every connection's queue together (that is what makes them one batch frame).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select

from ...db import Database
from ...models import EventRecord, EventStream
from ..events import Event, EventDraft, EventType, Severity
from .base import Broker, BrokerListener, BrokerUnavailable, HistoryCache, HistoryPage, StreamPosition

log = logging.getLogger("hybrid_dns.realtime")

STREAM = "main"
PRUNE_EVERY = 30.0  # seconds between history prunes


def record_to_event(row: EventRecord) -> Event:
    return Event(
        type=EventType(row.type),
        id=row.id,
        seq=row.seq,
        severity=Severity(row.severity),
        timestamp=row.timestamp,
        actor=row.actor,
        target_user=row.target_user,
        data_json=bytes(row.data_json),
    )


class MemoryBroker(Broker):
    kind = "memory"

    def __init__(self, db: Database | None = None, *, history_size: int = 10_000, history_ttl: float = 86_400) -> None:
        self.db = db
        self.history_size = history_size
        self.history_ttl = history_ttl
        self._epoch = uuid.uuid4().hex[:16]
        self._last_seq = 0
        self._cache = HistoryCache(history_size, history_ttl)
        self._listener: BrokerListener | None = None
        self._pending: list[tuple[Sequence[EventDraft], asyncio.Future[list[Event]]]] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._last_prune = 0.0
        self._store_ok = True
        # Recently published events by id, for idempotent publishing (warmed from history at start).
        self._by_id: collections.OrderedDict[str, Event] = collections.OrderedDict()

    async def start(self, listener: BrokerListener) -> None:
        if self.db is not None:
            await self._load()
        self._listener = listener
        self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name="broker:memory-writer")

    async def _load(self) -> None:
        assert self.db is not None
        async with self.db() as session, session.begin():
            stream = await session.get(EventStream, STREAM)
            max_seq = await session.scalar(select(func.max(EventRecord.seq)))
            if stream is None:
                stream = EventStream(name=STREAM, epoch=self._epoch, last_seq=max_seq or 0)
                session.add(stream)
            self._epoch = stream.epoch
            self._last_seq = max(stream.last_seq, max_seq or 0)
            cutoff = time.time() - self.history_ttl
            rows = (
                await session.scalars(
                    select(EventRecord)
                    .where(EventRecord.created_at >= cutoff)
                    .order_by(EventRecord.seq.desc())
                    .limit(self.history_size)
                )
            ).all()
        for row in reversed(rows):
            self._cache.events.append((row.created_at, record_to_event(row)))
        self._remember([e for _, e in self._cache.events])

    def _remember(self, events: list[Event]) -> None:
        for event in events:
            self._by_id[event.id] = event
        while len(self._by_id) > self.history_size:
            self._by_id.popitem(last=False)

    async def close(self) -> None:
        self._listener = None
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        for _, future in self._pending:
            if not future.done():
                future.set_exception(BrokerUnavailable("broker closed"))
        self._pending.clear()

    async def publish(self, drafts: Sequence[EventDraft]) -> list[Event]:
        if not drafts:
            return []
        if drafts[0].id in self._by_id:
            # The same batch again (an outbox retry, maybe after a restart): it was delivered once already.
            return [self._by_id[d.id] for d in drafts if d.id in self._by_id]
        if self._writer is None or self._writer.done():
            raise BrokerUnavailable("broker not running")
        future: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
        self._pending.append((drafts, future))
        self._wake.set()
        return await future

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                jobs, self._pending = self._pending, []
                try:
                    await self._commit(jobs)
                except Exception as exc:  # never leave a publisher waiting, never let the writer die
                    log.exception("publishing failed")
                    for _, future in jobs:
                        if not future.done():
                            future.set_exception(BrokerUnavailable(f"publishing failed ({type(exc).__name__})"))

    async def _commit(self, jobs: list[tuple[Sequence[EventDraft], asyncio.Future[list[Event]]]]) -> None:
        seq = self._last_seq
        results: list[list[Event]] = []
        for drafts, _ in jobs:
            events = []
            for draft in drafts:
                seq += 1
                events.append(Event.from_draft(draft, seq))
            results.append(events)
        flat = [e for events in results for e in events]
        now = time.time()
        if self.db is not None:
            try:
                await self._store(flat, seq, now)
                self._store_ok = True
            except Exception:
                self._store_ok = False
                log.exception("event history write failed; %d events not published", len(flat))
                for _, future in jobs:
                    if not future.done():
                        future.set_exception(BrokerUnavailable("event history unavailable"))
                return
        self._last_seq = seq
        self._cache.add(flat, now)
        self._remember(flat)
        if self._listener is not None:
            try:
                self._listener.dispatch(flat)
            except Exception:  # committed is committed: the callers get their events, the bug gets logged
                log.exception("dispatch failed for seqs %d-%d", flat[0].seq, flat[-1].seq)
        for (_, future), events in zip(jobs, results, strict=True):
            if not future.done():
                future.set_result(events)
        if now - self._last_prune > PRUNE_EVERY:
            self._last_prune = now
            await self._prune(now)

    async def _store(self, events: list[Event], last_seq: int, now: float) -> None:
        assert self.db is not None
        async with self.db() as session, session.begin():
            session.add_all(
                EventRecord(
                    seq=e.seq,
                    id=e.id,
                    type=e.type.value,
                    severity=e.severity.value,
                    timestamp=e.timestamp,
                    actor=e.actor,
                    target_user=e.target_user,
                    data_json=e.data_json,
                    created_at=now,
                )
                for e in events
            )
            stream = await session.get(EventStream, STREAM)
            if stream is None:
                session.add(EventStream(name=STREAM, epoch=self._epoch, last_seq=last_seq))
            else:
                stream.last_seq = last_seq

    async def _prune(self, now: float) -> None:
        self._cache.prune(now)
        if self.db is None:
            return
        try:
            async with self.db() as session, session.begin():
                await session.execute(
                    delete(EventRecord).where(
                        (EventRecord.seq <= self._last_seq - self.history_size)
                        | (EventRecord.created_at < now - self.history_ttl)
                    )
                )
        except Exception:
            log.exception("event history prune failed")

    async def history(self, after_seq: int, limit: int) -> HistoryPage:
        self._cache.prune()
        first = self._cache.first_seq
        first_kept = first if first is not None else self._last_seq + 1
        events = self._cache.after(after_seq, limit) if after_seq + 1 >= first_kept else []
        return HistoryPage(events, first_kept, self.position())

    def position(self) -> StreamPosition:
        return StreamPosition(self._epoch, self._last_seq)

    async def notify_user(self, user_id: str, frame: str) -> None:
        if self._listener is not None:
            self._listener.notify_user(user_id, frame)

    async def instances(self) -> list[dict[str, Any]]:
        return []

    @property
    def healthy(self) -> bool:
        return self._store_ok and self._writer is not None and not self._writer.done()
