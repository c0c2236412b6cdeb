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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_common import die_with_parent, pin_to_cpu, raise_nofile
from ws_bench import (
    BENCH_DIR,
    CLIENT_CPU,
    CLK_TCK,
    REPO_ROOT,
    SERVERS,
    Options,
    Pool,
    ServerProcess,
    add_run_arguments,
    client_cpu_seconds,
    close_connections,
    cpus_allowed,
    fmt_int,
    free_port,
    int_list,
    least_disturbed,
    log,
    log_phase,
    machine_description,
    open_connections,
    options_from_args,
    run_client,
    run_phase,
    run_schedule,
    shorten,
    wait_connections,
)

from hybrid_dns.auth.tokens import issue_token


@dataclass(frozen=True)
class Config:
    key: str
    title: str
    broker: str  # "memory" or "redis"
    instances: tuple[str, ...]  # A emits; the connections go to `holders`
    holders: tuple[str, ...]  # the connections are split evenly over these


CONFIGS = {
    c.key: c
    for c in (
        Config("memory", "one instance, memory broker", "memory", ("A",), ("A",)),
        Config("redis", "one instance, redis broker", "redis", ("A",), ("A",)),
        Config("cross", "two instances + redis, cross-instance", "redis", ("A", "B"), ("B",)),
        Config("split", "two instances + redis, connections split N/2 + N/2", "redis", ("A", "B"), ("A", "B")),
    )
}
LAYOUTS = ("shared", "spread")
FAN_OUT_CPU = 0  # the core of the server side (shared), or of the instance holding the connections (spread)


def placement(config: Config, layout: str) -> dict[str, int]:
    """The core of each process of the server side: A, B, redis."""
    if layout == "shared":
        return {"A": FAN_OUT_CPU, "B": FAN_OUT_CPU, "redis": FAN_OUT_CPU}
    main = config.holders[-1]  # B when B holds connections, else A
    return {name: FAN_OUT_CPU if name == main else CLIENT_CPU for name in ("A", "B", "redis")}


# --- redis-server ----------------------------------------------------------------------------


class RedisProcess:
    """Our own redis-server: a free port, nothing on disk, pinned, stopped for sure."""

    name = "redis"

    def __init__(self, workdir: Path, cpu: int | None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.workdir = workdir / "redis"
        self.cpu = cpu
        self.log_path = workdir / "redis.log"
        self.cmd = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            "--logfile",
            str(self.log_path),
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.cpus = ""
        self.version = ""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cpu, parent = self.cpu, os.getpid()

        def in_child() -> None:  # before exec: pin, and die with the driver
            pin_to_cpu(cpu)
            die_with_parent(parent)

        self.proc = subprocess.Popen(
            self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=in_child, cwd=self.workdir
        )
        self.pid = self.proc.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: see {self.log_path}")
            try:
                info = asyncio.run(redis_command(self.port, "INFO", "server"))
            except OSError:
                time.sleep(0.05)
                continue
            self.version = parse_info(info).get("redis_version", "?")
            self.cpus = cpus_allowed(self.pid)
            return
        raise RuntimeError(f"redis-server not ready after {timeout}s")

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as handle:  # the whole thread group
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


async def redis_command(port: int, *args: str, timeout: float = 10) -> bytes:
    """One command on a connection of its own; returns a status or bulk reply's bytes."""

    async def go() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            request = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
            writer.write(request.encode())
            line = await reader.readline()
            if line.startswith(b"$"):
                size = int(line[1:])
                return (await reader.readexactly(size + 2))[:-2] if size >= 0 else b""
            if line.startswith(b"-"):
                raise RuntimeError(f"redis {args[0]}: {line.decode().strip()}")
            return line[1:].strip()
        finally:
            writer.close()

    return await asyncio.wait_for(go(), timeout)


def parse_info(raw: bytes) -> dict[str, str]:
    values = {}
    for line in raw.decode().splitlines():
        key, sep, value = line.partition(":")
        if sep and not key.startswith("#"):
            values[key] = value
    return values


def command_stats(raw: bytes) -> dict[str, dict[str, float]]:
    """INFO commandstats: {command: {calls, usec, usec_per_call}}."""
    stats = {}
    for key, value in parse_info(raw).items():
        if key.startswith("cmdstat_"):
            fields = dict(part.split("=", 1) for part in value.split(","))
            stats[key[8:]] = {k: float(fields[k]) for k in ("calls", "usec", "usec_per_call")}
    return stats


# --- CPU over time ---------------------------------------------------------------------------


class CpuSampler:
    """A thread that reads, every `interval` s, the load client's CPU time and the server side's (A, B
    and Redis), so that a run can say when the server side was done and for how long the client ran
    flat out: averages over a run hide a client that waits while the servers work, then runs alone
    at 100% while it reads what they wrote into the sockets."""

    def __init__(self, processes: list[Any], interval: float = 0.1) -> None:
        self.processes = processes
        self.interval = interval
        self.samples: list[tuple[float, float, float]] = []  # (monotonic time, client CPU s, server side CPU s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def _sample(self) -> None:
        server = sum(p.cpu_seconds() for p in self.processes)
        self.samples.append((time.monotonic(), client_cpu_seconds(), server))

    def _run(self) -> None:
        self._sample()
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self, start: float, span: float) -> dict[str, float]:
        """Over [start, start + span]: the seconds the client used >= 90% of its core, and when the
        server side last used >= 20% of a core (seconds after start; CPU time comes in 10 ms ticks)."""
        client_full = 0.0
        server_until = 0.0
        end = start + span
        for (t0, c0, s0), (t1, c1, s1) in zip(self.samples, self.samples[1:], strict=False):
            if t1 <= start or t0 >= end:
                continue
            dt = t1 - t0
            if (c1 - c0) / dt >= 0.9:
                client_full += min(t1, end) - max(t0, start)
            if (s1 - s0) / dt >= 0.2:
                server_until = min(t1, end) - start
        return {"client_full_s": client_full, "server_busy_until_s": server_until}


# --- one configuration -----------------------------------------------------------------------


@dataclass
class MultiOptions:
    connections: list[int]
    configs: list[str]
    layout: str
    bench: Options  # what run_phase reads: rate, duration, saturation sizes, payload, timeouts, retries


async def run_config(
    config: Config, n: int, opts: MultiOptions, workdir: Path, secret: str, redis: RedisProcess
) -> dict[str, Any]:
    bench = opts.bench
    cores = placement(config, opts.layout)
    broker_url = f"{redis.url}?prefix=bench-{config.key}-{n}" if config.broker == "redis" else "memory://"
    servers: dict[str, ServerProcess] = {}
    for name in config.instances:
        profile = bench.profile_dir / f"{config.key}-{n}-{name}.pstats" if bench.profile_dir else None
        server = ServerProcess(
            "hub",
            workdir,
            secret,
            bench.pin,
            profile,
            extra_args=["--broker-url", broker_url, "--instance-id", name],
            cpu=cores[name],
        )
        server.name = name  # type: ignore[attr-defined]
        servers[name] = server
    emitter = servers["A"]
    others: list[Any] = [s for name, s in servers.items() if name != "A"] + [redis]
    result: dict[str, Any] = {
        "config": config.key,
        "title": config.title,
        "connections_wanted": n,
        "server_cmds": {name: s.cmd for name, s in servers.items()},
        "phases": [],
    }
    pool = Pool()
    token, _ = issue_token(secret, "bench", "viewer", 4 * 3600)
    path, subprotocols = "/ws/system/bench", ["hybrid-dns.v1", f"bearer.{token}"]
    try:
        log(f"{config.key} x {n}: starting {', '.join(servers)} ({config.broker} broker)")
        for server in servers.values():
            server.start()
        result["cpus"] = {name: s.cpus for name, s in servers.items()} | {"redis": redis.cpus, "client": cpus_allowed()}
        if bench.pin:
            wanted = {name: str(cores[name]) for name in servers} | {"client": str(CLIENT_CPU)}
            actual = {name: result["cpus"][name] for name in wanted}
            if actual != wanted:
                raise RuntimeError(f"pinning failed: wanted {wanted}, got {actual}")
        holders = [servers[name] for name in config.holders]

        # Warm up every instance that will hold connections (imports, first-use caches, the stream).
        for server in holders:
            failures, _ = await open_connections(pool, 10, server.port, path, subprotocols, False, True)
            if failures:
                raise RuntimeError(f"warm-up connections to {server.name} failed:\n{server.log_tail()}")  # type: ignore[attr-defined]
        await run_phase(emitter, pool, 0, "warm-up", 5, 0, 1, bench, 30, quiet=False, others=others)
        await close_connections(pool)
        for server in holders:
            await wait_connections(server, 0)

        log(f"{config.key} x {n}: opening {n} connections on {', '.join(config.holders)}")
        opened = 0
        failures = 0
        for i, server in enumerate(holders):
            count = n // len(holders) + (1 if i < n % len(holders) else 0)
            failed, _ = await open_connections(pool, count, server.port, path, subprotocols, False, True)
            failures += failed
            opened += await wait_connections(server, count - failed)
        result.update(connections=opened, connect_failures=failures)
        gc.freeze()
        await asyncio.sleep(2.0)  # idle

        phase_ids = iter(range(1, 1_000_000))

        async def measured(name: str, count: int, rate: float, producers: int, timeout: float) -> None:
            async def once(_: int) -> dict[str, Any]:
                await redis_command(redis.port, "CONFIG", "RESETSTAT")
                with CpuSampler([emitter, *others]) as sampler:
                    phase = await run_phase(
                        emitter, pool, next(phase_ids), name, count, rate, producers, bench, timeout, others=others
                    )
                phase.update(sampler.summary(phase["t_first"], phase["span_s"]))
                phase["redis_commands"] = command_stats(await redis_command(redis.port, "INFO", "commandstats"))
                log_phase(phase)
                log(
                    "    CPU "
                    + ", ".join(f"{k} {v:.1f} s" for k, v in cpu_by_process(phase).items())
                    + f", other {phase['other_cpu_pct']:.0f}%; over the {phase['span_s']:.1f} s from the first "
                    f"emit to the last receive, the server side was busy until {phase['server_busy_until_s']:.1f} s "
                    f"and the client used >= 90% of its core for {phase['client_full_s']:.1f} s"
                )
                return phase

            result["phases"].append(await least_disturbed(once, bench.retries, bench.max_other_cpu))
            await asyncio.sleep(1.0)

        await run_schedule(f"{config.key} x {n}", bench, opened, measured)
        result["lost_connections"] = pool.lost
    finally:
        await close_connections(pool)
        for server in servers.values():
            with contextlib.suppress(Exception):
                if server.proc is not None and server.proc.poll() is None:
                    await wait_connections(server, 0, timeout=15)
        for server in servers.values():
            server.stop()
        gc.unfreeze()
    return result


def cpu_by_process(phase: dict[str, Any]) -> dict[str, float]:
    """CPU seconds of A (the emitter, run_phase's `server`), B and redis over a run."""
    return {"A": phase["server_cpu_s"], **phase["others_cpu_s"]}


# --- report ----------------------------------------------------------------------------------


def pct_of(seconds: float, phase: dict[str, Any]) -> str:
    return f"{seconds:.1f} s ({100 * seconds / phase['wall_s']:.0f}%)"


def render(results: list[dict[str, Any]], opts: MultiOptions, machine: dict[str, str], command: str) -> str:
    bench = opts.bench
    out: list[str] = ["# Two instances and Redis against one instance\n"]
    out.append(
        "Produced by `bench/multi_bench.py` (see its docstring for the method): our app (`bench/bench_server.py`) "
        "as one instance on the embedded memory broker, as one instance on Redis, and as two instances sharing one "
        "Redis (`BROKER_URL=redis://127.0.0.1:PORT/0?prefix=…`, the same SECRET_KEY, distinct INSTANCE_ID, as in "
        "docs/deploy.md), with the load client of `bench/ws_bench.py` on 127.0.0.1. Each instance has its own "
        "SQLite database (it holds only the bench user: with Redis, events never touch the database).\n"
    )
    out.append("## Machine\n")
    for key, value in machine.items():
        out.append(f"- {key}: {value}")
    out.append("\n## Command\n")
    out.append(f"```\n{command}\n```\n")
    out.append("Processes, as started by the driver (ports, scratch directory and secret vary):\n")
    for r in results:
        for name, cmd in r["server_cmds"].items():
            out.append(f"- `{r['config']}`, instance {name}: `{shell_line(cmd)}`")
    if results and "redis_cmd" in results[0]:
        out.append(f"- redis: `{shell_line(results[0]['redis_cmd'])}`")
    out.append("")
    out.append("## Pinning\n")
    out.append(pinning_text(opts, results))
    out.append("")
    out.append(
        f"Rate run: {bench.rate:g} events/s for {bench.duration:g} s, open loop. Saturation: "
        + (f"{bench.sat_events} events" if bench.sat_events else f"{bench.sat_deliveries:,} deliveries / N events")
        + ", emitted as fast as the servers go ("
        + ", ".join(str(b) for b in bench.sat_producers)
        + " concurrent producer(s), each emitting an event, awaiting emit(), yielding once to the loop, repeat). "
        f"Event payload: `config_change` with {bench.payload_bytes} bytes of padding. Every event is emitted on "
        "instance A (`POST /bench/emit`). Before each run the driver waits up to "
        f"{bench.quiet_wait:g} s for other processes to go quiet; a run during which they used more than "
        f"{bench.max_other_cpu:g}% of a core is run again (up to {bench.retries} times), the least disturbed kept.\n"
    )

    summary = summary_table(results)
    if summary:
        out.append("## Summary\n")
        out.extend(summary)
        out.append("")

    out.append("## Throughput, latency, loss, CPU\n")
    out.append(
        "| conns | configuration | run | events emitted | emit time | delivered | delivered events/s | p50 ms "
        "| p99 ms | p99 from schedule | max ms | loss | CPU A | CPU B | CPU Redis | server side µs/delivery "
        "| client CPU | span | server side busy until | client >= 90% for | other CPU |"
    )
    out.append(
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    for r in results:
        for p in r["phases"]:
            loss = f"{fmt_int(p['loss'])} ({p['loss_pct']:.2f}%)" if p["loss"] else "0"
            if p["closes"]:
                loss += " closes " + ", ".join(f"{c}x{k}" for k, c in sorted(p["closes"].items()))
            if p["gaps"] or p["stale"]:
                loss += f", {p['gaps']} gaps, {p['stale']} stale"
            cpu = cpu_by_process(p)
            total = sum(cpu.values())
            cpu_b = pct_of(cpu["B"], p) if "B" in cpu else "-"
            sched = f"{p['sched_p99_ms']:.1f}" if p["rate"] else "-"
            out.append(
                f"| {r['connections']:,} | {r['title']} | {p['run']} | {fmt_int(p['emitted'])} | {p['emit_s']:.1f} s "
                f"| {fmt_int(p['received'])} | {fmt_int(p['delivered_per_s'])} | {p['p50_ms']:.1f} | {p['p99_ms']:.1f} "
                f"| {sched} | {p['max_ms']:.1f} | {loss} | {pct_of(cpu['A'], p)} | {cpu_b} | {pct_of(cpu['redis'], p)} "
                f"| {1e6 * total / p['received'] if p['received'] else float('nan'):.1f} "
                f"| {p['client_cpu_pct']:.0f}% | {p['span_s']:.2f} s | {p['server_busy_until_s']:.2f} s "
                f"| {p['client_full_s']:.2f} s | {p['other_cpu_pct']:.0f}% |"
            )
    out.append("")
    out.append(
        "emit time: from the first emit() call (on A) to the return of the last. delivered events/s: events "
        "received over all connections / (last receive - first emit). p50/p99/max: client receive time - the "
        "time emit() was called on A, over every delivered event (CLOCK_MONOTONIC is one clock for every process "
        "of this machine, so the difference of two processes' readings is a duration); p99 from schedule: the same "
        "from the time the event was due (rate run). Loss: events emitted x open connections - events received; "
        "gaps: an event whose index is not the previous one's + 1 on its connection. CPU: seconds of CPU time "
        "(/proc/<pid>/stat) over the run and % of one core; server side µs/delivery: (A + B + Redis CPU) / events "
        "delivered; span: from the first emit to the last receive; server side busy until: the end of the last "
        "0.1 s interval of the span in which A + B + Redis used 20% of a core or more (a thread samples their CPU "
        "time); client >= 90% for: the time of the span during which the load client used 90% or more of its "
        "core. A run whose server side is done well before the span ends, while the client runs flat out, is "
        "bounded by the client from then on. other CPU: the machine's busy time minus A, B, Redis and the client "
        "(other processes; should be ~0)."
    )
    out.append("")
    redis_rows = redis_table(results)
    if redis_rows:
        out.append("## Redis commands\n")
        out.extend(redis_rows)
        out.append("")
    out.extend(notes(results))
    return "\n".join(out) + "\n"


def shell_line(cmd: list[str]) -> str:
    return " ".join(shlex.quote(shorten(a)) if a == "" or " " in a else shorten(a) for a in cmd)


def pinning_text(opts: MultiOptions, results: list[dict[str, Any]]) -> str:
    if not opts.bench.pin:
        return "Pinning was off for this run: every process could run on either core."
    if opts.layout == "shared":
        text = (
            f"Layout `shared`: the whole server side (instance A, instance B and redis-server) on core {FAN_OUT_CPU}, "
            f"the load client alone on core {CLIENT_CPU}. This machine has 2 cores and the client needs one of its "
            "own (it uses about half a core to parse 50,000 frames/s), so the server side gets one core in every "
            "configuration, as the single instance has in ws_bench.py. That is the fair comparison this machine "
            "allows: the same hardware for one instance and for two instances plus Redis, so the figures show what "
            "the Redis path costs (the extra hop, the extra processes' CPU, their context switches on one core), "
            "not what a second core or host buys. In a real deployment each instance and Redis would have cores of "
            "their own, and two instances would fan out in parallel."
        )
    else:
        text = (
            f"Layout `spread`: the instance holding the connections (A in the one-instance configurations, B in the "
            f"two-instance ones) alone on core {FAN_OUT_CPU}; the rest of the server side (redis-server, and A when "
            f"there are two instances) on core {CLIENT_CPU} with the load client. The fan-out instance has a core to "
            "itself, as in ws_bench.py, but Redis and the emitting instance compete with the client."
        )
    seen = sorted({json.dumps(r.get("cpus", {}), sort_keys=True) for r in results})
    return text + " CPUs allowed, read back from /proc/<pid>/status: " + "; ".join(seen) + "."


def find(results: list[dict[str, Any]], key: str, n: int) -> dict[str, Any] | None:
    return next((r for r in results if r["config"] == key and r["connections_wanted"] == n), None)


def summary_table(results: list[dict[str, Any]]) -> list[str]:
    if not results or not results[0]["phases"]:
        return []
    runs = [p["run"] for p in results[0]["phases"]]
    header = f"| conns | configuration | {runs[0]}: p50 / p99 ms, loss |" + "".join(
        f" {run}: delivered ev/s |" for run in runs[1:]
    )
    rows = [header, "|---:|---|---|" + "---:|" * (len(runs) - 1)]
    for r in results:
        phases = r["phases"]
        if not phases:
            continue
        rate = phases[0]
        cells = [f"{rate['p50_ms']:.1f} / {rate['p99_ms']:.1f}, {fmt_int(rate['loss'])}"]
        cells += [fmt_int(p["delivered_per_s"]) for p in phases[1:]]
        rows.append(f"| {r['connections']:,} | {r['title']} | " + " | ".join(cells) + " |")
    return rows


def redis_table(results: list[dict[str, Any]]) -> list[str]:
    rows = []
    for r in results:
        readers = len(r["server_cmds"])  # every instance reads the whole stream
        for p in r["phases"]:
            stats = p.get("redis_commands") or {}
            if "evalsha" not in stats:
                continue
            script, xread = stats["evalsha"], stats.get("xread", {"calls": 0, "usec_per_call": 0})
            per_read = p["emitted"] * readers / xread["calls"] if xread["calls"] else 0.0
            redis_cpu = p["others_cpu_s"]["redis"]
            rows.append(
                f"| {r['connections']:,} | {r['title']} | {p['run']} | {fmt_int(script['calls'])} "
                f"| {script['usec_per_call']:.1f} | {fmt_int(xread['calls'])} | {per_read:.1f} "
                f"| {xread['usec_per_call']:.1f} | {1e6 * redis_cpu / max(1, p['emitted']):.0f} |"
            )
    if not rows:
        return []
    return [
        "From `INFO commandstats`, reset before each run (so the quiet wait before it is included: a few idle "
        "XREADs and heartbeats). An emit is one EVALSHA of the publish script (dedup check, INCRBY, XADD with an "
        "exact MAXLEN, SET of the dedup key; its time includes those commands); every instance reads the whole "
        "stream with XREAD (COUNT 500, BLOCK 1000), one call per batch it reads: events read per XREAD is (events "
        "emitted x instances) / XREAD calls, an average over the instances (one with no connections keeps up and "
        "reads the events nearly one by one; one that falls behind reads them in chunks). Redis CPU per event: its "
        "/proc CPU time over the run (10 ms ticks) / events emitted.\n",
        "| conns | configuration | run | EVALSHA calls | µs/EVALSHA | XREAD calls "
        "| events read per XREAD, all instances | µs/XREAD | Redis CPU µs per event |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]


def notes(results: list[dict[str, Any]]) -> list[str]:
    lines = ["## Notes\n"]
    busy = [
        f"{r['config']} x {r['connections']:,} {p['run']} (client at >= 90% for {p['client_full_s']:.1f} of "
        f"{p['span_s']:.1f} s, server side busy until {p['server_busy_until_s']:.1f} s)"
        for r in results
        for p in r["phases"]
        if p["client_cpu_pct"] >= 90 or p.get("client_full_s", 0) >= 0.3 * p["span_s"]
    ]
    if busy:
        lines.append(
            "- The load client ran flat out for a good part (30% or more) of: " + "; ".join(busy) + ". Those "
            "delivered events/s are bounded, at least partly, by the client: by the client and the server side "
            "together where the server side was busy to the end too, by the client alone from the moment the "
            "server side was done where that came well before the end."
        )
    else:
        lines.append("- The load client ran flat out for under 30% of every run: it was not the bottleneck.")
    for r in results:
        if r.get("connect_failures") or r.get("lost_connections"):
            lines.append(
                f"- {r['config']} x {r['connections_wanted']:,}: {r.get('connect_failures', 0)} connections failed "
                f"to open, {r.get('lost_connections', 0)} were lost."
            )
    repeated = [
        f"{r['config']} x {r['connections']:,} {p['run']} ({p['attempts']} runs)"
        for r in results
        for p in r["phases"]
        if p.get("attempts", 1) > 1
    ]
    if repeated:
        lines.append(
            "- Other processes used more than the allowed share of a core during some runs, which were run again "
            "and the least disturbed kept: " + "; ".join(repeated) + "."
        )
    gapped = [(r, p) for r in results for p in r["phases"] if p["gaps"] and CONFIGS[r["config"]].broker == "redis"]
    if gapped:
        multiples = all(p["gaps"] % max(1, p["connections"]) == 0 for _, p in gapped)
        lines.append(
            "- Gaps (an event index that is not the previous one + 1 on a connection) in: "
            + "; ".join(f"{r['config']} {p['run']} ({fmt_int(p['gaps'])})" for r, p in gapped)
            + ". With several producers on the Redis broker, concurrent emits take their seqs in the order Redis "
            "runs their publish scripts (one connection of the pool each), not in the order the producers started "
            "them, which is what the index counts"
            + (
                ": every gap count is a multiple of the connection count (the same reordering on every connection) "
                "and loss is 0. A reordering of concurrent emits, not a delivery fault (on the memory broker one "
                "writer task hands out seqs in call order, hence no gaps there)."
                if multiples
                else "."
            )
        )
    if any(r["config"] in ("cross", "split") for r in results):
        lines.append(
            "- Saturation latency across instances: emit() on A returns once Redis has the event; nothing slows A "
            "down when B falls behind (within one instance the fan-out runs on the emitter's own event loop, which "
            "holds the producers back). So at saturation events queue up between A's emits and B's sends, and the "
            "p50/p99 of those runs measure that queue, not the path: the rate run gives the path's latency. B reads "
            "what piled up with one XREAD (up to 500 events) and sends it to each connection as one `batch` frame "
            "(up to 500 events, 512 KiB), which costs B and the client much less per event than one frame per event: "
            "hence delivered events/s above the single instance's, whose single producer gets one frame per event."
        )
    errors = [p["emitter_error"] for r in results for p in r["phases"] if p.get("emitter_error")]
    if errors:
        lines.append("- Emitter errors: " + "; ".join(errors))
    if any(p.get("stopped_early") for r in results for p in r["phases"]):
        lines.append("- Some runs hit their time limit and the emitter was stopped early (see events emitted).")
    lines.append("")
    return lines


# --- main ------------------------------------------------------------------------------------


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


async def amain(opts: MultiOptions, workdir: Path, redis: RedisProcess) -> list[dict[str, Any]]:
    secret = secrets.token_urlsafe(48)
    results = []
    for n in opts.connections:
        for key in opts.configs:
            result = await run_config(CONFIGS[key], n, opts, workdir, secret, redis)
            result["redis_cmd"] = redis.cmd
            results.append(result)
    return results


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def options_dict(opts: MultiOptions) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        return str(value) if isinstance(value, Path) else value

    raw = dataclasses.asdict(opts)
    raw["bench"] = {k: plain(v) for k, v in raw["bench"].items()}
    return raw


def main(argv: list[str] | None = None) -> int:
    opts, output, keep, json_path, from_json = parse_args(argv)
    if from_json is not None:
        saved = json.loads(from_json.read_text())
        raw = saved["options"]
        bench = Options(**{**raw["bench"], "profile_dir": None})
        opts = MultiOptions(connections=raw["connections"], configs=raw["configs"], layout=raw["layout"], bench=bench)
        report = render(saved["results"], opts, saved["machine"], saved["command"])
        print(report)
        if output is not None:
            output.write_text(report)
            log(f"wrote {output}")
        return 0
    machine = machine_description()  # before pinning, so that it sees every CPU
    if opts.bench.pin:
        os.sched_setaffinity(0, {CLIENT_CPU})
    raise_nofile()
    if opts.bench.profile_dir:
        opts.bench.profile_dir.mkdir(parents=True, exist_ok=True)
    command = " ".join(
        [
            os.path.relpath(sys.executable, REPO_ROOT) if sys.executable.startswith(str(REPO_ROOT)) else sys.executable,
            os.path.relpath(__file__, REPO_ROOT),
            *(argv or sys.argv[1:]),
        ]
    )
    workdir = Path(tempfile.mkdtemp(prefix="multi-bench-"))
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM ends the run like Ctrl-C: `finally` stops everything
    # Redis's core: with `shared`, the server side's; with `spread`, the client's (see placement()).
    redis_cpu = FAN_OUT_CPU if opts.layout == "shared" else CLIENT_CPU
    redis = RedisProcess(workdir, redis_cpu if opts.bench.pin else None)
    try:
        redis.start()
        machine["redis"] = (
            f"redis-server {redis.version} (--save '' --appendonly no), redis-py "
            + package_version("redis")
            + (" with hiredis" if has_hiredis() else " (pure-Python parser: hiredis is not installed)")
        )
        log(f"redis-server {redis.version} on port {redis.port}, cpus {redis.cpus}")
        results = run_client(amain(opts, workdir, redis))
    finally:
        for server in list(SERVERS):
            server.stop()
        redis.stop()
        if keep:
            log(f"server and redis logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    log(f"done in {elapsed:.0f}s")
    machine["duration of the run"] = f"{elapsed / 60:.1f} minutes"
    report = render(results, opts, machine, command)
    print(report)
    if output is not None:
        output.write_text(report)
        log(f"wrote {output}")
    if json_path is not None:
        saved = {"machine": machine, "command": command, "options": options_dict(opts), "results": results}
        json_path.write_text(json.dumps(saved, indent=1))
    return 0


def package_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def has_hiredis() -> bool:
    try:
        import hiredis  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
