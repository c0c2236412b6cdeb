"""Brokers, chosen by the scheme of BROKER_URL: `memory://` (embedded default) or `redis://`;
and the cluster coordination that goes with each (cluster.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

from ...config import Settings
from ...db import Database
from ..cluster import Cluster, SingleInstance
from .base import Broker, BrokerListener, BrokerUnavailable, HistoryPage, StreamPosition
from .memory import MemoryBroker

__all__ = [
    "Broker",
    "BrokerListener",
    "BrokerUnavailable",
    "HistoryPage",
    "MemoryBroker",
    "StreamPosition",
    "broker_from_settings",
    "cluster_for",
]


def broker_from_settings(settings: Settings, db: Database | None, instance_id: str) -> Broker:
    scheme = urlsplit(settings.BROKER_URL).scheme
    if scheme == "memory":
        return MemoryBroker(db, history_size=settings.EVENT_HISTORY_SIZE, history_ttl=settings.EVENT_HISTORY_TTL)
    if scheme in ("redis", "rediss", "unix"):
        from .redis import RedisBroker

        return RedisBroker(
            settings.BROKER_URL,
            history_size=settings.EVENT_HISTORY_SIZE,
            history_ttl=settings.EVENT_HISTORY_TTL,
            publish_timeout=settings.BROKER_PUBLISH_TIMEOUT,
            instance_id=instance_id,
        )
    raise ValueError(f"unsupported BROKER_URL scheme {scheme!r}: use memory:// or redis://host:port/db")


def cluster_for(broker: Broker) -> Cluster:
    """The cluster coordination of the instances sharing `broker`: the broker itself when it serves
    several instances (Redis), else one instance's own."""
    return broker if isinstance(broker, Cluster) else SingleInstance()
