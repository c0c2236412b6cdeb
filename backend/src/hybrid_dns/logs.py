"""Logging set-up: one line per record, text or JSON, with tokens redacted from every line, and
uvicorn's lines about a client's bad request kept to a bounded rate."""

from __future__ import annotations

import logging
import sys
import threading
import time

import orjson

from .config import Settings
from .realtime.protocol import TokenBucket
from .server import RedactTokens, install_log_redaction

# What uvicorn writes, once per request, about a request the client got wrong.
CLIENT_ERROR_MESSAGES = frozenset(
    {
        "Invalid HTTP request received.",
        "Unsupported upgrade request.",
        "Invalid UTF-8 sequence received from client.",
    }
)


class ThrottleClientErrors(logging.Filter):
    """Lets through at most one of uvicorn's client-error lines a second (after a burst of ten).

    A client decides how often it sends a malformed request; each would be a WARNING line.
    """

    def __init__(self) -> None:
        super().__init__()
        self._bucket = TokenBucket.full(1.0, 10, time.monotonic())
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if not (isinstance(record.msg, str) and record.msg in CLIENT_ERROR_MESSAGES):
            return True
        with self._lock:
            return self._bucket.take(time.monotonic())

    def reset(self) -> None:
        """Full again (for tests that count lines)."""
        with self._lock:
            self._bucket.tokens = self._bucket.burst


def install_client_error_throttle() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, ThrottleClientErrors) for f in logger.filters):
        logger.addFilter(ThrottleClientErrors())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure_logging(settings: Settings) -> None:
    logger = logging.getLogger("hybrid_dns")
    logger.setLevel(settings.LOG_LEVEL.upper())
    if not any(getattr(h, "_hybrid_dns", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._hybrid_dns = True  # type: ignore[attr-defined]
        if settings.LOG_FORMAT == "json":
            handler.setFormatter(JsonFormatter())
        else:
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactTokens())
        logger.addHandler(handler)
        logger.propagate = True
    install_log_redaction()
    install_client_error_throttle()
