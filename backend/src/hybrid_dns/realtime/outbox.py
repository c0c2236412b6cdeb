"""Transactional events: a change and its events commit together, then the events are published.

    async with db() as session, session.begin():
        zone = Zone(...); session.add(zone)
        batch = rt.outbox.add(session, [EventDraft.make(EventType.ZONE_CREATED, {...}, actor=user)])
    await rt.outbox.publish(batch)   # after the commit: publishes now, or the relay will

No event for a change that rolled back (its outbox rows rolled back with it), and no committed
change without its event: if publishing right after the commit fails, the rows stay and the relay
publishes them within seconds. Brokers are idempotent on a batch's first event id, so the relay
and the request racing on one batch still deliver it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import Database
from ..models import OutboxEvent
from .about import About
from .events import Event, EventDraft, EventType, Severity
from .service import WebSocketEventService

log = logging.getLogger("hybrid_dns.realtime")

RELAY_EVERY = 2.0  # seconds between relay passes
RELAY_AGE = 2.0  # a batch this old was not published by its request


class Outbox:
    def __init__(self, db: Database, service: WebSocketEventService) -> None:
        self.db = db
        self.service = service
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def add(self, session: AsyncSession, drafts: Sequence[EventDraft]) -> str:
        """Stage events in the caller's transaction; returns the batch id to publish after commit."""
        batch = str(uuid.uuid4())
        now = time.time()
        session.add_all(
            OutboxEvent(
                id=d.id,
                batch=batch,
                position=i,
                created_at=now,
                type=d.type.value,
                severity=d.severity.value,
                timestamp=d.timestamp,
                actor=d.actor,
                target_user=d.target_user,
                data_json=d.data_json,
                zone=d.about.zone,
                name=d.about.name,
                record_type=d.about.record_type,
                summary=d.about.summary,
            )
            for i, d in enumerate(drafts)
        )
        return batch

    async def publish(self, batch: str) -> list[Event]:
        """Publish a committed batch now. Raises BrokerUnavailable if the broker is down (the relay retries)."""
        async with self.db() as session:
            rows = (
                await session.scalars(
                    select(OutboxEvent).where(OutboxEvent.batch == batch).order_by(OutboxEvent.position)
                )
            ).all()
        if not rows:
            return []  # already published by the relay
        drafts = [
            EventDraft(
                type=EventType(r.type),
                data_json=bytes(r.data_json),
                severity=Severity(r.severity),
                actor=r.actor,
                target_user=r.target_user,
                id=r.id,
                timestamp=r.timestamp,
                # As staged (never recomputed); a row staged before `about` existed gets its type's title.
                about=About.from_row(EventType(r.type), r.zone, r.name, r.record_type, r.summary),
            )
            for r in rows
        ]
        events = await self.service.publish(drafts)
        async with self.db() as session, session.begin():
            await session.execute(delete(OutboxEvent).where(OutboxEvent.batch == batch))
        return events

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._relay(), name="outbox-relay")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def relay_once(self, min_age: float = RELAY_AGE) -> int:
        """Publish batches that their requests left behind; returns how many."""
        async with self._lock:
            async with self.db() as session:
                batches = (
                    await session.execute(
                        select(OutboxEvent.batch, OutboxEvent.created_at)
                        .where(OutboxEvent.created_at <= time.time() - min_age)
                        .order_by(OutboxEvent.created_at)
                        .distinct()
                    )
                ).all()
            done = 0
            for batch, _ in dict.fromkeys(batches):
                await self.publish(batch)
                done += 1
            return done

    async def _relay(self) -> None:
        while True:
            await asyncio.sleep(RELAY_EVERY)
            try:
                published = await self.relay_once()
                if published:
                    log.warning("outbox relay published %d event batches left behind", published)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database down: keep the rows, try again later
                log.warning("outbox relay could not publish (%s); will retry", type(exc).__name__)
