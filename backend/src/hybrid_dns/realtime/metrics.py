"""Prometheus metrics of the real-time layer, one registry per app (so tests can run several apps)."""

from __future__ import annotations

import bisect
import collections
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from .protocol import CloseCode

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


# Close codes of RFC 6455 (and its registry) that a peer may send or that a stack reports, plus ours.
_KNOWN_CLOSE_CODES = frozenset(range(1000, 1016)) | frozenset(int(code) for code in CloseCode)


def close_code_label(code: int | None) -> str:
    """A Prometheus label for a close code, from a bounded set.

    A client chooses the code of a close it starts (any of 3000-4999), and each label value is a
    time series kept for the life of the process: unknown codes are folded into their range.
    """
    if code is None:
        return "none"
    if code in _KNOWN_CLOSE_CODES:
        return str(code)
    if 3000 <= code <= 3999:
        return "3xxx"
    if 4000 <= code <= 4999:
        return "4xxx_other"
    return "other"


class BulkHistogram(Collector):
    """A Prometheus histogram that records many equal observations in one call.

    The hub writes one frame to a thousand sockets in one step, all at the same moment for the same
    event: `observe(value, count)` records them at the cost of one observation, where
    prometheus_client's Histogram would take a thousand calls of about 1.2 µs each, a fifth of what a
    delivery costs in all (docs/architecture.md, "What each custom piece buys").
    The hub calls it on the event loop; a scrape from another thread may see one step behind.
    """

    def __init__(self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = tuple(float(b) for b in buckets)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.total = 0.0
        registry.register(self)

    def observe(self, value: float, count: int = 1) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += count
        self.total += value * count

    def collect(self) -> Iterator[Metric]:
        cumulative = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            cumulative.append((floatToGoString(bound), running))
        yield HistogramMetricFamily(self.name, self.documentation, buckets=cumulative, sum_value=self.total)


class RealtimeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.connections = Gauge(
            "hybrid_dns_ws_connections", "Open WebSocket connections", ["connection_type"], registry=r
        )
        self.connections_total = Counter(
            "hybrid_dns_ws_connections_opened", "WebSocket connections accepted", ["connection_type"], registry=r
        )
        self.refused = Counter(
            "hybrid_dns_ws_refused", "WebSocket connections refused, by close code", ["code"], registry=r
        )
        self.closed = Counter(
            "hybrid_dns_ws_closed", "WebSocket connections closed, by close code", ["code"], registry=r
        )
        self.events_emitted = Counter(
            "hybrid_dns_events_emitted", "Events published, by type", ["event_type"], registry=r
        )
        self.frames_sent = Counter("hybrid_dns_ws_frames_sent", "Frames written to clients", registry=r)
        self.events_delivered = Counter(
            "hybrid_dns_ws_events_delivered", "Events written to clients (a batch counts each)", registry=r
        )
        self.frames_dropped = Counter(
            "hybrid_dns_ws_frames_dropped",
            "Frames not delivered because their connection was closed as a slow consumer",
            registry=r,
        )
        self.queue_depth = Gauge("hybrid_dns_ws_queue_depth", "Frames waiting in send queues", ["stat"], registry=r)
        self.latency = BulkHistogram(
            "hybrid_dns_ws_emit_to_send_seconds",
            "From publish to the write to the client's socket, per event delivered",
            LATENCY_BUCKETS,
            r,
        )
        self.inbound_messages = Counter(
            "hybrid_dns_ws_inbound_messages", "Client frames, by outcome", ["outcome"], registry=r
        )
        self.broker_errors = Counter(
            "hybrid_dns_broker_errors", "Broker operations that failed", ["operation"], registry=r
        )
        self._children: dict[tuple[MetricWrapperBase, str], Any] = {}

    def child(self, metric: MetricWrapperBase, label: str) -> Any:
        """`metric.labels(label)`, resolved once per metric and label value: prometheus_client's
        `labels()` validates and looks up its arguments on every call (4.5% of a connect's CPU when
        the hub called it twice per socket, bench/connect_bench.py under py-spy)."""
        found = self._children.get((metric, label))
        if found is None:
            found = self._children[(metric, label)] = metric.labels(label)
        return found

    def bind_queue_depth(self, total: Callable[[], float], maximum: Callable[[], float]) -> None:
        self.queue_depth.labels("total").set_function(total)
        self.queue_depth.labels("max").set_function(maximum)


class RateWindow:
    """Events per second over the last few seconds, in per-second buckets."""

    def __init__(self, seconds: int = 10) -> None:
        self.seconds = seconds
        self.buckets: collections.deque[list[int]] = collections.deque(maxlen=seconds + 1)

    def add(self, count: int, now: float | None = None) -> None:
        second = int(now if now is not None else time.monotonic())
        if self.buckets and self.buckets[-1][0] == second:
            self.buckets[-1][1] += count
        else:
            self.buckets.append([second, count])

    def rate(self, now: float | None = None) -> float:
        current = int(now if now is not None else time.monotonic())
        total = sum(c for s, c in self.buckets if current - self.seconds <= s < current)
        return total / self.seconds
