"""Our server, as `hybrid-dns serve` runs it, plus bench-only routes; started by ws_bench.py.

    python bench/bench_server.py --port P --data-dir D --secret S [--cpu 0] [--deflate]
                                 [--broker-url redis://127.0.0.1:6379/0 --instance-id a]

The app is `hybrid_dns.app.create_app(Settings(...))` served by `hybrid_dns.server.HybridServer` with
`hybrid_dns.server.uvicorn_config` (so with our WebSocket protocol class). Settings that differ
from the defaults: no per-user connection limit to speak of (every bench socket is one user),
periodic broadcasters stopped (they would interleave with the bench's events), log level warning
(no line per connection; `--log-level info` as a production server runs), permessage-deflate when
`--deflate` is given, and BROKER_URL and INSTANCE_ID when `--broker-url` and `--instance-id` are
given (multi_bench.py runs two instances on one Redis; each keeps its own SQLite database under its
data directory, which holds only the bench users: events go through the broker).

Bench-only routes (loopback only):
  POST /bench/emit   {"phase", "count", "rate", "concurrency", "payload_bytes"}: emit `config_change`
                     events through `app.state.realtime.service.emit`, in a background task
  POST /bench/stop   stop the running emission
  GET  /bench/status connections, emitter progress, RSS
  POST /bench/gc     gc.collect(), then RSS (and, with --tracemalloc, where memory grew since the last call)

When it is ready it prints one line to stdout: `READY {json}`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import signal
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from benchkit.server import Emitter, add_bench_routes
from benchkit.system import die_with_parent, pin_to_cpu, raise_nofile, run_server
from sqlalchemy import select

from hybrid_dns.app import create_app
from hybrid_dns.config import Settings
from hybrid_dns.models import User
from hybrid_dns.realtime.events import EventType
from hybrid_dns.server import HybridServer, uvicorn_config

BENCH_USER = "bench"
BENCH_ROLE = "viewer"  # a viewer may open `system` connections, which receive config_change


def build(args: argparse.Namespace) -> tuple[Any, Settings, Emitter]:
    settings = Settings(
        DATA_DIR=Path(args.data_dir),
        SECRET_KEY=args.secret,
        WEBSOCKET_MAX_CONNECTIONS_PER_USER=1_000_000,
        HEALTH_BROADCAST_INTERVAL=1e9,
        SYSTEM_BROADCAST_INTERVAL=1e9,
        WEBSOCKET_PERMESSAGE_DEFLATE=args.deflate,
        WEBSOCKET_DEMO_ENABLED=False,
        LOG_LEVEL=args.log_level,
        BROKER_URL=args.broker_url,
        INSTANCE_ID=args.instance_id,
    )
    app = create_app(settings)
    realtime = app.state.realtime
    service = realtime.service

    async def emit_one(phase: int, i: int, due: float | None, pad: str) -> None:
        t = time.monotonic()
        data = {"p": phase, "i": i, "t": t, "d": t if due is None else due, "pad": pad}
        await service.emit(EventType.CONFIG_CHANGE, data)

    emitter = Emitter(emit_one)

    def hub_status() -> dict[str, Any]:
        stats = realtime.hub.stats()
        return {"queue_depth_total": stats["queue_depth_total"], "queue_depth_max": stats["queue_depth_max"]}

    add_bench_routes(app, emitter, lambda: len(realtime.hub.connections), hub_status)
    return app, settings, emitter


async def seed_users(app: Any, users: int) -> None:
    """The bench user, and with `--users N` also bench0..bench{N-1} (connect_bench.py: many users)."""
    names = [BENCH_USER, *(f"{BENCH_USER}{i}" for i in range(users))]
    async with app.state.db() as session:
        known = set((await session.scalars(select(User.username).where(User.username.in_(names)))).all())
        for name in names:
            user = await session.scalar(select(User).where(User.username == name)) if name in known else None
            if user is None:
                user = User(username=name, is_active=True)
            # No password: the bench only uses tokens minted with the secret key.
            user.password_hash, user.role = "!", BENCH_ROLE
            session.add(user)
        await session.commit()


async def serve(args: argparse.Namespace) -> None:
    app, settings, _ = build(args)
    config = uvicorn_config(app, settings, "127.0.0.1", args.port, log_level="warning")
    server = HybridServer(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            await task
            raise SystemExit("server did not start")
        await asyncio.sleep(0.02)
    await seed_users(app, args.users)
    for broadcaster in app.state.realtime.broadcasters:
        await broadcaster.close()
    ready = {
        "pid": os.getpid(),
        "port": args.port,
        "deflate": settings.WEBSOCKET_PERMESSAGE_DEFLATE,
        "broker": app.state.realtime.broker_kind,
    }
    print("READY " + json.dumps(ready), flush=True)
    await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--cpu", type=int, default=None)
    parser.add_argument("--deflate", action="store_true", help="WEBSOCKET_PERMESSAGE_DEFLATE=true")
    parser.add_argument("--broker-url", default="memory://", help="BROKER_URL (default memory://)")
    parser.add_argument("--instance-id", default="", help="INSTANCE_ID (default: hostname and pid)")
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--users", type=int, default=0, help="also seed users bench0..bench{N-1} (viewers)")
    parser.add_argument("--log-level", default="warning", help="LOG_LEVEL (default warning: no line per connection)")
    parser.add_argument("--profile", default=None, help="write cProfile stats here on exit (slows the server)")
    parser.add_argument("--tracemalloc", action="store_true", help="POST /bench/gc reports allocation growth")
    args = parser.parse_args()
    die_with_parent(args.parent_pid)
    pin_to_cpu(args.cpu)
    raise_nofile()
    if args.tracemalloc:
        tracemalloc.start(1)
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        # uvicorn re-raises the SIGTERM it caught once it has shut down; with a no-op handler in
        # place that returns here, and the profile is written.
        signal.signal(signal.SIGTERM, lambda *_: None)
        profiler.enable()
    try:
        run_server(serve(args))
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
    sys.exit(0)


if __name__ == "__main__":
    main()
