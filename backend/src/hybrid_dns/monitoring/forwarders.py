"""Forwarder health: periodic real DNS queries to every forwarder's servers, with hysteresis.

Interface used by the rest of the app (the implementation is filled in by the health work):
`await monitor.start()`, `await monitor.close()`, and `await monitor.snapshot()`, the
`health_update` payload: {"forwarders": [...], "summary": {...}}.
"""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..db import Database
from ..realtime.service import WebSocketEventService


class ForwarderMonitor:
    def __init__(self, settings: Settings, db: Database, service: WebSocketEventService) -> None:
        self.settings = settings
        self.db = db
        self.service = service

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def snapshot(self) -> dict[str, Any]:
        return {"forwarders": [], "summary": {"total": 0, "healthy": 0, "degraded": 0, "unhealthy": 0}}
