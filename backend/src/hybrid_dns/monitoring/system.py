"""Host figures for `system_status`: CPU, memory, disk, load and uptime of the machine and of this process.

Each instance reports its own host (realtime/broadcasters.py adds its connections and event rate);
psutil's CPU percentages are measured between two calls, so the first call primes them.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import psutil


class HostFigures:
    """The figures, gathered in a worker thread so that the event loop never blocks on them."""

    def __init__(self, disk_path: Path) -> None:
        """`disk_path`: whose file system's usage to report (the data directory)."""
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
        return await asyncio.to_thread(self._sample)
