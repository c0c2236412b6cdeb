"""What `multi_bench.py` runs: for each connection count and configuration (one instance on the
memory broker, one on Redis, two on one Redis with the connections on the other instance or split
over both), its servers, N connections, then the schedule of runs (`runs.run_schedule`), with the
CPU of every process over time and Redis's command statistics."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchkit.client import Pool, close_connections, open_connections
from benchkit.processes import RedisProcess, ServerProcess
from benchkit.runs import Options, least_disturbed, log_phase, run_phase, run_schedule, wait_connections
from benchkit.system import CLIENT_CPU, SERVER_CPU, CpuSampler, cpus_allowed, log
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
FAN_OUT_CPU = SERVER_CPU  # the core of the server side (shared), or of the instance holding the connections (spread)


def placement(config: Config, layout: str) -> dict[str, int]:
    """The core of each process of the server side: A, B, redis."""
    if layout == "shared":
        return {"A": FAN_OUT_CPU, "B": FAN_OUT_CPU, "redis": FAN_OUT_CPU}
    main = config.holders[-1]  # B when B holds connections, else A
    return {name: FAN_OUT_CPU if name == main else CLIENT_CPU for name in ("A", "B", "redis")}


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
        servers[name] = ServerProcess(
            "hub",
            workdir,
            secret,
            bench.pin,
            profile,
            extra_args=["--broker-url", broker_url, "--instance-id", name],
            cpu=cores[name],
            name=name,
        )
    emitter = servers["A"]
    others: list[ServerProcess | RedisProcess] = [s for name, s in servers.items() if name != "A"] + [redis]
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
                raise RuntimeError(f"warm-up connections to {server.name} failed:\n{server.log_tail()}")
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
                await redis.reset_stats()
                with CpuSampler([emitter, *others]) as sampler:
                    phase = await run_phase(
                        emitter, pool, next(phase_ids), name, count, rate, producers, bench, timeout, others=others
                    )
                phase.update(sampler.summary(phase["t_first"], phase["span_s"]))
                phase["redis_commands"] = await redis.command_stats()
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
                if server.running:
                    await wait_connections(server, 0, timeout=15)
        for server in servers.values():
            await server.close()
        gc.unfreeze()
    return result


def cpu_by_process(phase: dict[str, Any]) -> dict[str, float]:
    """CPU seconds of A (the emitter, run_phase's `server`), B and redis over a run."""
    return {"A": phase["server_cpu_s"], **phase["others_cpu_s"]}


async def run_all(opts: MultiOptions, workdir: Path, redis: RedisProcess) -> list[dict[str, Any]]:
    secret = secrets.token_urlsafe(48)
    results = []
    for n in opts.connections:
        for key in opts.configs:
            result = await run_config(CONFIGS[key], n, opts, workdir, secret, redis)
            result["redis_cmd"] = redis.cmd
            results.append(result)
    return results
