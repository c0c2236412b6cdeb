"""The event service as business code uses it (decorator on a real route), broadcasters, and the HTTP side."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import LiveServer, wait_until, ws_open
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from hybrid_dns.api.deps import AnyUser
from hybrid_dns.realtime.events import EVENTS_BY_CONNECTION_TYPE, ConnectionType, EventType
from hybrid_dns.realtime.service import WebSocketEventBatch, emit_websocket_event


class ZoneIn(BaseModel):
    name: str


def add_zone_routes(app: FastAPI) -> None:
    @app.post("/test/zones", status_code=201)
    @emit_websocket_event(EventType.ZONE_CREATED, data_extractor=lambda result: {"zone": result["name"]})
    async def create_zone(body: ZoneIn, current_user: AnyUser) -> dict[str, Any]:
        if body.name == "taken.example":
            raise HTTPException(409, "zone exists")
        return {"name": body.name, "owner": current_user.username}

    # The route is ordinary FastAPI: its parameters still come from the signature.
    assert create_zone.__name__ == "create_zone"


async def test_decorator_emits_after_a_real_route_returns_and_not_when_it_fails(make_server: Any) -> None:
    server: LiveServer = make_server(configure=add_zone_routes)
    async with ws_open(server, "dns_management", "viewer") as client, server.http("op") as http:
        ok = await http.post("/test/zones", json={"name": "new.example"})
        assert ok.status_code == 201 and ok.json() == {"name": "new.example", "owner": "op"}
        event = await client.next_event()
        assert (event["type"], event["data"], event["actor"]) == ("zone_created", {"zone": "new.example"}, "op")

        assert (await http.post("/test/zones", json={"name": "taken.example"})).status_code == 409
        assert (await http.post("/test/zones", json={"nom": "x"})).status_code == 422
        marker = await server.emit("zone_updated", {"zone": "marker"})
        assert (await client.next_event())["id"] == marker.id  # nothing from the failed calls came first


async def test_broadcasters_run_only_while_someone_listens(make_server: Any) -> None:
    server: LiveServer = make_server(broadcasters=True, SYSTEM_BROADCAST_INTERVAL=0.2, HEALTH_BROADCAST_INTERVAL=0.2)
    system = server.realtime.broadcaster(EventType.SYSTEM_STATUS)
    health = server.realtime.broadcaster(EventType.HEALTH_UPDATE)
    assert not system.running and not health.running
    async with ws_open(server, "system", "viewer") as client:
        await wait_until(lambda: system.running)
        assert not health.running  # nobody on a connection that receives health_update
        first = await client.next_event()
        second = await client.next_event()
        assert first["type"] == second["type"] == "system_status"
        data = first["data"]
        assert 0 <= data["cpu_percent"] <= 100
        assert 0 < data["memory"]["percent"] <= 100 and data["memory"]["total_bytes"] > 0
        assert data["disk"]["total_bytes"] > 0
        assert data["connections"]["by_type"]["system"] == 1
        assert data["uptime_seconds"] > 0 and "1m" in data["load_average"]
        async with ws_open(server, "health", "viewer") as health_client:
            await wait_until(lambda: health.running)
            assert (await health_client.next_event())["type"] in {"health_update", "system_status"}
        await wait_until(lambda: not health.running)
    await wait_until(lambda: not system.running)


async def test_broadcaster_start_stop_is_safe_under_connection_churn(make_server: Any) -> None:
    server: LiveServer = make_server(broadcasters=True, SYSTEM_BROADCAST_INTERVAL=0.05)
    system = server.realtime.broadcaster(EventType.SYSTEM_STATUS)

    async def churn(i: int) -> None:
        for _ in range(5):
            async with ws_open(server, "system", "viewer" if i % 2 else "viewer2"):
                await asyncio.sleep(0)

    async with ws_open(server, "system", "admin") as steady:
        await asyncio.gather(*(churn(i) for i in range(8)))
        assert system.running
        tasks = await server.call_fn(
            lambda: [t for t in asyncio.all_tasks() if t.get_name() == "broadcast:system_status"]
        )
        assert len(tasks) == 1
        assert (await steady.next_event())["type"] == "system_status"
    await wait_until(lambda: not system.running)


async def test_demo_endpoints_are_admin_only_and_validate_bodies(server: LiveServer) -> None:
    async with server.http() as anonymous, server.http("viewer") as viewer, server.http("op") as op:
        assert (await anonymous.post("/api/websocket-demo/emit-dns-event", json={})).status_code == 401
        assert (await viewer.post("/api/websocket-demo/emit-dns-event", json={})).status_code == 403
        assert (await op.get("/api/websocket-demo/connection-stats")).status_code == 403
        assert (await op.get("/api/websocket/stats")).status_code == 403
    async with server.http("admin") as admin:
        for path, body, field in [
            ("/api/websocket-demo/emit-dns-event", {"event_type": "security_alert"}, "event_type"),
            ("/api/websocket-demo/emit-security-event", {"event_type": "zone_created"}, "event_type"),
            ("/api/websocket-demo/emit-dns-event", {"data": "not an object"}, "data"),
            ("/api/websocket-demo/simulate-dns-workflow", {"zone_name": "not a domain"}, "zone_name"),
            ("/api/websocket-demo/simulate-dns-workflow", {"record_count": 500}, "record_count"),
        ]:
            response = await admin.post(path, json=body)
            assert response.status_code == 422, (path, body, response.text)
            assert field in response.json()["detail"]
        bad_json = await admin.post(
            "/api/websocket-demo/emit-dns-event", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert bad_json.status_code == 422
        assert (await admin.get("/api/websocket-demo/connection-stats")).status_code == 200


async def test_simulated_workflow_arrives_in_order(server: LiveServer) -> None:
    async with ws_open(server, "dns_management", "viewer") as client, server.http("admin") as admin:
        response = await admin.post(
            "/api/websocket-demo/simulate-dns-workflow",
            json={"zone_name": "Demo.Example", "record_count": 2, "delay_ms": 20},
        )
        assert response.status_code == 200, response.text
        types = [e["type"] for e in response.json()]
        assert types == ["zone_created", "record_created", "record_created", "bind_reload", "config_change"]
        got = [await client.next_event() for _ in types]
        assert [e["type"] for e in got] == types
        assert got[0]["data"]["zone"] == "demo.example" and got[0]["actor"] == "admin"
        security = await admin.post("/api/websocket-demo/emit-security-event", json={"severity": "critical"})
        assert security.status_code == 200


async def test_stats_metrics_healthz_and_client_config(server: LiveServer) -> None:
    async with ws_open(server, "health", "viewer"), ws_open(server, "admin", "admin") as admin_ws:
        await server.emit("zone_created", {"zone": "m.example"})
        await admin_ws.next_event()
        async with server.http("admin") as admin:
            stats = (await admin.get("/api/websocket/stats")).json()
            assert stats["total_connections"] == 2
            assert stats["connections_by_type"]["health"] == 1 and stats["connections_by_type"]["admin"] == 1
            assert {c["user_id"] for c in stats["connections"]} == {"viewer", "admin"}
            metrics = (await admin.get("/metrics")).text
        for name in (
            'hybrid_dns_ws_connections{connection_type="health"} 1.0',
            'hybrid_dns_events_emitted_total{event_type="zone_created"} 1.0',
            "hybrid_dns_ws_frames_sent_total",
            "hybrid_dns_ws_frames_dropped_total",
            'hybrid_dns_ws_queue_depth{stat="total"}',
            "hybrid_dns_ws_emit_to_send_seconds_bucket",
        ):
            assert name in metrics, name
    async with server.http() as anonymous:
        health = await anonymous.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        config = (await anonymous.get("/api/websocket/config")).json()
        assert config["ping_interval"] == 30 and config["max_reconnect_attempts"] == 5
        assert config["reconnect_interval"] == 5
        assert config["health_broadcast_interval"] == 3600  # the harness's override, read live
        assert set(config["connection_types"]["health"]) >= {"health_update", "health_alert"}


async def test_demo_disabled_by_setting(make_server: Any) -> None:
    server: LiveServer = make_server(WEBSOCKET_DEMO_ENABLED=False)
    async with server.http("admin") as admin:
        assert (await admin.post("/api/websocket-demo/test-all-events")).status_code == 404


async def test_dashboard_is_served_with_client_routing(make_server: Any, tmp_path: Any) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>dash</title>")
    (dist / "assets" / "app-1234.js").write_text("console.log('app')")
    (dist / "favicon.svg").write_text("<svg/>")
    server: LiveServer = make_server(FRONTEND_DIR=str(dist))
    async with server.http() as http:
        for path in ("/", "/notifications", "/some/deep/route"):
            page = await http.get(path)
            assert page.status_code == 200 and "<title>dash</title>" in page.text, path
        asset = await http.get("/assets/app-1234.js")
        assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]
        assert (await http.get("/favicon.svg")).status_code == 200
        assert (await http.get("/assets/missing.js")).status_code == 404
        assert (await http.get("/api/no-such-endpoint")).status_code == 404
        assert (await http.post("/api/no-such-endpoint")).status_code == 404
        assert (await http.get("/healthz")).json()["status"] == "ok"
        assert (await http.get("/api/websocket/config")).status_code == 200


@pytest.mark.parametrize("enabled", [False, True])
async def test_permessage_deflate_is_a_setting(make_server: Any, enabled: bool) -> None:
    server: LiveServer = make_server(WEBSOCKET_PERMESSAGE_DEFLATE=enabled)
    async with (
        ws_open(server, "admin", "admin", compression="deflate") as client,
        ws_open(server, "admin", "admin", compression=None) as plain,
    ):
        extensions = [type(e).__name__ for e in client.ws.protocol.extensions]
        assert (extensions == ["PerMessageDeflate"]) is enabled, extensions
        assert plain.ws.protocol.extensions == []
        # One dispatch reaches a compressed and an uncompressed socket: each gets a frame it can read.
        event = await server.emit("zone_created", {"zone": "z" * 2000})
        for ws in (client, plain):
            got = await ws.next_event()
            assert got["id"] == event.id and got["data"]["zone"] == "z" * 2000

        async def emit_batch() -> list[int]:
            async with WebSocketEventBatch() as batch:
                batch.add(EventType.ZONE_UPDATED, {"zone": "a.example"})
                batch.add(EventType.ZONE_UPDATED, {"zone": "b.example"})
            return [e.seq for e in batch.events]

        seqs = await server.call(emit_batch())
        for ws in (client, plain):
            frame = await ws.recv()
            assert frame["type"] == "batch" and [e["seq"] for e in frame["events"]] == seqs


async def test_a_demo_config_change_changes_no_live_setting(server: LiveServer) -> None:
    """Only the settings API (validated, stored, audited) changes settings: an event's body never does."""
    forged = {
        "section": "settings",
        "changes": {"LOGIN_FAILURE_LIMIT": {"old": 5, "new": 1000}, "HEALTH_BROADCAST_INTERVAL": {"new": 1}},
        "changed_by": "admin",
        "demo": False,
    }
    async with ws_open(server, "system", "admin") as client, server.http("admin") as admin:
        before = (await admin.get("/api/settings")).json()
        demo = {"event_type": "config_change", "data": forged}
        response = await admin.post("/api/websocket-demo/emit-dns-event", json=demo)
        assert response.status_code == 200, response.text
        event = await client.next_event()  # delivered here: every event hook has seen it
        assert event["id"] == response.json()["id"]
        assert event["data"]["demo"] is True, "demo data must always say it is demo data"
        assert (await admin.get("/api/settings")).json() == before
        # The settings API itself still changes them.
        changed = await admin.put("/api/settings", json={"LOGIN_FAILURE_LIMIT": 9})
        assert changed.status_code == 200, changed.text
        assert (await admin.get("/api/settings")).json() == {**before, "LOGIN_FAILURE_LIMIT": 9}


async def test_an_idempotency_key_emits_once(server: LiveServer) -> None:
    async with ws_open(server, "dns_management", "viewer") as client, server.http("admin") as admin:

        async def emit(path: str, key: str | None, body: dict[str, Any] | None = None) -> Any:
            headers = {"Idempotency-Key": key} if key is not None else {}
            response = await admin.post(f"/api/websocket-demo/{path}", json=body or {}, headers=headers)
            assert response.status_code == 200, response.text
            return response.json()

        first = await emit("emit-dns-event", "k-1", {"data": {"n": 1}})
        again = await emit("emit-dns-event", "k-1", {"data": {"n": 1}})
        assert again == first  # one event: the same id and seq
        other = await emit("emit-dns-event", "k-2", {"data": {"n": 2}})
        plain = [await emit("emit-dns-event", None) for _ in range(2)]
        assert other["seq"] > first["seq"] and plain[0]["id"] != plain[1]["id"]
        got = [await client.next_event() for _ in range(4)]
        assert [e["id"] for e in got] == [first["id"], other["id"], plain[0]["id"], plain[1]["id"]]

        body = {"zone_name": "once.example", "record_count": 1, "delay_ms": 0}
        workflow = await emit("simulate-dns-workflow", "wf-1", body)
        assert await emit("simulate-dns-workflow", "wf-1", body) == workflow
        all_events = await emit("test-all-events", "all-1")
        assert await emit("test-all-events", "all-1") == all_events
        marker = await emit("emit-dns-event", None)
        seen = await client.events_until(lambda e: e["id"] == marker["id"])
        # What a viewer's dns_management socket shows (session_expired goes only to its subject, admin).
        visible = EVENTS_BY_CONNECTION_TYPE[ConnectionType.DNS_MANAGEMENT] - {EventType.SESSION_EXPIRED}
        expected = {e["id"] for e in workflow + all_events if e["type"] in visible}
        assert len(seen) == len({e["id"] for e in seen}), "an event published twice"
        assert {e["id"] for e in seen} == expected | {marker["id"]}

        for bad in ("", "has space", "x" * 129, "tab\tkey"):
            refused = await admin.post("/api/websocket-demo/emit-dns-event", json={}, headers={"Idempotency-Key": bad})
            assert refused.status_code == 422, (bad, refused.text)
            assert "Idempotency-Key" in refused.json()["detail"]
