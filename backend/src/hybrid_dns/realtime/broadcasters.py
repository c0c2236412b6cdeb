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
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil

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
    """Real figures from psutil, gathered in a worker thread so the event loop never blocks."""

    def __init__(self, hub: Hub, disk_path: Path, instance_id: str = "") -> None:
        self.hub = hub
        self.instance_id = instance_id
        self.disk_path = disk_path
        self.process = psutil.Process(os.getpid())
        self.process_started = time.time()
        psutil.cpu_percent(interval=None)  # prime: the next call reports usage since now
        self.process.cpu_percent(interval=None)

    def _sample(self) -> dict[str, Any]:
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage(str(self.disk_path if self.disk_path.exists() else Path.cwd()))
        load = os.getloadavg()
        with self.process.oneshot():
            rss = self.process.memory_info().rss
            process_cpu = self.process.cpu_percent(interval=None)
        return {
            "cpu_percent": psutil.cpu_percent(interval=None),
            "cpu_count": psutil.cpu_count(),
            "memory": {"percent": memory.percent, "used_bytes": memory.used, "total_bytes": memory.total},
            "disk": {"percent": disk.percent, "used_bytes": disk.used, "total_bytes": disk.total},
            "load_average": {"1m": load[0], "5m": load[1], "15m": load[2]},
            "uptime_seconds": round(time.time() - psutil.boot_time(), 1),
            "process": {
                "uptime_seconds": round(time.time() - self.process_started, 1),
                "rss_bytes": rss,
                "cpu_percent": process_cpu,
            },
        }

    async def __call__(self) -> dict[str, Any]:
        data = await asyncio.to_thread(self._sample)
        data["connections"] = {"total": len(self.hub.connections), "by_type": self.hub.connection_counts()}
        data["events_per_second"] = round(self.hub.events_per_second(), 3)
        data["instance_id"] = self.instance_id  # with several instances, each reports its own figures
        return data


class HealthProducer:
    """Forwarder health for `health_update`. Until forwarder checks exist it reports an empty set."""

    def __init__(self, source: Callable[[], Awaitable[dict[str, Any]]] | None = None) -> None:
        self.source = source

    async def __call__(self) -> dict[str, Any]:
        if self.source is not None:
            return await self.source()
        return {
            "forwarders": [],
            "summary": {"total": 0, "healthy": 0, "degraded": 0, "unhealthy": 0},
        }
