"""The driver's side of a server's bench routes (`benchkit.server`): HTTP/1.1 on loopback, with httpx.

Each request has a connection of its own. A kept-alive connection would race the server's idle
timeout: a server process that the machine starves of CPU for a few seconds (a shared machine, a
server that is the bottleneck of its run) wakes up with its keep-alive timer and the next request
both due, may run the timer first, and closes the connection under the request. A new connection
costs the driver and the server about a millisecond, twice a second.
"""

from __future__ import annotations

from typing import Any

import httpx


class BenchApi:
    """`POST /bench/emit`, `/bench/stop`, `/bench/gc` and `GET /bench/status` of one server.

    A call that gets no answer in time raises TimeoutError: a server whose event loop is stuck in a
    send loop answers late, and a caller may take that as a result rather than an error. Any other
    failure raises RuntimeError naming the request.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        # trust_env=False: no proxy from the environment, whatever it says, for a loopback address.
        self._client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def request(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        where = f"{method} {path} on port {self.port}"
        try:
            response = await self._client.request(method, path, json=body, timeout=timeout)
        except httpx.TimeoutException as exc:
            raise TimeoutError(f"{where}: no answer within {timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise RuntimeError(f"{where}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise RuntimeError(f"{where}: HTTP {response.status_code}; response: {response.content[:400]!r}")
        return response.json()

    async def emit(self, phase: int, count: int, rate: float, concurrency: int, payload_bytes: int) -> Any:
        body = {"phase": phase, "count": count, "rate": rate, "concurrency": concurrency}
        return await self.request("POST", "/bench/emit", {**body, "payload_bytes": payload_bytes})

    async def status(self, timeout: float = 120) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", "/bench/status", timeout=timeout)
        return result

    async def stop(self, timeout: float = 300) -> Any:
        return await self.request("POST", "/bench/stop", timeout=timeout)

    async def gc(self, timeout: float = 30) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("POST", "/bench/gc", timeout=timeout)
        return result

    async def aclose(self) -> None:
        await self._client.aclose()
