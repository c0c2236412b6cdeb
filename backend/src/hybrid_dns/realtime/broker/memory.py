"""The embedded broker: one process, seqs assigned in memory, a bounded in-memory history.

Publishing is synchronous from seq assignment to fan-out (no await in between), so concurrent
emitters can never interleave out of order, and the events of one `publish()` reach every
connection's queue together (that is what lets a connection's writer send them as one batch).
"""

from __future__ import annotations

import collections
import uuid
from collections.abc import Sequence

from ..events import Event, EventDraft
from .base import Broker, EventListener, HistoryPage, StreamPosition


class MemoryBroker(Broker):
    def __init__(self, history_size: int = 10_000) -> None:
        self._epoch = uuid.uuid4().hex[:16]
        self._last_seq = 0
        self._history: collections.deque[Event] = collections.deque(maxlen=history_size)
        self._listener: EventListener | None = None

    async def start(self, listener: EventListener) -> None:
        self._listener = listener

    async def close(self) -> None:
        self._listener = None

    async def publish(self, drafts: Sequence[EventDraft]) -> list[Event]:
        events = []
        for draft in drafts:
            self._last_seq += 1
            events.append(Event.from_draft(draft, self._last_seq))
        self._history.extend(events)
        if self._listener is not None and events:
            self._listener(events)
        return events

    async def history(self, after_seq: int, limit: int) -> HistoryPage:
        first = self._history[0].seq if self._history else self._last_seq + 1
        start = max(0, after_seq + 1 - first)
        events = [self._history[i] for i in range(start, min(len(self._history), start + limit))]
        return HistoryPage(events, first, self.position())

    def position(self) -> StreamPosition:
        return StreamPosition(self._epoch, self._last_seq)
