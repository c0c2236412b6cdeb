"""Operations endpoints: /healthz for load balancers, /metrics for Prometheus."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..realtime.runtime import Realtime
from .deps import get_realtime

router = APIRouter(tags=["ops"])


@router.get("/healthz")
async def healthz(rt: Annotated[Realtime, Depends(get_realtime)]) -> JSONResponse:
    broker_ok = rt.broker.healthy
    body = {
        "status": "ok" if broker_ok else "degraded",
        "broker": {"kind": rt.broker_kind, "healthy": broker_ok},
        "connections": len(rt.hub.connections),
        "last_seq": rt.hub.last_seq,
    }
    return JSONResponse(body, status_code=200 if broker_ok else 503)


@router.get("/metrics")
async def metrics(rt: Annotated[Realtime, Depends(get_realtime)]) -> Response:
    return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)
