"""POST /api/integrations/alertmanager as an HTTP contract: its own token, events once, bad input refused.

Payloads are Alertmanager's webhook format (version 4) as documented and as test_alertmanager.py
sees a real Alertmanager send them; events are read on a real `admin` WebSocket. A marker event
emitted after a request proves that the request published nothing more (one order for every event).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from conftest import LiveServer, WsClient, require, ws_open

MakeServer = Callable[..., LiveServer]

TOKEN = "am-webhook-" + "x" * 32
PATH = "/api/integrations/alertmanager"


def notification(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="DiskFull"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "hybrid-dns",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": list(alerts),
    }


def alert(name: str, status: str = "firing", fingerprint: str = "", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": f"{name} summary"},
        "startsAt": "2026-12-02T08:00:00.123456789Z",
        "endsAt": "2026-12-02T08:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up",
        "fingerprint": fingerprint or f"{abs(hash(name)) % 16**16:016x}",
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def marker(server: LiveServer, client: WsClient) -> list[dict[str, Any]]:
    """Events received up to a marker emitted now: what a request published, and nothing after it."""
    await server.emit("config_change", {"section": "test", "marker": True})
    return (await client.events_until(lambda e: e["data"].get("marker") is True))[:-1]


async def test_the_webhook_takes_its_own_token_and_nothing_else(make_server: MakeServer) -> None:
    server = make_server(ALERTMANAGER_WEBHOOK_TOKEN=TOKEN)
    body = notification(alert("DiskFull"))
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        for headers in ({}, bearer("wrong-" + "y" * 30), bearer(server.token("admin")), {"Authorization": TOKEN}):
            reply = await http.post(PATH, json=body, headers=headers)
            assert reply.status_code == 401, (headers, reply.text)
            assert reply.headers["www-authenticate"] == "Bearer"
            assert reply.json()["detail"].startswith("not authenticated")
        assert (await http.post(PATH, json=body, headers=bearer(TOKEN))).status_code == 200
        # The webhook's token opens nothing else.
        assert (await http.get("/api/events", headers=bearer(TOKEN))).status_code == 401
        assert (await http.get("/api/websocket/stats", headers=bearer(TOKEN))).status_code == 401

    unset = make_server()  # no ALERTMANAGER_WEBHOOK_TOKEN: every request is refused
    async with httpx.AsyncClient(base_url=unset.base_url, timeout=10) as http:
        assert (await http.post(PATH, json=body, headers=bearer(TOKEN))).status_code == 401


async def test_each_alert_becomes_one_event_once_and_ours_are_skipped(make_server: MakeServer) -> None:
    server = make_server(ALERTMANAGER_WEBHOOK_TOKEN=TOKEN)
    disk = alert("DiskFull", severity="critical", instance="db1:9100", zone="corp.example")
    ssh = alert("SSHBruteForce", category="security", severity="warning")
    ours = alert("HybridDNSForwarderDown", source="hybrid-dns", severity="critical", forwarder="corp")
    async with ws_open(server, "admin", "admin") as client, httpx.AsyncClient(
        base_url=server.base_url, headers=bearer(TOKEN), timeout=10
    ) as http:
        reply = await http.post(PATH, json=notification(disk, ssh, ours))
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"received": 3, "emitted": 2, "own": 1, "repeated": 0}
        events = await marker(server, client)
        assert [(e["type"], e["severity"], e["data"]["alertname"]) for e in events] == [
            ("health_alert", "critical", "DiskFull"),
            ("security_alert", "warning", "SSHBruteForce"),
        ]
        data = events[0]["data"]
        assert data == {
            "source": "alertmanager",
            "alertname": "DiskFull",
            "alert": "DiskFull",
            "status": "firing",
            "state": "raised",
            "message": "DiskFull firing: DiskFull summary",
            "labels": disk["labels"],
            "annotations": disk["annotations"],
            "starts_at": "2026-12-02T08:00:00.123456Z",
            "ends_at": None,
            "fingerprint": disk["fingerprint"],
            "generator_url": disk["generatorURL"],
            "receiver": "hybrid-dns",
            "external_url": "http://alertmanager.example:9093",
            "zones": ["corp.example"],
        }
        assert events[0]["about"]["zone"] == "corp.example"  # the dashboard links it to the zone

        # Alertmanager sends the group again on every change in it, and every repeat_interval: nothing new.
        again = await http.post(PATH, json=notification(disk, ssh))
        assert again.json() == {"received": 2, "emitted": 0, "own": 0, "repeated": 2}
        assert await marker(server, client) == []

        # Resolved: one event more, at info, `cleared`.
        resolved_disk = alert("DiskFull", "resolved", disk["fingerprint"])
        done = await http.post(PATH, json=notification(resolved_disk, status="resolved"))
        assert done.json()["emitted"] == 1
        (resolved,) = await marker(server, client)
        assert (resolved["type"], resolved["severity"]) == ("health_alert", "info")
        assert resolved["data"]["status"] == "resolved" and resolved["data"]["state"] == "cleared"
        assert resolved["data"]["ends_at"] == "2026-12-02T08:30:00Z"


async def test_a_bad_notification_is_refused_naming_the_field_and_publishes_nothing(make_server: MakeServer) -> None:
    server = make_server(ALERTMANAGER_WEBHOOK_TOKEN=TOKEN, HTTP_MAX_BODY_BYTES=65536)
    async with ws_open(server, "admin", "admin") as client, httpx.AsyncClient(
        base_url=server.base_url, headers=bearer(TOKEN), timeout=10
    ) as http:
        cases = [
            ({**notification(alert("A")), "version": "3"}, "version"),
            (notification({**alert("A"), "status": "pending"}), "alerts.0.status"),
            (notification({**alert("A"), "labels": "alertname=A"}), "alerts.0.labels"),
            (notification({**alert("A"), "startsAt": 1764662400}), "alerts.0.startsAt"),
            (notification(*[{"status": "firing", "labels": {}}] * 1001), "alerts"),
            ({"alerts": []}, "version"),
        ]
        for body, field in cases:
            reply = await http.post(PATH, json=body)
            assert reply.status_code == 422, (field, reply.text)
            assert field in [e["field"] for e in reply.json()["errors"]], (field, reply.json())
        truncated = b'{"version": "4", "alerts": ['
        reply = await http.post(PATH, content=truncated, headers={"Content-Type": "application/json"})
        assert reply.status_code == 422
        big = notification(alert("A", huge="x" * 2000), *[alert(f"B{i}", huge="x" * 2000) for i in range(40)])
        reply = await http.post(PATH, json=big)
        assert reply.status_code == 413, reply.text
        assert await marker(server, client) == []


def _schemathesis() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    require(found is not None, "the schemathesis program (pip install schemathesis)")
    assert found is not None
    return found


async def test_the_webhook_holds_its_openapi_contract_with_its_token(make_server: MakeServer, tmp_path: Path) -> None:
    """tests/test_api_contract.py runs schemathesis with a user's token, which this operation refuses:
    here it runs with the webhook's token, so that its documented answers are exercised too."""
    server = make_server(ALERTMANAGER_WEBHOOK_TOKEN=TOKEN)
    args = [
        _schemathesis(),
        "--config-file",
        str(Path(__file__).parent / "contract" / "schemathesis.toml"),
        "run",
        f"{server.base_url}/openapi.json",
        "--include-path",
        PATH,
        "--header",
        f"Authorization: Bearer {TOKEN}",
        "--checks",
        "all",
        "--seed",
        "20261202",
        "--max-examples",
        "40",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"}
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env, check=False, cwd=tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 0, f"schemathesis found failures (exit {result.returncode}):\n{out[-20000:]}"
    assert "1 selected" in out or "alertmanager" in out, out[-2000:]
