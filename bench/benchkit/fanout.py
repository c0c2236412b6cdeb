"""What `ws_bench.py` runs: for each connection count and server variant, one server, N connections,
its idle memory, then the schedule of runs (`runs.run_schedule`)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import secrets
from pathlib import Path
from typing import Any

from benchkit import client, library_client
from benchkit.client import Pool, close_connections, open_connections
from benchkit.processes import ServerProcess
from benchkit.runs import Options, least_disturbed, log_phase, run_phase, run_schedule, wait_connections
from benchkit.system import CLIENT_CPU, SERVER_CPU, cpus_allowed, log
from hybrid_dns.auth.tokens import issue_token

VARIANTS = ("hub", "hub-deflate", "plain", "plain-deflate")
CLIENTS = {"raw": client.connect, "websockets": library_client.connect}


async def run_all(opts: Options, workdir: Path) -> list[dict[str, Any]]:
    secret = secrets.token_urlsafe(48)
    results = []
    for n in opts.connections:
        for variant in opts.variants:
            results.append(await run_variant(variant, n, opts, workdir, secret))
    return results


async def run_variant(variant: str, n: int, opts: Options, workdir: Path, secret: str) -> dict[str, Any]:
    profile = opts.profile_dir / f"{variant}-{n}.pstats" if opts.profile_dir and variant.startswith("hub") else None
    server = ServerProcess(variant, workdir, secret, opts.pin, profile, opts.tracemalloc)
    result: dict[str, Any] = {"variant": variant, "connections_wanted": n, "server_cmd": server.cmd, "phases": []}
    pool = Pool()
    connect = CLIENTS[opts.client]
    try:
        log(f"{variant} x {n}: starting the server")
        server.start()
        result.update(server_cpus=server.cpus, client_cpus=cpus_allowed())
        if opts.pin and (server.cpus != str(SERVER_CPU) or result["client_cpus"] != str(CLIENT_CPU)):
            raise RuntimeError(f"pinning failed: server on cpus {server.cpus}, client on {result['client_cpus']}")
        if variant.startswith("hub"):
            token, _ = issue_token(secret, "bench", "viewer", 4 * 3600)
            path, subprotocols, want_connected = "/ws/system/bench", ["hybrid-dns.v1", f"bearer.{token}"], True
        else:
            path, subprotocols, want_connected = "/ws", [], False
        deflate = variant.endswith("deflate")

        async def open_more(count: int) -> tuple[int, float]:
            return await open_connections(
                pool, count, server.port, path, subprotocols, deflate, want_connected, connect=connect
            )

        # Warm up (imports, first-use caches), then the baseline.
        failures, _ = await open_more(10)
        if failures:
            raise RuntimeError(f"warm-up connections failed:\n{server.log_tail()}")
        await run_phase(server, pool, 0, "warm-up", 5, 0, 1, opts, 30, quiet=False)
        await close_connections(pool)
        await wait_connections(server, 0)
        await server.api.gc()
        await asyncio.sleep(0.5)
        base = server.memory_kb()

        # Open N in two halves, reading RSS after each: (full - before) / N is the average cost of a
        # connection, one-time growth included; (full - half) / (N - N/2) is the cost of one more.
        log(f"{variant} x {n}: opening {n} connections")
        half = n // 2
        failures, open_s = await open_more(half)
        opened_half = await wait_connections(server, half - failures)
        await asyncio.sleep(1.0)
        await server.api.gc()
        await asyncio.sleep(0.5)
        mid = server.memory_kb()
        more_failures, more_s = await open_more(n - half)
        failures += more_failures
        open_s += more_s
        opened = await wait_connections(server, n - failures)
        gc.freeze()
        await asyncio.sleep(2.0)  # idle
        collected = await server.api.gc()
        if "tracemalloc" in collected:
            result["tracemalloc"] = collected["tracemalloc"]
            result["tracemalloc_conns"] = opened - opened_half
            result["traced_diff"] = collected.get("traced_diff", 0)
        await asyncio.sleep(0.5)
        idle = server.memory_kb()
        result.update(
            connections=opened,
            connect_failures=failures,
            open_s=open_s,
            open_per_s=(n - failures) / open_s if open_s else float("nan"),
            rss_base_kb=base["VmRSS"],
            rss_half_kb=mid["VmRSS"],
            rss_idle_kb=idle["VmRSS"],
            kb_per_idle_conn=(idle["VmRSS"] - base["VmRSS"]) / opened if opened else float("nan"),
            kb_marginal=(idle["VmRSS"] - mid["VmRSS"]) / (opened - opened_half) if opened > opened_half else 0.0,
            deflate_negotiated=sum(1 for c in pool.conns if c.deflate_negotiated),
        )
        log(
            f"{variant} x {n}: {opened} open in {open_s:.1f}s; RSS {base['VmRSS'] / 1024:.1f} -> "
            f"{mid['VmRSS'] / 1024:.1f} -> {idle['VmRSS'] / 1024:.1f} MiB = {result['kb_per_idle_conn']:.1f} "
            f"KB/conn ({result['kb_marginal']:.1f} KB for the second half)"
        )

        phase_ids = iter(range(1, 1_000_000))

        async def measured(name: str, count: int, rate: float, producers: int, timeout: float) -> None:
            async def once(_: int) -> dict[str, Any]:
                phase = await run_phase(server, pool, next(phase_ids), name, count, rate, producers, opts, timeout)
                log_phase(phase)
                return phase

            result["phases"].append(await least_disturbed(once, opts.retries, opts.max_other_cpu))
            await asyncio.sleep(1.0)

        await run_schedule(f"{variant} x {n}", opts, opened, measured)
        collected = await server.api.gc(timeout=120)
        if "tracemalloc" in collected:
            result["tracemalloc_after_runs"] = collected["tracemalloc"]
        after = server.memory_kb()
        result.update(rss_after_kb=after["VmRSS"], rss_peak_kb=after["VmHWM"], lost_connections=pool.lost)
    finally:
        await close_connections(pool)
        with contextlib.suppress(Exception):
            if server.running:
                await wait_connections(server, 0, timeout=15)
        await server.close()
        gc.unfreeze()
    return result
