"""Account events from their real sources: login, logout (revocation), failed logins; settings; the audit log."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from conftest import PASSWORD, LiveServer, refused, ws_open

from hybrid_dns.realtime.events import EventType


async def login(server: LiveServer, username: str, password: str = PASSWORD) -> Any:
    async with server.http() as http:
        return await http.post("/api/auth/login", json={"username": username, "password": password})


async def test_login_emits_user_login_to_the_user_and_admins(server: LiveServer) -> None:
    async with ws_open(server, "admin", "admin") as admin, ws_open(server, "system", "viewer2") as other:
        response = await login(server, "viewer")
        assert response.status_code == 200
        event = await admin.next_event()
        assert (event["type"], event["actor"], event["data"]["username"]) == ("user_login", "viewer", "viewer")
        assert event["data"]["source"] == "127.0.0.1"
        marker = await server.emit("config_change", {"section": "marker"})
        assert (await other.next_event())["id"] == marker.id  # another viewer does not see it


async def test_repeated_failed_logins_raise_one_security_alert(make_server: Any) -> None:
    server: LiveServer = make_server(LOGIN_FAILURE_LIMIT=3)
    async with ws_open(server, "security", "op") as security:
        for _ in range(2):
            assert (await login(server, "viewer", "wrong password")).status_code == 401
        assert (await login(server, "nobody", "whatever")).status_code == 401  # unknown users count too
        alert = await security.next_event()
        assert alert["type"] == "security_alert" and alert["data"]["alert"] == "repeated_login_failures"
        assert alert["data"]["failures"] == 3 and alert["data"]["source"] == "127.0.0.1"
        assert alert["data"]["last_username"] == "nobody" and alert["severity"] == "warning"
        for _ in range(3):  # throttled now (tests/test_login_throttle.py): refused, not counted, no alert
            assert (await login(server, "viewer", "wrong password")).status_code == 429
        marker = await server.emit("rpz_update", {"marker": True})
        assert (await security.next_event())["id"] == marker.id  # one alert, not one per attempt


async def test_logout_revokes_the_token_and_closes_its_sockets_with_4001(server: LiveServer) -> None:
    token = (await login(server, "viewer")).json()["access_token"]
    other_token = server.token("viewer")
    async with (
        ws_open(server, "health", "viewer", token=token) as same_session,
        ws_open(server, "system", "viewer", token=other_token) as other_session,
        ws_open(server, "admin", "admin") as admin,
    ):
        async with server.http() as http:
            headers = {"Authorization": f"Bearer {token}"}
            assert (await http.post("/api/auth/logout", headers=headers)).status_code == 204
            event = await same_session.next_event()
            assert event["type"] == "session_expired" and event["data"]["reason"] == "logout"
            assert await same_session.expect_close() == (4001, "signed out")
            me = await http.get("/api/auth/me", headers=headers)
            assert me.status_code == 401 and me.json()["detail"] == "token revoked"
        seen = await admin.events_until(lambda e: e["type"] == "user_logout")
        assert seen[-1]["actor"] == "viewer"
        assert await refused(server, "health", "viewer", token=token) == (4401, "token revoked")
        # The same user's other session is untouched (it saw the event, which names the other session).
        expired = await other_session.events_until(lambda e: e["type"] == "session_expired")
        assert expired[-1]["data"]["session_id"] != ""
        await other_session.send({"type": "ping", "id": "still-open"})
        assert (await other_session.reply("pong"))["id"] == "still-open"


async def test_settings_change_live_persist_and_announce_who_changed_them(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data").start()
    try:
        async with ws_open(server, "system", "viewer") as system, server.http("admin") as admin:
            before = (await admin.get("/api/settings")).json()
            assert before["SYSTEM_BROADCAST_INTERVAL"] == 3600
            response = await admin.put(
                "/api/settings", json={"SYSTEM_BROADCAST_INTERVAL": 15, "LOGIN_FAILURE_LIMIT": 9}
            )
            assert response.status_code == 200
            assert response.json()["changed"]["SYSTEM_BROADCAST_INTERVAL"] == {"old": 3600, "new": 15}
            event = await system.next_event()
            assert event["type"] == "config_change" and event["actor"] == "admin"
            assert event["data"]["changed_by"] == "admin" and event["data"]["section"] == "settings"
            assert set(event["data"]["changes"]) == {"SYSTEM_BROADCAST_INTERVAL", "LOGIN_FAILURE_LIMIT"}
            assert server.realtime.broadcaster(EventType.SYSTEM_STATUS).interval() == 15  # live
            bad = await admin.put("/api/settings", json={"SYSTEM_BROADCAST_INTERVAL": 0})
            assert bad.status_code == 422 and "SYSTEM_BROADCAST_INTERVAL" in bad.json()["detail"]
            unknown = await admin.put("/api/settings", json={"SECRET_KEY": "x"})
            assert unknown.status_code == 422
        async with server.http("op") as op:
            assert (await op.put("/api/settings", json={"LOGIN_FAILURE_LIMIT": 1})).status_code == 403
    finally:
        server.stop()
    server = LiveServer(tmp_path / "data").start()
    try:
        async with server.http("admin") as admin:
            after = (await admin.get("/api/settings")).json()
            assert after["SYSTEM_BROADCAST_INTERVAL"] == 15 and after["LOGIN_FAILURE_LIMIT"] == 9
    finally:
        server.stop()


async def test_audit_log_records_security_relevant_actions(server: LiveServer) -> None:
    await login(server, "viewer")
    await login(server, "viewer", "bad password")
    await refused(server, "admin", "viewer")  # role refusal on a socket
    async with server.http("op") as op:
        assert (await op.get("/api/audit")).status_code == 403  # a role refusal on HTTP
    async with server.http("admin") as admin:

        async def entries(**params: Any) -> list[dict[str, Any]]:
            return list((await admin.get("/api/audit", params=params)).json()["entries"])

        logins = await entries(action="auth.login")
        assert [(e["outcome"], e["actor"] or e["target"]) for e in logins] == [
            ("failure", "viewer"),
            ("success", "viewer"),
        ]
        assert all(e["source"] == "127.0.0.1" and e["time"].endswith("Z") for e in logins)
        ws: list[dict[str, Any]] = []
        async with asyncio.timeout(5):  # written just after the close frame went out
            while not ws:
                ws = await entries(action="ws.refused")
        details = ws[0]["details"]
        assert (details["code"], details["reason"]) == (4403, "role viewer may not open admin")
        http_refusals = await entries(action="http.refused", actor="op")
        assert http_refusals[0]["target"] == "GET /api/audit"
        assert len(await entries(outcome="failure")) == 1
        page = (await admin.get("/api/audit", params={"limit": 1})).json()
        assert page["total"] >= 4 and len(page["entries"]) == 1
        assert (await admin.delete("/api/audit")).status_code in (404, 405)  # never deleted through the API
