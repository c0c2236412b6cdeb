"""One run and the schedule of runs, as both drivers make them, with the options they share.

A run: one server emits `count` events (at a rate, or as fast as it goes from P producers); the
pool's connections, on that server or on others, receive them; the run ends when every open
connection has every event, or when nothing more comes. Its figures: delivered events/s,
emit-to-receive latency, loss, and the CPU of the server, of the client and of everything else.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from benchkit.client import Pool
from benchkit.control import BenchApi
from benchkit.system import HasCpu, client_cpu_seconds, cpu_of, log, machine_busy_seconds


class Emitting(HasCpu, Protocol):
    """The server a run asks to emit (a ServerProcess)."""

    api: BenchApi


class Named(HasCpu, Protocol):
    """Another process of the benchmark whose CPU a run reports by name (multi_bench.py: B, redis)."""

    name: str


@dataclass
class Options:
    connections: list[int]
    variants: list[str]
    rate: float
    duration: float
    sat_events: int | None
    sat_deliveries: int
    sat_producers: list[int]
    sat_timeout: float
    payload_bytes: int
    drain_timeout: float
    pin: bool
    profile_dir: Path | None
    tracemalloc: bool = False
    quiet_wait: float = 30.0
    retries: int = 2
    max_other_cpu: float = 25.0
    client: str = "raw"  # the load client: "raw" (client.py) or "websockets" (library_client.py)


def int_list(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The run arguments both drivers share (read back by `options_from_args`)."""
    parser.add_argument("--rate", type=float, default=50, help="events per second in the rate run (default 50)")
    parser.add_argument("--duration", type=float, default=10, help="seconds of the rate run (default 10)")
    parser.add_argument("--sat-events", type=int, default=None, help="events in a saturation run (default: auto)")
    parser.add_argument(
        "--sat-deliveries",
        type=int,
        default=1_000_000,
        help="auto saturation size: this many deliveries / connections events (default 1,000,000)",
    )
    parser.add_argument(
        "--sat-producers",
        type=int_list,
        default=[1, 10],
        help="concurrent producers in a saturation run; one saturation run per value (default 1,10)",
    )
    parser.add_argument("--sat-timeout", type=float, default=90, help="time limit of a saturation run, seconds")
    parser.add_argument("--payload-bytes", type=int, default=64)
    parser.add_argument("--drain-timeout", type=float, default=3, help="seconds without progress that end a run")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30,
        help="before each run, wait up to this many seconds for other processes to go quiet (default 30; 0: no)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="run again (up to this many times) a run during which other processes used more than "
        "--max-other-cpu %% of a core; the least disturbed run is kept (default 2)",
    )
    parser.add_argument("--max-other-cpu", type=float, default=25.0, help="see --retries (default 25)")
    parser.add_argument("--json", default=None, help="also write the raw figures as JSON here")
    parser.add_argument("--from-json", default=None, help="only render the report from a --json file of a run")


def options_from_args(args: argparse.Namespace, variants: list[str], **extra: Any) -> Options:
    """The run options both drivers share, from their (same-named) command-line arguments."""
    return Options(
        connections=args.connections,
        variants=variants,
        rate=args.rate,
        duration=args.duration,
        sat_events=args.sat_events,
        sat_deliveries=args.sat_deliveries,
        sat_producers=args.sat_producers,
        sat_timeout=args.sat_timeout,
        payload_bytes=args.payload_bytes,
        drain_timeout=args.drain_timeout,
        pin=not args.no_pin and (os.cpu_count() or 1) >= 2,
        profile_dir=Path(args.profile_dir).resolve() if args.profile_dir else None,
        quiet_wait=args.quiet_wait,
        retries=args.retries,
        max_other_cpu=args.max_other_cpu,
        **extra,
    )


async def wait_connections(server: Emitting, wanted: int, timeout: float = 60) -> int:
    """Wait until the server counts `wanted` open connections; returns its count at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        status = await server.api.status()
        if status["connections"] == wanted or time.monotonic() > deadline:
            return int(status["connections"])
        await asyncio.sleep(0.1)


async def wait_quiet(server: HasCpu, max_wait: float, threshold: float = 0.15, others: Sequence[HasCpu] = ()) -> float:
    """Wait, up to max_wait seconds, until other processes use under `threshold` of a core for two
    seconds in a row (this machine may be shared); returns the share of a core they used last.
    `others`: more processes of the benchmark, not counted as other."""
    deadline = time.monotonic() + max_wait
    quiet = 0
    other = 0.0
    warned = False
    ours = [server, *others]
    while max_wait > 0:
        machine, client, srv = machine_busy_seconds(), client_cpu_seconds(), cpu_of(ours)
        await asyncio.sleep(1.0)
        other = (machine_busy_seconds() - machine) - (client_cpu_seconds() - client) - (cpu_of(ours) - srv)
        quiet = quiet + 1 if other < threshold else 0
        if quiet >= 2:
            break
        if not warned and other >= threshold:
            log(f"  other processes are using {100 * other:.0f}% of a core; waiting up to {max_wait:.0f}s")
            warned = True
        if time.monotonic() > deadline:
            log(f"  still busy ({100 * other:.0f}% of a core used by others); going on")
            break
    return other


async def run_phase(
    server: Emitting,
    pool: Pool,
    phase_id: int,
    name: str,
    count: int,
    rate: float,
    producers: int,
    opts: Options,
    timeout: float,
    quiet: bool = True,
    others: Sequence[Named] = (),
) -> dict[str, Any]:
    """One run: `server` emits (and is asked for its status), the pool's connections (on any
    server) receive. `others`: more processes of the benchmark (multi_bench.py: the other instance,
    Redis): their CPU is reported in `others_cpu_s` and not counted as other CPU."""
    if quiet:
        await wait_quiet(server, opts.quiet_wait, others=others)
    alive = len(pool.alive())
    phase = pool.begin_phase(phase_id)
    closes_before = collections.Counter(pool.closes)
    others_before = [p.cpu_seconds() for p in others]
    cpu_before = server.cpu_seconds()
    client_before = client_cpu_seconds()
    machine_before = machine_busy_seconds()
    wall_before = time.monotonic()
    gc.disable()  # the client makes no cycles; a full collection over 5,000 sockets would stall it
    try:
        await server.api.emit(phase_id, count, rate, producers, opts.payload_bytes)
        deadline = wall_before + timeout
        stopped = False
        last_count, last_progress = 0, time.monotonic()
        status: dict[str, Any] = {}
        next_status = 0.0
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            if phase.received != last_count:
                last_count, last_progress = phase.received, now
            if phase.received >= count * alive:
                break
            if now >= next_status:
                # A server whose event loop is stuck in a send loop answers late: that is a result, not an error.
                with contextlib.suppress(TimeoutError):
                    status = (await server.api.status())["emitter"]
                next_status = time.monotonic() + 0.5
            if status and not status["running"]:
                if phase.received >= status["emitted"] * alive:
                    break
                if now - last_progress > opts.drain_timeout:
                    break  # nothing more is coming
            if now > deadline and not stopped:
                log(f"  {name}: time limit {timeout:.0f}s reached; stopping the emitter")
                await server.api.stop()
                stopped = True
                last_progress = now
        emitter = (await server.api.status(timeout=300))["emitter"]
    finally:
        gc.enable()
        pool.phase = None
    wall = time.monotonic() - wall_before
    cpu = server.cpu_seconds() - cpu_before
    client_cpu = client_cpu_seconds() - client_before
    others_cpu = {p.name: p.cpu_seconds() - before for p, before in zip(others, others_before, strict=True)}
    other_cpu = max(0.0, machine_busy_seconds() - machine_before - cpu - client_cpu - sum(others_cpu.values()))
    emitted = int(emitter["emitted"])
    expected = emitted * alive
    received = phase.received
    t_first = emitter["t_first"] or wall_before
    span = max(1e-9, (phase.last_recv or time.monotonic()) - t_first)
    latencies = sorted(phase.latencies)
    sched = sorted(phase.sched_latencies)

    def pct(q: float, values: list[float] = latencies) -> float:
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(q * len(values)))] * 1000

    closes = pool.closes - closes_before
    return {
        "run": name,
        "rate": rate,
        "producers": producers,
        "requested": count,
        "emitted": emitted,
        "connections": alive,
        "expected": expected,
        "received": received,
        "loss": expected - received,
        "loss_pct": 100.0 * (expected - received) / expected if expected else 0.0,
        "delivered_per_s": received / span,
        "span_s": span,
        "t_first": t_first,
        "emit_s": (emitter["t_last"] or t_first) - t_first,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
        "sched_p50_ms": pct(0.50, sched),
        "sched_p99_ms": pct(0.99, sched),
        "server_cpu_s": cpu,
        "server_cpu_pct": 100.0 * cpu / wall,
        "server_us_per_event": 1e6 * cpu / received if received else float("nan"),
        "client_cpu_s": client_cpu,
        "client_cpu_pct": 100.0 * client_cpu / wall,
        "client_us_per_event": 1e6 * client_cpu / received if received else float("nan"),
        "other_cpu_pct": 100.0 * other_cpu / wall,
        "others_cpu_s": others_cpu,
        "wall_s": wall,
        "wire_bytes_per_event": phase.wire_bytes / received if received else float("nan"),
        "gaps": phase.gaps,
        "stale": phase.stale,
        "closes": dict(closes),
        "emitter_error": emitter.get("error"),
        "stopped_early": stopped,
    }


def log_phase(p: dict[str, Any]) -> None:
    log(
        f"  {p['run']}: {p['received']:,}/{p['expected']:,} events, {p['delivered_per_s']:,.0f}/s, "
        f"p50 {p['p50_ms']:.1f} ms, p99 {p['p99_ms']:.1f} ms, loss {p['loss']:,}, "
        f"server CPU {p['server_cpu_pct']:.0f}%, client CPU {p['client_cpu_pct']:.0f}% "
        f"({p['client_us_per_event']:.2f} µs/event)" + (f", closes {p['closes']}" if p["closes"] else "")
    )


async def least_disturbed(
    run_once: Callable[[int], Awaitable[dict[str, Any]]], retries: int, max_other_cpu: float
) -> dict[str, Any]:
    """On a shared machine, a run during which other processes took more than `max_other_cpu` % of a
    core is run again (up to `retries` times); the run that was disturbed least is kept."""
    runs = []
    for attempt in range(retries + 1):
        phase = await run_once(attempt)
        phase["attempts"] = attempt + 1
        runs.append(phase)
        if phase["other_cpu_pct"] <= max_other_cpu:
            break
        if attempt < retries:
            log(f"  other processes used {phase['other_cpu_pct']:.0f}% of a core meanwhile; running it again")
        await asyncio.sleep(1.0)
    kept = min(runs, key=lambda p: p["other_cpu_pct"])
    kept["attempts"] = len(runs)
    return kept


async def run_schedule(
    label: str, opts: Options, opened: int, measured: Callable[[str, int, float, int, float], Awaitable[None]]
) -> None:
    """The runs of one server set-up: the rate run, then one saturation run per producer count."""
    count = round(opts.rate * opts.duration)
    log(f"{label}: rate run, {count} events at {opts.rate:g}/s")
    await measured(f"{opts.rate:g}/s", count, opts.rate, 1, opts.duration + 60)
    for producers in opts.sat_producers:
        sat = opts.sat_events or max(50, opts.sat_deliveries // max(1, opened))
        name = f"saturation, {producers} producer{'s' if producers > 1 else ''}"
        log(f"{label}: {name}, {sat} events")
        await measured(name, sat, 0, producers, opts.sat_timeout)
