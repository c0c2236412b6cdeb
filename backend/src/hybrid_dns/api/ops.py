"""Operations endpoints: /healthz for load balancers, /metrics for Prometheus."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from ..realtime.runtime import Realtime
from .deps import get_realtime

router = APIRouter(tags=["ops"])


class BrokerHealth(BaseModel):
    kind: str
    healthy: bool


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    broker: BrokerHealth
    connections: int
    last_seq: int


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "The event broker is unreachable: take this instance out"}},
)
async def healthz(rt: Annotated[Realtime, Depends(get_realtime)]) -> JSONResponse:
    broker_ok = rt.broker.healthy
    body = {
        "status": "ok" if broker_ok else "degraded",
        "broker": {"kind": rt.broker_kind, "healthy": broker_ok},
        "connections": len(rt.hub.connections),
        "last_seq": rt.hub.last_seq,
    }
    return JSONResponse(body, status_code=200 if broker_ok else 503)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}, "description": "Prometheus"}},
)
async def metrics(rt: Annotated[Realtime, Depends(get_realtime)]) -> Response:
    return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)
