"""The HTTP API is a contract: a property-based run over the server's own OpenAPI document finds nothing.

Schemathesis (the real program, as a subprocess) generates requests from `/openapi.json`, valid and
invalid, sends them to a live server and checks every answer against the document: no server error,
every status code and content type documented, every body matching its schema, schema-valid requests
accepted and invalid ones refused. The seed is fixed, so a failure reproduces; zero failures allowed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
from conftest import LiveServer, require

MakeServer = Callable[..., LiveServer]

SEED = "20261202"
CONFIG = Path(__file__).parent / "contract" / "schemathesis.toml"


def _schemathesis() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    require(found is not None, "the schemathesis program (pip install schemathesis)")
    assert found is not None
    return found


def _run(
    server: LiveServer, username: str, workdir: Path, *extra: str, max_examples: int = 25
) -> subprocess.CompletedProcess[str]:
    args = [
        _schemathesis(),
        "--config-file",
        str(CONFIG),
        "run",
        f"{server.base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {server.token(username, ttl=3600)}",
        "--checks",
        "all",
        "--seed",
        SEED,
        "--max-examples",
        str(max_examples),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        # Signing out would revoke the run's own token: its contract is tested in test_accounts.
        "--exclude-path",
        "/api/auth/logout",
        "--no-color",
        *extra,
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"}
    # Run in the test's own folder: schemathesis keeps a cache where it runs.
    return subprocess.run(args, capture_output=True, text=True, timeout=600, env=env, check=False, cwd=workdir)


def _assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode != 0:
        out = result.stdout + result.stderr
        raise AssertionError(f"schemathesis found failures (exit {result.returncode}):\n{out[-20000:]}")


async def test_the_openapi_document_holds_for_an_admin(make_server: MakeServer, tmp_path: Path) -> None:
    server = make_server()
    _assert_clean(_run(server, "admin", tmp_path))


async def test_the_openapi_document_holds_for_a_viewer(make_server: MakeServer, tmp_path: Path) -> None:
    """A viewer gets documented 403s on writes, never anything undocumented."""
    server = make_server()
    _assert_clean(_run(server, "viewer", tmp_path, max_examples=10))


async def test_interactive_docs_load_without_the_internet(server: LiveServer) -> None:
    """On an air-gapped management network /docs must still work: its assets come from this server."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        page = await http.get("/docs")
        assert page.status_code == 200
        assert "cdn.jsdelivr.net" not in page.text and "unpkg.com" not in page.text
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
            assert asset in page.text
        for line in page.text.split('"'):
            if line.startswith("/") and line.endswith((".js", ".css")):
                got = await http.get(line)
                assert got.status_code == 200, line
                assert len(got.content) > 1000, line
