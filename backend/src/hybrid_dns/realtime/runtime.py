"""The real-time layer of one server instance, wired together: broker, hub, service, broadcasters.

It knows nothing about DNS or about how users are stored: the app hands it an `authenticate`
coroutine that turns a token into a `Principal` or raises `AuthError` with the close code.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from ..config import Settings
from .broadcasters import HealthProducer, PeriodicBroadcaster, SystemStatusProducer
from .broker import Broker, broker_from_url
from .events import EventType, Role
from .hub import Hub
from .metrics import RealtimeMetrics
from .protocol import CloseCode
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
    def __init__(self, settings: Settings, authenticate: Authenticator, broker: Broker | None = None) -> None:
        self.settings = settings
        self.authenticate = authenticate
        self.metrics = RealtimeMetrics()
        self.broker = broker or broker_from_url(settings.BROKER_URL)
        self.hub = Hub(
            self.metrics,
            queue_limit=settings.WEBSOCKET_SEND_QUEUE_SIZE,
            max_batch=settings.WEBSOCKET_MAX_BATCH,
        )
        self.service = WebSocketEventService(self.broker, self.metrics)
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
                SystemStatusProducer(self.hub, Path(settings.DATA_DIR)),
            ),
        ]
        self.expired_sessions: set[str] = set()

    async def start(self) -> None:
        await self.broker.start(self.hub.dispatch)
        position = self.broker.position()
        self.hub.last_seq = position.last_seq
        set_websocket_event_service(self.service)
        log.info("realtime started broker=%s epoch=%s last_seq=%d", self.broker_kind, position.epoch, position.last_seq)

    async def stop(self) -> None:
        for broadcaster in self.broadcasters:
            await broadcaster.close()
        await self.hub.close_all()
        set_websocket_event_service(None)
        await self.broker.close()

    @property
    def broker_kind(self) -> str:
        return type(self.broker).__name__

    def broadcaster(self, event_type: EventType) -> PeriodicBroadcaster:
        return next(b for b in self.broadcasters if b.event_type is event_type)
