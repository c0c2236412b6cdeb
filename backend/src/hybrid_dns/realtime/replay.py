"""One encoding of a replay, shared by every connection that resumes with the same events to catch up.

After a restart or a network blip every dashboard resumes at once, most of them from the same point
(the last event they all saw) and with the same events missed. Each replay is the missed events
grouped into `batch` frames (protocol.batch_frames): joining up to 250 pre-encoded events into one
string per connection, 10,000 times, was a sixth of a reconnect storm's CPU (bench/connect_bench.py).
Here the frames are built once per distinct replay and reused while they are recent.

A replay's frames depend only on its events (each event's frame is fixed once it is published) and on
the batch limit, so the key is the stream's epoch (seqs start again in a new one), the batch limit and
the events' seqs. Entries are bounded by count and by the characters they hold; the least recently
used go first.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

from .events import Event
from .protocol import batch_frames

Key = tuple[str, int, tuple[int, ...]]


class ReplayFrames:
    def __init__(self, max_entries: int = 64, max_chars: int = 8_000_000) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._entries: collections.OrderedDict[Key, tuple[list[str], int]] = collections.OrderedDict()
        self._chars = 0
        self.hits = 0
        self.misses = 0

    def frames(self, epoch: str, events: Sequence[Event], max_batch: int) -> list[str]:
        """The replay's frames (a new list: the caller may append to it)."""
        if not events:
            return []
        key: Key = (epoch, max_batch, tuple(e.seq for e in events))
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            return list(entry[0])
        self.misses += 1
        frames = batch_frames([e.frame for e in events], max_batch)
        size = sum(len(f) for f in frames)
        if size <= self.max_chars // 4:  # one huge replay does not push out every other
            self._entries[key] = (frames, size)
            self._chars += size
            while len(self._entries) > self.max_entries or self._chars > self.max_chars:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._chars -= dropped
        return list(frames)

    def clear(self) -> None:
        self._entries.clear()
        self._chars = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def chars(self) -> int:
        return self._chars
