"""Logging set-up: one line per record, text or JSON, with tokens redacted from every line."""

from __future__ import annotations

import logging
import sys

import orjson

from .config import Settings
from .server import RedactTokens, install_log_redaction


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
