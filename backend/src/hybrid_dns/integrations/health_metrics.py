"""Prometheus gauges for what the dashboards and alert rules need beyond the real-time layer's metrics.

Registered on the app's registry (realtime/metrics.py's, served at /metrics) by the app:

- `hybrid_dns_forwarder_up{forwarder}`: 1 while the forwarder answers (healthy or degraded), 0 when
  unhealthy; absent until its first check;
- `hybrid_dns_forwarder_status{forwarder, status}`: 1 for the forwarder's state (healthy, degraded,
  unhealthy), 0 for the two others;
- `hybrid_dns_forwarder_response_seconds{forwarder}`: the average response time of its last check;
- `hybrid_dns_broker_up{kind}`: 1 while this instance reaches its event broker, else 0.

Each forwarder is one label value: bounded by the forwarders configured, and a deleted or disabled
forwarder's series go at once. Values are read when Prometheus scrapes (a collector, no updates on
any path of the app), from this instance's own forwarder monitor: every instance probes every
forwarder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

STATES = ("healthy", "degraded", "unhealthy")

ForwarderStates = Callable[[], Iterable[Mapping[str, Any]]]


class HealthCollector(Collector):
    def __init__(
        self,
        registry: CollectorRegistry,
        forwarders: ForwarderStates,
        broker_kind: Callable[[], str],
        broker_healthy: Callable[[], bool],
    ) -> None:
        """`forwarders`: each forwarder's state as in `health_update` (name, status, avg_response_ms)."""
        self.forwarders = forwarders
        self.broker_kind = broker_kind
        self.broker_healthy = broker_healthy
        registry.register(self)

    def describe(self) -> Iterator[Metric]:
        # Names only: the registry checks them for clashes without calling collect().
        yield GaugeMetricFamily("hybrid_dns_forwarder_up", "", labels=["forwarder"])
        yield GaugeMetricFamily("hybrid_dns_forwarder_status", "", labels=["forwarder", "status"])
        yield GaugeMetricFamily("hybrid_dns_forwarder_response_seconds", "", labels=["forwarder"])
        yield GaugeMetricFamily("hybrid_dns_broker_up", "", labels=["kind"])

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "hybrid_dns_forwarder_up",
            "Whether the forwarder answers DNS queries (1: healthy or degraded, 0: unhealthy)",
            labels=["forwarder"],
        )
        status = GaugeMetricFamily(
            "hybrid_dns_forwarder_status",
            "The forwarder's health state (1 for its state, 0 for the others)",
            labels=["forwarder", "status"],
        )
        response = GaugeMetricFamily(
            "hybrid_dns_forwarder_response_seconds",
            "Average response time of the forwarder's servers at its last check",
            labels=["forwarder"],
        )
        for forwarder in self.forwarders():
            name, state = str(forwarder.get("name") or ""), forwarder.get("status")
            if not name or state not in STATES:
                continue  # not checked yet
            up.add_metric([name], 0.0 if state == "unhealthy" else 1.0)
            for candidate in STATES:
                status.add_metric([name, candidate], 1.0 if candidate == state else 0.0)
            avg = forwarder.get("avg_response_ms")
            if isinstance(avg, int | float) and not isinstance(avg, bool):
                response.add_metric([name], float(avg) / 1000.0)
        broker = GaugeMetricFamily(
            "hybrid_dns_broker_up", "Whether this instance reaches its event broker (1) or not (0)", labels=["kind"]
        )
        broker.add_metric([self.broker_kind()], 1.0 if self.broker_healthy() else 0.0)
        yield from (up, status, response, broker)
