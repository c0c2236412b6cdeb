"""WebSocket fan-out benchmark: our hub against a plain FastAPI send loop, on loopback.

    .venv/bin/python bench/ws_bench.py                        # 1,000 connections, the default variants
    .venv/bin/python bench/ws_bench.py --connections 1000,5000

For each connection count and each variant (server), it:

1. starts the server as a separate process pinned to core 0 (this driver, which is also the load
   client, pins itself to core 1);
2. opens N WebSocket connections from 127.0.0.1 and, once they are open and idle, reads the
   server's RSS (/proc/<pid>/status) to give the server memory per idle connection;
3. the rate run: the server emits events at R per second (default 50/s for 10 s; open loop: at
   each event's due time a task emits it, as a request handler would) and the client records, for
   every event on every connection, the emit-to-receive latency (its receive time minus the `t`
   stamped just before emit() was called; CLOCK_MONOTONIC is system-wide), the same from the
   event's due time (which shows a server falling behind its producers), and counts what arrives;
4. the saturation run(s): the server emits M events as fast as it can, from P concurrent
   producers (each emits an event, awaits emit(), yields once to the event loop, and emits the
   next), P = 1 and 10 by default;
5. reports delivered events per second (events received over all connections per second, from the
   first emit to the last receive), p50/p99 latency, loss (events emitted times connections, minus
   events received), server CPU seconds (/proc/<pid>/stat) and client CPU use (to show whether the
   client was the bottleneck).

Variants: `hub` (our app, `hybrid_dns.app.create_app` under `hybrid_dns.server.uvicorn_config`),
`hub-deflate` (the same with WEBSOCKET_PERMESSAGE_DEFLATE=true and clients that offer it),
`plain` (plain_server.py: a dict of sockets and `await send_text` on each in turn, uvicorn
defaults), `plain-deflate` (the same, with clients that offer permessage-deflate, which uvicorn
accepts by default).

The load client is a minimal asyncio WebSocket client (one `asyncio.Protocol` per connection, its
own frame parser, orjson), so that the client costs as little CPU per event as possible;
`--client websockets` runs the same benchmark with the websockets library's client instead, to
measure what that choice saves (bench/README.md).

Results go to stdout and to bench/RESULTS.md (with the machine and the command line). Every server
started is stopped at the end, also on error or Ctrl-C (and dies with this process if it is killed).
The parts live in the `benchkit` package beside this file (its docstring maps them).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from benchkit.driver import command_line, publish, save_json, session
from benchkit.fanout import CLIENTS, VARIANTS, run_all
from benchkit.fanout_report import render
from benchkit.runs import Options, add_run_arguments, int_list, options_from_args
from benchkit.system import BENCH_DIR, log, machine_description, run_client


def parse_args(argv: list[str] | None) -> tuple[Options, Path | None, bool, Path | None, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int_list, default=[1000], help="comma-separated (default 1000)")
    parser.add_argument("--variants", default="hub,plain,hub-deflate", help=f"comma-separated, of {VARIANTS}")
    add_run_arguments(parser)
    parser.add_argument("--output", default=None, help="markdown report (default bench/RESULTS.md; '-': none)")
    parser.add_argument("--profile-dir", default=None, help="cProfile our server into DIR (slows it: figures only)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (server logs)")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="report where the servers' idle memory goes (inflates RSS)"
    )
    parser.add_argument(
        "--client",
        choices=tuple(CLIENTS),
        default="raw",
        help="the load client: raw (hand-written, the default) or websockets (the library's, for comparison)",
    )
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {VARIANTS}")
    if args.output is None and args.client != "raw":
        parser.error(
            "--client websockets is for comparisons: give --output (a file, or '-'); RESULTS.md holds "
            "the figures of the hand-written client"
        )
    opts = options_from_args(args, variants, tracemalloc=args.tracemalloc, client=args.client)
    output = None if args.output == "-" else Path(args.output or BENCH_DIR / "RESULTS.md")
    json_path = Path(args.json) if args.json else None
    return opts, output, args.keep, json_path, Path(args.from_json) if args.from_json else None


def main(argv: list[str] | None = None) -> int:
    opts, output, keep, json_path, from_json = parse_args(argv)
    if from_json is not None:
        # Render the report again from the raw figures of an earlier run (--json), without running anything.
        saved = json.loads(from_json.read_text())
        for key, value in saved.get("options", {}).items():
            setattr(opts, key, Path(value) if key == "profile_dir" and value else value)
        publish(render(saved["results"], opts, saved["machine"], saved["command"]), output)
        return 0
    machine = machine_description()  # before pinning, so that it sees every CPU
    command = command_line(__file__, argv)
    started = time.monotonic()
    with session("ws-bench-", opts.pin, opts.profile_dir, keep) as workdir:
        results = run_client(run_all(opts, workdir))
    log(f"done in {time.monotonic() - started:.0f}s")
    publish(render(results, opts, machine, command), output)
    options = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(opts).items()}
    save_json(json_path, machine, command, options, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
