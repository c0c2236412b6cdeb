"""Limits on what one client can make the server hold or write: a rate rule, request bodies, log lines.

Behind the documented nginx these are also enforced there; they are here so that a server run
directly (`hybrid-dns serve`, a container port) is bounded too. The WebSocket protocol's own
limits (messages, pings) are built on the same `TokenBucket` (realtime/protocol.py).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import Settings

# --- the rate rule ----------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class TokenBucket:
    """Classic token bucket; `now` is passed in so the rule is testable without a clock."""

    rate: float
    burst: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate: float, burst: float, now: float) -> TokenBucket:
        return cls(rate, burst, burst, now)

    def take(self, now: float) -> bool:
        elapsed = max(0.0, now - self.updated)
        self.updated = now
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


# --- log lines --------------------------------------------------------------------------------


class LogThrottle:
    """At most `rate` lines a second (after a burst) for one kind of client-caused event.

    A client decides how often it sends a bad frame or a refused handshake: one line each would let
    it fill the disk and drown the lines that matter. Lines over the rate are counted, and the next
    line written says how many were left out. Servers of several apps in one process share it.
    """

    def __init__(self, logger: logging.Logger, rate: float, burst: int) -> None:
        self.logger = logger
        self._bucket = TokenBucket.full(rate, burst, time.monotonic())
        self._suppressed = 0
        self._lock = threading.Lock()

    def log(self, level: int, msg: str, *args: Any) -> None:
        if not self.logger.isEnabledFor(level):
            return
        with self._lock:
            if not self._bucket.take(time.monotonic()):
                self._suppressed += 1
                return
            suppressed, self._suppressed = self._suppressed, 0
        if suppressed:
            msg += " (%d similar lines suppressed)"
            args = (*args, suppressed)
        self.logger.log(level, msg, *args)

    def reset(self) -> None:
        """Full again, nothing suppressed (for tests that count lines)."""
        with self._lock:
            self._bucket.tokens = self._bucket.burst
            self._suppressed = 0


# --- request bodies ---------------------------------------------------------------------------


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes its limit.

    An HTTPException, so that FastAPI, which re-raises those from its body parsing, answers it with
    its usual JSON error; the `Connection: close` header makes uvicorn drop the rest of the upload.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large_message(limit), headers={"Connection": "close"})


def _too_large_message(limit: int) -> str:
    return f"request body too large: at most {limit} bytes"


class BodyLimit:
    """Answers 413 to a request whose body is over its path's limit, without reading that body.

    A declared `Content-Length` over the limit is refused before the app runs: the client gets the
    answer while it is still sending, and uvicorn closes the connection instead of reading on. A
    body without a length (chunked) is counted as the app reads it. The first matching path prefix
    sets the limit; other paths get `default`.
    """

    def __init__(self, app: ASGIApp, default: int, prefixes: Sequence[tuple[str, int]] = ()) -> None:
        self.app = app
        self.default = default
        self.prefixes = tuple(prefixes)

    @classmethod
    def for_settings(cls, settings: Settings) -> Callable[[ASGIApp], ASGIApp]:
        """Wraps an app in the settings' limits: HTTP_MAX_BODY_BYTES, and HTTP_AUTH_MAX_BODY_BYTES for /api/auth/."""
        return functools.partial(
            cls, default=settings.HTTP_MAX_BODY_BYTES, prefixes=[("/api/auth/", settings.HTTP_AUTH_MAX_BODY_BYTES)]
        )

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.prefixes:
            if path.startswith(prefix):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: int | None = None
        chunked = False
        for name, value in scope.get("headers") or ():
            if name == b"content-length":
                length = int(value) if value.isdigit() else None  # h11 has refused any other form
            elif name == b"transfer-encoding":
                chunked = True
        if length is None and not chunked:
            await self.app(scope, receive, send)  # no body
            return
        limit = self.limit_for(_route_path(scope))
        if length is not None:
            if length > limit:
                await _send_too_large(send, limit)
                return
            await self.app(scope, receive, send)  # h11 stops the body at its declared length
            return
        counted = _CountedBody(receive, send, limit)
        try:
            await self.app(scope, counted.receive, counted.send)
        except BodyTooLarge:
            if counted.started:
                raise
            await _send_too_large(send, limit)


class _CountedBody:
    __slots__ = ("_receive", "_send", "limit", "started", "total")

    def __init__(self, receive: Receive, send: Send, limit: int) -> None:
        self._receive = receive
        self._send = send
        self.limit = limit
        self.total = 0
        self.started = False

    async def receive(self) -> Message:
        if self.total > self.limit:
            raise BodyTooLarge(self.limit)
        message = await self._receive()
        if message["type"] == "http.request":
            self.total += len(message.get("body", b""))
            if self.total > self.limit:
                raise BodyTooLarge(self.limit)
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def _send_too_large(send: Send, limit: int) -> None:
    body = orjson.dumps({"detail": _too_large_message(limit)})
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path") or ""
    return path[len(root) :] if root and path.startswith(root) else path
