"""What both benchmark servers share: the emitter behind `POST /bench/emit` and the bench-only routes.

Both servers emit the same event: `config_change` with data `{"p": phase, "i": index, "t":
time.monotonic() when emit() is called, "d": the time the event was due (rate runs; else t),
"pad": "x" * payload_bytes}`. CLOCK_MONOTONIC is system-wide on Linux, so the load client
(another process) subtracts `t` (and `d`) from its own `time.monotonic()` to get the latency.

Routes (loopback only):
  POST /bench/emit   {"phase", "count", "rate", "concurrency", "payload_bytes"}: start an emission
                     in a background task
  POST /bench/stop   stop the running emission
  GET  /bench/status connections, emitter progress, RSS (and what the server adds)
  POST /bench/gc     gc.collect(), then RSS (and, with --tracemalloc, where memory grew since the last call)
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI

from benchkit.system import rss_kb

EmitOne = Callable[[int, int, float | None, str], Awaitable[None]]  # (phase, index, due time, pad)


class Emitter:
    """Emits `count` events through `emit_one`, each as a separate producer would.

    At a rate (open loop): event i is due at start + i/rate; at each due time a task is started
    that emits it (as a request handler would), whether or not earlier emits have returned. The
    event carries its due time `d` and the time `t` its emit() was called.

    As fast as it can (rate 0, closed loop): `concurrency` producers, each emitting one event,
    awaiting its emit() call, yielding once to the event loop (`asyncio.sleep(0)`), and emitting
    the next, until `count` events have been emitted. With one producer that is a tight loop of
    single events; with ten, up to ten events are emitted in one turn of the event loop.
    """

    def __init__(self, emit_one: EmitOne) -> None:
        self.emit_one = emit_one
        self.task: asyncio.Task[None] | None = None
        self.stop_requested = False
        self.reset()

    def reset(self) -> None:
        self.phase = 0
        self.count = 0
        self.emitted = 0
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.error: str | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self, phase: int, count: int, rate: float, concurrency: int, payload_bytes: int) -> None:
        if self.running:
            raise RuntimeError("an emission is already running")
        self.reset()
        self.phase = phase
        self.count = count
        self.stop_requested = False
        pad = "x" * payload_bytes
        self.task = asyncio.get_running_loop().create_task(self._run(phase, count, rate, max(1, concurrency), pad))

    async def _one(self, phase: int, i: int, due: float | None, pad: str) -> None:
        try:
            await self.emit_one(phase, i, due, pad)
        except Exception as exc:  # reported by /bench/status
            self.error = f"{type(exc).__name__}: {exc}"
        else:
            self.emitted += 1

    async def _run(self, phase: int, count: int, rate: float, concurrency: int, pad: str) -> None:
        try:
            start = time.monotonic()
            self.t_first = start
            if rate > 0:
                tasks: set[asyncio.Task[None]] = set()
                i = 0
                while i < count and not self.stop_requested:
                    now = time.monotonic()
                    due = start + i / rate
                    if due > now:
                        await asyncio.sleep(due - now)
                        continue
                    while i < count and start + i / rate <= now:
                        task = asyncio.get_running_loop().create_task(self._one(phase, i, start + i / rate, pad))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                        i += 1
                if tasks:
                    await asyncio.gather(*tasks)
            else:
                counter = iter(range(count))

                async def producer() -> None:
                    for i in counter:
                        if self.stop_requested:
                            return
                        await self._one(phase, i, None, pad)
                        await asyncio.sleep(0)

                await asyncio.gather(*(producer() for _ in range(concurrency)))
        finally:
            self.t_last = time.monotonic()

    def stop(self) -> None:
        self.stop_requested = True

    def status(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "count": self.count,
            "emitted": self.emitted,
            "running": self.running,
            "t_first": self.t_first,
            "t_last": self.t_last,
            "error": self.error,
        }


class GarbageReport:
    """`POST /bench/gc`: gc.collect(), then RSS; when tracemalloc is tracing (--tracemalloc), also
    where Python memory grew since the previous call (the 25 largest allocation sites)."""

    def __init__(self) -> None:
        self.previous: tracemalloc.Snapshot | None = None
        self.previous_traced = 0

    def __call__(self) -> dict[str, Any]:
        gc.collect()
        result: dict[str, Any] = {"rss_kb": rss_kb()}
        if tracemalloc.is_tracing():
            snapshot = tracemalloc.take_snapshot()
            traced = tracemalloc.get_traced_memory()[0]
            if self.previous is not None:
                result["traced_diff"] = traced - self.previous_traced
                diff = snapshot.compare_to(self.previous, "lineno")[:25]
                result["tracemalloc"] = [
                    {"where": str(d.traceback), "size_diff": d.size_diff, "count_diff": d.count_diff} for d in diff
                ]
            self.previous = snapshot
            self.previous_traced = traced
        return result


def add_bench_routes(
    app: FastAPI, emitter: Emitter, connections: Callable[[], int], status: Callable[[], dict[str, Any]] | None = None
) -> None:
    """Add the bench routes in front of the app's own: an app may end with a catch-all `GET /{path}`
    (ours serves the dashboard there). `connections` counts the server's open WebSocket connections;
    `status` adds the server's own figures to `GET /bench/status`."""
    router = APIRouter()
    gc_report = GarbageReport()

    @router.post("/bench/emit")
    async def bench_emit(body: dict[str, Any]) -> dict[str, Any]:
        emitter.start(
            int(body.get("phase", 0)),
            int(body["count"]),
            float(body.get("rate", 0)),
            int(body.get("concurrency", 1)),
            int(body.get("payload_bytes", 64)),
        )
        return {"started": True, "connections": connections()}

    @router.post("/bench/stop")
    async def bench_stop() -> dict[str, Any]:
        emitter.stop()
        return emitter.status()

    @router.get("/bench/status")
    async def bench_status() -> dict[str, Any]:
        extra = status() if status is not None else {}
        return {"connections": connections(), **extra, "emitter": emitter.status(), "rss_kb": rss_kb()}

    @router.post("/bench/gc")
    async def bench_gc() -> dict[str, Any]:
        return gc_report()

    routes_before = len(app.router.routes)
    app.include_router(router)
    bench_routes = app.router.routes[routes_before:]
    del app.router.routes[routes_before:]
    app.router.routes[0:0] = bench_routes
