"""Logging set-up: one line per record, text or JSON; tokens redacted from every line, whichever
logger wrote it; and the lines a client can cause at will (its bad requests) kept to a bounded rate."""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from urllib.parse import unquote_plus

import orjson

from .config import Settings
from .limits import LogThrottle, TokenBucket

# The server protocols' lines about a client's error (a bad frame, a refused handshake, headers
# that never come): one line each at most, and a bounded number a second, for every server.
client_error_log = LogThrottle(logging.getLogger("hybrid_dns.server"), rate=1, burst=10)


def peer(client: tuple[str, int] | None) -> str:
    """A client address for a log line."""
    return f"{client[0]}:{client[1]}" if client else "-"


# --- tokens never reach a log ----------------------------------------------------------------

_TOKEN_RE = re.compile(r"(token=)[^&\s\"']+", re.IGNORECASE)
_BEARER_RE = re.compile(r"(bearer\.)[A-Za-z0-9_\-.]+", re.IGNORECASE)
# A query parameter whose name is spelled with escapes (`%74oken=`, `to%6Ben=`): the server decodes
# names before it looks for `token`, so the redaction does too.
_ENCODED_PARAM_RE = re.compile(r"([?&;])([^=&;\s\"'?#]*[%+][^=&;\s\"'?#]*)=([^&;\s\"'#]*)")


def _redact_encoded(match: re.Match[str]) -> str:
    if "token" in unquote_plus(match[2]).lower():
        return f"{match[1]}{match[2]}=[redacted]"
    return match[0]


def redact(text: str) -> str:
    # Most strings hold none of what the patterns need (`token=`, `bearer.`, an escaped name): one
    # scan of a lowercased copy instead of three regular expressions, on every line and argument.
    lowered = text.lower()
    if "token" not in lowered and "bearer" not in lowered and "%" not in text and "+" not in text:
        return text
    text = _TOKEN_RE.sub(r"\1[redacted]", text)
    if "%" in text or "+" in text:
        text = _ENCODED_PARAM_RE.sub(_redact_encoded, text)
    return _BEARER_RE.sub(r"\1[redacted]", text)


class RedactTokens(logging.Filter):
    """Rewrites tokens out of a record's message and arguments, whichever logger wrote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            if isinstance(record.args, tuple):
                record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
            elif isinstance(record.args, dict):
                record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install_log_redaction() -> None:
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access", "hybrid_dns"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
        for handler in logger.handlers:
            if not any(isinstance(f, RedactTokens) for f in handler.filters):
                handler.addFilter(RedactTokens())


# --- uvicorn's own lines about bad requests ---------------------------------------------------

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


# --- the app's handler ------------------------------------------------------------------------


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
