"""The broker interface: where events get their place in the one global stream.

Every broker keeps these guarantees, and one conformance suite (tests/test_broker_conformance.py)
checks them against each:

1. `publish()` gives the events of one call consecutive `seq`s, greater than any seq published
   before, in one global order shared by every instance using the same broker.
2. Every instance's listener receives every published event exactly once, in seq order, including
   events published by other instances; after a lost broker connection, delivery resumes after the
   last seq the instance handled.
3. `history(after_seq)` returns the kept events with a greater seq, in order, bounded by count
   (EVENT_HISTORY_SIZE) and age (EVENT_HISTORY_TTL); `first_kept_seq` tells where history starts.
4. The epoch names the stream and changes only when its history is lost; one loss is one new
   epoch, which deletes nothing still kept and never reuses a seq an instance has delivered. When
   an instance sees it change, its listener's `reset()` is called once, so that clients refetch.
5. `publish()` returns the published events or raises `BrokerUnavailable` after a short bounded
   retry. `BrokerUnavailable` does not prove that nothing went out (a reply can be lost after the
   write), but publishing the same drafts again is always safe: a batch is published once per id
   of its first event, and a retry answers the first result.
6. An event `publish()` returned reaches every instance's listener or stays in history, even when
   the store loses its data, as long as the instance that published it lives. (The embedded
   broker's store is the app database; the Redis broker publishes again, into the new epoch,
   what Redis lost of its recent events, and its listeners are never given an id twice.)
"""

from __future__ import annotations

import abc
import collections
import dataclasses
import time
from collections.abc import Sequence
from typing import Protocol

from ..events import Event, EventDraft


class BrokerUnavailable(RuntimeError):
    """Publishing failed. The events may not have gone out, or may have (a reply lost with the
    connection): publish the same drafts (the same ids) again to be sure, never new ones."""


@dataclasses.dataclass(frozen=True, slots=True)
class StreamPosition:
    epoch: str
    last_seq: int


@dataclasses.dataclass(frozen=True, slots=True)
class HistoryPage:
    events: list[Event]
    first_kept_seq: int  # the oldest seq still in history (last_seq + 1 when history is empty)
    position: StreamPosition


class BrokerListener(Protocol):
    """What a broker delivers to (the hub of one instance)."""

    def dispatch(self, events: list[Event]) -> None: ...

    def reset(self, position: StreamPosition, reason: str) -> None: ...

    def notify_user(self, user_id: str, frame: str) -> None: ...


class HistoryCache:
    """The recent events an instance has delivered, newest last, bounded by count and age.

    Replays and the history API are served from here when the range is covered, so resuming
    a client costs no round trip to the store.
    """

    def __init__(self, size: int, ttl: float) -> None:
        self.ttl = ttl
        self.events: collections.deque[tuple[float, Event]] = collections.deque(maxlen=size)

    def add(self, events: Sequence[Event], now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.events.extend((now, e) for e in events)

    def prune(self, now: float | None = None) -> None:
        cutoff = (time.time() if now is None else now) - self.ttl
        while self.events and self.events[0][0] < cutoff:
            self.events.popleft()

    def clear(self) -> None:
        self.events.clear()

    @property
    def first_seq(self) -> int | None:
        return self.events[0][1].seq if self.events else None

    def covers(self, after_seq: int) -> bool:
        first = self.first_seq
        return first is not None and first <= after_seq + 1

    def after(self, after_seq: int, limit: int) -> list[Event]:
        if not self.events:
            return []
        first = self.events[0][1].seq
        # Seqs in the cache are consecutive, so the start is an index computation, not a scan.
        start = max(0, after_seq + 1 - first)
        stop = min(len(self.events), start + limit)
        return [self.events[i][1] for i in range(start, stop)]


class Broker(abc.ABC):
    kind = "broker"

    @abc.abstractmethod
    async def start(self, listener: BrokerListener) -> None:
        """Connect, learn the stream position, and deliver every later event to `listener`."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def publish(self, drafts: Sequence[EventDraft]) -> list[Event]:
        """Give the drafts consecutive seqs, keep them in history and fan them out (guarantees 1, 5)."""

    @abc.abstractmethod
    async def history(self, after_seq: int, limit: int) -> HistoryPage:
        """Kept events with seq > after_seq, oldest first, at most `limit`."""

    @abc.abstractmethod
    def position(self) -> StreamPosition:
        """Epoch and the last seq delivered to this instance's listener."""

    @abc.abstractmethod
    async def notify_user(self, user_id: str, frame: str) -> None:
        """Send a control frame (not an event) to every connection of a user, on every instance."""

    @property
    def healthy(self) -> bool:
        return True
