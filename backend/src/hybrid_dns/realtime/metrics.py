"""Prometheus metrics of the real-time layer, one registry per app (so tests can run several apps)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        self.latency = Histogram(
            "hybrid_dns_ws_emit_to_send_seconds",
            "From publish to the frame's write, measured on the oldest event of each frame",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.inbound_messages = Counter(
            "hybrid_dns_ws_inbound_messages", "Client frames, by outcome", ["outcome"], registry=r
        )
        self.broker_errors = Counter(
            "hybrid_dns_broker_errors", "Broker operations that failed", ["operation"], registry=r
        )

    def bind_queue_depth(self, total: Callable[[], float], maximum: Callable[[], float]) -> None:
        self.queue_depth.labels("total").set_function(total)
        self.queue_depth.labels("max").set_function(maximum)
