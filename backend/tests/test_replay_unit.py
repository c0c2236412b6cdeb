"""ReplayFrames (realtime/replay.py): a replay's frames built once and shared, and exactly the frames the
replay would have had without it. (What a storm of resuming clients receives end to end is in
test_resume.py; what the sharing saves is in bench/connect_bench.py.)"""

from __future__ import annotations

import orjson

from hybrid_dns.realtime.events import Event, EventDraft, EventType
from hybrid_dns.realtime.protocol import batch_frames
from hybrid_dns.realtime.replay import ReplayFrames


def events(first: int, count: int) -> list[Event]:
    out = []
    for seq in range(first, first + count):
        draft = EventDraft.make(EventType.ZONE_UPDATED, {"zone": f"z{seq}.example", "pad": "x" * 100})
        out.append(Event.from_draft(draft, seq))
    return out


def seqs(frames: list[str]) -> list[int]:
    out = []
    for frame in frames:
        obj = orjson.loads(frame)
        out.extend(e["seq"] for e in (obj["events"] if obj["type"] == "batch" else [obj]))
    return out


def test_the_same_replay_is_built_once_and_each_caller_gets_its_own_list() -> None:
    cache = ReplayFrames()
    page = events(11, 25)
    first = cache.frames("e1", page, 10)
    assert first == batch_frames([e.frame for e in page], 10) and seqs(first) == list(range(11, 36))
    first.append("resumed")  # what the session does
    again = cache.frames("e1", list(page), 10)
    assert again == batch_frames([e.frame for e in page], 10)
    assert (cache.hits, cache.misses) == (1, 1)


def test_another_epoch_batch_limit_or_set_of_events_is_another_replay() -> None:
    cache = ReplayFrames()
    page = events(1, 5)
    cache.frames("e1", page, 10)
    # the same seqs in a new epoch are other events
    other_epoch = events(1, 5)
    assert seqs(cache.frames("e2", other_epoch, 10)) == [1, 2, 3, 4, 5]
    assert len(cache.frames("e1", page, 2)) == 3
    assert seqs(cache.frames("e1", page[:1] + page[2:], 10)) == [1, 3, 4, 5]  # a connection that may not see #2
    assert cache.misses == 4 and cache.hits == 0
    assert cache.frames("e1", [], 10) == []


def test_entries_are_bounded_by_count_and_size_least_recently_used_first() -> None:
    cache = ReplayFrames(max_entries=3, max_chars=400_000)
    pages = [events(100 * i, 10) for i in range(5)]
    for page in pages[:3]:
        cache.frames("e", page, 10)
    cache.frames("e", pages[0], 10)  # used again: the newest
    cache.frames("e", pages[3], 10)  # pushes out pages[1], the least recently used
    assert len(cache) == 3
    hits = cache.hits
    cache.frames("e", pages[0], 10)
    assert cache.hits == hits + 1
    cache.frames("e", pages[1], 10)
    assert cache.hits == hits + 1  # it had gone
    # a replay larger than a quarter of the bound is built but not kept
    huge = events(10_000, 2_000)
    cache.frames("e", huge, 250)
    assert cache.chars <= 400_000 and len(cache) <= 3
