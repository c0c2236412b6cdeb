"""deploy/prometheus and deploy/grafana against the real programs: promtool, and Prometheus scraping a live server.

- `promtool check rules`, `promtool test rules` (rules_test.yml) and `promtool check config` pass;
- the server's /metrics passes `promtool check metrics` (Prometheus's own naming lint: units in
  names, `_total` counters) and its label values are bounded;
- a real Prometheus (the test's own, on a free port, scraping every second) scrapes a live server
  that has had traffic (WebSocket clients, events, a slow consumer closed 4050, a webhook delivered,
  a forwarder checked); then every query of every Grafana panel returns data, every variable query
  finds its values, and every alert rule evaluates without error (Prometheus loads rules.yml
  itself) with every series selector in it matching a series.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from conftest import LiveServer, free_port, require_binary, wait_until, ws_open
from dns_responders import DnsResponder

from hybrid_dns.models import Forwarder

MakeServer = Callable[..., LiveServer]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "rules.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "hybrid-dns.json"
JOB = "hybrid-dns"
RATE_WINDOW = "1m"  # what $__rate_interval stands for here: every scrape of the test's life


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("promtool"), *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


# --- promtool ------------------------------------------------------------------------------------------


def test_promtool_checks_the_rules_their_unit_tests_and_the_scrape_example() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 8 rules found" in checked.stdout
    tested = promtool("test", "rules", str(DEPLOY / "prometheus" / "rules_test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout + tested.stderr
    config = promtool("check", "config", str(DEPLOY / "prometheus" / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr


def test_every_alert_rule_is_documented() -> None:
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    docs = (DEPLOY.parent / "docs" / "integrations.md").read_text()
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert rule["alert"] in docs, f"{rule['alert']} is not in docs/integrations.md"


# --- the metrics --------------------------------------------------------------------------------------


async def test_metric_names_and_labels_follow_prometheus_conventions(make_server: MakeServer) -> None:
    responder = await DnsResponder().start()
    try:
        server = make_server(FORWARDER_CHECK_INTERVAL=0.2, FORWARDER_CHECK_TIMEOUT=0.3)
        await add_forwarder(server, "corp", responder.address)
        await wait_until(lambda: bool(server.app.state.forwarder_monitor.rounds >= 2), 10, "forwarder checks")
        async with ws_open(server, "health", "viewer") as client:
            await server.emit("health_alert", {"alert": "demo", "message": "x"})
            await client.next_event()
        async with server.http() as http:
            text = (await http.get("/metrics")).text
    finally:
        responder.stop()

    lint = promtool("check", "metrics", stdin=text)
    assert lint.returncode == 0 and not lint.stdout.strip(), lint.stdout + lint.stderr

    families = parse_metrics(text)
    for name, (kind, samples) in families.items():
        assert name.startswith("hybrid_dns_"), name
        if kind == "counter":
            assert name.endswith("_total") and all(s.startswith(name) for s in samples), name
        if kind == "histogram":
            assert name.endswith("_seconds"), f"{name}: a histogram's name ends with its unit"
        if kind == "gauge":
            assert not name.endswith("_total"), name
    for new in (
        "hybrid_dns_forwarder_up",
        "hybrid_dns_forwarder_status",
        "hybrid_dns_forwarder_response_seconds",
        "hybrid_dns_broker_up",
        "hybrid_dns_alerts_active",
        "hybrid_dns_alertmanager_notifications_total",
    ):
        assert new in families, new
    assert 'hybrid_dns_forwarder_up{forwarder="corp"} 1.0' in text
    assert 'hybrid_dns_forwarder_status{forwarder="corp",status="healthy"} 1.0' in text
    assert 'hybrid_dns_broker_up{kind="memory"} 1.0' in text
    # Bounded labels: every label's values come from a small set (close codes are folded, see metrics.py).
    for label, values in label_values(text).items():
        assert len(values) <= 32, (label, values)


def parse_metrics(text: str) -> dict[str, tuple[str, list[str]]]:
    families: dict[str, tuple[str, list[str]]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, current, kind = line.split(" ", 3)
            families[current] = (kind, [])
        elif line and not line.startswith("#"):
            families[current][1].append(line)
    return families


def label_values(text: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name, value in re.findall(r'([a-z_]+)="([^"]*)"', text):
        found.setdefault(name, set()).add(value)
    found.pop("le", None)  # histogram buckets: fixed by the code
    return found


# --- a real Prometheus --------------------------------------------------------------------------------


class Prometheus:
    """Prometheus scraping `targets` every second, with deploy/prometheus/rules.yml loaded."""

    def __init__(self, workdir: Path, targets: list[str]) -> None:
        self.binary = require_binary("prometheus")
        self.workdir = workdir
        self.port = free_port()
        self.targets = targets
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Prometheus:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": self.targets}]}],
        }
        (self.workdir / "prometheus.yml").write_text(json.dumps(config))
        log = (self.workdir / "prometheus.log").open("ab")
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self.workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.kill()
        raise RuntimeError("prometheus did not start:\n" + (self.workdir / "prometheus.log").read_text()[-3000:])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    async def api(self, path: str, **params: Any) -> Any:
        async with httpx.AsyncClient(timeout=10) as http:
            reply = (await http.get(f"{self.url}/api/v1/{path}", params=params)).json()
        assert reply["status"] == "success", (path, params, reply)
        return reply["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        data = await self.api("query", query=expr)
        return list(data["result"]) if data["resultType"] in ("vector", "matrix") else [data]


class Receiver:
    """A webhook endpoint that takes every delivery (200)."""

    def __init__(self) -> None:
        self.count = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
async def responder() -> AsyncIterator[DnsResponder]:
    r = await DnsResponder().start()
    yield r
    r.stop()


async def add_forwarder(server: LiveServer, name: str, address: str) -> None:
    async def run() -> None:
        async with server.app.state.db() as session:
            forwarder = Forwarder(name=name, forwarder_type="standard", domains=["corp.example"], servers=[address])
            session.add(forwarder)
            await session.commit()

    await server.call(run())


def panel_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            out.append((f"{panel['title']} [{target['refId']}]", target["expr"]))
    return out


def grafana_to_promql(expr: str) -> str:
    """What Grafana sends for our variables: one job, every instance (the All value), the rate window."""
    return expr.replace("$__rate_interval", RATE_WINDOW).replace("$job", JOB).replace("$instance", ".*")


SELECTOR = re.compile(r"\b((?:hybrid_dns_[a-z_]+|up)(?:\{[^}]*\})?)")


def rule_selectors(expr: str) -> set[str]:
    """The series selectors of a PromQL expression (ours only name hybrid_dns_* metrics and `up`)."""
    return {m for m in SELECTOR.findall(expr)}


def has_value(result: list[dict[str, Any]]) -> bool:
    values = [r["value"][1] for r in result if "value" in r]
    return any(not math.isnan(float(v)) for v in values)


async def test_every_dashboard_panel_and_alert_rule_has_data_from_a_real_prometheus(
    make_server: MakeServer, tmp_path: Path, responder: DnsResponder, webhook_receiver: Receiver
) -> None:
    server = make_server(
        WEBSOCKET_SEND_QUEUE_SIZE=50,
        WEBHOOK_ALLOW_PRIVATE_NETWORKS=True,
        FORWARDER_CHECK_INTERVAL=0.5,
        FORWARDER_CHECK_TIMEOUT=0.3,
    )
    prometheus = Prometheus(tmp_path / "prometheus", [f"127.0.0.1:{server.port}"]).start()
    try:
        await add_forwarder(server, "corp", responder.address)
        async with server.http("admin") as http:
            created = await http.post("/api/webhooks", json={"url": webhook_receiver.url})
            assert created.status_code == 201, created.text
        # A first scrape before the traffic, so that every counter and histogram is seen to grow.
        await wait_async(
            lambda: _has(prometheus, f'hybrid_dns_ws_emit_to_send_seconds_count{{job="{JOB}"}}'), "a scrape", 30
        )
        await generate_traffic(server)
        await wait_until(lambda: webhook_receiver.count >= 1, 20, "a webhook delivery")

        # Scraped after all of it: the 4050 close is in Prometheus, then two more scrapes.
        async def scraped() -> bool:
            closed = await prometheus.query(f'hybrid_dns_ws_closed_total{{job="{JOB}", code="4050"}}')
            delivered = await prometheus.query('hybrid_dns_webhook_deliveries_total{outcome="success"} > 0')
            return has_value(closed) and has_value(delivered)

        await wait_async(scraped, "Prometheus to scrape the traffic", timeout=30)
        await asyncio.sleep(2.5)

        # Grafana's variables.
        jobs = await prometheus.api("label/job/values", **{"match[]": "hybrid_dns_ws_connections"})
        assert JOB in jobs
        instances = await prometheus.api(
            "label/instance/values", **{"match[]": f'hybrid_dns_ws_connections{{job="{JOB}"}}'}
        )
        assert f"127.0.0.1:{server.port}" in instances

        # Every panel's every query.
        empty = []
        for title, expr in panel_queries():
            if not has_value(await prometheus.query(grafana_to_promql(expr))):
                empty.append(f"{title}: {expr}")
        assert not empty, "panels without data:\n" + "\n".join(empty)

        # Every alert rule: loaded and evaluated by Prometheus without error, its inputs present.
        groups = (await prometheus.api("rules"))["groups"]
        rules = [r for g in groups for r in g["rules"]]
        assert len(rules) == 8
        await wait_async(lambda: _all_evaluated(prometheus), "every rule to be evaluated", timeout=10)
        missing = []
        for rule in rules:
            await prometheus.query(rule["query"])  # evaluates (status success) or the call fails
            assert rule_selectors(rule["query"]), rule["name"]
            for selector in rule_selectors(rule["query"]):
                if not await prometheus.query(selector):
                    missing.append(f"{rule['name']}: {selector}")
        assert not missing, "rule inputs with no series:\n" + "\n".join(missing)
    finally:
        prometheus.kill()


async def _has(prometheus: Prometheus, expr: str) -> bool:
    return has_value(await prometheus.query(expr))


async def _all_evaluated(prometheus: Prometheus) -> bool:
    rules = [r for g in (await prometheus.api("rules"))["groups"] for r in g["rules"]]
    bad = [(r["name"], r.get("lastError")) for r in rules if r.get("health") != "ok"]
    return not bad


async def wait_async(check: Callable[[], Any], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.2)


async def generate_traffic(server: LiveServer) -> None:
    """Connections of several types, events of several types, and one slow consumer closed 4050."""
    pad = "x" * 60_000
    async with (
        ws_open(server, "dns_management", "viewer", max_size=None) as fast,
        ws_open(server, "dns_management", "viewer2", max_queue=1) as slow,  # stops reading after one message
        ws_open(server, "health", "admin"),
        ws_open(server, "security", "op"),
    ):
        received = 0

        async def drain() -> None:
            nonlocal received
            while True:
                await fast.next_event(timeout=30)
                received += 1

        reader = asyncio.ensure_future(drain())
        try:
            for kind in ("zone_created", "security_alert", "health_alert", "config_change"):
                await server.emit(kind, {"zone": "corp.example", "alert": "demo", "message": "traffic"})
            sent = 0
            hub = server.realtime.hub
            # Until the stalled client's queue overflows and it is closed 4050 (at most ~60 MB).
            while any(c.user_id == "viewer2" for c in hub.connections.values()) and sent < 1000:
                for _ in range(20):
                    await server.emit("record_updated", {"zone": "corp.example", "name": "www", "pad": pad})
                sent += 20
                await asyncio.sleep(0.01)
            assert not any(c.user_id == "viewer2" for c in hub.connections.values()), "no 4050 close"
            await wait_until(lambda: received >= sent + 2, 30, "the fast client to get every event")
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        code, _ = await slow.expect_close(timeout=15)
        assert code == 4050
