"""The send path's socket-free core, unit-tested: a connection's send queue, and what one dispatch shares.

No sockets and no event loop: the queue's rules (its bound, batching by count and size, where a
replay goes) and the per-dispatch sharing are plain data. The same rules are exercised end to end,
with real sockets, in test_delivery.py and test_resume.py.
"""

from __future__ import annotations

import orjson
import pytest

from hybrid_dns.realtime.delivery import Delivery
from hybrid_dns.realtime.metrics import RealtimeMetrics
from hybrid_dns.realtime.protocol import MAX_BATCH_CHARS, batch_frame
from hybrid_dns.realtime.sendqueue import SendQueue
from hybrid_dns.realtime.uvicorn_protocol import SocketWriter, encode_text_frame

CONTROL = '{"type":"pong"}'


def event(seq: int, pad: int = 0) -> tuple[str, float, int]:
    """An event frame as the hub queues it: (text, publish time, seq)."""
    text = orjson.dumps({"type": "zone_updated", "seq": seq, "data": {"pad": "x" * pad}}).decode()
    return text, 1000.0 + seq, seq


def control(text: str = CONTROL) -> tuple[str, None, int]:
    return text, None, 0


def seqs(text: str) -> list[int]:
    """The seqs a frame carries (a batch's, in order, or the one event's)."""
    frame = orjson.loads(text)
    return [e["seq"] for e in frame["events"]] if frame["type"] == "batch" else [frame["seq"]]


def drain(queue: SendQueue) -> list[tuple[str, float | None, int]]:
    taken = []
    while queue:
        taken.append(queue.take(batch_frame))
    return taken


# --- the bound --------------------------------------------------------------------------------


def test_put_refuses_past_the_limit_and_changes_nothing() -> None:
    queue = SendQueue(limit=3, max_batch=10)
    assert all(queue.put(event(seq)) for seq in (1, 2, 3))
    assert queue.put(event(4)) is False
    assert queue.put(control()) is False  # a control frame counts like any other
    assert [item[2] for item in queue] == [1, 2, 3]


def test_taking_frees_room() -> None:
    queue = SendQueue(limit=2, max_batch=1)
    assert queue.put(event(1)) and queue.put(event(2))
    queue.take(batch_frame)
    assert queue.put(event(3))
    assert [item[2] for item in queue] == [2, 3]


# --- taking: one frame, or a batch ---------------------------------------------------------------


def test_a_lone_event_goes_as_it_is() -> None:
    queue = SendQueue(limit=10, max_batch=10)
    queue.put(event(7))
    text, emitted_at, count = queue.take(batch_frame)
    assert (orjson.loads(text)["type"], emitted_at, count) == ("zone_updated", 1007.0, 1)
    assert not queue


def test_events_at_the_head_go_as_one_batch_in_order() -> None:
    queue = SendQueue(limit=10, max_batch=10)
    for seq in (1, 2, 3):
        queue.put(event(seq))
    text, emitted_at, count = queue.take(batch_frame)
    assert orjson.loads(text)["type"] == "batch" and seqs(text) == [1, 2, 3]
    assert (emitted_at, count) == (1001.0, 3)  # the oldest event's publish time: latency is measured from it
    assert not queue


def test_a_batch_stops_at_max_batch_events() -> None:
    queue = SendQueue(limit=100, max_batch=3)
    for seq in range(1, 8):
        queue.put(event(seq))
    assert [seqs(text) for text, _, _ in drain(queue)] == [[1, 2, 3], [4, 5, 6], [7]]


def test_a_batch_stops_before_max_chars() -> None:
    queue = SendQueue(limit=100, max_batch=100, max_chars=1000)
    for seq in range(1, 6):
        queue.put(event(seq, pad=300))  # about 360 characters each: two fit in 1000, three do not
    taken = drain(queue)
    assert [seqs(text) for text, _, _ in taken] == [[1, 2], [3, 4], [5]]
    for text, _, count in taken:
        if count > 1:
            assert sum(len(event(s, pad=300)[0]) for s in seqs(text)) <= 1000


def test_an_event_larger_than_max_chars_goes_alone() -> None:
    queue = SendQueue(limit=100, max_batch=100, max_chars=1000)
    queue.put(event(1, pad=2000))
    queue.put(event(2))
    assert [seqs(text) for text, _, _ in drain(queue)] == [[1], [2]]


def test_the_default_size_limit_is_the_protocols() -> None:
    assert SendQueue(limit=1, max_batch=1).max_chars == MAX_BATCH_CHARS


def test_a_control_frame_is_never_batched_and_keeps_its_place() -> None:
    queue = SendQueue(limit=100, max_batch=100)
    queue.put(event(1))
    queue.put(event(2))
    queue.put(control())
    queue.put(event(3))
    queue.put(control('{"type":"acked"}'))
    taken = drain(queue)
    assert [count for _, _, count in taken] == [2, 0, 1, 0]
    assert seqs(taken[0][0]) == [1, 2]
    assert taken[1] == (CONTROL, None, 0)  # no publish time: it is not counted as a delivered event
    assert seqs(taken[2][0]) == [3]
    assert taken[3] == ('{"type":"acked"}', None, 0)


def test_take_builds_batches_with_the_given_builder() -> None:
    """The hub passes the dispatch's builder, which builds a batch once for every connection."""
    built: list[list[str]] = []

    def builder(frames: list[str]) -> str:
        built.append(frames)
        return batch_frame(frames)

    queue = SendQueue(limit=10, max_batch=10)
    queue.put(event(1))
    queue.take(builder)
    assert built == []  # one frame is sent as it is
    queue.put(event(2))
    queue.put(event(3))
    queue.take(builder)
    assert built == [[event(2)[0], event(3)[0]]]


# --- a replay goes after the first frame ---------------------------------------------------------


def test_a_replay_goes_between_connected_and_the_live_events() -> None:
    queue = SendQueue(limit=100, max_batch=100)
    queue.put(control('{"type":"connected"}'))
    for seq in (11, 12):  # live events that arrived while the replay was fetched
        queue.put(event(seq))
    queue.insert_after_first(['{"type":"batch","events":[]}', '{"type":"resumed"}'], drop_through_seq=10)
    assert [item[0] for item in queue[:3]] == [
        '{"type":"connected"}',
        '{"type":"batch","events":[]}',
        '{"type":"resumed"}',
    ]
    assert [item[2] for item in queue] == [0, 0, 0, 11, 12]
    assert [item[1] for item in queue[1:3]] == [None, None]  # replayed frames are control frames: never re-batched


def test_a_replay_drops_the_queued_events_it_holds() -> None:
    """A live event queued meanwhile that the replay already carries would arrive twice."""
    queue = SendQueue(limit=100, max_batch=100)
    queue.put(control('{"type":"connected"}'))
    for seq in (9, 10, 11):
        queue.put(event(seq))
    queue.put(control())  # control frames stay whatever their place
    queue.insert_after_first(['{"type":"resumed"}'], drop_through_seq=10)
    assert [(item[0], item[2]) for item in queue] == [
        ('{"type":"connected"}', 0),
        ('{"type":"resumed"}', 0),
        (event(11)[0], 11),
        (CONTROL, 0),
    ]


def test_a_reset_replaces_nothing() -> None:
    queue = SendQueue(limit=100, max_batch=100)
    queue.put(control('{"type":"connected"}'))
    queue.put(event(5))
    queue.insert_after_first(['{"type":"reset"}'], drop_through_seq=0)
    assert [item[2] for item in queue] == [0, 0, 5]


def test_a_replay_into_an_emptied_queue_is_dropped() -> None:
    """The connection closed while its replay was fetched: its queue was cleared, and stays empty."""
    queue = SendQueue(limit=100, max_batch=100)
    queue.insert_after_first(['{"type":"resumed"}'], drop_through_seq=5)
    assert not queue


def test_a_replay_may_exceed_the_limit() -> None:
    """The replay's size is bounded by EVENT_REPLAY_LIMIT and batching, not by the live queue's bound."""
    queue = SendQueue(limit=2, max_batch=100)
    queue.put(control('{"type":"connected"}'))
    queue.insert_after_first([CONTROL] * 5)
    assert len(queue) == 6


# --- what one dispatch shares ------------------------------------------------------------------


def sample(metrics: RealtimeMetrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    return 0.0 if value is None else value


def test_within_a_dispatch_a_frame_is_encoded_once_for_every_connection() -> None:
    delivery = Delivery(RealtimeMetrics())
    with delivery.dispatching():
        first = delivery.wire("frame", SocketWriter)
        assert delivery.wire("frame", SocketWriter) is first
        assert first == encode_text_frame("frame")
    after = delivery.wire("frame", SocketWriter)
    assert after == first and after is not first  # nothing is kept once the dispatch is over


def test_within_a_dispatch_a_batch_is_built_once_for_every_connection() -> None:
    delivery = Delivery(RealtimeMetrics())
    frames = [event(1)[0], event(2)[0]]
    with delivery.dispatching():
        built = delivery.batch(list(frames))
        assert delivery.batch(list(frames)) is built
    assert built == batch_frame(frames)
    assert delivery.batch(list(frames)) is not built


def test_a_dispatch_records_what_it_sent_once_when_it_ends() -> None:
    metrics = RealtimeMetrics()
    delivery = Delivery(metrics)
    with delivery.dispatching():
        delivery.sent(1, 100.0)
        delivery.sent(3, 100.0)
        delivery.sent(0, None)  # a control frame: a frame, not an event
        assert sample(metrics, "hybrid_dns_ws_frames_sent_total") == 0
    assert sample(metrics, "hybrid_dns_ws_frames_sent_total") == 3
    assert sample(metrics, "hybrid_dns_ws_events_delivered_total") == 4
    assert sample(metrics, "hybrid_dns_ws_emit_to_send_seconds_count") == 4
    delivery.sent(1, 100.0)  # outside a dispatch (a writer task): recorded at once
    assert sample(metrics, "hybrid_dns_ws_frames_sent_total") == 4


def test_dropped_frames_are_counted() -> None:
    metrics = RealtimeMetrics()
    Delivery(metrics).dropped(5)
    assert sample(metrics, "hybrid_dns_ws_frames_dropped_total") == 5


@pytest.mark.parametrize("count", [1, 2, 500])
def test_batches_hold_exactly_what_was_taken(count: int) -> None:
    queue = SendQueue(limit=1000, max_batch=500)
    for seq in range(1, count + 1):
        queue.put(event(seq))
    (taken,) = drain(queue)
    assert seqs(taken[0]) == list(range(1, count + 1)) and taken[2] == count
