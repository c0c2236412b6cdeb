"""`ws_bench.py`'s report (bench/RESULTS.md): throughput, latency, loss and CPU per run, idle
memory per connection, what permessage-deflate costs, the aims, and whether the client limited a run."""

from __future__ import annotations

import sys
from typing import Any

from benchkit.report import fmt_int, machine_and_command, shorten
from benchkit.runs import Options
from benchkit.system import CLIENT_CPU, REPO_ROOT, SERVER_CPU


def render(results: list[dict[str, Any]], opts: Options, machine: dict[str, str], command: str) -> str:
    out: list[str] = []
    out.append("# WebSocket fan-out benchmark results\n")
    out.append(
        "Produced by `bench/ws_bench.py` (see its docstring for the method). Server and load client are separate "
        f"processes on 127.0.0.1, the server pinned to core {SERVER_CPU} and the client to core {CLIENT_CPU}"
        + ("" if opts.pin else " (pinning was off for this run)")
        + ". CPUs allowed, read back from /proc/<pid>/status: "
        + "; ".join(
            sorted({f"server {r.get('server_cpus', '?')}, client {r.get('client_cpus', '?')}" for r in results})
        )
        + ".\n"
    )
    if opts.client != "raw":
        out.append(
            f"Load client: the {opts.client} library's client (`--client {opts.client}`), not the hand-written one, "
            "for a comparison of their CPU per received event (bench/README.md). It does not count wire bytes: "
            "wire B/event is 0. Client CPU per received event: "
            + "; ".join(
                f"{r['variant']} x {r['connections']:,} {p['run']} {p['client_us_per_event']:.2f} µs"
                for r in results
                for p in r["phases"]
            )
            + ".\n"
        )
    out.extend(machine_and_command(machine, command))
    out.append("Servers, as started by the driver (port, scratch directory and secret vary):\n")
    seen = set()
    for r in results:
        if r["variant"] in seen:
            continue
        seen.add(r["variant"])
        cmd = " ".join(shorten(a) for a in r["server_cmd"])
        out.append(f"- `{r['variant']}`: `{cmd}`")
    out.append("")
    out.append(
        f"Rate run: {opts.rate:g} events/s for {opts.duration:g} s. Saturation: "
        + (f"{opts.sat_events} events" if opts.sat_events else f"{opts.sat_deliveries:,} deliveries / N events")
        + ", emitted as fast as the server goes ("
        + ", ".join(str(b) for b in opts.sat_producers)
        + " concurrent producer(s), each emitting an event, awaiting emit(), yielding once to the loop, repeat"
        + f"). Event payload: `config_change` with {opts.payload_bytes} bytes of padding. Before each run the driver "
        f"waits up to {opts.quiet_wait:g} s for other processes to go quiet; a run during which they used more "
        f"than {opts.max_other_cpu:g}% of a core is run again (up to {opts.retries} times) and the least "
        "disturbed run is kept.\n"
    )

    out.append("## Throughput, latency, loss\n")
    out.append(
        "| conns | server | run | events emitted | emit time | delivered | delivered events/s | p50 ms | p99 ms "
        "| p99 from schedule | max ms | loss | server CPU | server µs/event | client CPU | other CPU | wire B/event |"
    )
    out.append("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        for p in r["phases"]:
            loss = f"{fmt_int(p['loss'])} ({p['loss_pct']:.2f}%)" if p["loss"] else "0"
            sched = f"{p['sched_p99_ms']:.1f}" if p["rate"] else "-"
            if p["closes"]:
                loss += " closes " + ", ".join(f"{c}x{k}" for k, c in sorted(p["closes"].items()))
            out.append(
                f"| {r['connections']:,} | {r['variant']} | {p['run']} | {fmt_int(p['emitted'])} "
                f"| {p['emit_s']:.1f} s | {fmt_int(p['received'])} | {fmt_int(p['delivered_per_s'])} "
                f"| {p['p50_ms']:.1f} | {p['p99_ms']:.1f} | {sched} | {p['max_ms']:.1f} | {loss} "
                f"| {p['server_cpu_s']:.1f} s ({p['server_cpu_pct']:.0f}%) | {p['server_us_per_event']:.1f} "
                f"| {p['client_cpu_pct']:.0f}% | {p['other_cpu_pct']:.0f}% | {p['wire_bytes_per_event']:.0f} |"
            )
    out.append("")
    out.append(
        "emit time: from the first emit() call to the return of the last (rate run: "
        f"{opts.duration:g} s if the server keeps up). "
        "delivered events/s: events received over all connections / (last receive - first emit). "
        "p50/p99/max: client receive time - the time emit() was called, over every delivered event; "
        "p99 from schedule: the same from the time the event was due (rate runs: shows a server that falls "
        "behind its producers, which the emit() time hides). "
        "Loss: events emitted x open connections - events received. "
        "CPU: % of one core over the run (from the request that starts the emission to the last event received); "
        "other CPU: what other processes used meanwhile (user+system time of the machine minus server and client; "
        "should be ~0). wire B/event: bytes read by the client (frames and headers) per event."
    )
    out.append("")

    out.append("## Memory\n")
    out.append(
        "| conns | server | open conns/s | RSS before | RSS with N idle | KB per idle conn | KB per conn, "
        "second half | RSS after the runs | peak RSS |"
    )
    out.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        if "rss_idle_kb" not in r:
            continue
        out.append(
            f"| {r['connections']:,} | {r['variant']} | {fmt_int(r['open_per_s'])} "
            f"| {r['rss_base_kb'] / 1024:.1f} MiB | {r['rss_idle_kb'] / 1024:.1f} MiB "
            f"| {r['kb_per_idle_conn']:.1f} | {r['kb_marginal']:.1f} | {r.get('rss_after_kb', 0) / 1024:.1f} MiB "
            f"| {r.get('rss_peak_kb', 0) / 1024:.1f} MiB |"
        )
    out.append("")
    out.append(
        "KB per idle conn: (server RSS with N connections open and idle - RSS before) / N, after a warm-up of "
        "10 connections, with a gc.collect() before each reading. KB per conn, second half: (RSS with N - RSS "
        "with N/2) / (N/2), which leaves out one-time growth (pools, caches). 1 KB = 1024 bytes."
    )
    out.append("")

    for r in results:
        if r.get("tracemalloc"):
            out.append(f"## Where the idle memory goes: {r['variant']} x {r['connections']:,} (tracemalloc)\n")
            per = max(1, r["tracemalloc_conns"])
            out.append(
                f"Python allocations that appeared while the second {per:,} connections were opened, per "
                "connection (the 25 largest sites; RSS figures of a run with --tracemalloc are inflated):\n"
            )
            out.append(
                f"All Python allocations together: {r['traced_diff'] / per / 1024:.1f} KB per connection "
                f"(RSS: {r['kb_marginal']:.1f} KB, inflated by tracemalloc's own bookkeeping).\n"
            )
            out.append("| allocated at | bytes / conn | objects / conn |")
            out.append("|---|---:|---:|")
            for t in r["tracemalloc"]:
                where = shorten(t["where"].replace(str(REPO_ROOT) + "/", "").replace(sys.prefix + "/", ""))
                out.append(f"| {where} | {t['size_diff'] / per:.0f} | {t['count_diff'] / per:.1f} |")
            out.append("")
    deflate = deflate_section(results)
    if deflate:
        out.extend(deflate)
    out.extend(aims_section(results))
    out.extend(client_notes(results))
    return "\n".join(out) + "\n"


def find(results: list[dict[str, Any]], variant: str, n: int) -> dict[str, Any] | None:
    return next((r for r in results if r["variant"] == variant and r["connections_wanted"] == n), None)


def deflate_section(results: list[dict[str, Any]]) -> list[str]:
    rows = []
    for n in sorted({r["connections_wanted"] for r in results}):
        off, on = find(results, "hub", n), find(results, "hub-deflate", n)
        if not off or not on or "kb_per_idle_conn" not in on:
            continue
        rows.append(
            f"| {n:,} | idle memory | {off['kb_per_idle_conn']:.1f} KB/conn | {on['kb_per_idle_conn']:.1f} KB/conn "
            f"| {on['kb_per_idle_conn'] - off['kb_per_idle_conn']:+.1f} KB/conn |"
        )
        for p_off, p_on in zip(off["phases"], on["phases"], strict=False):
            rows.append(
                f"| {n:,} | {p_off['run']}: server CPU per event | {p_off['server_us_per_event']:.1f} µs "
                f"| {p_on['server_us_per_event']:.1f} µs "
                f"| {p_on['server_us_per_event'] / p_off['server_us_per_event']:.2f}x |"
            )
            rows.append(
                f"| {n:,} | {p_off['run']}: delivered events/s | {fmt_int(p_off['delivered_per_s'])} "
                f"| {fmt_int(p_on['delivered_per_s'])} | {p_on['delivered_per_s'] / p_off['delivered_per_s']:.2f}x |"
            )
            rows.append(
                f"| {n:,} | {p_off['run']}: wire bytes per event | {p_off['wire_bytes_per_event']:.0f} "
                f"| {p_on['wire_bytes_per_event']:.0f} "
                f"| {p_on['wire_bytes_per_event'] / p_off['wire_bytes_per_event']:.2f}x |"
            )
    if not rows:
        return []
    negotiated = [f"{r['deflate_negotiated']:,}/{r['connections']:,}" for r in results if r["variant"] == "hub-deflate"]
    return [
        "## permessage-deflate (our server)\n",
        "`hub` has WEBSOCKET_PERMESSAGE_DEFLATE=false (the default); `hub-deflate` has it true and every client "
        f"offers the extension (negotiated on {', '.join(negotiated)} connections).\n",
        "| conns | figure | deflate off | deflate on | cost |",
        "|---:|---|---:|---:|---:|",
        *rows,
        "",
    ]


def aims_section(results: list[dict[str, Any]]) -> list[str]:
    lines = ["## Aims (2-core machine)\n", "| aim | measured | met |", "|---|---|---|"]
    for n in sorted({r["connections_wanted"] for r in results}):
        hub, plain = find(results, "hub", n), find(results, "plain", n)
        if hub and hub["phases"]:
            rate = hub["phases"][0]
            ok = rate["p99_ms"] < 50 and rate["loss"] == 0
            verdict = ("yes" if ok else "NO") if n == 1000 else "(the aim is stated for 1,000)"
            lines.append(
                f"| {n:,} conns, {rate['run']}: p99 < 50 ms, no loss | p99 {rate['p99_ms']:.1f} ms, "
                f"loss {fmt_int(rate['loss'])} | {verdict} |"
            )
        if hub and plain:
            for p_hub, p_plain in zip(hub["phases"][1:], plain["phases"][1:], strict=False):
                ratio = p_hub["delivered_per_s"] / p_plain["delivered_per_s"] if p_plain["delivered_per_s"] else 0
                lines.append(
                    f"| {n:,} conns, {p_hub['run']}: >= 1.5x the plain loop's delivered events/s "
                    f"| {fmt_int(p_hub['delivered_per_s'])} vs {fmt_int(p_plain['delivered_per_s'])} = {ratio:.2f}x "
                    f"| {'yes' if ratio >= 1.5 else 'NO'} |"
                )
        if hub and "kb_per_idle_conn" in hub:
            kb, marginal = hub["kb_per_idle_conn"], hub["kb_marginal"]
            plain_kb = ""
            if plain and "kb_per_idle_conn" in plain:
                plain_kb = f"; plain loop: {plain['kb_per_idle_conn']:.1f} KB ({plain['kb_marginal']:.1f} KB)"
            lines.append(
                f"| {n:,} conns: < 20 KB server memory per idle connection | {kb:.1f} KB average, {marginal:.1f} KB "
                f"for the second half{plain_kb} | {'yes' if max(kb, marginal) < 20 else 'NO'} |"
            )
    lines.append("")
    return lines


def client_notes(results: list[dict[str, Any]]) -> list[str]:
    busy = [
        f"{r['variant']} x {r['connections']:,} {p['run']} ({p['client_cpu_pct']:.0f}%)"
        for r in results
        for p in r["phases"]
        if p["client_cpu_pct"] >= 90
    ]
    lines = ["## Was the client the bottleneck?\n"]
    if busy:
        lines.append(
            "The load client used 90% or more of its core in: " + "; ".join(busy) + ". In those runs the "
            "delivered events/s are bounded (at least partly) by the client, not only the server: the server's "
            "figure is then a lower bound on what it can push."
        )
    else:
        lines.append("No: the load client stayed under 90% of its core in every run.")
    odd = [
        f"{r['variant']} x {r['connections']:,} {p['run']}: {p['gaps']} gaps, {p['stale']} stale"
        for r in results
        for p in r["phases"]
        if p["gaps"] or p["stale"]
    ]
    if odd:
        lines.append("")
        lines.append(
            "Events out of order or missing on a connection (gaps) or from another run (stale): " + "; ".join(odd)
        )
    repeated = [
        f"{r['variant']} x {r['connections']:,} {p['run']} ({p['attempts']} runs)"
        for r in results
        for p in r["phases"]
        if p.get("attempts", 1) > 1
    ]
    if repeated:
        lines.append("")
        lines.append(
            "Other processes used more than the allowed share of a core during some runs, which were run again and "
            "the least disturbed kept: " + "; ".join(repeated) + "."
        )
    if any(p.get("stopped_early") for r in results for p in r["phases"]):
        lines.append("")
        lines.append("Some runs hit their time limit and the emitter was stopped early (see events emitted).")
    errors = [p["emitter_error"] for r in results for p in r["phases"] if p.get("emitter_error")]
    if errors:
        lines.append("")
        lines.append("Emitter errors: " + "; ".join(errors))
    lines.append("")
    return lines
