"""What one dispatch shares between the connections it writes to.

The hub writes one event to a thousand sockets in one synchronous step. Within that step a frame's
bytes are encoded once and a batch frame is built once, however many connections send them, and
what was written is recorded in the metrics once, at the end. Outside a dispatch (a reply to a
client, a writer task draining a backed-up socket) nothing is cached and each write is recorded
at once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from .metrics import RealtimeMetrics
from .protocol import batch_frame


class FrameEncoder(Protocol):
    def encode(self, text: str) -> bytes: ...


class Delivery:
    def __init__(self, metrics: RealtimeMetrics) -> None:
        self.metrics = metrics
        self._dispatching = False
        self._wire_cache: dict[str, bytes] = {}
        self._batch_cache: dict[tuple[str, ...], str] = {}
        self._frames_sent = 0
        self._events_sent = 0
        self._latency_sent: dict[float, int] = {}
        # Bound once: every flush hands it to its connection's queue, and binding it there would
        # make a method object per flush.
        self.batch: Callable[[list[str]], str] = self._batch

    @contextlib.contextmanager
    def dispatching(self) -> Iterator[None]:
        """One dispatch's writes: frames shared while it lasts, its figures recorded when it ends."""
        self._dispatching = True
        try:
            yield
        finally:
            self._dispatching = False
            self._wire_cache.clear()
            self._batch_cache.clear()
            self._record_sent()

    def wire(self, text: str, encoder: FrameEncoder) -> bytes:
        """`text` as a frame's bytes, encoded once per dispatch however many connections send it."""
        if not self._dispatching:
            return encoder.encode(text)
        wire = self._wire_cache.get(text)
        if wire is None:
            wire = self._wire_cache[text] = encoder.encode(text)
        return wire

    def _batch(self, frames: list[str]) -> str:
        """A batch frame of these event frames, built once per dispatch for every connection that sends it."""
        if not self._dispatching:
            return batch_frame(frames)
        key = tuple(frames)
        text = self._batch_cache.get(key)
        if text is None:
            text = self._batch_cache[key] = batch_frame(frames)
        return text

    def sent(self, events: int, emitted_at: float | None, frames: int = 1) -> None:
        """`frames` frames were written, carrying `events` events, the oldest published at `emitted_at`."""
        self._frames_sent += frames
        if emitted_at is not None:
            self._events_sent += events
            self._latency_sent[emitted_at] = self._latency_sent.get(emitted_at, 0) + events
        if not self._dispatching:
            self._record_sent()

    def dropped(self, frames: int) -> None:
        """`frames` frames were dropped with a connection closed as a slow consumer."""
        self.metrics.frames_dropped.inc(frames)

    def _record_sent(self) -> None:
        metrics = self.metrics
        if self._frames_sent:
            metrics.frames_sent.inc(self._frames_sent)
            self._frames_sent = 0
        if self._events_sent:
            metrics.events_delivered.inc(self._events_sent)
            self._events_sent = 0
            now = time.monotonic()
            for emitted_at, count in self._latency_sent.items():
                metrics.latency.observe(now - emitted_at, count)
            self._latency_sent.clear()
