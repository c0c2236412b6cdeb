"""Two instances and Redis against one instance: cross-instance delivery, on loopback.

    .venv/bin/python bench/multi_bench.py                       # 1,000 connections, every configuration
    .venv/bin/python bench/multi_bench.py --configs memory,cross --duration 3 --sat-deliveries 200000

It starts its own `redis-server` on a free port (`--save '' --appendonly no`: nothing on disk) and,
for each configuration, one or two of our servers (bench_server.py, the app as `hybrid-dns serve`
runs it) with the same SECRET_KEY, then opens N WebSocket connections (the same `system`
connections and load client as ws_bench.py) and runs what ws_bench.py runs:

- a rate run: `--rate` events/s (50) for `--duration` s (10), open loop, giving p50/p99
  emit-to-receive latency and loss;
- saturation runs: `--sat-deliveries / N` events as fast as the servers go, from 1 and from 10
  concurrent producers, giving delivered events per second.

Configurations (`--configs`, all four by default):

| key | configuration | connections | events emitted on |
|---|---|---|---|
| `memory` | one instance, memory broker (the embedded default; the reference) | all on A | A |
| `redis` | one instance, redis broker | all on A | A |
| `cross` | two instances + redis, cross-instance | all on B | A |
| `split` | two instances + redis, connections split | N/2 on A, N/2 on B | A |

In `cross`, instance A has no connections: every event is emitted on A (its `POST /bench/emit`),
published to Redis, read back by B's XREAD loop and fanned out by B, so every delivered event
crossed Redis. Each configuration gets a fresh stream (its own key prefix in Redis).

Latency is the client's receive time minus the `t` stamped just before emit() was called, on A:
a stamp taken in one process and read in another (the event even went through a third, Redis, and
a fourth, B). That is valid because all of them run on one machine, where CLOCK_MONOTONIC is one
system-wide clock; across machines it would not be.

CPU: each server's and Redis's CPU time from /proc/<pid>/stat over each run, the load client's
from getrusage, and `other CPU` (the machine's busy time minus all of those: other processes on
this possibly shared machine; should be ~0).

Pinning (`--layout`), on a 2-core machine where the load client needs a core of its own:

- `shared` (the default): the whole server side (A, B and Redis) on core 0, the client on core 1.
  Every configuration gets the same hardware for its server side, one core, as the single instance
  has in ws_bench.py: the figures show what the Redis path costs, not what a second core buys
  (which this machine cannot show: its second core is the client's).
- `spread`: the instance holding the connections (A in the one-instance configurations, B in the
  others) alone on core 0; the rest of the server side (Redis, and A when there are two) on core 1
  with the client. This gives the fan-out instance a core to itself, at the price of disturbing the
  client.

Results go to stdout and to bench/MULTI_RESULTS.md. Every process started (servers, redis-server)
is stopped at the end, also on error or Ctrl-C, and dies with this process if it is killed.
The parts live in the `benchkit` package beside this file (its docstring maps them).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchkit.driver import command_line, publish, save_json, session
from benchkit.multi import CONFIGS, FAN_OUT_CPU, LAYOUTS, MultiOptions, run_all
from benchkit.multi_report import render
from benchkit.processes import RedisProcess, stop_all
from benchkit.runs import Options, add_run_arguments, int_list, options_from_args
from benchkit.system import BENCH_DIR, CLIENT_CPU, has_module, log, machine_description, package_version, run_client


def parse_args(argv: list[str] | None) -> tuple[MultiOptions, Path | None, bool, Path | None, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int_list, default=[1000], help="comma-separated (default 1000)")
    parser.add_argument(
        "--configs", default=",".join(CONFIGS), help=f"comma-separated, of {tuple(CONFIGS)} (default: all)"
    )
    parser.add_argument("--layout", choices=LAYOUTS, default="shared", help="pinning (see above; default shared)")
    add_run_arguments(parser)
    parser.add_argument("--output", default=str(BENCH_DIR / "MULTI_RESULTS.md"), help="markdown report ('-': none)")
    parser.add_argument("--profile-dir", default=None, help="cProfile every instance into DIR (slows them)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (server and redis logs)")
    args = parser.parse_args(argv)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}; choose from {tuple(CONFIGS)}")
    bench = options_from_args(args, ["hub"])
    opts = MultiOptions(connections=args.connections, configs=configs, layout=args.layout, bench=bench)
    output = Path(args.output) if args.output != "-" else None
    json_path = Path(args.json) if args.json else None
    return opts, output, args.keep, json_path, Path(args.from_json) if args.from_json else None


def options_dict(opts: MultiOptions) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        return str(value) if isinstance(value, Path) else value

    raw = dataclasses.asdict(opts)
    raw["bench"] = {k: plain(v) for k, v in raw["bench"].items()}
    return raw


def main(argv: list[str] | None = None) -> int:
    opts, output, keep, json_path, from_json = parse_args(argv)
    if from_json is not None:
        # Render the report again from the raw figures of an earlier run (--json), without running anything.
        saved = json.loads(from_json.read_text())
        raw = saved["options"]
        bench = Options(**{**raw["bench"], "profile_dir": None})
        opts = MultiOptions(connections=raw["connections"], configs=raw["configs"], layout=raw["layout"], bench=bench)
        publish(render(saved["results"], opts, saved["machine"], saved["command"]), output)
        return 0
    machine = machine_description()  # before pinning, so that it sees every CPU
    command = command_line(__file__, argv)
    started = time.monotonic()
    with session("multi-bench-", opts.bench.pin, opts.bench.profile_dir, keep) as workdir:
        # Redis's core: with `shared`, the server side's; with `spread`, the client's (see multi.placement()).
        redis_cpu = FAN_OUT_CPU if opts.layout == "shared" else CLIENT_CPU
        redis = RedisProcess(workdir, redis_cpu if opts.bench.pin else None)
        try:
            redis.start()
            machine["redis"] = (
                f"redis-server {redis.version} (--save '' --appendonly no), redis-py "
                + package_version("redis")
                + (" with hiredis" if has_module("hiredis") else " (pure-Python parser: hiredis is not installed)")
            )
            log(f"redis-server {redis.version} on port {redis.port}, cpus {redis.cpus}")
            results = run_client(run_all(opts, workdir, redis))
        finally:
            stop_all()  # the servers first: they are Redis's clients
            redis.stop()
    elapsed = time.monotonic() - started
    log(f"done in {elapsed:.0f}s")
    machine["duration of the run"] = f"{elapsed / 60:.1f} minutes"
    publish(render(results, opts, machine, command), output)
    save_json(json_path, machine, command, options_dict(opts), results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
