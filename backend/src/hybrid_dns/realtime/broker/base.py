"""The broker interface: where events get their place in the one global stream.

Every broker keeps these guarantees, and one conformance suite checks them against each:

1. `publish()` gives the events of one call consecutive `seq`s, greater than any seq published
   before, in one global order shared by every instance using the same broker.
2. Every listener (one per server instance: its hub) receives every published event exactly once,
   in seq order, including events published by other instances.
3. `history(after_seq)` returns the kept events with a greater seq, in order; `position()` tells the
   stream's epoch and the last seq this instance has delivered to its listener.
4. The epoch names the stream and changes only when its history is lost; a client that saw
   another epoch must refetch its state instead of resuming.
5. `publish()` either returns the published events or raises `BrokerUnavailable`: an event is
   never half-published from the caller's point of view.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Sequence

from ..events import Event, EventDraft

EventListener = Callable[[list[Event]], None]


class BrokerUnavailable(RuntimeError):
    """The event could not be published: the caller must know the event did not go out."""


@dataclasses.dataclass(frozen=True, slots=True)
class StreamPosition:
    epoch: str
    last_seq: int


@dataclasses.dataclass(frozen=True, slots=True)
class HistoryPage:
    events: list[Event]
    first_kept_seq: int  # the oldest seq still in history (last_seq + 1 when history is empty)
    position: StreamPosition


class Broker(abc.ABC):
    @abc.abstractmethod
    async def start(self, listener: EventListener) -> None:
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

    @property
    def healthy(self) -> bool:
        return True
