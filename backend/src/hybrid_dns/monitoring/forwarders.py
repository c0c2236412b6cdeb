"""Forwarder health: periodic real DNS queries to every forwarder's servers, with hysteresis.

Interface used by the rest of the app: `await monitor.start()`, `await monitor.close()`, and
`await monitor.snapshot()`, the `health_update` payload: {"forwarders": [...], "summary": {...}}.

One round every FORWARDER_CHECK_INTERVAL: the enabled forwarders are read from the database
(so added, removed, disabled or edited forwarders are picked up), and every server of every
forwarder is sent one UDP query at once (asyncio.gather), each bounded by FORWARDER_CHECK_TIMEOUT.
Any reply, NXDOMAIN or SERVFAIL included, means the server is alive; a timeout or a network error
is a failure. The results of a round are applied in one step, so a snapshot never sees half a round.

States, per server and per forwarder: healthy, degraded (answers, but slower than
HEALTH_ALERT_RESPONSE_MS; for a forwarder also: only some of its servers answer), unhealthy (no
answer). A state changes only after FORWARDER_FAILURES_TO_DEGRADE consecutive rounds pointing to a
worse state, or FORWARDER_SUCCESSES_TO_RECOVER rounds pointing to a better one, so one lost packet
does not flap it. The first state observed is taken as is, without an event; every later change of
a forwarder's state emits `forwarder_status_change`. Alerts (`health_alert`: slow_response,
high_failure_ratio, all_servers_down) go through the same hysteresis and are emitted once when
raised and once when cleared.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
from sqlalchemy import select

from ..config import Settings
from ..db import Database
from ..models import Forwarder
from ..realtime.events import EventType, Severity, utc_now_iso
from ..realtime.service import WebSocketEventService

log = logging.getLogger("hybrid_dns.monitoring")

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"
_RANK = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}

SLOW_RESPONSE, HIGH_FAILURE_RATIO, ALL_SERVERS_DOWN = "slow_response", "high_failure_ratio", "all_servers_down"
ALERTS = (SLOW_RESPONSE, HIGH_FAILURE_RATIO, ALL_SERVERS_DOWN)

S = TypeVar("S")


class Hysteresis(Generic[S]):
    """A state that changes only after enough consecutive observations point the same way.

    `rank` orders states from best (low) to worst (high). The first observation is taken at once
    when the state starts as None. `observe` returns (old, new) when the state changes, else None.
    """

    def __init__(self, rank: Callable[[S], int], state: S | None = None) -> None:
        self.rank = rank
        self.state: S | None = state
        self.direction = 0  # +1: rounds pointing to worse, -1: to better
        self.streak = 0

    def observe(self, observed: S, worse_after: int, better_after: int) -> tuple[S | None, S] | None:
        if self.state is None:
            self.state = observed
            return None, observed
        if observed == self.state:
            self.direction = self.streak = 0
            return None
        direction = 1 if self.rank(observed) > self.rank(self.state) else -1
        if direction != self.direction:
            self.direction, self.streak = direction, 0
        self.streak += 1
        if self.streak < (worse_after if direction > 0 else better_after):
            return None
        old, self.state = self.state, observed
        self.direction = self.streak = 0
        return old, observed


def parse_server(address: str) -> tuple[str, int]:
    """Parse "ip", "ip:port", "[v6]:port" or a bare IPv6 address; raises ValueError on anything else."""
    text = address.strip()
    host, port = text, 53
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"bad server address {address!r}")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"bad server address {address!r}")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = int(port_text)
    ipaddress.ip_address(host)  # raises ValueError for anything that is not an IP address
    if not 0 < port < 65536:
        raise ValueError(f"bad port in {address!r}")
    return host, port


def probe_name(domains: Sequence[str]) -> dns.name.Name:
    """The name asked for: the forwarder's first domain (its SOA), or the root for a catch-all forwarder."""
    for domain in domains:
        with contextlib.suppress(dns.exception.DNSException, ValueError):
            return dns.name.from_text(domain.strip() or ".")
    return dns.name.root


@dataclasses.dataclass(slots=True)
class ProbeResult:
    ok: bool
    response_ms: float | None
    checked_at: str
    rcode: str | None = None
    error: str | None = None


@dataclasses.dataclass
class ServerState:
    address: str
    status: Hysteresis[str] = dataclasses.field(default_factory=lambda: Hysteresis(_RANK.__getitem__))
    response_ms: float | None = None
    last_check: str | None = None
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    checks: int = 0
    failures: int = 0
    rcode: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "status": self.status.state or "unknown",
            "response_ms": self.response_ms,
            "last_check": self.last_check,
            "consecutive_failures": self.consecutive_failures,
            "consecutive_successes": self.consecutive_successes,
            "checks": self.checks,
            "failures": self.failures,
            "rcode": self.rcode,
            "error": self.error,
        }


def _alert_state() -> Hysteresis[bool]:
    return Hysteresis(int, False)  # alerts start cleared; raised (True) is the worse state


@dataclasses.dataclass
class ForwarderState:
    id: int
    name: str
    type: str
    domains: list[str]
    servers: dict[str, ServerState] = dataclasses.field(default_factory=dict)
    status: Hysteresis[str] = dataclasses.field(default_factory=lambda: Hysteresis(_RANK.__getitem__))
    alerts: dict[str, Hysteresis[bool]] = dataclasses.field(
        default_factory=lambda: {name: _alert_state() for name in ALERTS}
    )
    avg_response_ms: float | None = None
    last_check: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "status": self.status.state or "unknown",
            "domains": list(self.domains),
            "servers": [server.as_dict() for server in self.servers.values()],
            "avg_response_ms": self.avg_response_ms,
            "last_check": self.last_check,
            "alerts": [name for name, alert in self.alerts.items() if alert.state],
        }


@dataclasses.dataclass(slots=True)
class _Emission:
    event_type: EventType
    data: dict[str, Any]
    severity: Severity


class ForwarderMonitor:
    def __init__(self, settings: Settings, db: Database, service: WebSocketEventService) -> None:
        self.settings = settings
        self.db = db
        self.service = service
        self.forwarders: dict[int, ForwarderState] = {}
        self.rounds = 0  # completed rounds (tests and diagnostics)
        self.checked_at: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._round_lock = asyncio.Lock()
        self._failing = False
        # Whether this instance announces what it finds. With several instances every one probes (so
        # that a new leader starts warm), but only the leader emits, so each change is told once.
        self.emits: Callable[[], bool] = lambda: True

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="forwarder-monitor")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def snapshot(self) -> dict[str, Any]:
        forwarders = [state.as_dict() for state in sorted(self.forwarders.values(), key=lambda f: f.name)]
        summary = {"total": len(forwarders), HEALTHY: 0, DEGRADED: 0, UNHEALTHY: 0}
        for forwarder in forwarders:
            if forwarder["status"] in _RANK:
                summary[forwarder["status"]] += 1
        return {"forwarders": forwarders, "summary": summary, "checked_at": self.checked_at}

    # --- the loop -----------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self.check_now()
                self._failing = False
            except asyncio.CancelledError:
                raise
            except Exception:
                # Never die silently: log (with the trace the first time in a row) and try next round.
                if not self._failing:
                    log.exception("forwarder health round failed; retrying every %.1fs", self.interval)
                else:
                    log.warning("forwarder health round failed again")
                self._failing = True
            await asyncio.sleep(max(0.0, self.interval - (loop.time() - started)))

    @property
    def interval(self) -> float:
        return float(self.settings.FORWARDER_CHECK_INTERVAL)

    async def check_now(self) -> None:
        """One round: load the forwarders, probe every server at once, apply the results, emit."""
        async with self._round_lock:
            rows = await self._load()
            targets = [(row, address) for row in rows for address in dict.fromkeys(row.servers or [])]
            results = await asyncio.gather(*(self._probe(address, row.domains) for row, address in targets))
            by_forwarder: dict[int, dict[str, ProbeResult]] = {row.id: {} for row in rows}
            for (row, address), result in zip(targets, results, strict=True):
                by_forwarder[row.id][address] = result
            emissions = self._apply(rows, by_forwarder)
            self.rounds += 1
        if not self.emits():
            return
        for emission in emissions:
            try:
                await self.service.emit(emission.event_type, emission.data, severity=emission.severity)
            except Exception:
                log.exception("could not emit %s for forwarder health", emission.event_type.value)

    async def _load(self) -> list[Forwarder]:
        async with self.db() as session:
            rows = (await session.scalars(select(Forwarder).where(Forwarder.enabled.is_(True)))).all()
        return list(rows)

    async def _probe(self, address: str, domains: Sequence[str]) -> ProbeResult:
        timeout = float(self.settings.FORWARDER_CHECK_TIMEOUT)
        started = time.perf_counter()
        try:
            host, port = parse_server(address)
            query = dns.message.make_query(probe_name(domains), dns.rdatatype.SOA)
            # dnspython enforces the timeout; the outer one is a safety net for anything it does not cover.
            async with asyncio.timeout(timeout + 0.5):
                reply = await dns.asyncquery.udp(query, host, timeout=timeout, port=port)
        except asyncio.CancelledError:
            raise
        except (dns.exception.Timeout, TimeoutError):
            return ProbeResult(False, None, utc_now_iso(), error=f"no answer within {timeout:g}s")
        except ValueError as exc:
            return ProbeResult(False, None, utc_now_iso(), error=f"invalid server address: {exc}")
        except Exception as exc:
            return ProbeResult(False, None, utc_now_iso(), error=f"{type(exc).__name__}: {exc}".rstrip(": "))
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        return ProbeResult(True, elapsed, utc_now_iso(), rcode=dns.rcode.to_text(reply.rcode()))

    # --- state ----------------------------------------------------------------------------------

    def _apply(self, rows: Sequence[Forwarder], results: dict[int, dict[str, ProbeResult]]) -> list[_Emission]:
        settings = self.settings
        worse, better = settings.FORWARDER_FAILURES_TO_DEGRADE, settings.FORWARDER_SUCCESSES_TO_RECOVER
        slow_ms = float(settings.HEALTH_ALERT_RESPONSE_MS)
        ratio_limit = float(settings.HEALTH_ALERT_FAILURE_RATIO)
        emissions: list[_Emission] = []
        seen: set[int] = set()
        now = utc_now_iso()
        for row in rows:
            seen.add(row.id)
            state = self.forwarders.get(row.id)
            if state is None:
                state = self.forwarders[row.id] = ForwarderState(row.id, row.name, row.forwarder_type, [])
            state.name, state.type, state.domains = row.name, row.forwarder_type, list(row.domains or [])
            probes = results.get(row.id, {})
            state.servers = {address: state.servers.get(address) or ServerState(address) for address in probes}
            for address, probe in probes.items():
                self._apply_server(state.servers[address], probe, slow_ms, worse, better)

            answered = [p.response_ms for p in probes.values() if p.ok and p.response_ms is not None]
            total, failed = len(probes), len(probes) - len(answered)
            avg = round(sum(answered) / len(answered), 2) if answered else None
            state.avg_response_ms, state.last_check = avg, now

            if not answered:
                observed = UNHEALTHY
                reason = "no servers configured" if total == 0 else f"none of {total} servers answered"
            elif failed:
                observed, reason = DEGRADED, f"{failed} of {total} servers did not answer"
            elif avg is not None and avg > slow_ms:
                observed, reason = DEGRADED, f"average response {avg:.0f} ms is above {slow_ms:g} ms"
            else:
                observed, reason = HEALTHY, f"all {total} servers answered"

            change = state.status.observe(observed, worse, better)
            if change is not None and change[0] is not None:
                old, new = change
                log.info("forwarder %s: %s -> %s (%s)", state.name, old, new, reason)
                severity = {HEALTHY: Severity.INFO, DEGRADED: Severity.WARNING, UNHEALTHY: Severity.ERROR}[new]
                emissions.append(
                    _Emission(
                        EventType.FORWARDER_STATUS_CHANGE,
                        {
                            "forwarder": state.name,
                            "old_status": old,
                            "new_status": new,
                            "servers": [server.as_dict() for server in state.servers.values()],
                            "reason": reason,
                        },
                        severity,
                    )
                )

            ratio = failed / total if total else None
            checks: list[tuple[str, bool | None, float | int | None, float | int, str]] = [
                (
                    SLOW_RESPONSE,
                    None if avg is None else avg > slow_ms,  # no answer: nothing to judge the speed by
                    avg,
                    slow_ms,
                    f"average response time {avg} ms (threshold {slow_ms:g} ms)",
                ),
                (
                    HIGH_FAILURE_RATIO,
                    None if ratio is None else ratio >= ratio_limit,
                    None if ratio is None else round(ratio, 3),
                    ratio_limit,
                    f"{failed} of {total} servers failed (threshold ratio {ratio_limit:g})",
                ),
                (
                    ALL_SERVERS_DOWN,
                    not answered,
                    failed,
                    total,
                    f"{failed} of {total} servers not answering",
                ),
            ]
            for alert, over, value, threshold, detail in checks:
                if over is None:
                    continue
                flip = state.alerts[alert].observe(over, worse, better)
                if flip is None:
                    continue
                raised = flip[1]
                if raised:
                    severity = Severity.ERROR if alert == ALL_SERVERS_DOWN else Severity.WARNING
                else:
                    severity = Severity.INFO
                verb = "raised" if raised else "cleared"
                log.info("forwarder %s: %s %s: %s", state.name, alert, verb, detail)
                emissions.append(
                    _Emission(
                        EventType.HEALTH_ALERT,
                        {
                            "forwarder": state.name,
                            "alert": alert,
                            "state": verb,
                            "value": value,
                            "threshold": threshold,
                            "message": f"forwarder {state.name}: {alert.replace('_', ' ')} {verb}: {detail}",
                        },
                        severity,
                    )
                )
        for gone in set(self.forwarders) - seen:  # deleted or disabled: no longer checked nor reported
            del self.forwarders[gone]
        self.checked_at = now
        return emissions

    @staticmethod
    def _apply_server(server: ServerState, probe: ProbeResult, slow_ms: float, worse: int, better: int) -> None:
        server.checks += 1
        server.last_check = probe.checked_at
        server.response_ms = probe.response_ms
        server.rcode, server.error = probe.rcode, probe.error
        if probe.ok:
            server.consecutive_successes += 1
            server.consecutive_failures = 0
            slow = probe.response_ms is not None and probe.response_ms > slow_ms
            observed = DEGRADED if slow else HEALTHY
        else:
            server.failures += 1
            server.consecutive_failures += 1
            server.consecutive_successes = 0
            observed = UNHEALTHY
        server.status.observe(observed, worse, better)
