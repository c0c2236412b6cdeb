"""Alertmanager, outbound: the conditions an operator must be told of become alerts (API v2).

What becomes an alert (labels `alertname`, `severity`, `instance`, `source="hybrid-dns"`, and
`forwarder` or `zone` when the condition has one):

- a forwarder that is unhealthy (`HybridDNSForwarderDown`, critical) or degraded
  (`HybridDNSForwarderDegraded`, warning), with the forwarder's raised health alerts
  (slow_response, high_failure_ratio, all_servers_down) named in the description: they are the
  reasons for that state, and one outage is one alert, not four;
- a BIND deployment that failed (`HybridDNSBindDeployFailed`): one alert per zone or forwarder it
  left out, and one without either for a failure of the configuration as a whole or of RPZ
  rules; the next `bind_reload` replaces the set, so a success resolves them all;
- a `security_alert` (`HybridDNSSecurityAlert`), a `threat_detected` (`HybridDNSThreatDetected`)
  or any other `health_alert` (`HybridDNSHealthAlert`) at warning or above: one-shot news, sent
  with an `endsAt` ALERTMANAGER_ONE_SHOT_TTL ahead (a repeat with the same labels extends it; a
  `health_alert` whose `state` is "cleared" resolves it).

Where the state comes from, and why nothing is persisted: forwarder conditions are read from the
forwarder monitor's current state (the `forwarders` source, polled every second and at once when a
`forwarder_status_change` or `health_alert` arrives). Every instance probes every forwarder, so a
new leader knows them from its own probes, including a forwarder that was already down when it
started (the monitor announces no change for a first observation). BIND conditions follow the
last `bind_reload` of the stream (read back from the broker's history at start, then live) and
this instance's own deployment results (`bind_result`), so a restart whose start-up cycle works
(which announces nothing) resolves an old failure. One-shot alerts are rebuilt from the history
when their `endsAt` is still ahead. Alertmanager itself holds what was sent; nothing here needs
a table.

How it is sent: every instance keeps the same state from the same events, and only the leader
(`Realtime.leader`) posts, so two instances never send one alert twice; a new leader sends
everything at once. Each Alertmanager URL has its own task: a change is posted within about 50 ms
(changes within 0.5 s of the last post go in one post); every ALERTMANAGER_RESEND_INTERVAL every
active alert is posted again, and the resolved ones for 15 minutes (as Prometheus does), so an
Alertmanager that restarted with empty storage has them all back within one interval, and a lost
resolution is repeated. An active alert's `endsAt` is
four intervals ahead (as Prometheus does), so Alertmanager resolves it by itself if every
instance dies, whatever its `resolve_timeout`. After a failed post the next one is a full send,
retried with backoff (1 s doubling up to the interval). Events reach this module through a bounded
queue read by its own task: the event path only appends to it; every request has a timeout.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx
import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge

from ..config import Settings
from ..realtime.events import Event, EventType, Severity

log = logging.getLogger("hybrid_dns.integrations.alertmanager")

PREFIX = "HybridDNS"
SOURCE = "hybrid-dns"  # the `source` label of every alert sent from here: the inbound webhook ignores them
INBOUND_SOURCE = "alertmanager"  # `data.source` of events made from Alertmanager's webhook: never sent back

FORWARDER_DOWN = f"{PREFIX}ForwarderDown"
FORWARDER_DEGRADED = f"{PREFIX}ForwarderDegraded"
BIND_DEPLOY_FAILED = f"{PREFIX}BindDeployFailed"
SECURITY_ALERT = f"{PREFIX}SecurityAlert"
THREAT_DETECTED = f"{PREFIX}ThreatDetected"
HEALTH_ALERT = f"{PREFIX}HealthAlert"

# health_alert kinds that are reasons for a forwarder's state (monitoring/forwarders.py): their
# events only wake the state check up; the forwarder alert carries them.
FORWARDER_ALERT_KINDS = frozenset({"slow_response", "high_failure_ratio", "all_servers_down"})
BIND_ALERT_KIND = "bind_reload_failed"  # the health_alert that comes with a failed bind_reload

RESOLVED_RETENTION = 900.0  # seconds a resolved alert is still re-sent (Prometheus: 15 minutes)
ENDS_AT_INTERVALS = 4  # an active alert's endsAt is this many resend intervals ahead
MAX_ALERTS = 2000  # alerts held at most; the oldest one-shot alerts make room first
MAX_PER_BIND_FAILURE = 50  # zone/forwarder alerts for one failed deployment, at most
QUEUE_SIZE = 10_000  # events waiting for the task, at most (the oldest are dropped past it)
POLL_INTERVAL = 1.0  # seconds between reads of the forwarder state and the deployment result
COALESCE = 0.05  # seconds a change waits for others before it is posted
MIN_GAP = 0.5  # seconds between two posts of changes to one Alertmanager (a burst of events is one post)
_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2, Severity.CRITICAL: 3}
_LABEL_VALUE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")

ForwarderSource = Callable[[], Awaitable[Mapping[str, Any]]]
BindSource = Callable[[], Mapping[str, Any] | None]
Key = tuple[tuple[str, str], ...]


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def code_label(value: Any) -> str:
    """A label value made from an event's code field (`alert`, `category`): bounded, or "other"."""
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    return text if _LABEL_VALUE.fullmatch(text) else "other"


def _text(value: Any, limit: int = 300) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def alerts_url(base: str) -> str:
    """POST target for one ALERTMANAGER_URL entry: the base URL (any path prefix kept) + /api/v2/alerts."""
    parts = urlsplit(base.strip())
    path = parts.path.rstrip("/")
    if not path.endswith("/api/v2/alerts"):
        path += "/api/v2/alerts"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def redact_url(url: str) -> str:
    """A URL fit for a log line: user and password (basic auth for a proxy in front) left out."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclasses.dataclass(slots=True)
class Alert:
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    family: str  # "forwarder", "bind": replaced as a whole; "event": one-shot
    ends_at: datetime | None = None  # one-shot: its planned end; resolved: when it cleared; else None
    resolved: bool = False
    link: str | None = None  # generatorURL: the dashboard page it concerns

    @property
    def key(self) -> Key:
        return tuple(sorted(self.labels.items()))

    def active(self, now: datetime) -> bool:
        return not self.resolved and (self.ends_at is None or self.ends_at > now)

    def payload(self, now: datetime, active_until: datetime) -> dict[str, Any]:
        body: dict[str, Any] = {
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": _iso(self.starts_at),
            "endsAt": _iso(self.ends_at if self.ends_at is not None else active_until),
        }
        if self.link:
            body["generatorURL"] = self.link
        return body


class AlertState:
    """The alerts this instance would send, kept from events and polled state. No I/O: unit-testable.

    Every method that changes something returns the keys it changed, for the senders to post."""

    def __init__(self, instance: str, dashboard_url: str, one_shot_ttl: float) -> None:
        self.instance = instance
        self.dashboard_url = dashboard_url.rstrip("/")
        self.one_shot_ttl = one_shot_ttl
        self.alerts: dict[Key, Alert] = {}
        self.evicted = 0

    # --- what the dashboard links to ------------------------------------------------------------

    def _url(self, path: str, **query: str) -> str | None:
        if not self.dashboard_url:
            return None
        qs = urlencode({k: v for k, v in query.items() if v}, quote_via=quote)
        return f"{self.dashboard_url}{path}" + (f"?{qs}" if qs else "")

    def _labels(self, alertname: str, severity: str, **extra: str) -> dict[str, str]:
        labels = {"alertname": alertname, "severity": severity, "instance": self.instance, "source": SOURCE}
        labels.update({k: v for k, v in extra.items() if v})
        return labels

    # --- changes --------------------------------------------------------------------------------

    def _put(self, alert: Alert, now: datetime) -> list[Key]:
        """Add or update an active alert; returns [key] if Alertmanager must hear of it."""
        key = alert.key
        current = self.alerts.get(key)
        if current is not None and current.active(now):
            if alert.ends_at is not None and current.ends_at is not None:
                # The same one-shot condition again: it lasts until the later end.
                alert.ends_at = max(alert.ends_at, current.ends_at)
            alert.starts_at = current.starts_at
            if (alert.annotations, alert.ends_at, alert.link) == (current.annotations, current.ends_at, current.link):
                return []
        self.alerts[key] = alert
        self.alerts[key] = self.alerts.pop(key)  # newest last: eviction takes the oldest first
        self._bound(now)
        return [key]

    def _resolve(self, key: Key, now: datetime) -> list[Key]:
        alert = self.alerts.get(key)
        if alert is None or not alert.active(now):
            return []
        alert.resolved, alert.ends_at = True, now
        return [key]

    def _replace_family(self, family: str, wanted: Iterable[Alert], now: datetime) -> list[Key]:
        """Make `wanted` the family's active alerts: new ones fire, missing ones resolve."""
        changed: list[Key] = []
        keys = set()
        for alert in wanted:
            keys.add(alert.key)
            changed += self._put(alert, now)
        for key, alert in list(self.alerts.items()):
            if alert.family == family and key not in keys:
                changed += self._resolve(key, now)
        return changed

    def _bound(self, now: datetime) -> None:
        while len(self.alerts) > MAX_ALERTS:
            victim = next((k for k, a in self.alerts.items() if a.family == "event" or not a.active(now)), None)
            if victim is None:
                victim = next(iter(self.alerts))
            del self.alerts[victim]
            self.evicted += 1

    def expire(self, now: datetime) -> None:
        """Forget alerts that ended more than RESOLVED_RETENTION ago (Alertmanager has them as resolved)."""
        horizon = now - timedelta(seconds=RESOLVED_RETENTION)
        for key in [k for k, a in self.alerts.items() if a.ends_at is not None and a.ends_at < horizon]:
            del self.alerts[key]

    # --- the forwarders -------------------------------------------------------------------------

    def set_forwarders(self, snapshot: Mapping[str, Any], now: datetime) -> list[Key]:
        """The forwarder monitor's state (the `health_update` payload): one alert per forwarder not healthy."""
        wanted = []
        for forwarder in snapshot.get("forwarders") or ():
            name, status = str(forwarder.get("name") or ""), forwarder.get("status")
            if not name or status not in ("degraded", "unhealthy"):
                continue
            down = status == "unhealthy"
            reasons = [str(a) for a in forwarder.get("alerts") or ()]
            servers = forwarder.get("servers") or ()
            answering = sum(1 for s in servers if s.get("status") in ("healthy", "degraded"))
            # Only what changes with the condition: a description that changed every round would be posted every round.
            detail = [f"{answering} of {len(servers)} servers answering"]
            if reasons:
                detail.append("health alerts: " + ", ".join(reasons))
            failing = [f"{s.get('address')}: {s.get('status')}" for s in servers][:10]
            domains = ", ".join(str(d) for d in (forwarder.get("domains") or ())[:10])
            description = f"Forwarder {name} ({domains or 'all domains'}) is {status}: " + "; ".join(detail)
            if failing:
                description += ". Servers: " + "; ".join(failing)
            wanted.append(
                Alert(
                    labels=self._labels(
                        FORWARDER_DOWN if down else FORWARDER_DEGRADED,
                        "critical" if down else "warning",
                        forwarder=name,
                    ),
                    annotations={
                        "summary": f"DNS forwarder {name} is {'down' if down else 'degraded'}",
                        "description": _text(description, 1000),
                        **self._links("/forwarders", category="health", text=name),
                    },
                    starts_at=now,
                    family="forwarder",
                    link=self._url("/forwarders"),
                )
            )
        return self._replace_family("forwarder", wanted, now)

    def _links(self, page: str, **events_query: str) -> dict[str, str]:
        links = {}
        dashboard, events = self._url(page), self._url("/events", **events_query)
        if dashboard:
            links["dashboard_url"] = dashboard
        if events:
            links["events_url"] = events
        return links

    # --- BIND -----------------------------------------------------------------------------------

    def set_bind(self, result: Mapping[str, Any], now: datetime) -> list[Key]:
        """A deployment result (a `bind_reload` payload): its failures become the family's alerts."""
        if result.get("success", True):
            return self._replace_family("bind", (), now)
        stage = code_label(result.get("stage") or "deploy")
        error = _text(result.get("error") or "unknown error", 1000)
        reason = _text(result.get("reason"), 200)
        zones = [str(z) for z in result.get("failed_zones") or ()][:MAX_PER_BIND_FAILURE]
        forwarders = [str(f) for f in result.get("failed_forwarders") or ()][:MAX_PER_BIND_FAILURE]
        rules = [str(r) for r in result.get("failed_rules") or ()]
        wanted = []
        for zone in zones:
            wanted.append(
                self._bind_alert(
                    f"BIND left zone {zone} out of its deployment",
                    f"Zone {zone} failed at {stage} and keeps its last good file (or is not served). {error}",
                    now,
                    zone=zone,
                    page=self._url("/zones"),
                    query={"zone": zone, "category": "dns"},
                )
            )
        for forwarder in forwarders:
            wanted.append(
                self._bind_alert(
                    f"BIND left forwarder {forwarder} out of its deployment",
                    f"Forwarder {forwarder} could not be written. {error}",
                    now,
                    forwarder=forwarder,
                    page=self._url("/forwarders"),
                    query={"category": "dns", "min_severity": "error"},
                )
            )
        if rules or not (zones or forwarders):
            what = f"{len(rules)} RPZ rules left out" if rules else f"the deployment failed at {stage}"
            wanted.append(
                self._bind_alert(
                    f"BIND deployment failed: {what}",
                    f"{error} (cause of the reload: {reason or 'unknown'})",
                    now,
                    page=self._url("/rpz") if rules else None,
                    query={"category": "dns", "min_severity": "error"},
                )
            )
        return self._replace_family("bind", wanted, now)

    def _bind_alert(
        self, summary: str, description: str, now: datetime, page: str | None, query: dict[str, str], **labels: str
    ) -> Alert:
        annotations = {"summary": _text(summary, 200), "description": _text(description, 1000)}
        events = self._url("/events", **query)
        if page:
            annotations["dashboard_url"] = page
        if events:
            annotations["events_url"] = events
        return Alert(
            labels=self._labels(BIND_DEPLOY_FAILED, "critical", **labels),
            annotations=annotations,
            starts_at=now,
            family="bind",
            link=events or page,
        )

    # --- events ---------------------------------------------------------------------------------

    def observe(self, event: Event, now: datetime) -> list[Key]:
        """One event: returns the keys it changed. (Forwarder events change nothing here: they wake the
        notifier up to read the monitor's state, which is where forwarder alerts come from.)"""
        etype = event.type
        if etype is EventType.BIND_RELOAD:
            return self.set_bind(event.data, now)
        if etype not in (EventType.HEALTH_ALERT, EventType.SECURITY_ALERT, EventType.THREAT_DETECTED):
            return []
        data = event.data
        if data.get("source") == INBOUND_SOURCE:
            return []  # it came from Alertmanager: sending it back would loop
        if etype is EventType.HEALTH_ALERT:
            if data.get("alert") in FORWARDER_ALERT_KINDS and data.get("forwarder"):
                return []  # a reason for the forwarder's state, which is the alert
            if data.get("alert") == BIND_ALERT_KIND or data.get("component") == "bind":
                return []  # the bind_reload beside it is the condition
        alert = self._one_shot(event, data, now)
        if alert is None:
            return []
        if etype is EventType.HEALTH_ALERT and data.get("state") == "cleared":
            # The clearing event has its own severity (info): the alert it clears is found without it.
            same = {k: v for k, v in alert.labels.items() if k != "severity"}
            changed: list[Key] = []
            for key, held in list(self.alerts.items()):
                if held.family == "event" and {k: v for k, v in held.labels.items() if k != "severity"} == same:
                    changed += self._resolve(key, now)
            return changed
        if _SEVERITY_RANK[event.severity] < _SEVERITY_RANK[Severity.WARNING]:
            return []
        return self._put(alert, now)

    def _one_shot(self, event: Event, data: Mapping[str, Any], now: datetime) -> Alert | None:
        started = _parse_time(event.timestamp) or now
        ends = started + timedelta(seconds=self.one_shot_ttl)
        if ends <= now:
            return None  # already over (an old event read back from history)
        since = _iso(started - timedelta(seconds=1))
        message = _text(data.get("message") or event.about.summary or event.type.value, 300)
        if event.type is EventType.SECURITY_ALERT:
            kind = code_label(data.get("alert") or "security_alert")
            labels = self._labels(SECURITY_ALERT, event.severity.value, alert=kind)
            summary = f"Security alert: {message}"
            query = {"category": "security", "min_severity": "warning", "since": since}
        elif event.type is EventType.THREAT_DETECTED:
            category = code_label(data.get("category") or "unknown")
            labels = self._labels(THREAT_DETECTED, event.severity.value, category=category)
            name = data.get("name") or data.get("query")
            summary = f"Blocked query for {_text(name, 200)} from {_text(data.get('client'), 64)} ({category})"
            message = f"{summary}; rule {_text(data.get('rule'), 200)}, {data.get('count', 1)} time(s)"
            query = {"category": "security", "since": since}
        else:
            kind = code_label(data.get("alert") or "health_alert")
            zones = data.get("zones")
            zone = data.get("zone") or (zones[0] if isinstance(zones, list) and zones else None)
            extra = {"alert": kind}
            if isinstance(zone, str) and _LABEL_VALUE.fullmatch(zone.rstrip(".")):
                extra["zone"] = zone.rstrip(".").lower()
            forwarder = data.get("forwarder")
            if isinstance(forwarder, str) and _LABEL_VALUE.fullmatch(forwarder):
                extra["forwarder"] = forwarder
            labels = self._labels(HEALTH_ALERT, event.severity.value, **extra)
            summary = f"Health alert: {message}"
            query = {"category": "health", "min_severity": "warning", "since": since}
        annotations = {
            "summary": _text(summary, 200),
            "description": _text(message, 1000),
            "event_id": event.id,
            "event_seq": str(event.seq),
        }
        events = self._url("/events", **query)
        if events:
            annotations["events_url"] = events
        return Alert(labels, annotations, started, "event", ends_at=ends, link=events)

    # --- what is sent ---------------------------------------------------------------------------

    def active_count(self, now: datetime) -> int:
        return sum(1 for a in self.alerts.values() if a.active(now))

    def payload(self, keys: Iterable[Key] | None, now: datetime, active_until: datetime) -> list[dict[str, Any]]:
        """Alerts as Alertmanager takes them: the given keys, or every alert held (None)."""
        chosen = self.alerts.values() if keys is None else (self.alerts[k] for k in keys if k in self.alerts)
        return [a.payload(now, active_until) for a in chosen]


def _now() -> datetime:
    return datetime.now(UTC)


class _Target:
    """One Alertmanager: its own task, the keys it has not been told of yet, its resend clock."""

    def __init__(self, notifier: AlertmanagerNotifier, base: str) -> None:
        self.notifier = notifier
        self.url = alerts_url(base)
        self.name = redact_url(self.url)
        self.dirty: set[Key] = set()
        self.full = True  # the next post sends everything (start, new leader, after a failure)
        self.wake = asyncio.Event()
        self.next_full = 0.0
        self.failures = 0
        self.last_post = 0.0
        self.task: asyncio.Task[None] | None = None

    def mark(self, keys: Iterable[Key]) -> None:
        self.dirty.update(keys)
        self.wake.set()

    def mark_all(self) -> None:
        self.full = True
        self.wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        notifier = self.notifier
        while True:
            delay = max(0.0, self.next_full - loop.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self.wake.wait()
            self.wake.clear()
            if not notifier.is_leader():
                self.dirty.clear()
                self.full = True  # when this instance leads, it starts with everything
                self.next_full = loop.time() + POLL_INTERVAL
                continue
            # Gather a burst of changes (a flood of threat_detected, say) into one post.
            await asyncio.sleep(max(COALESCE, self.last_post + MIN_GAP - loop.time()))
            full = self.full or loop.time() >= self.next_full
            keys, self.dirty = self.dirty, set()
            now = _now()
            alerts = notifier.state.payload(None if full else keys, now, notifier.active_until(now))
            if not alerts:  # nothing to tell (an empty full send is not posted)
                if full:
                    self.full = False
                    self.next_full = loop.time() + notifier.resend_interval
                continue
            self.last_post = loop.time()
            ok = await notifier.post(self, alerts)
            if ok:
                self.failures = 0
                if full:
                    self.full = False
                    self.next_full = loop.time() + notifier.resend_interval
            else:
                # Alertmanager may have restarted or lost what it had: the next post sends everything.
                self.failures += 1
                self.full = True
                backoff = min(notifier.resend_interval, 2.0 ** min(self.failures - 1, 10))
                self.next_full = loop.time() + backoff


class AlertmanagerNotifier:
    """The outbound half: keeps `AlertState` from events and polled state; the leader posts it."""

    def __init__(
        self,
        settings: Settings,
        registry: CollectorRegistry,
        *,
        is_leader: Callable[[], bool],
        history: Callable[[int, int], Awaitable[Any]] | None = None,
        last_seq: Callable[[], int] | None = None,
        forwarders: ForwarderSource | None = None,
        bind_result: BindSource | None = None,
        instance_id: str = "",
    ) -> None:
        """`history(after_seq, limit)`: the broker's history pages (rebuild at start); `last_seq`: the
        stream position at start; `forwarders`: the forwarder monitor's snapshot; `bind_result`: this
        instance's last deployment result. Each may be None (that source is then not used)."""
        self.settings = settings
        self.urls = list(settings.ALERTMANAGER_URL)
        self.is_leader = is_leader
        self.history = history
        self.last_seq = last_seq
        self.forwarders = forwarders
        self.bind_result = bind_result
        self.instance_id = instance_id
        self.state = AlertState(alerting_instance(settings), settings.DASHBOARD_URL, settings.ALERTMANAGER_ONE_SHOT_TTL)
        self.notifications = Counter(
            "hybrid_dns_alertmanager_notifications",
            "Posts of alerts to Alertmanager (API v2), by outcome",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("success", "failure"):
            self.notifications.labels(outcome)  # both series exist from the start (0)
        self.active_gauge = Gauge(
            "hybrid_dns_alerts_active", "Conditions currently firing as Alertmanager alerts", registry=registry
        )
        self.active_gauge.set_function(lambda: self.state.active_count(_now()))
        self.queue: collections.deque[Event] = collections.deque(maxlen=QUEUE_SIZE)
        self.dropped = 0
        self.targets = [_Target(self, url) for url in self.urls]
        self._wake = asyncio.Event()
        self._bind_seen: Mapping[str, Any] | None = None
        self._replayed_to = 0
        self._was_leader = False
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.urls)

    @property
    def resend_interval(self) -> float:
        return float(self.settings.ALERTMANAGER_RESEND_INTERVAL)

    def active_until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=ENDS_AT_INTERVALS * self.resend_interval)

    # --- the event path: append and wake, nothing else -----------------------------------------

    def observe(self, event: Event) -> None:
        """The hub's event hook (called for every event on this instance, in seq order)."""
        if not self.enabled or event.type not in _WATCHED:
            return
        if len(self.queue) == self.queue.maxlen:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("alert queue full: %d events dropped so far", self.dropped)
        self.queue.append(event)
        self._wake.set()

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if not self.enabled or self._task is not None:
            return
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(float(self.settings.ALERTMANAGER_TIMEOUT)),
            follow_redirects=False,
            headers={"User-Agent": "hybrid-dns"},
        )
        loop = asyncio.get_running_loop()
        for target in self.targets:
            target.task = loop.create_task(target.run(), name=f"alertmanager-{target.name}")
        self._task = loop.create_task(self._run(), name="alertmanager-state")
        log.info("alerts go to %s", ", ".join(t.name for t in self.targets))

    async def close(self) -> None:
        tasks = [t for t in (self._task, *(target.task for target in self.targets)) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        for target in self.targets:
            target.task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # --- the state task -------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._replay()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not read the event history back; alerts start from live events")
        failing = False
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_INTERVAL):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.refresh()
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception:
                if not failing:
                    log.exception("alert state update failed; retrying")
                failing = True

    async def _replay(self) -> None:
        """Rebuild from the broker's history what only events tell: BIND results, recent one-shots."""
        if self.history is None or self.last_seq is None:
            return
        stop, after = self.last_seq(), 0
        while after < stop:
            page = await self.history(after, 1000)
            events = [e for e in page.events if e.seq <= stop]
            if not events:
                break
            now = _now()
            for event in events:
                if event.type in _WATCHED:
                    self._mark(self.state.observe(event, now))
            after = events[-1].seq
        self._replayed_to = stop

    async def refresh(self) -> None:
        """Apply queued events, read the polled sources, tell the senders what changed."""
        now = _now()
        changed: list[Key] = []
        while self.queue:
            event = self.queue.popleft()
            if event.seq <= self._replayed_to:
                continue  # already read from history
            changed += self.state.observe(event, now)
        if self.forwarders is not None:
            changed += self.state.set_forwarders(await self.forwarders(), now)
        if self.bind_result is not None:
            result = self.bind_result()
            if result is not None and result is not self._bind_seen:
                self._bind_seen = result
                changed += self.state.set_bind(result, now)
        self.state.expire(now)
        self._mark(changed)
        leader = self.is_leader()
        if leader and not self._was_leader:
            log.info("instance %s now sends the alerts (%d active)", self.instance_id, self.state.active_count(now))
            for target in self.targets:
                target.mark_all()
        self._was_leader = leader

    def _mark(self, keys: Sequence[Key]) -> None:
        if keys:
            for target in self.targets:
                target.mark(keys)

    # --- posting --------------------------------------------------------------------------------

    async def post(self, target: _Target, alerts: list[dict[str, Any]]) -> bool:
        assert self._client is not None
        try:
            body = orjson.dumps(alerts)
            reply = await self._client.post(target.url, content=body, headers={"Content-Type": "application/json"})
            ok = 200 <= reply.status_code < 300
            problem = None if ok else f"HTTP {reply.status_code}: {reply.text[:200]}"
        except httpx.HTTPError as exc:
            ok, problem = False, f"{type(exc).__name__}"
        self.notifications.labels("success" if ok else "failure").inc()
        if ok:
            if target.failures:
                log.info("Alertmanager %s reachable again", target.name)
        elif target.failures == 0:
            log.warning("could not post %d alerts to Alertmanager %s: %s", len(alerts), target.name, problem)
        return ok


_WATCHED = frozenset(
    {
        EventType.BIND_RELOAD,
        EventType.FORWARDER_STATUS_CHANGE,
        EventType.HEALTH_ALERT,
        EventType.SECURITY_ALERT,
        EventType.THREAT_DETECTED,
    }
)


def alerting_instance(settings: Settings) -> str:
    """The `instance` label: one name for the whole cluster (a new leader must send the same labels)."""
    if settings.ALERTMANAGER_INSTANCE:
        return settings.ALERTMANAGER_INSTANCE
    host = urlsplit(settings.DASHBOARD_URL).netloc if settings.DASHBOARD_URL else ""
    return host or "hybrid-dns"
