"""One connection's send queue, sans I/O: bounded, batching, and where a replay goes.

An item is (frame text, publish time of its event or None for a control frame, event seq or 0).
The rules, each tested without a socket (tests/test_sendqueue.py):

- `put` refuses an item once the queue holds `limit` of them (the connection is then closed as a
  slow consumer: it can resume, and it never costs more than `limit` frames of memory);
- `take` gives the next frame to write: a control frame alone, or the event frames at the head as
  one `batch` frame of at most `max_batch` events and `max_chars` characters (an event frame larger
  than that goes alone);
- `insert_after_first` puts a replay between the first frame (`connected`) and the live events
  that queued up behind it, dropping the queued events the replay already holds.

The queue is a list (of its items): the hub asks whether it is empty for every connection and
every event, and a list answers that without a call into Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .protocol import MAX_BATCH_CHARS

# (frame text, publish time of its event or None for a control frame, event seq or 0)
Item = tuple[str, float | None, int]


class SendQueue(list[Item]):
    __slots__ = ("limit", "max_batch", "max_chars")

    def __init__(self, limit: int, max_batch: int, max_chars: int = MAX_BATCH_CHARS) -> None:
        super().__init__()
        self.limit = limit
        self.max_batch = max_batch
        self.max_chars = max_chars

    def put(self, item: Item) -> bool:
        """Append `item`; False (nothing changed) when the queue is full."""
        if len(self) >= self.limit:
            return False
        self.append(item)
        return True

    def take(self, batch: Callable[[list[str]], str]) -> tuple[str, float | None, int]:
        """Remove and return the next frame to write, as (text, publish time of its oldest event or
        None, number of events in it). Event frames at the head are joined by `batch` (it builds the
        `batch` frame) as long as the limits allow; a control frame always goes alone."""
        text, emitted_at, _ = self[0]
        end = 1
        if emitted_at is not None:
            size = len(text)
            limit = min(len(self), self.max_batch)
            while end < limit and self[end][1] is not None:
                size += len(self[end][0])
                if size > self.max_chars:
                    break
                end += 1
        if end == 1:
            del self[0]
            return text, emitted_at, 0 if emitted_at is None else 1
        frames = [item[0] for item in self[:end]]
        del self[:end]
        return batch(frames), emitted_at, end

    def insert_after_first(self, frames: Sequence[str], drop_through_seq: int = 0) -> None:
        """Put `frames` (control frames: a replay's batches, `resumed` or `reset`) right after the
        first item, and drop the queued events with a seq up to `drop_through_seq`: the replay
        holds them. Nothing happens to an empty queue (its connection closed meanwhile)."""
        if not self:
            return
        first, *queued = self
        self[:] = [
            first,
            *((frame, None, 0) for frame in frames),
            *(item for item in queued if item[2] == 0 or item[2] > drop_through_seq),
        ]
