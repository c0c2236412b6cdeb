"""A webhook receiver of the test's own: a real HTTP/1.1 server on a free port that records every
request and answers as the test says (a status, a delay, a redirect, or no answer at all), and a
"dead" endpoint that accepts TCP connections and never answers. Signatures are checked with the
Standard Webhooks reference library (`standardwebhooks`), not with our own code.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import time
from collections.abc import Callable
from typing import Any

import orjson
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclasses.dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic()

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def verifies_with(self, secret: str) -> bool:
        """The Standard Webhooks library's verdict on this request with `secret`."""
        try:
            StandardWebhook(secret).verify(self.body, self.headers)
        except WebhookVerificationError:
            return False
        return True


@dataclasses.dataclass
class Answer:
    status: int = 200
    delay: float = 0.0
    hang: bool = False  # read the request, never answer
    body: bytes = b"ok"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


class Receiver:
    """Answers each request with `answer(request)` (default: 200 at once)."""

    def __init__(self, answer: Callable[[Received], Answer] | None = None) -> None:
        self.answer = answer or (lambda _: Answer())
        self.requests: list[Received] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._release = asyncio.Event()
        self._handlers: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    def ids(self, path: str = "/hook") -> list[str]:
        return [r.webhook_id for r in self.requests if r.path == path]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            _, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            received = Received(path, headers, body, time.monotonic())
            self.requests.append(received)
            answer = self.answer(received)
            if answer.hang:
                await self._release.wait()
                return
            if answer.delay:
                await asyncio.sleep(answer.delay)
            extra = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
            writer.write(
                f"HTTP/1.1 {answer.status} X\r\nContent-Length: {len(answer.body)}\r\n{extra}"
                "Connection: close\r\n\r\n".encode()
                + answer.body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            if task is not None:
                self._handlers.discard(task)


class DeadEndpoint:
    """Accepts TCP connections (the kernel completes the handshake into the backlog) and never reads
    or answers: the worst endpoint there is."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dead"

    def close(self) -> None:
        self.sock.close()
