"""POST /api/integrations/alertmanager: Alertmanager's webhook (payload version 4) in, events out.

Authenticated by ALERTMANAGER_WEBHOOK_TOKEN as a bearer token (Alertmanager's webhook_config
`http_config.authorization.credentials`), not by a user's token: a user's token is refused here and
this token is refused everywhere else. With no token configured every request is refused (401).
What each alert becomes: integrations/alertmanager_inbound.py.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from ..integrations.alertmanager_inbound import AlertmanagerInbox, token_matches
from .contract import IsoDateTime, NotBool, responses

log = logging.getLogger("hybrid_dns.api")

router = APIRouter(prefix="/api/integrations", tags=["integrations"])

_token = HTTPBearer(
    auto_error=False,
    scheme_name="AlertmanagerWebhookToken",
    description="ALERTMANAGER_WEBHOOK_TOKEN (not a user's token)",
)

MAX_ALERTS = 1000  # per notification; Alertmanager's webhook_config `max_alerts` keeps it below


def _unicode(value: str) -> str:
    # JSON may carry lone surrogates (\ud800), which no event can be encoded with: refused here, as a 422.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


Unicode = AfterValidator(_unicode)
LabelName = Annotated[str, StringConstraints(min_length=1, max_length=128), Unicode]
LabelValue = Annotated[str, StringConstraints(max_length=2048), Unicode]
AnnotationValue = Annotated[str, StringConstraints(max_length=8192), Unicode]
Labels = Annotated[dict[LabelName, LabelValue], Field(max_length=64)]
Annotations = Annotated[dict[LabelName, AnnotationValue], Field(max_length=64)]
Url = Annotated[str, StringConstraints(max_length=2048), Unicode]
Fingerprint = Annotated[str, StringConstraints(max_length=64), Unicode]
Receiver = Annotated[str, StringConstraints(max_length=256), Unicode]
GroupKey = Annotated[str, StringConstraints(max_length=8192), Unicode]


class AlertmanagerAlert(BaseModel):
    """One alert of a notification, as Alertmanager sends it (fields it may add later are ignored)."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: Labels  # the field names are Alertmanager's
    annotations: Annotations = Field(default_factory=dict)
    startsAt: IsoDateTime | None = None
    endsAt: IsoDateTime | None = None
    generatorURL: Url = ""
    fingerprint: Fingerprint = ""


class AlertmanagerNotification(BaseModel):
    """Alertmanager's webhook payload, version 4 (prometheus.io/docs/alerting/latest/configuration/#webhook_config)."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    status: Literal["firing", "resolved"] = "firing"
    receiver: Receiver = ""
    groupKey: GroupKey = ""
    truncatedAlerts: Annotated[int, Field(ge=0, le=2**31 - 1), NotBool] = 0
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: Annotations = Field(default_factory=dict)
    externalURL: Url = ""
    alerts: Annotated[list[AlertmanagerAlert], Field(max_length=MAX_ALERTS)]


class AlertmanagerReceipt(BaseModel):
    received: int = Field(description="alerts in the notification")
    emitted: int = Field(description="events published for them")
    own: int = Field(description='alerts of our own (label source="hybrid-dns"), skipped')
    repeated: int = Field(description="alerts already turned into events (the same fingerprint, status and start)")


async def integration_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_token)]
) -> None:
    secret = request.app.state.settings.ALERTMANAGER_WEBHOOK_TOKEN
    expected = secret.get_secret_value() if secret is not None else None
    if not token_matches(expected, credentials.credentials if credentials is not None else None):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "not authenticated: send the Alertmanager webhook token as a bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


def get_inbox(request: Request) -> AlertmanagerInbox:
    inbox: AlertmanagerInbox | None = getattr(request.app.state, "alertmanager_inbox", None)
    if inbox is None:
        inbox = request.app.state.alertmanager_inbox = AlertmanagerInbox(request.app.state.realtime.service)
    return inbox


@router.post(
    "/alertmanager",
    response_model=AlertmanagerReceipt,
    responses=responses(401, 413, 422, 503),
    dependencies=[Depends(integration_token)],
)
async def alertmanager_webhook(
    body: AlertmanagerNotification, inbox: Annotated[AlertmanagerInbox, Depends(get_inbox)]
) -> AlertmanagerReceipt:
    """Turn a notification's alerts into `health_alert` events (`security_alert` for label
    `category="security"`), once per alert's fingerprint, status and start; our own alerts
    (label `source="hybrid-dns"`) are skipped. A 503 (the event broker is unreachable) is retried by
    Alertmanager; what was published before it is not published twice."""
    envelope = {"receiver": body.receiver, "externalURL": body.externalURL, "status": body.status}
    result = await inbox.receive([alert.model_dump() for alert in body.alerts], envelope)
    return AlertmanagerReceipt(
        received=result.received, emitted=result.emitted, own=result.own, repeated=result.repeated
    )
