"""WebSocket-related HTTP endpoints: the client configuration and connection statistics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from ..config import Settings
from ..realtime.events import EVENTS_BY_CONNECTION_TYPE, REGISTRY, ROLE_CONNECTION_TYPES
from ..realtime.runtime import Realtime
from .contract import responses
from .deps import AdminUser, get_realtime, get_settings

router = APIRouter(prefix="/api/websocket", tags=["websocket"])


@router.get("/config")
async def websocket_config(settings: Annotated[Settings, Depends(get_settings)]) -> dict[str, Any]:
    """What a client needs before it connects. Public: it holds no secret."""
    config = settings.client_config()
    config["connection_types"] = {
        ctype.value: sorted(t.value for t in types) for ctype, types in EVENTS_BY_CONNECTION_TYPE.items()
    }
    config["roles"] = {role.value: sorted(c.value for c in types) for role, types in ROLE_CONNECTION_TYPES.items()}
    config["event_types"] = {
        etype.value: {"category": spec.category.value, "severity": spec.severity.value}
        for etype, spec in REGISTRY.items()
    }
    return config


async def connection_stats(rt: Realtime) -> dict[str, Any]:
    """This instance's details, plus totals that add up every live instance (each reports with a heartbeat)."""
    stats = rt.hub.stats()
    instances = await rt.all_instances()
    stats["instances"] = [
        {
            k: i.get(k)
            for k in (
                "instance_id",
                "leader",
                "total_connections",
                "connections_by_type",
                "events_per_second",
                "last_seq",
                "queue_depth_total",
            )
        }
        for i in instances
    ]
    stats["cluster"] = {
        "instances": len(instances),
        "total_connections": sum(int(i.get("total_connections") or 0) for i in instances),
        "connections_by_type": {
            ctype: sum(int((i.get("connections_by_type") or {}).get(ctype, 0)) for i in instances)
            for ctype in stats["connections_by_type"]
        },
    }
    position = rt.broker.position()
    stats["epoch"] = position.epoch
    stats["broker"] = {"kind": rt.broker_kind, "healthy": rt.broker.healthy}
    stats["leader"] = rt.leader  # this instance does the cluster-wide work (forwarder health events)
    stats["broadcasters"] = {b.event_type.value: {"running": b.running, "emitted": b.emitted} for b in rt.broadcasters}
    stats["connections"] = [conn.info() for conn in rt.hub.connections.values()]
    return stats


@router.get("/stats", responses=responses(401, 403))
async def websocket_stats(_: AdminUser, rt: Annotated[Realtime, Depends(get_realtime)]) -> dict[str, Any]:
    return await connection_stats(rt)
