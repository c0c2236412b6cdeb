"""Brokers, chosen by the scheme of BROKER_URL: `memory://` (embedded default) or `redis://`."""

from __future__ import annotations

from urllib.parse import urlsplit

from .base import Broker, BrokerUnavailable, HistoryPage, StreamPosition
from .memory import MemoryBroker

__all__ = ["Broker", "BrokerUnavailable", "HistoryPage", "MemoryBroker", "StreamPosition", "broker_from_url"]


def broker_from_url(url: str, *, history_size: int = 10_000) -> Broker:
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryBroker(history_size=history_size)
    raise ValueError(f"unsupported BROKER_URL scheme {scheme!r}: use memory://")
