"""`multi_bench.py`'s report (bench/MULTI_RESULTS.md): latency, throughput and each process's CPU
per configuration and run, Redis's command statistics, and notes on what bounded each run."""

from __future__ import annotations

import json
from typing import Any

from benchkit.multi import CONFIGS, FAN_OUT_CPU, MultiOptions, cpu_by_process
from benchkit.report import fmt_int, machine_and_command, shell_line
from benchkit.system import CLIENT_CPU


def pct_of(seconds: float, phase: dict[str, Any]) -> str:
    return f"{seconds:.1f} s ({100 * seconds / phase['wall_s']:.0f}%)"


def render(results: list[dict[str, Any]], opts: MultiOptions, machine: dict[str, str], command: str) -> str:
    bench = opts.bench
    out: list[str] = ["# Two instances and Redis against one instance\n"]
    out.append(
        "Produced by `bench/multi_bench.py` (see its docstring for the method): our app (`bench/bench_server.py`) "
        "as one instance on the embedded memory broker, as one instance on Redis, and as two instances sharing one "
        "Redis (`BROKER_URL=redis://127.0.0.1:PORT/0?prefix=…`, the same SECRET_KEY, distinct INSTANCE_ID, as in "
        "docs/deploy.md), with the load client of `bench/ws_bench.py` (`bench/benchkit/client.py`) on 127.0.0.1. "
        "Each instance has its own SQLite database (it holds only the bench user: with Redis, events never touch the "
        "database).\n"
    )
    out.extend(machine_and_command(machine, command))
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
