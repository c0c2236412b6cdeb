"""The event service that business code calls: `emit_*`, `@emit_websocket_event`, `WebSocketEventBatch`.

Everything that can be wrong with an event (unknown type, a payload that cannot be encoded, a
session_expired without its user) raises here, in the caller, before anything is published.
"""

from __future__ import annotations

import functools
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from .about import About
from .broker import Broker
from .events import REGISTRY, Audience, Event, EventDraft, EventType, Severity, coerce_event_type
from .metrics import RealtimeMetrics

log = logging.getLogger("hybrid_dns.realtime")

P = ParamSpec("P")
R = TypeVar("R")

_current: WebSocketEventService | None = None

# Names the ids made from idempotency keys, so that they never collide with random (uuid4) ids.
IDEMPOTENCY_NAMESPACE = uuid.UUID("5f1c8f3e-3c1d-4d59-9a43-6a0f2b7d4c21")


def idempotent_event_id(scope: str, user: str, key: str, index: int = 0) -> str:
    """The id of the `index`th event of a request its caller named with an idempotency key.

    The same (scope, user, key, index) always gives the same id, and brokers publish an id once
    (within their memory of recent ids: DEDUP_TTL for Redis, the history for the embedded broker),
    so a caller that retries after an uncertain failure (a 503, a timeout) cannot publish twice.
    `scope` (the endpoint) and `user` keep one caller's keys apart from another's.
    """
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, "\x00".join((scope, user, key, str(index)))))


class WebSocketEventService:
    def __init__(self, broker: Broker, metrics: RealtimeMetrics) -> None:
        self.broker = broker
        self.metrics = metrics

    async def emit(
        self,
        event_type: EventType | str,
        data: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
        target_user: str | None = None,
        severity: Severity | str | None = None,
        event_id: str | None = None,
        about: About | None = None,
    ) -> Event:
        """Publish one event; returns it with its id and seq. Raises TypeError/ValueError on bad input.

        With `event_id`, publishing the same id again (on any instance, within the broker's memory of
        recent ids) publishes nothing and returns the event as first published. `about`: what the
        event is about, when the caller knows better than `about_for(event_type, data)` (about.py)."""
        draft = EventDraft.make(
            event_type,
            data,
            actor=actor,
            target_user=target_user,
            severity=severity,
            event_id=event_id,
            about=about,
        )
        (event,) = await self.publish([draft])
        return event

    async def publish(self, drafts: Sequence[EventDraft]) -> list[Event]:
        if not drafts:
            return []
        try:
            events = await self.broker.publish(drafts)
        except Exception:
            self.metrics.broker_errors.labels("publish").inc()
            raise
        for event in events:
            self.metrics.child(self.metrics.events_emitted, event.type.value).inc()
        return events

    # One method per event type, for business code that prefers a name to a type: emit_<type>(data, user_id=None).
    def _typed(event_type: EventType) -> Callable[..., Awaitable[Event]]:  # type: ignore[misc]
        subject_only = REGISTRY[event_type].audience is Audience.SUBJECT_ONLY

        async def emit_typed(
            self: WebSocketEventService,
            data: Mapping[str, Any] | None = None,
            user_id: str | None = None,
            *,
            severity: Severity | str | None = None,
            target_user: str | None = None,
        ) -> Event:
            if subject_only and target_user is None:
                target_user = user_id
            return await self.emit(event_type, data, actor=user_id, target_user=target_user, severity=severity)

        emit_typed.__name__ = f"emit_{event_type.value}"
        emit_typed.__doc__ = f"Publish a `{event_type.value}` event; `user_id` is who caused it."
        return emit_typed

    emit_zone_created = _typed(EventType.ZONE_CREATED)
    emit_zone_updated = _typed(EventType.ZONE_UPDATED)
    emit_zone_deleted = _typed(EventType.ZONE_DELETED)
    emit_record_created = _typed(EventType.RECORD_CREATED)
    emit_record_updated = _typed(EventType.RECORD_UPDATED)
    emit_record_deleted = _typed(EventType.RECORD_DELETED)
    emit_security_alert = _typed(EventType.SECURITY_ALERT)
    emit_rpz_update = _typed(EventType.RPZ_UPDATE)
    emit_threat_detected = _typed(EventType.THREAT_DETECTED)
    emit_health_update = _typed(EventType.HEALTH_UPDATE)
    emit_health_alert = _typed(EventType.HEALTH_ALERT)
    emit_forwarder_status_change = _typed(EventType.FORWARDER_STATUS_CHANGE)
    emit_system_status = _typed(EventType.SYSTEM_STATUS)
    emit_bind_reload = _typed(EventType.BIND_RELOAD)
    emit_config_change = _typed(EventType.CONFIG_CHANGE)
    emit_user_login = _typed(EventType.USER_LOGIN)
    emit_user_logout = _typed(EventType.USER_LOGOUT)
    emit_session_expired = _typed(EventType.SESSION_EXPIRED)
    del _typed


def set_websocket_event_service(service: WebSocketEventService | None) -> None:
    global _current
    _current = service


def get_websocket_event_service() -> WebSocketEventService:
    """The running app's event service (set by the app's lifespan)."""
    if _current is None:
        raise RuntimeError("the real-time event service is not running (is the app started?)")
    return _current


def _default_data(result: Any) -> Mapping[str, Any] | None:
    if result is None:
        return None
    if hasattr(result, "model_dump"):
        return result.model_dump(mode="json")
    if isinstance(result, Mapping):
        return result
    return {"result": result}


def _actor_from(kwargs: Mapping[str, Any]) -> str | None:
    for name in ("current_user", "user"):
        user = kwargs.get(name)
        if user is not None:
            username = getattr(user, "username", None)
            return str(username) if username is not None else None
    return None


def emit_websocket_event(
    event_type: EventType | str,
    data_extractor: Callable[[Any], Mapping[str, Any] | None] | None = None,
    *,
    severity: Severity | str | None = None,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Emit `event_type` after the decorated coroutine returns (never when it raises).

    The event's data is `data_extractor(result)`, or the result itself when it is a mapping or a
    pydantic model. The actor is the `current_user` (or `user`) keyword argument's username, when
    there is one: FastAPI passes dependencies as keyword arguments. The signature is kept, so the
    decorator works on FastAPI routes.
    """
    etype = coerce_event_type(event_type)

    def decorate(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        if not inspect.iscoroutinefunction(func):
            raise TypeError("@emit_websocket_event decorates coroutine functions")

        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            result = await func(*args, **kwargs)
            data = data_extractor(result) if data_extractor is not None else _default_data(result)
            await get_websocket_event_service().emit(etype, data, actor=_actor_from(kwargs), severity=severity)
            return result

        return wrapper

    return decorate


class WebSocketEventBatch:
    """Collect events and publish them together on a normal exit, or not at all on an exception.

    Events get consecutive seqs and reach each connection in one `batch` frame. Events added with
    the same `dedup_key` collapse to the last one added (in its place at the end).
    """

    def __init__(self, service: WebSocketEventService | None = None) -> None:
        self._service = service
        self._drafts: list[EventDraft] = []
        self._keys: dict[str, EventDraft] = {}
        self.events: list[Event] = []

    def add(
        self,
        event_type: EventType | str,
        data: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
        target_user: str | None = None,
        severity: Severity | str | None = None,
        dedup_key: str | None = None,
        event_id: str | None = None,
        about: About | None = None,
    ) -> EventDraft:
        """`event_id` and `about` as for `emit()`: the batch is published once per id of its first event."""
        draft = EventDraft.make(
            event_type,
            data,
            actor=actor,
            target_user=target_user,
            severity=severity,
            event_id=event_id,
            about=about,
        )
        if dedup_key is not None:
            previous = self._keys.pop(dedup_key, None)
            if previous is not None:
                self._drafts.remove(previous)
            self._keys[dedup_key] = draft
        self._drafts.append(draft)
        return draft

    def __len__(self) -> int:
        return len(self._drafts)

    async def __aenter__(self) -> WebSocketEventBatch:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        drafts, self._drafts = self._drafts, []
        self._keys.clear()
        if exc_type is not None:
            if drafts:
                log.info("event batch discarded: %d events not emitted after %s", len(drafts), exc_type.__name__)
            return
        service = self._service or get_websocket_event_service()
        self.events = await service.publish(drafts)
