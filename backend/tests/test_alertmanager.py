"""Alertmanager both ways, against Debian's real `prometheus-alertmanager` started by the test on a free port.

Out: a forwarder taken down (a DNS responder the test controls stops answering) fires an alert in
Alertmanager, which notifies a webhook receiver the test runs; the forwarder coming back resolves
it. Two instances on Redis send it once (only the leader posts; the receiver gets one
notification); an Alertmanager restarted with empty storage has every alert back within the
re-send interval. In: Alertmanager's webhook posts to the server, whose events show alerts from
elsewhere on a WebSocket, and never our own alerts coming back (no loop).

Intervals are short (forwarder checks 0.2 s, re-sends 1 s, Alertmanager's group_interval 1 s) so
that every wait is a second or two; every wait is on a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, RedisServer, free_port, require, wait_until, ws_open
from dns_responders import DnsResponder

from hybrid_dns.integrations.alertmanager import FORWARDER_DOWN, SECURITY_ALERT
from hybrid_dns.models import Forwarder

MakeServer = Callable[..., LiveServer]
Alert = dict[str, Any]

RESEND = 1.0
FAST: dict[str, Any] = {
    "FORWARDER_CHECK_INTERVAL": 0.2,
    "FORWARDER_CHECK_TIMEOUT": 0.3,
    "FORWARDER_FAILURES_TO_DEGRADE": 2,
    "FORWARDER_SUCCESSES_TO_RECOVER": 2,
    "ALERTMANAGER_RESEND_INTERVAL": RESEND,
    "DASHBOARD_URL": "https://dns.example.test",
}


# --- the programs ---------------------------------------------------------------------------------


class Receiver:
    """A webhook receiver for Alertmanager's notifications: records every JSON body it is posted."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        bodies, lock = self.bodies, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with lock:
                    bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def notified(self, status: str, **labels: str) -> list[Alert]:
        """Alerts of that status, with those labels, across every notification received so far."""
        return [
            alert
            for body in list(self.bodies)
            for alert in body.get("alerts", [])
            if alert["status"] == status and all(alert["labels"].get(k) == v for k, v in labels.items())
        ]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def alertmanager_binary() -> str:
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    require(found is not None, "the prometheus-alertmanager program (Debian package prometheus-alertmanager)")
    assert found is not None
    return found


class Alertmanager:
    """A real Alertmanager: clustering off, its storage in the test's folder, one webhook receiver."""

    def __init__(self, workdir: Path, webhook_url: str, token: str | None = None) -> None:
        self.binary = alertmanager_binary()
        self.workdir = workdir
        self.port = free_port()
        self.webhook_url = webhook_url
        self.token = token
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Alertmanager:
        self.workdir.mkdir(parents=True, exist_ok=True)
        webhook: dict[str, Any] = {"url": self.webhook_url, "send_resolved": True, "max_alerts": 100}
        if self.token:
            webhook["http_config"] = {"authorization": {"type": "Bearer", "credentials": self.token}}
        config = {
            # group_by ["..."]: every alert is a group of its own, so each notification is about one alert.
            "route": {
                "receiver": "test",
                "group_by": ["..."],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [{"name": "test", "webhook_configs": [webhook]}],
        }
        (self.workdir / "alertmanager.yml").write_text(json.dumps(config))  # JSON is YAML
        log = (self.workdir / "alertmanager.log").open("ab")
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self.workdir / 'alertmanager.yml'}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",  # no clustering (no gossip port)
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("alertmanager did not start:\n" + (self.workdir / "alertmanager.log").read_text()[-3000:])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart_empty(self) -> None:
        """Killed, and back on the same port with nothing in its storage."""
        self.kill()
        shutil.rmtree(self.workdir / "data", ignore_errors=True)
        self.start()

    async def alerts(self, **labels: str) -> list[Alert]:
        """Active alerts (resolved ones are not listed by Alertmanager) with those labels."""
        async with httpx.AsyncClient(timeout=5) as http:
            got = (await http.get(f"{self.url}/api/v2/alerts")).json()
        return [a for a in got if all(a["labels"].get(k) == v for k, v in labels.items())]

    async def post(self, alerts: list[Alert]) -> None:
        """Post alerts as Prometheus (or anything else in the infrastructure) does."""
        async with httpx.AsyncClient(timeout=5) as http:
            reply = await http.post(f"{self.url}/api/v2/alerts", json=alerts)
            assert reply.status_code == 200, reply.text

    async def wait_for(self, predicate: Callable[[list[Alert]], bool], what: str, timeout: float = 15) -> list[Alert]:
        deadline = time.monotonic() + timeout
        while True:
            alerts = await self.alerts()
            if predicate(alerts):
                return alerts
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; Alertmanager has {alerts}")
            await asyncio.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def alertmanager(tmp_path: Path, receiver: Receiver) -> Iterator[Alertmanager]:
    am = Alertmanager(tmp_path / "alertmanager", receiver.url).start()
    yield am
    am.kill()


@pytest.fixture
async def responder() -> AsyncIterator[DnsResponder]:
    r = await DnsResponder().start()
    yield r
    r.stop()


def named(alerts: Sequence[Alert], alertname: str, **labels: str) -> list[Alert]:
    wanted = {"alertname": alertname, **labels}
    return [a for a in alerts if all(a["labels"].get(k) == v for k, v in wanted.items())]


async def add_forwarder(server: LiveServer, name: str, address: str) -> None:
    async def run() -> None:
        async with server.app.state.db() as session:
            session.add(
                Forwarder(
                    name=name,
                    forwarder_type="active_directory",
                    domains=["corp.example"],
                    servers=[address],
                    enabled=True,
                )
            )
            await session.commit()

    await server.call(run())


def forwarder_status(server: LiveServer, name: str) -> str | None:
    states = server.app.state.forwarder_monitor.forwarders.values()
    return next((s.status.state for s in states if s.name == name), None)


async def wait_for(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


# --- out: conditions become alerts ----------------------------------------------------------------


async def test_a_forwarder_taken_down_fires_an_alert_that_resolves_when_it_comes_back(
    make_server: MakeServer, alertmanager: Alertmanager, receiver: Receiver, responder: DnsResponder
) -> None:
    server = make_server(ALERTMANAGER_URL=alertmanager.url, **FAST)
    await add_forwarder(server, "corp", responder.address)
    await wait_until(lambda: forwarder_status(server, "corp") == "healthy", 10, "the forwarder to be checked")
    await asyncio.sleep(RESEND * 2)  # two re-send rounds: a healthy forwarder is no alert
    assert await alertmanager.alerts() == []

    responder.stop()
    alerts = await alertmanager.wait_for(lambda a: bool(named(a, FORWARDER_DOWN)), "the forwarder-down alert")
    (alert,) = alerts
    assert alert["labels"] == {
        "alertname": FORWARDER_DOWN,
        "forwarder": "corp",
        "severity": "critical",
        "instance": "dns.example.test",  # DASHBOARD_URL's host: one name for the whole cluster
        "source": "hybrid-dns",
    }
    assert alert["annotations"]["summary"] == "DNS forwarder corp is down"
    assert f"{responder.address}: unhealthy" in alert["annotations"]["description"]
    assert alert["annotations"]["dashboard_url"] == "https://dns.example.test/forwarders"
    assert alert["generatorURL"] == "https://dns.example.test/forwarders"
    assert alert["status"]["state"] == "active"
    # Alertmanager told its receiver (here: the test's).
    await wait_until(lambda: bool(receiver.notified("firing", alertname=FORWARDER_DOWN)), 10, "the notification")

    await responder.start()  # the same address again
    await alertmanager.wait_for(lambda a: not named(a, FORWARDER_DOWN), "the alert to resolve")
    await wait_until(lambda: bool(receiver.notified("resolved", alertname=FORWARDER_DOWN)), 10, "the resolution")
    # One outage, told once each way, although the alert was re-sent every second while it lasted.
    assert len(receiver.notified("firing", alertname=FORWARDER_DOWN)) == 1
    assert len(receiver.notified("resolved", alertname=FORWARDER_DOWN)) == 1


async def test_alerts_are_back_within_the_resend_interval_after_an_alertmanager_restart(
    make_server: MakeServer, alertmanager: Alertmanager, responder: DnsResponder
) -> None:
    server = make_server(ALERTMANAGER_URL=alertmanager.url, **FAST)
    await add_forwarder(server, "corp", responder.address)
    await wait_until(lambda: forwarder_status(server, "corp") == "healthy", 10, "the forwarder to be checked")
    responder.stop()
    # A one-shot alert too: a security_alert at warning.
    await server.emit("security_alert", {"alert": "repeated_login_failures", "message": "20 failed logins"})

    def both(alerts: list[Alert]) -> bool:
        return bool(named(alerts, FORWARDER_DOWN) and named(alerts, SECURITY_ALERT))

    before = await alertmanager.wait_for(both, "both alerts")
    security = named(before, SECURITY_ALERT)[0]
    assert security["labels"]["alert"] == "repeated_login_failures" and security["labels"]["severity"] == "warning"
    # A one-shot alert ends by itself, ALERTMANAGER_ONE_SHOT_TTL (default 900 s) after its event.
    started = datetime.fromisoformat(security["startsAt"].replace("Z", "+00:00"))
    ends = datetime.fromisoformat(security["endsAt"].replace("Z", "+00:00"))
    assert ends - started == timedelta(seconds=900)

    alertmanager.restart_empty()
    restarted = time.monotonic()
    after = await alertmanager.wait_for(both, "both alerts again", timeout=RESEND + 5)
    took = time.monotonic() - restarted
    # Within one interval, plus the first retry's backoff (1 s) and the time for Alertmanager to take them.
    assert took < RESEND + 2.0, f"the alerts took {took:.1f}s to come back (re-send interval {RESEND}s)"
    # The same alerts, not new ones: the same start, the one-shot's same end.
    key = {"alertname", "forwarder", "alert"}
    assert {(a["startsAt"], tuple(sorted((k, v) for k, v in a["labels"].items() if k in key))) for a in after} == {
        (a["startsAt"], tuple(sorted((k, v) for k, v in a["labels"].items() if k in key))) for a in before
    }
    assert named(after, SECURITY_ALERT)[0]["endsAt"] == security["endsAt"]


async def test_two_instances_send_one_alert_once_and_the_next_leader_takes_over(
    tmp_path: Path, redis_server: RedisServer, alertmanager: Alertmanager, receiver: Receiver, responder: DnsResponder
) -> None:
    # Two instances of one deployment: one database (SQLite in one DATA_DIR), one Redis.
    settings = {"BROKER_URL": redis_server.url, "ALERTMANAGER_URL": alertmanager.url, **FAST}
    a = LiveServer(tmp_path / "data", INSTANCE_ID="a", **settings).start()  # first up: the leader
    b = LiveServer(tmp_path / "data", INSTANCE_ID="b", **settings).start()
    try:
        assert a.realtime.leader and not b.realtime.leader
        await add_forwarder(a, "corp", responder.address)

        async def sent(server: LiveServer) -> float:
            async with server.http() as http:
                metrics = (await http.get("/metrics")).text
            line = 'hybrid_dns_alertmanager_notifications_total{outcome="success"} '
            return float(next(x for x in metrics.splitlines() if x.startswith(line)).split()[-1])

        await wait_until(
            lambda: forwarder_status(a, "corp") == forwarder_status(b, "corp") == "healthy", 10, "both to probe"
        )
        responder.silent = True
        await alertmanager.wait_for(lambda x: bool(named(x, FORWARDER_DOWN)), "the forwarder-down alert")
        # Several re-send rounds: each instance knows the alert; only the leader posts it.
        posted = await sent(a)
        await wait_for(lambda: _grew(sent(a), posted + 3), "three more posts from the leader")
        assert await sent(b) == 0, "the instance that does not lead posted alerts"
        assert b.app.state.alertmanager.state.active_count(datetime.now(UTC)) == 1  # it knows, and keeps quiet
        assert len(named(await alertmanager.alerts(), FORWARDER_DOWN)) == 1
        await wait_until(lambda: bool(receiver.notified("firing")), 10, "the notification")
        assert len(receiver.notified("firing")) == 1

        # The leader stops (and gives the lease up): b takes over and keeps the alert alive.
        a.stop()
        await wait_for(lambda: _grew(sent(b), 1), "b to post as the new leader", timeout=20)
        assert named(await alertmanager.alerts(), FORWARDER_DOWN)[0]["status"]["state"] == "active"

        responder.silent = False  # back: b resolves it
        await alertmanager.wait_for(lambda x: not named(x, FORWARDER_DOWN), "the alert to resolve")
        await wait_until(lambda: bool(receiver.notified("resolved")), 10, "the resolution")
        # One outage: one firing and one resolved notification, across two instances and a change of leader.
        assert len(receiver.notified("firing", alertname=FORWARDER_DOWN)) == 1
        assert len(receiver.notified("resolved", alertname=FORWARDER_DOWN)) == 1
    finally:
        a.stop()
        b.stop()


async def _grew(value: Awaitable[float], at_least: float) -> bool:
    return await value >= at_least


# --- in: Alertmanager's webhook becomes events ----------------------------------------------------


async def test_alerts_from_elsewhere_become_events_and_ours_do_not_come_back(
    make_server: MakeServer, tmp_path: Path
) -> None:
    token = secrets.token_urlsafe(32)
    am_port = free_port()
    # The server sends its alerts to this Alertmanager, whose webhook posts every alert back to the server.
    server = make_server(ALERTMANAGER_URL=f"http://127.0.0.1:{am_port}", ALERTMANAGER_WEBHOOK_TOKEN=token, **FAST)
    am = Alertmanager(tmp_path / "am", f"{server.base_url}/api/integrations/alertmanager", token)
    am.port = am_port
    am.start()
    try:
        async with ws_open(server, "admin", "admin") as client:
            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            disk = {"alertname": "DiskFull", "severity": "critical", "instance": "db1:9100", "zone": "corp.example"}
            await am.post([{"labels": disk, "annotations": {"summary": "Disk / is 95% full"}, "startsAt": now}])
            got = await client.events_until(lambda e: e["data"].get("alertname") == "DiskFull", 15)
            event = got[-1]
            assert event["type"] == "health_alert" and event["severity"] == "critical"
            data = event["data"]
            assert data["source"] == "alertmanager" and data["status"] == "firing" and data["state"] == "raised"
            assert data["labels"] == disk and data["annotations"] == {"summary": "Disk / is 95% full"}
            assert data["message"] == "DiskFull firing: Disk / is 95% full"
            assert data["starts_at"].startswith(now[:19]) and data["ends_at"] is None
            assert data["fingerprint"] and data["receiver"] == "test"
            assert event["about"]["zone"] == "corp.example"  # linked like the server's own alerts

            # Ours goes to Alertmanager, which posts it back: it is recognised and dropped.
            inbox_own = _inbox_total(server, "own")
            await server.emit("security_alert", {"alert": "repeated_login_failures", "message": "20 failed logins"})
            await am.wait_for(lambda x: bool(named(x, SECURITY_ALERT)), "our alert in Alertmanager")
            await wait_until(lambda: _inbox_total(server, "own") > inbox_own, 15, "our alert to come back")

            # A security alert from elsewhere, then DiskFull resolved.
            ssh = {"alertname": "SSHBruteForce", "category": "security", "severity": "warning", "instance": "bastion"}
            await am.post([{"labels": ssh, "annotations": {"description": "500 failed logins"}, "startsAt": now}])
            later = await client.events_until(lambda e: e["data"].get("alertname") == "SSHBruteForce", 15)
            assert later[-1]["type"] == "security_alert" and later[-1]["severity"] == "warning"
            ended = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            await am.post([{"labels": disk, "startsAt": now, "endsAt": ended}])
            rest = await client.events_until(
                lambda e: e["data"].get("alertname") == "DiskFull" and e["data"]["status"] == "resolved", 15
            )
            resolved = rest[-1]
            assert resolved["type"] == "health_alert" and resolved["severity"] == "info"
            assert resolved["data"]["state"] == "cleared" and resolved["data"]["ends_at"].startswith(ended[:19])

        from_alertmanager = [e for e in got + later + rest if e["data"].get("source") == "alertmanager"]
        assert [e["data"]["alertname"] for e in from_alertmanager] == ["DiskFull", "SSHBruteForce", "DiskFull"]
        # Our own alert appeared once, as the event it came from, never again from Alertmanager.
        ours = [e for e in got + later + rest if e["data"].get("alert") == "repeated_login_failures"]
        assert len(ours) == 1 and "source" not in ours[0]["data"]
    finally:
        am.kill()


def _inbox_total(server: LiveServer, key: str) -> int:
    inbox = getattr(server.app.state, "alertmanager_inbox", None)
    return 0 if inbox is None else int(inbox.totals[key])

