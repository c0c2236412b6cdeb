"""What becomes an Alertmanager alert, and when it resolves: the notifier's state, without sockets.

The end-to-end behaviour against a real Alertmanager is in test_alertmanager.py; these pin the
rules one by one (labels, families that replace each other, one-shot alerts, loops, bounds).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hybrid_dns.integrations.alertmanager import (
    BIND_DEPLOY_FAILED,
    FORWARDER_DEGRADED,
    FORWARDER_DOWN,
    HEALTH_ALERT,
    RESOLVED_RETENTION,
    SECURITY_ALERT,
    THREAT_DETECTED,
    AlertState,
    alerts_url,
    redact_url,
)
from hybrid_dns.realtime.events import Event, EventDraft

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
DASHBOARD = "https://dns.example.test"


def state(ttl: float = 900) -> AlertState:
    return AlertState("dns.example.test", DASHBOARD, ttl)


def event(event_type: str, data: dict[str, Any], severity: str | None = None, at: datetime = T0, seq: int = 1) -> Event:
    draft = EventDraft.make(event_type, data, severity=severity)
    draft.timestamp = at.isoformat().replace("+00:00", "Z")
    return Event.from_draft(draft, seq)


def snapshot(*forwarders: tuple[str, str]) -> dict[str, Any]:
    return {
        "forwarders": [
            {
                "name": name,
                "status": status,
                "domains": ["corp.example"],
                "servers": [{"address": "192.0.2.1:53", "status": status}],
                "alerts": ["all_servers_down"] if status == "unhealthy" else [],
            }
            for name, status in forwarders
        ]
    }


def active(s: AlertState, now: datetime = T0) -> dict[str, dict[str, str]]:
    return {a.labels["alertname"] + ":" + a.labels.get("forwarder", a.labels.get("zone", "")): a.labels
            for a in s.alerts.values() if a.active(now)}  # fmt: skip


def test_a_forwarder_not_healthy_is_one_alert_that_follows_its_state() -> None:
    s = state()
    assert s.set_forwarders(snapshot(("corp", "healthy")), T0) == []
    assert s.alerts == {}

    changed = s.set_forwarders(snapshot(("corp", "unhealthy"), ("lab", "healthy")), T0)
    assert len(changed) == 1
    assert active(s) == {
        f"{FORWARDER_DOWN}:corp": {
            "alertname": FORWARDER_DOWN,
            "severity": "critical",
            "instance": "dns.example.test",
            "source": "hybrid-dns",
            "forwarder": "corp",
        }
    }
    alert = next(iter(s.alerts.values()))
    assert alert.annotations["summary"] == "DNS forwarder corp is down"
    assert "all_servers_down" in alert.annotations["description"]
    assert alert.annotations["dashboard_url"] == f"{DASHBOARD}/forwarders"
    assert alert.annotations["events_url"].startswith(f"{DASHBOARD}/events?category=health&text=corp")

    # The same state again changes nothing: nothing is posted on every poll.
    assert s.set_forwarders(snapshot(("corp", "unhealthy"), ("lab", "healthy")), T0 + timedelta(seconds=1)) == []

    # Down -> degraded: the down alert resolves, a degraded one fires.
    later = T0 + timedelta(minutes=1)
    assert len(s.set_forwarders(snapshot(("corp", "degraded")), later)) == 2
    assert list(active(s, later)) == [f"{FORWARDER_DEGRADED}:corp"]
    down = next(a for a in s.alerts.values() if a.labels["alertname"] == FORWARDER_DOWN)
    assert down.resolved and down.ends_at == later

    # Deleted (or disabled): no longer in the monitor's state, so resolved.
    assert len(s.set_forwarders(snapshot(), later)) == 1
    assert active(s, later) == {}


def test_payload_active_alerts_end_ahead_resolved_ones_at_their_resolution() -> None:
    s = state()
    s.set_forwarders(snapshot(("corp", "unhealthy")), T0)
    until = T0 + timedelta(minutes=4)
    (body,) = s.payload(None, T0, until)
    assert body["startsAt"] == "2026-12-02T09:00:00.000Z"
    assert body["endsAt"] == "2026-12-02T09:04:00.000Z"
    assert body["generatorURL"] == f"{DASHBOARD}/forwarders"
    later = T0 + timedelta(seconds=30)
    s.set_forwarders(snapshot(("corp", "healthy")), later)
    (body,) = s.payload(None, later, later + timedelta(minutes=4))
    assert body["startsAt"] == "2026-12-02T09:00:00.000Z" and body["endsAt"] == "2026-12-02T09:00:30.000Z"
    # A resolved alert is still sent for a while (a lost resolution is repeated), then forgotten.
    s.expire(later + timedelta(seconds=RESOLVED_RETENTION - 1))
    assert len(s.alerts) == 1
    s.expire(later + timedelta(seconds=RESOLVED_RETENTION + 1))
    assert s.alerts == {}


def test_a_bind_deployment_failure_fires_per_zone_and_the_next_success_resolves_all() -> None:
    s = state()
    failed = {"success": False, "stage": "check", "error": "zone a.example: bad", "failed_zones": ["a.example"]}
    s.observe(event("bind_reload", failed, "error"), T0)
    assert list(active(s)) == [f"{BIND_DEPLOY_FAILED}:a.example"]
    assert active(s)[f"{BIND_DEPLOY_FAILED}:a.example"]["zone"] == "a.example"

    # The next failure names another zone: the first one is fixed.
    s.observe(event("bind_reload", {**failed, "failed_zones": ["b.example"]}, "error", seq=2), T0)
    assert list(active(s)) == [f"{BIND_DEPLOY_FAILED}:b.example"]

    # A failure of the whole configuration: one alert without a zone.
    whole = {"success": False, "stage": "reload", "error": "rndc: connection refused"}
    s.observe(event("bind_reload", whole, "error", seq=3), T0)
    assert list(active(s)) == [f"{BIND_DEPLOY_FAILED}:"]
    alert = next(a for a in s.alerts.values() if a.active(T0))
    assert "rndc: connection refused" in alert.annotations["description"]

    # Resolved by the next success, whichever instance or source reports it.
    assert s.set_bind({"success": True}, T0) != []
    assert active(s) == {}


def test_security_and_threat_events_are_one_shot_alerts_that_end_by_themselves() -> None:
    s = state(ttl=600)
    alert_event = event(
        "security_alert", {"alert": "repeated_login_failures", "message": "20 failed logins from 192.0.2.9"}
    )
    assert len(s.observe(alert_event, T0)) == 1
    (alert,) = s.alerts.values()
    assert alert.labels == {
        "alertname": SECURITY_ALERT,
        "severity": "warning",
        "instance": "dns.example.test",
        "source": "hybrid-dns",
        "alert": "repeated_login_failures",
    }
    assert alert.ends_at == T0 + timedelta(seconds=600)
    assert alert.annotations["event_id"] == alert_event.id
    assert alert.annotations["events_url"].startswith(f"{DASHBOARD}/events?category=security")

    # The same condition again (same labels): one alert, lasting until the later end.
    later = T0 + timedelta(minutes=5)
    s.observe(event("security_alert", {"alert": "repeated_login_failures", "message": "40"}, at=later, seq=2), later)
    (alert,) = s.alerts.values()
    assert alert.starts_at == T0 and alert.ends_at == later + timedelta(seconds=600)
    assert not alert.active(later + timedelta(seconds=601))

    threat = {"client": "192.0.2.50", "name": "malware.example", "rule": "malware.example", "category": "malware"}
    s.observe(event("threat_detected", threat, seq=3), T0)
    labels = [a.labels for a in s.alerts.values() if a.labels["alertname"] == THREAT_DETECTED]
    assert labels == [{**labels[0], "category": "malware", "severity": "warning"}]


def test_what_is_not_an_alert() -> None:
    s = state()
    # Below warning.
    assert s.observe(event("security_alert", {"alert": "x"}, "info"), T0) == []
    # Came from Alertmanager: sending it back would loop.
    inbound = {"source": "alertmanager", "alertname": "DiskFull", "alert": "DiskFull", "state": "raised"}
    assert s.observe(event("health_alert", inbound, "critical"), T0) == []
    # A forwarder's health alerts are reasons for its state (the forwarder alert), not alerts of their own.
    reason = {"forwarder": "corp", "alert": "slow_response", "state": "raised", "message": "slow"}
    assert s.observe(event("health_alert", reason, "warning"), T0) == []
    # The health_alert beside a failed bind_reload: the bind_reload is the condition.
    bind = {"component": "bind", "alert": "bind_reload_failed", "message": "BIND check failed"}
    assert s.observe(event("health_alert", bind, "error"), T0) == []
    # Too old to matter (read back from history after its one-shot time).
    old = T0 - timedelta(hours=2)
    assert s.observe(event("security_alert", {"alert": "x"}, at=old), T0) == []
    # Other events.
    assert s.observe(event("zone_created", {"zone": "a.example"}), T0) == []
    assert s.alerts == {}


def test_other_health_alerts_fire_and_clear_and_label_values_stay_bounded() -> None:
    s = state()
    raised = {"alert": "disk_space", "state": "raised", "message": "data dir 95% full"}
    s.observe(event("health_alert", raised, "error"), T0)
    (alert,) = s.alerts.values()
    assert alert.labels["alertname"] == HEALTH_ALERT and alert.labels["alert"] == "disk_space"
    assert alert.labels["severity"] == "error"
    cleared = {**raised, "state": "cleared"}
    assert len(s.observe(event("health_alert", cleared, "info", seq=2), T0)) == 1
    assert not alert.active(T0)

    # A code that is not a short identifier does not become a label value of its own.
    s.observe(event("security_alert", {"alert": "x" * 500}), T0)
    s.observe(event("security_alert", {"alert": "drop table; --"}, seq=3), T0)
    kinds = {a.labels.get("alert") for a in s.alerts.values() if a.labels["alertname"] == SECURITY_ALERT}
    assert kinds == {"other"}


def test_alertmanager_urls() -> None:
    assert alerts_url("http://am:9093") == "http://am:9093/api/v2/alerts"
    assert alerts_url("https://proxy.example/alertmanager/") == "https://proxy.example/alertmanager/api/v2/alerts"
    assert alerts_url("http://am:9093/api/v2/alerts") == "http://am:9093/api/v2/alerts"
    assert redact_url("https://user:secret@am.example:9093/api/v2/alerts") == "https://am.example:9093/api/v2/alerts"
