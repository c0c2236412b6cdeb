"""Webhooks and the event path: emit-to-WebSocket latency with and without webhook endpoints, a dead one included.

    .venv/bin/python bench/webhook_bench.py                      # 1,000 connections, 50 events/s for 20 s
    .venv/bin/python bench/webhook_bench.py --connections 500 --duration 10 --no-pin

For each scenario it starts our server (bench_server.py: `create_app` under `uvicorn_config`, pinned
to core 0; this driver, the load client, on core 1), opens N `system` connections, registers the
scenario's webhook endpoints (every one receives every `config_change`, the events the bench emits),
and runs one rate run (benchkit.runs.run_phase: open loop, R events/s for D s; the latency of each
event on each connection is its receive time minus the time stamped just before emit()):

- `none`: no endpoint, the baseline;
- `dead x1`: one dead endpoint: it accepts TCP connections (the kernel's backlog) and never answers,
  so each attempt holds its slot for WEBHOOK_TIMEOUT (10 s, the default) and every event adds a
  delivery to its backlog;
- `dead x8`: eight dead endpoints, as many as WEBHOOK_CONCURRENCY: every delivery slot is held;
- `live x1`: one endpoint that answers 200 at once (a receiver in this driver's process): every event
  is also delivered, signed, over HTTP.

It reports, per scenario, p50 / p99 / max latency, loss, server CPU, and the webhook deliveries made
and waiting at the end of the run (the server's /metrics). Figures go to stdout (a markdown table).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import socket
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from benchkit.client import Pool, close_connections, open_connections
from benchkit.driver import command_line, session
from benchkit.processes import ServerProcess
from benchkit.runs import Options, least_disturbed, log_phase, run_phase, wait_connections
from benchkit.system import log, machine_description, run_client

from hybrid_dns.auth.tokens import issue_token

SCENARIOS = {"none": (0, 0), "dead x1": (1, 0), "dead x8": (8, 0), "live x1": (0, 1)}


class LiveReceiver:
    """Answers every request 200 at once and counts them."""

    def __init__(self) -> None:
        self.count = 0
        self.port = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> LiveReceiver:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            self.count += 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, AttributeError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def dead_endpoint() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    return sock


def seed_admin(data_dir: Path) -> None:
    """An admin account to register the endpoints with (the bench server seeds a viewer only)."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(data_dir / "hybrid-dns.db") as db:
        db.execute(
            "INSERT INTO users (username, password_hash, role, is_active, created_at, version) "
            "VALUES ('bench-admin', '!', 'admin', 1, ?, 1)",
            (now,),
        )


async def webhook_figures(http: httpx.AsyncClient, port: int) -> dict[str, float]:
    text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    figures = {}
    for name, pattern in (
        ("success", r'^hybrid_dns_webhook_deliveries_total\{outcome="success"\} (\S+)'),
        ("timeout", r'^hybrid_dns_webhook_deliveries_total\{outcome="timeout"\} (\S+)'),
        ("backlog", r"^hybrid_dns_webhook_backlog (\S+)"),
    ):
        match = re.search(pattern, text, re.MULTILINE)
        figures[name] = float(match.group(1)) if match else float("nan")
    return figures


async def run_scenario(
    name: str, dead: int, live: int, opts: Options, workdir: Path, secret: str, n: int
) -> dict[str, Any]:
    server = ServerProcess("hub", workdir, secret, opts.pin, None)
    pool = Pool()
    sockets = [dead_endpoint() for _ in range(dead)]
    receiver = await LiveReceiver().start() if live else None
    try:
        server.start()
        seed_admin(workdir / f"data-{server.port}")
        admin = {"Authorization": f"Bearer {issue_token(secret, 'bench-admin', 'admin', 3600)[0]}"}
        async with httpx.AsyncClient(timeout=30) as http:
            urls = [f"http://127.0.0.1:{s.getsockname()[1]}/dead" for s in sockets]
            if receiver is not None:
                urls.append(f"http://127.0.0.1:{receiver.port}/live")
            for url in urls:
                answer = await http.post(
                    f"http://127.0.0.1:{server.port}/api/webhooks",
                    json={"url": url, "event_types": ["config_change"]},
                    headers=admin,
                )
                answer.raise_for_status()
            token, _ = issue_token(secret, "bench", "viewer", 4 * 3600)
            log(f"{name}: opening {n} connections")
            failures, _ = await open_connections(
                pool, n, server.port, "/ws/system/bench", ["hybrid-dns.v1", f"bearer.{token}"], False, True
            )
            opened = await wait_connections(server, n - failures)
            await run_phase(server, pool, 0, "warm-up", 5, 0, 1, opts, 30, quiet=False)
            await asyncio.sleep(1.0)
            count = round(opts.rate * opts.duration)
            phase_ids = iter(range(1, 100))

            async def once(_: int) -> dict[str, Any]:
                phase = await run_phase(
                    server, pool, next(phase_ids), f"{opts.rate:g}/s", count, opts.rate, 1, opts, opts.duration + 60
                )
                log_phase(phase)
                return phase

            phase = await least_disturbed(once, opts.retries, opts.max_other_cpu)
            phase.update(scenario=name, opened=opened, **(await webhook_figures(http, server.port)))
            phase["received_by_receiver"] = receiver.count if receiver is not None else 0
            return phase
    finally:
        await close_connections(pool)
        await server.close()
        for sock in sockets:
            sock.close()
        if receiver is not None:
            receiver.close()


async def run_all(opts: Options, workdir: Path, scenarios: list[str], n: int) -> list[dict[str, Any]]:
    secret = secrets.token_urlsafe(48)
    os.environ["WEBHOOK_ALLOW_PRIVATE_NETWORKS"] = "1"  # the endpoints are on loopback; inherited by the servers
    results = []
    for name in scenarios:
        dead, live = SCENARIOS[name]
        results.append(await run_scenario(name, dead, live, opts, workdir, secret, n))
    return results


def render(results: list[dict[str, Any]], opts: Options, n: int, machine: dict[str, str], command: str) -> str:
    lines = [
        f"Webhooks and the event path: {n:,} `system` connections, {opts.rate:g} events/s for {opts.duration:g} s "
        "(config_change, which every endpoint asked for); WEBHOOK_TIMEOUT 10 s, WEBHOOK_CONCURRENCY 8.",
        f"Machine: {machine['cpus']} x {machine['cpu model']}, {machine['memory']}, {machine['os']}, "
        f"{machine['python']}, {machine['event loop']}; {machine['date']}, {machine['commit']}. Command: `{command}`",
        "",
        "| endpoints | p50 / p99 / max ms | loss | server CPU | other CPU | webhook deliveries: made / timed out "
        "/ waiting at the end |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in results:
        hooks = "-" if r["scenario"] == "none" else f"{r['success']:.0f} / {r['timeout']:.0f} / {r['backlog']:.0f}"
        lines.append(
            f"| {r['scenario']} | {r['p50_ms']:.1f} / {r['p99_ms']:.1f} / {r['max_ms']:.1f} | {r['loss']} "
            f"| {r['server_cpu_pct']:.0f}% | {r['other_cpu_pct']:.0f}% | {hooks} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, of {list(SCENARIOS)}")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--quiet-wait", type=float, default=30)
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--max-other-cpu", type=float, default=25.0)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (server logs)")
    args = parser.parse_args(argv)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; choose from {list(SCENARIOS)}")
    opts = Options(
        connections=[args.connections],
        variants=["hub"],
        rate=args.rate,
        duration=args.duration,
        sat_events=None,
        sat_deliveries=0,
        sat_producers=[],
        sat_timeout=0,
        payload_bytes=64,
        drain_timeout=3,
        pin=not args.no_pin and (os.cpu_count() or 1) >= 2,
        profile_dir=None,
        quiet_wait=args.quiet_wait,
        retries=args.retries,
        max_other_cpu=args.max_other_cpu,
    )
    machine = machine_description()
    command = command_line(__file__, argv)
    started = time.monotonic()
    with session("webhook-bench-", opts.pin, None, args.keep) as workdir:
        results = run_client(run_all(opts, workdir, scenarios, args.connections))
    log(f"done in {time.monotonic() - started:.0f}s")
    print(render(results, opts, args.connections, machine, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
