"""Periodic broadcasters (`health_update`, `system_status`) that run only while someone would receive them.

Whether a broadcaster should run is its `wants()` (by default: some connection of this instance is
subscribed to its type). The hub tells it synchronously when the first connection subscribes and
when the last one leaves, and the runtime asks it again every heartbeat (`refresh`), so starting
and stopping cannot race with connects and disconnects: all of it happens on the event loop's one
thread, and a start while a task is alive is a no-op. An emission never comes sooner than one
interval after the previous one, so a client that flaps its connection cannot make a broadcaster
spam everyone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .events import EventType
from .hub import Hub
from .service import WebSocketEventService

log = logging.getLogger("hybrid_dns.realtime")

Producer = Callable[[], Awaitable[dict[str, Any]]]


class PeriodicBroadcaster:
    def __init__(
        self,
        hub: Hub,
        service: WebSocketEventService,
        event_type: EventType,
        interval: Callable[[], float],
        producer: Producer,
        wants: Callable[[], bool] | None = None,
    ) -> None:
        self.hub = hub
        self.wants = wants or (lambda: hub.has_demand(event_type))
        self.service = service
        self.event_type = event_type
        self.interval = interval
        self.producer = producer
        self.task: asyncio.Task[None] | None = None
        self.last_emit = float("-inf")
        self.emitted = 0
        self._closed = False
        hub.add_demand_listener(self._on_demand)

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def _on_demand(self, event_type: EventType, active: bool) -> None:
        if event_type is self.event_type:
            self.refresh()

    def refresh(self) -> None:
        """Start or stop, by `wants()`."""
        if self.wants():
            self.start()
        else:
            self.stop()

    def start(self) -> None:
        if self._closed or self.running:
            return
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"broadcast:{self.event_type}")

    def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.task = None

    async def close(self) -> None:
        self._closed = True
        task = self.task
        self.stop()
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            wait = self.last_emit + self.interval() - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not self.wants():
                return
            self.last_emit = time.monotonic()
            try:
                data = await self.producer()
                await self.service.emit(self.event_type, data)
                self.emitted += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                # Never die silently: log, count, and try again next interval.
                log.exception("%s broadcast failed; retrying in %.0fs", self.event_type.value, self.interval())
                self.service.metrics.broker_errors.labels(f"broadcast_{self.event_type.value}").inc()


class SystemStatusProducer:
    """`system_status`: the host's figures from `source` (the app's, monitoring/system.py), with this
    instance's connections and event rate. Every instance sends its own."""

    def __init__(self, hub: Hub, instance_id: str = "", source: Producer | None = None) -> None:
        self.hub = hub
        self.instance_id = instance_id
        self.source = source

    async def __call__(self) -> dict[str, Any]:
        data = await self.source() if self.source is not None else {}
        data["connections"] = {"total": len(self.hub.connections), "by_type": self.hub.connection_counts()}
        data["events_per_second"] = round(self.hub.events_per_second(), 3)
        data["instance_id"] = self.instance_id  # with several instances, each reports its own figures
        return data


class HealthProducer:
    """`health_update`: forwarder health from `source` (the app's forwarder monitor); an empty set
    when the app gives none."""

    def __init__(self, source: Producer | None = None) -> None:
        self.source = source

    async def __call__(self) -> dict[str, Any]:
        if self.source is not None:
            return await self.source()
        return {
            "forwarders": [],
            "summary": {"total": 0, "healthy": 0, "degraded": 0, "unhealthy": 0},
        }
