"""A known API path asked with a method it does not take answers 405 naming the methods it takes, with
and without the dashboard mounted beside the API (whose catch-all routes must not turn it into 404)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import LiveServer

CASES = [
    ("PUT", "/api/events", "GET"),
    ("DELETE", "/api/zones", "GET, POST"),
    ("PATCH", "/api/users", "GET, POST"),
    ("POST", "/api/events/unread-count", "GET"),
]


async def _check(server: LiveServer) -> None:
    async with server.http("admin") as http:
        for method, path, allow in CASES:
            response = await http.request(method, path)
            assert response.status_code == 405, (method, path, response.status_code)
            assert response.headers["allow"] == allow, (method, path)
            assert response.json() == {"detail": "Method Not Allowed"}
        assert (await http.put("/api/no-such-thing")).status_code == 404


async def test_a_wrong_method_is_405_with_allow(server: LiveServer) -> None:
    await _check(server)


async def test_a_wrong_method_is_405_with_the_dashboard_mounted(make_server: Any, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><title>dashboard</title>")
    server: LiveServer = make_server(FRONTEND_DIR=str(dist))
    async with server.http("admin") as http:
        page = await http.get("/zones")
        assert page.status_code == 200 and "dashboard" in page.text  # the dashboard is there
    await _check(server)
