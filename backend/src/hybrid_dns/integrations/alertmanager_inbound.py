"""Alertmanager, inbound: the alerts of the rest of the infrastructure become dashboard events.

Alertmanager's webhook receiver (payload version 4) posts to `POST /api/integrations/alertmanager`
(api/integrations.py), with the bearer token ALERTMANAGER_WEBHOOK_TOKEN: a secret of its own,
compared in constant time, that opens nothing else (it is not a session token, and no other
route takes it). Each alert of a notification becomes one event:

- `security_alert` when its labels say `category="security"`, else `health_alert`;
- severity from its `severity` label (critical, error, warning, info and their usual synonyms;
  warning when there is none), info for a resolved alert;
- data: source "alertmanager", alertname (also as `alert`), status (firing, resolved), state
  (raised, cleared: the word forwarder health alerts use), message, labels, annotations,
  starts_at, ends_at, fingerprint, generator_url, receiver, external_url, and `zones` when its
  labels name a zone (so the dashboard links it like its own alerts).

Our own alerts coming back (label `source="hybrid-dns"`) are skipped, and the outbound notifier
never sends an event whose `source` is "alertmanager": no loop either way.

Alertmanager sends a whole group on every change in it, and again every repeat_interval, so one
alert arrives many times: each (fingerprint, status, startsAt) becomes one event. The event's id
is made from them (`idempotent_event_id`), so the brokers publish it once even when two
Alertmanagers of an HA pair, or two of our instances, get it (within their memory of recent ids:
5 minutes on Redis, the history with the embedded broker); this instance also remembers the last
10,000 it published.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import hmac
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..realtime.events import EventDraft, EventType, Severity
from ..realtime.service import WebSocketEventService, idempotent_event_id
from .alertmanager import INBOUND_SOURCE, SOURCE

log = logging.getLogger("hybrid_dns.integrations.alertmanager")

REMEMBERED = 10_000
_SEVERITIES = {
    "critical": Severity.CRITICAL,
    "fatal": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "error": Severity.ERROR,
    "high": Severity.ERROR,
    "major": Severity.ERROR,
    "warning": Severity.WARNING,
    "warn": Severity.WARNING,
    "medium": Severity.WARNING,
    "minor": Severity.WARNING,
    "info": Severity.INFO,
    "informational": Severity.INFO,
    "low": Severity.INFO,
    "none": Severity.INFO,
}
_ZERO_TIME_YEAR = 1  # Alertmanager's "no end" is 0001-01-01T00:00:00Z


@dataclasses.dataclass(frozen=True, slots=True)
class InboxResult:
    received: int  # alerts in the notification
    emitted: int  # events published
    own: int  # our own alerts, skipped
    repeated: int  # seen before (the same fingerprint, status and start)


def token_matches(expected: str | None, presented: str | None) -> bool:
    """Constant-time comparison (of digests, so that the lengths leak nothing either)."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(
        hashlib.sha256(expected.encode()).digest(), hashlib.sha256(presented.encode("utf-8", "replace")).digest()
    )


def _time(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if value.year <= _ZERO_TIME_YEAR:
        return None
    utc = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return utc.isoformat().replace("+00:00", "Z")


class AlertmanagerInbox:
    def __init__(self, service: WebSocketEventService) -> None:
        self.service = service
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.totals: collections.Counter[str] = collections.Counter()  # received, emitted, own, repeated

    def draft(self, alert: Mapping[str, Any], envelope: Mapping[str, Any]) -> EventDraft:
        """The event for one alert of a notification (`envelope`: receiver, externalURL, ...)."""
        labels: dict[str, str] = dict(alert.get("labels") or {})
        annotations: dict[str, str] = dict(alert.get("annotations") or {})
        status = str(alert.get("status") or envelope.get("status") or "firing")
        firing = status == "firing"
        alertname = labels.get("alertname") or "alert"
        security = labels.get("category", "").lower() == "security"
        summary = annotations.get("summary") or annotations.get("description") or annotations.get("message") or ""
        verb = "firing" if firing else "resolved"
        message = f"{alertname} {verb}" + (f": {summary}" if summary else "")
        severity = _SEVERITIES.get(labels.get("severity", "").lower(), Severity.WARNING) if firing else Severity.INFO
        starts_at = _time(alert.get("startsAt"))
        data: dict[str, Any] = {
            "source": INBOUND_SOURCE,
            "alertname": alertname,
            "alert": alertname,
            "status": status,
            "state": "raised" if firing else "cleared",
            "message": message[:500],
            "labels": labels,
            "annotations": annotations,
            "starts_at": starts_at,
            "ends_at": _time(alert.get("endsAt")),
            "fingerprint": alert.get("fingerprint") or None,
            "generator_url": alert.get("generatorURL") or None,
            "receiver": envelope.get("receiver") or None,
            "external_url": envelope.get("externalURL") or None,
        }
        if labels.get("zone"):
            data["zones"] = [labels["zone"]]  # what the event is about (realtime/about.py)
        # (No top-level `forwarder`: the dashboard takes a health_alert's `forwarder` for the state of
        # one of ours; a `forwarder` label stays in `labels`.)
        identity = (
            alert.get("fingerprint")
            or hashlib.sha256("\x00".join(f"{k}={v}" for k, v in sorted(labels.items())).encode()).hexdigest()
        )
        event_id = idempotent_event_id("alertmanager", "", f"{identity}|{status}|{starts_at}")
        return EventDraft.make(
            EventType.SECURITY_ALERT if security else EventType.HEALTH_ALERT,
            data,
            severity=severity,
            event_id=event_id,
        )

    async def receive(self, alerts: Sequence[Mapping[str, Any]], envelope: Mapping[str, Any]) -> InboxResult:
        """Publish one event per alert not seen before. Each is published on its own (a broker drops a
        whole batch whose first id it knows): a retry after a failure (BrokerUnavailable, raised to
        the caller: Alertmanager retries on 5xx) publishes only what is missing."""
        own = repeated = emitted = 0
        for alert in alerts:
            if (alert.get("labels") or {}).get("source") == SOURCE:
                own += 1
                continue
            draft = self.draft(alert, envelope)
            if draft.id in self._seen:
                self._seen.move_to_end(draft.id)
                repeated += 1
                continue
            await self.service.publish([draft])
            self._seen[draft.id] = None
            while len(self._seen) > REMEMBERED:
                self._seen.popitem(last=False)
            emitted += 1
        self.totals.update(received=len(alerts), emitted=emitted, own=own, repeated=repeated)
        if emitted or own or repeated:
            log.info(
                "Alertmanager notification from %r: %d alerts, %d events, %d our own, %d repeated",
                str(envelope.get("receiver") or "?")[:64],
                len(alerts),
                emitted,
                own,
                repeated,
            )
        return InboxResult(received=len(alerts), emitted=emitted, own=own, repeated=repeated)
