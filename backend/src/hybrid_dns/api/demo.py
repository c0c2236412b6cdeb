"""Demo endpoints (admin only): emit events by hand to see the real-time layer work end to end.

Mounted unless WEBSOCKET_DEMO_ENABLED=false. Every body is validated by pydantic, so bad input is
a 422 that says which field is wrong, and nothing is emitted. Every event they emit carries
`"demo": true`, whatever the body says, and changes nothing but what clients display.

A caller may name a request with an `Idempotency-Key` header: the events it emits then get ids
made from the key (see `idempotent_event_id`), so a retry after a 503 or a timeout answers the
events of the first try instead of emitting them again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, status
from pydantic import BaseModel, Field, field_validator

from ..realtime.broker import BrokerUnavailable
from ..realtime.events import EventType, Severity
from ..realtime.runtime import Realtime
from ..realtime.service import WebSocketEventBatch, idempotent_event_id
from .contract import NotBool, responses
from .deps import AdminUser, get_realtime
from .websocket import connection_stats

router = APIRouter(prefix="/api/websocket-demo", tags=["websocket-demo"])

DnsEventName = Literal[
    "zone_created",
    "zone_updated",
    "zone_deleted",
    "record_created",
    "record_updated",
    "record_deleted",
    "bind_reload",
    "config_change",
]
SecurityEventName = Literal["security_alert", "rpz_update", "threat_detected"]
_DOMAIN_PATTERN = r"^([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z]{2,63}\.?$"


class EmitDnsEvent(BaseModel):
    event_type: DnsEventName = "zone_updated"
    data: dict[str, Any] = Field(default_factory=dict, max_length=100)
    severity: Severity | None = None


class EmitSecurityEvent(BaseModel):
    event_type: SecurityEventName = "security_alert"
    data: dict[str, Any] = Field(default_factory=dict, max_length=100)
    severity: Severity | None = None


class SimulateWorkflow(BaseModel):
    zone_name: Annotated[str, Field(max_length=253, pattern=_DOMAIN_PATTERN)] = "example.com"
    record_count: Annotated[int, Field(ge=1, le=20), NotBool] = 3
    delay_ms: Annotated[int, Field(ge=0, le=500), NotBool] = 300

    @field_validator("zone_name")
    @classmethod
    def _zone(cls, value: str) -> str:
        return value.rstrip(".").lower()  # the pattern (checked first) makes it a domain name


class EmittedEvent(BaseModel):
    id: str
    seq: int
    type: str


def _emitted(event: Any) -> EmittedEvent:
    return EmittedEvent(id=event.id, seq=event.seq, type=event.type.value)


Runtime = Annotated[Realtime, Depends(get_realtime)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="names this request: a retry with the same key emits nothing new and answers the same events",
    ),
]

BROKER_DOWN = "event broker unavailable; the event may not have been published: retry with the same Idempotency-Key"


@contextlib.contextmanager
def _broker_answer() -> Iterator[None]:
    """A 503 that tells the truth: a publish that failed late (the reply lost) may have gone out."""
    try:
        yield
    except BrokerUnavailable:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, BROKER_DOWN, headers={"Retry-After": "1"}) from None


def _event_id(scope: str, username: str, key: str | None, index: int = 0) -> str | None:
    return None if key is None else idempotent_event_id(scope, username, key, index)


@router.post("/emit-dns-event", response_model=EmittedEvent, responses=responses(401, 403, 413, 422, 503))
async def emit_dns_event(
    body: EmitDnsEvent, user: AdminUser, rt: Runtime, idempotency_key: IdempotencyKey = None
) -> EmittedEvent:
    data = {**body.data, "demo": True}
    event_id = _event_id("emit-dns-event", user.username, idempotency_key)
    with _broker_answer():
        event = await rt.service.emit(
            body.event_type, data, actor=user.username, severity=body.severity, event_id=event_id
        )
    return _emitted(event)


@router.post("/emit-security-event", response_model=EmittedEvent, responses=responses(401, 403, 413, 422, 503))
async def emit_security_event(
    body: EmitSecurityEvent, user: AdminUser, rt: Runtime, idempotency_key: IdempotencyKey = None
) -> EmittedEvent:
    data = {**body.data, "demo": True}
    event_id = _event_id("emit-security-event", user.username, idempotency_key)
    with _broker_answer():
        event = await rt.service.emit(
            body.event_type, data, actor=user.username, severity=body.severity, event_id=event_id
        )
    return _emitted(event)


@router.post("/simulate-dns-workflow", response_model=list[EmittedEvent], responses=responses(401, 403, 413, 422, 503))
async def simulate_dns_workflow(
    body: SimulateWorkflow, user: AdminUser, rt: Runtime, idempotency_key: IdempotencyKey = None
) -> list[EmittedEvent]:
    """zone_created, its records, bind_reload, config_change: spaced out by delay_ms, as a real change would be.

    Each step is its own event; with an Idempotency-Key, a retry after a failure part-way answers
    the steps that went out and emits the rest."""
    zone = body.zone_name
    steps: list[tuple[EventType, dict[str, Any]]] = [
        (EventType.ZONE_CREATED, {"zone": zone, "zone_type": "master", "serial": 1, "demo": True})
    ]
    for i in range(body.record_count):
        steps.append(
            (
                EventType.RECORD_CREATED,
                {
                    "zone": zone,
                    "name": f"host{i + 1}.{zone}",
                    "type": "A",
                    "value": f"192.0.2.{i + 10}",
                    "ttl": 3600,
                    "demo": True,
                },
            )
        )
    steps.append((EventType.BIND_RELOAD, {"zones": [zone], "success": True, "duration_ms": 42, "demo": True}))
    steps.append(
        (
            EventType.CONFIG_CHANGE,
            {"section": "zones", "change": f"added zone {zone}", "changed_by": user.username, "demo": True},
        )
    )
    emitted = []
    for index, (etype, data) in enumerate(steps):
        if index and body.delay_ms:
            await asyncio.sleep(body.delay_ms / 1000)
        event_id = _event_id("simulate-dns-workflow", user.username, idempotency_key, index)
        with _broker_answer():
            event = await rt.service.emit(etype, data, actor=user.username, event_id=event_id)
        emitted.append(_emitted(event))
    return emitted


def _sample(event_type: EventType, username: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    samples: dict[EventType, dict[str, Any]] = {
        EventType.ZONE_CREATED: {"zone": "demo.example", "zone_type": "master", "serial": 1},
        EventType.ZONE_UPDATED: {"zone": "demo.example", "serial": 2, "changes": ["refresh"]},
        EventType.ZONE_DELETED: {"zone": "old.example"},
        EventType.RECORD_CREATED: {
            "zone": "demo.example",
            "name": "www.demo.example",
            "type": "A",
            "value": "192.0.2.10",
        },
        EventType.RECORD_UPDATED: {
            "zone": "demo.example",
            "name": "www.demo.example",
            "type": "A",
            "value": "192.0.2.11",
        },
        EventType.RECORD_DELETED: {"zone": "demo.example", "name": "old.demo.example", "type": "CNAME"},
        EventType.SECURITY_ALERT: {"alert": "demo", "message": "Demonstration security alert"},
        EventType.RPZ_UPDATE: {"action": "block", "domains": ["malware.example"], "category": "malware"},
        EventType.THREAT_DETECTED: {
            "client": "192.0.2.50",
            "query": "malware.example",
            "rule": "malware.example",
            "category": "malware",
        },
        EventType.HEALTH_UPDATE: {
            "forwarders": [],
            "summary": {"total": 0, "healthy": 0, "degraded": 0, "unhealthy": 0},
        },
        EventType.HEALTH_ALERT: {
            "forwarder": "corp-ad",
            "message": "response time above threshold",
            "response_ms": 850,
        },
        EventType.FORWARDER_STATUS_CHANGE: {"forwarder": "corp-ad", "old_status": "healthy", "new_status": "degraded"},
        EventType.SYSTEM_STATUS: {"cpu_percent": 12.5, "memory": {"percent": 40.0}},
        EventType.BIND_RELOAD: {"zones": ["demo.example"], "success": True, "duration_ms": 40},
        EventType.CONFIG_CHANGE: {"section": "demo", "change": "test-all-events"},
        EventType.USER_LOGIN: {"username": username, "source": "demo"},
        EventType.USER_LOGOUT: {"username": username, "source": "demo"},
        EventType.SESSION_EXPIRED: {"reason": "demo", "expired_at": now},
        EventType.USER_CREATED: {"username": username, "role": "admin", "disabled": False},
        EventType.USER_UPDATED: {"username": username, "role": "admin", "disabled": False, "changes": []},
    }
    return {**samples[event_type], "demo": True}


@router.post("/test-all-events", response_model=list[EmittedEvent], responses=responses(401, 403, 413, 422, 503))
async def test_all_events(user: AdminUser, rt: Runtime, idempotency_key: IdempotencyKey = None) -> list[EmittedEvent]:
    """One event of each type (session_expired and the account events are about the caller)."""
    with _broker_answer():
        async with WebSocketEventBatch(rt.service) as batch:
            for index, etype in enumerate(EventType):
                batch.add(
                    etype,
                    _sample(etype, user.username),
                    actor=user.username,
                    target_user=user.username,
                    event_id=_event_id("test-all-events", user.username, idempotency_key, index),
                )
    return [_emitted(e) for e in batch.events]


@router.get("/connection-stats", responses=responses(401, 403))
async def demo_connection_stats(_: AdminUser, rt: Runtime) -> dict[str, Any]:
    return await connection_stats(rt)
