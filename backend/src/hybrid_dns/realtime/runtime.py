"""The real-time layer of one server instance, wired together: broker, hub, service, broadcasters.

It knows nothing about DNS or about how users are stored: the app hands it an `authenticate`
coroutine that turns a token into a `Principal` or raises `AuthError` with the close code.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from ..config import Settings
from ..db import Database
from .broadcasters import HealthProducer, PeriodicBroadcaster, SystemStatusProducer
from .broker import Broker, broker_from_settings
from .events import EventType, Role
from .hub import Hub
from .metrics import RealtimeMetrics
from .outbox import Outbox
from .protocol import CloseCode
from .readstate import ReadState
from .service import WebSocketEventService, set_websocket_event_service

log = logging.getLogger("hybrid_dns.realtime")


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    role: Role
    expires_at: float | None  # unix time the token expires
    jti: str | None


class AuthError(Exception):
    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


Authenticator = Callable[[str | None], Awaitable[Principal]]


class Realtime:
    def __init__(
        self, settings: Settings, authenticate: Authenticator, db: Database, broker: Broker | None = None
    ) -> None:
        self.settings = settings
        self.db = db
        self.authenticate = authenticate
        self.instance_id = settings.INSTANCE_ID or f"{socket.gethostname()}-{os.getpid()}"
        self.metrics = RealtimeMetrics()
        self.broker = broker or broker_from_settings(settings, db, self.instance_id)
        if hasattr(self.broker, "on_outage"):
            self.broker.on_outage = lambda kind: self.metrics.broker_errors.labels("connection_lost").inc()
        self.read_state = ReadState(db, self.broker, settings.EVENT_HISTORY_SIZE)
        self.hub = Hub(
            self.metrics,
            queue_limit=settings.WEBSOCKET_SEND_QUEUE_SIZE,
            max_batch=settings.WEBSOCKET_MAX_BATCH,
        )
        self.service = WebSocketEventService(self.broker, self.metrics)
        self.outbox = Outbox(db, self.service)
        self.health_producer = HealthProducer()
        self.broadcasters = [
            PeriodicBroadcaster(
                self.hub,
                self.service,
                EventType.HEALTH_UPDATE,
                lambda: self.settings.HEALTH_BROADCAST_INTERVAL,
                self.health_producer,
            ),
            PeriodicBroadcaster(
                self.hub,
                self.service,
                EventType.SYSTEM_STATUS,
                lambda: self.settings.SYSTEM_BROADCAST_INTERVAL,
                SystemStatusProducer(self.hub, Path(settings.DATA_DIR), self.instance_id),
            ),
        ]
        self.expired_sessions: dict[str, asyncio.Task[Any]] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A background task that is kept referenced until it ends (and cancelled on stop)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def start(self) -> None:
        self.hub.last_seq = 0
        await self.broker.start(self.hub)
        position = self.broker.position()
        self.hub.last_seq = position.last_seq
        set_websocket_event_service(self.service)
        self.outbox.start()
        self._heartbeat = asyncio.get_running_loop().create_task(self._report(), name="instance-heartbeat")
        log.info("realtime started broker=%s epoch=%s last_seq=%d", self.broker_kind, position.epoch, position.last_seq)

    async def _report(self) -> None:
        """Each instance's figures, for stats that add up every live instance."""
        while True:
            try:
                await self.broker.report_instance(self.instance_stats())
            except Exception:
                log.exception("instance heartbeat failed")
            await asyncio.sleep(2.0)

    def instance_stats(self) -> dict[str, Any]:
        stats = self.hub.stats()
        stats["instance_id"] = self.instance_id
        return stats

    async def all_instances(self) -> list[dict[str, Any]]:
        """Every live instance's stats (this one's always fresh and first)."""
        others = [i for i in await self.broker.instances() if i.get("instance_id") != self.instance_id]
        return [self.instance_stats(), *others]

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        await self.outbox.close()
        for task in list(self._tasks):
            task.cancel()
        for broadcaster in self.broadcasters:
            await broadcaster.close()
        await self.hub.close_all()
        set_websocket_event_service(None)
        await self.broker.close()

    @property
    def broker_kind(self) -> str:
        return self.broker.kind

    def broadcaster(self, event_type: EventType) -> PeriodicBroadcaster:
        return next(b for b in self.broadcasters if b.event_type is event_type)
