"""Cluster coordination, beside the event stream: which instances are alive, and leases.

The broker orders, keeps and fans out events; this answers who else is there and who does what
must be done once. Each instance reports its figures (and the event types its sockets want) with
a heartbeat, and `instances()` lists those reported within the last few seconds; a lease is held
by at most one live instance at a time (the runtime's `leader` lease). One process needs none of
it (`SingleInstance`); the Redis broker serves both interfaces over its one connection.
"""

from __future__ import annotations

import abc
from typing import Any


class Cluster(abc.ABC):
    @abc.abstractmethod
    async def report_instance(self, stats: dict[str, Any]) -> None:
        """Record this instance's stats for `instances()`, for a few heartbeats."""

    @abc.abstractmethod
    async def instances(self) -> list[dict[str, Any]]:
        """Stats of every live instance that reported lately (this one's included once it has)."""

    @abc.abstractmethod
    async def hold_lease(self, name: str, ttl: float) -> bool:
        """Take or keep the lease `name` for this instance for `ttl` seconds; True while it is ours.

        At most one live instance holds a lease at a time, so work that must happen once for the
        whole cluster (forwarder health events, the health broadcast) is done by its holder. A
        holder that stops renewing (killed, cut off) loses it after `ttl`, and another instance
        takes it at its next try.
        """

    @abc.abstractmethod
    async def release_lease(self, name: str) -> None:
        """Give a lease up (at shutdown), so that another instance can take it at once."""


class SingleInstance(Cluster):
    """One process: no other instance to list, and it holds every lease."""

    async def report_instance(self, stats: dict[str, Any]) -> None:
        return None

    async def instances(self) -> list[dict[str, Any]]:
        return []

    async def hold_lease(self, name: str, ttl: float) -> bool:
        return True

    async def release_lease(self, name: str) -> None:
        return None
