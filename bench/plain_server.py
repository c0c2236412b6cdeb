"""The comparison: a plain FastAPI endpoint that keeps a dict of sockets and, for each event, awaits
`send_text` on each socket in turn. Served with uvicorn's defaults (log level warning aside).

    python bench/plain_server.py --port P [--cpu 0]

It has the same bench-only routes as bench_server.py (`/bench/emit`, `/bench/stop`,
`/bench/status`, `/bench/gc`) and `--tracemalloc` option, and sends the same event frame (an
envelope of the same shape and size as ours around the same data), encoded once per event.

Note that uvicorn's default is permessage-deflate ON for clients that offer it; the load client
offers it only in the `plain-deflate` variant.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import tracemalloc
import uuid
from datetime import UTC, datetime

import uvicorn
from benchkit.server import Emitter, add_bench_routes
from benchkit.system import die_with_parent, pin_to_cpu, raise_nofile, run_server
from fastapi import FastAPI, WebSocket, WebSocketDisconnect


def build() -> tuple[FastAPI, Emitter]:
    app = FastAPI()
    sockets: dict[int, WebSocket] = {}

    @app.websocket("/ws")
    async def websocket_endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        key = id(websocket)
        sockets[key] = websocket
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            sockets.pop(key, None)

    seq = 0

    async def emit_one(phase: int, i: int, due: float | None, pad: str) -> None:
        nonlocal seq
        seq += 1
        t = time.monotonic()
        text = json.dumps(
            {
                "type": "config_change",
                "id": str(uuid.uuid4()),
                "seq": seq,
                "category": "system",
                "severity": "info",
                "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "actor": None,
                "data": {"p": phase, "i": i, "t": t, "d": t if due is None else due, "pad": pad},
            },
            separators=(",", ":"),
        )
        for key, websocket in list(sockets.items()):
            try:
                await websocket.send_text(text)
            except Exception:
                sockets.pop(key, None)

    emitter = Emitter(emit_one)
    add_bench_routes(app, emitter, lambda: len(sockets))
    return app, emitter


async def serve(port: int) -> None:
    app, _ = build()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            await task
            raise SystemExit("server did not start")
        await asyncio.sleep(0.02)
    print("READY " + json.dumps({"pid": os.getpid(), "port": port}), flush=True)
    await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu", type=int, default=None)
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--tracemalloc", action="store_true", help="POST /bench/gc reports allocation growth")
    args = parser.parse_args()
    die_with_parent(args.parent_pid)
    pin_to_cpu(args.cpu)
    raise_nofile()
    if args.tracemalloc:
        tracemalloc.start(1)
    run_server(serve(args.port))
    sys.exit(0)


if __name__ == "__main__":
    main()
