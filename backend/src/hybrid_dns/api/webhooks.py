"""Webhooks: /api/webhooks (admin only).

An endpoint has a URL, the event types it wants (none: every notification type), a filter (the
WebSocket's, realtime/filters.py), `enabled` and `ordered`. Its secret (`whsec_...`) is shown once,
in the answer that made it (create, rotate-secret), and never again. Each change is audited and
announced as `config_change` {"section": "webhooks", "change": ..., "webhook": "<scheme://host:port>"}
(never the secret, nor the URL's path, which may be a credential). An endpoint carries a `version`:
PATCH and DELETE take If-Match and answer 412 with the endpoint as it is now when it moved.

Deliveries (integrations/webhooks.py) are listed per endpoint, newest first; a test message and a
redelivery are queued like any delivery and made by the leader instance within moments.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..integrations import webhooks as wh
from ..integrations.webhooks_net import UrlRefused, check_url
from ..integrations.webhooks_signing import new_secret
from ..models import Webhook, WebhookDelivery
from ..realtime.events import EventType
from ..realtime.filters import FilterError, parse_filter
from .changes import Change
from .contract import DbId, Offset, Omitted, UtcDateTime, responses
from .deps import AdminUser
from .errors import ApiError, field_error
from .versions import ETAG_HEADER, IfMatch, Precondition, lock, stale, tag

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])

Url = Annotated[
    str, Field(min_length=1, max_length=2048, description="http:// or https:// URL the events are POSTed to")
]
EventTypes = Annotated[
    list[EventType],
    Field(max_length=len(EventType), description="the event types sent; empty: every notification type"),
]
Filter = Annotated[
    dict[str, Any] | None,
    Field(description="the WebSocket's event filter (zones, min_severity, categories, actors, record_types, text)"),
]
DeliveryStatus = Literal["pending", "succeeded", "failed"]


class WebhookOut(BaseModel):
    id: int
    url: str
    event_types: list[str]
    filter: dict[str, Any] | None
    enabled: bool
    ordered: bool
    version: int
    created_at: UtcDateTime
    updated_at: UtcDateTime
    created_by: str | None
    updated_by: str | None
    failing_since: UtcDateTime | None = Field(description="first failure since the last success")
    disabled_reason: str | None
    last_success_at: UtcDateTime | None
    last_failure_at: UtcDateTime | None
    previous_secret_expires_at: UtcDateTime | None = Field(
        description="after a rotation: until when the old secret still signs, beside the new one"
    )
    backlog: int = Field(description="deliveries waiting for an attempt or a retry")


class WebhookCreated(WebhookOut):
    secret: str = Field(description="whsec_<base64>: shown only in this answer")


class WebhookPage(BaseModel):
    items: list[WebhookOut]
    total: int
    limit: int
    offset: int


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url
    event_types: EventTypes = Field(default_factory=list)
    filter: Filter = None
    enabled: bool = True
    ordered: bool = Field(False, description="deliver one at a time, in event order; a failing one holds back the rest")


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url | Omitted = None
    event_types: EventTypes | Omitted = None
    filter: Filter = Field(None, description="null removes the filter; left out, it stays")
    enabled: bool | Omitted = None
    ordered: bool | Omitted = None


class SecretOut(BaseModel):
    id: int
    secret: str = Field(description="the new whsec_<base64>: shown only in this answer")
    previous_secret_expires_at: UtcDateTime | None = Field(
        description="until when the old secret still signs, beside the new one (null: it no longer does)"
    )
    version: int


class DeliveryOut(BaseModel):
    id: int
    webhook_id: int
    event_id: str = Field(description="the webhook-id header: the same on every attempt and redelivery")
    event_type: str
    event_seq: int | None
    test: bool
    redelivery_of: int | None
    status: DeliveryStatus
    attempts: int
    response_code: int | None
    duration_ms: float | None
    error_kind: str | None
    error: str | None
    response_excerpt: str | None = Field(description="the start of the endpoint's answer (at most 1,024 characters)")
    created_at: UtcDateTime
    last_attempt_at: UtcDateTime | None
    next_attempt_at: UtcDateTime | None


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    total: int
    limit: int
    offset: int


def _time(unix: float | None) -> datetime | None:
    return None if unix is None else datetime.fromtimestamp(unix, UTC)


def _out(hook: Webhook, backlog: int) -> WebhookOut:
    now = time.time()
    grace = hook.previous_secret_expires_at
    return WebhookOut(
        id=hook.id,
        url=hook.url,
        event_types=list(hook.event_types or []),
        filter=hook.filter,
        enabled=hook.enabled,
        ordered=hook.ordered,
        version=hook.version,
        created_at=hook.created_at,
        updated_at=hook.updated_at,
        created_by=hook.created_by,
        updated_by=hook.updated_by,
        failing_since=_time(hook.failing_since),
        disabled_reason=hook.disabled_reason,
        last_success_at=_time(hook.last_success_at),
        last_failure_at=_time(hook.last_failure_at),
        previous_secret_expires_at=_time(grace) if grace is not None and grace > now else None,
        backlog=backlog,
    )


def _delivery_out(d: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        webhook_id=d.webhook_id,
        event_id=d.event_id,
        event_type=d.event_type,
        event_seq=d.event_seq,
        test=d.test,
        redelivery_of=d.redelivery_of,
        status=d.status,
        attempts=d.attempts,
        response_code=d.response_code,
        duration_ms=d.duration_ms,
        error_kind=d.error_kind,
        error=d.error,
        response_excerpt=d.response_excerpt,
        created_at=datetime.fromtimestamp(d.created_at, UTC),
        last_attempt_at=_time(d.last_attempt_at),
        next_attempt_at=_time(d.next_attempt_at) if d.status == wh.PENDING else None,
    )


async def _backlogs(session: AsyncSession, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = await session.execute(
        select(WebhookDelivery.webhook_id, func.count())
        .where(WebhookDelivery.webhook_id.in_(ids), WebhookDelivery.status == wh.PENDING)
        .group_by(WebhookDelivery.webhook_id)
    )
    return {int(w): int(n) for w, n in rows.all()}


def _url(request: Request, url: str) -> str:
    try:
        check_url(url, request.app.state.settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS)
    except UrlRefused as exc:
        raise ApiError(422, f"url: {exc}", errors=[{"field": "url", "message": str(exc)}]) from None
    return url


def _types(types: list[EventType]) -> list[str]:
    out: list[str] = []
    for i, etype in enumerate(types):
        if etype not in wh.ALLOWED_TYPES:
            raise field_error(
                f"event_types.{i}", f"{etype.value} is not sent to webhooks: only the user it is about may see it"
            )
        if etype.value not in out:
            out.append(etype.value)
    return sorted(out)


def _filter(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    try:
        parsed = parse_filter(obj)
    except FilterError as exc:
        raise ApiError(
            422, f"{exc.field}: {exc.message}", errors=[{"field": exc.field, "message": exc.message}]
        ) from None
    return None if parsed is None or parsed.empty else parsed.as_dict()


async def _get(session: AsyncSession, webhook_id: int) -> Webhook:
    hook = await session.get(Webhook, webhook_id, populate_existing=True)
    if hook is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"webhook {webhook_id} not found")
    return hook


async def _locked(session: AsyncSession, webhook_id: int, if_match: Precondition | None) -> Webhook:
    """The endpoint, locked for this change and checked against If-Match (404, 412)."""
    if await lock(session, Webhook, Webhook.id == webhook_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"webhook {webhook_id} not found")
    hook = await _get(session, webhook_id)
    if if_match is not None and not if_match.allows(hook.version):
        current = _out(hook, (await _backlogs(session, [hook.id])).get(hook.id, 0))
        raise stale(f"webhook {hook.id}", current, hook.version, hook.updated_by, if_match)
    return hook


def _service(request: Request) -> wh.WebhookService:
    service: wh.WebhookService = request.app.state.webhooks
    return service


@router.get("", responses=responses(401, 403, 422))
async def list_webhooks(
    request: Request,
    _: AdminUser,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> WebhookPage:
    async with request.app.state.db() as session:
        total = await session.scalar(select(func.count()).select_from(Webhook))
        hooks = (await session.scalars(select(Webhook).order_by(Webhook.id).limit(limit).offset(offset))).all()
        backlogs = await _backlogs(session, [h.id for h in hooks])
    return WebhookPage(
        items=[_out(h, backlogs.get(h.id, 0)) for h in hooks], total=int(total or 0), limit=limit, offset=offset
    )


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses={201: ETAG_HEADER, **responses(401, 403, 409, 413, 422)}
)
async def create_webhook(body: WebhookCreate, request: Request, response: Response, user: AdminUser) -> WebhookCreated:
    """Register an endpoint. The answer holds its secret, the only time it is shown."""
    url = _url(request, body.url)
    types = _types(body.event_types)
    event_filter = _filter(body.filter)
    service = _service(request)
    secret = new_secret()
    async with Change(request, user) as change:
        session = change.session
        count = await session.scalar(select(func.count()).select_from(Webhook))
        if int(count or 0) >= wh.MAX_WEBHOOKS:
            raise HTTPException(status.HTTP_409_CONFLICT, f"at most {wh.MAX_WEBHOOKS} webhooks; delete one first")
        hook = Webhook(
            url=url,
            event_types=types,
            filter=event_filter,
            enabled=body.enabled,
            ordered=body.ordered,
            secret=service.box.seal(secret),
            start_seq=request.app.state.realtime.broker.position().last_seq,
            created_by=user.username,
            updated_by=user.username,
            version=1,
        )
        session.add(hook)
        await session.flush()
        change.event(EventType.CONFIG_CHANGE, wh.config_change("created", hook))
        change.audit(
            "webhook.create",
            target=wh.url_origin(url),
            details={
                "id": hook.id,
                "url": url,
                "event_types": types,
                "filter": event_filter,
                "enabled": body.enabled,
                "ordered": body.ordered,
            },
        )
    service.wake()
    tag(response, hook.version)
    return WebhookCreated(**_out(hook, 0).model_dump(), secret=secret)


@router.get("/{webhook_id:int}", responses={200: ETAG_HEADER, **responses(401, 403, 404, 422)})
async def get_webhook(webhook_id: DbId, request: Request, response: Response, _: AdminUser) -> WebhookOut:
    async with request.app.state.db() as session:
        hook = await _get(session, webhook_id)
        out = _out(hook, (await _backlogs(session, [hook.id])).get(hook.id, 0))
    tag(response, out.version)
    return out


@router.patch("/{webhook_id:int}", responses={200: ETAG_HEADER, **responses(401, 403, 404, 412, 413, 422)})
async def update_webhook(
    webhook_id: DbId,
    body: WebhookUpdate,
    request: Request,
    response: Response,
    user: AdminUser,
    if_match: IfMatch,
) -> WebhookOut:
    """Change any of url, event_types, filter, enabled, ordered (only the fields given). Enabling an
    endpoint that was disabled for its failures starts its count of failures afresh."""
    for key in body.model_fields_set - {"filter"}:
        if getattr(body, key) is None:
            raise field_error(key, f"{key} may not be null")
    after: dict[str, Any] = {}
    if body.url is not None:
        after["url"] = _url(request, body.url)
    if body.event_types is not None:
        after["event_types"] = _types(body.event_types)
    if "filter" in body.model_fields_set:
        after["filter"] = _filter(body.filter)
    if body.enabled is not None:
        after["enabled"] = body.enabled
    if body.ordered is not None:
        after["ordered"] = body.ordered
    async with Change(request, user) as change:
        session = change.session
        hook = await _locked(session, webhook_id, if_match)
        before = {key: getattr(hook, key) for key in after}
        changed = sorted(k for k in after if after[k] != before[k])
        if changed:
            for key in changed:
                setattr(hook, key, after[key])
            if "enabled" in changed and hook.enabled:
                hook.failing_since, hook.disabled_reason = None, None
            hook.version += 1
            hook.updated_by = user.username
            change.event(EventType.CONFIG_CHANGE, wh.config_change("updated", hook, changes=changed))
            change.audit(
                "webhook.update",
                target=wh.url_origin(hook.url),
                details={
                    "id": hook.id,
                    "before": {k: before[k] for k in changed},
                    "after": {k: after[k] for k in changed},
                },
            )
        backlog = (await _backlogs(session, [hook.id])).get(hook.id, 0)
    if changed:
        _service(request).wake()
    tag(response, hook.version)
    return _out(hook, backlog)


@router.delete(
    "/{webhook_id:int}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 403, 404, 412, 422)
)
async def delete_webhook(webhook_id: DbId, request: Request, user: AdminUser, if_match: IfMatch) -> Response:
    """Remove an endpoint and its delivery log (deliveries still waiting are not made)."""
    async with Change(request, user) as change:
        session = change.session
        hook = await _locked(session, webhook_id, if_match)
        await session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id))
        await session.execute(delete(Webhook).where(Webhook.id == webhook_id))
        change.event(EventType.CONFIG_CHANGE, wh.config_change("deleted", hook))
        change.audit("webhook.delete", target=wh.url_origin(hook.url), details={"id": hook.id, "url": hook.url})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{webhook_id:int}/rotate-secret", responses=responses(401, 403, 404, 422))
async def rotate_secret(webhook_id: DbId, request: Request, response: Response, user: AdminUser) -> SecretOut:
    """A new secret, shown in this answer only. The old one still signs, beside the new one, for
    WEBHOOK_SECRET_ROTATION_GRACE seconds (a secret older than that signs no more)."""
    service = _service(request)
    grace = request.app.state.settings.WEBHOOK_SECRET_ROTATION_GRACE
    secret = new_secret()
    now = time.time()
    async with Change(request, user) as change:
        session = change.session
        hook = await _locked(session, webhook_id, None)
        if grace > 0:
            hook.previous_secret, hook.previous_secret_expires_at = hook.secret, now + grace
        else:
            hook.previous_secret, hook.previous_secret_expires_at = None, None
        hook.secret = service.box.seal(secret)
        hook.version += 1
        hook.updated_by = user.username
        expires = wh.iso(hook.previous_secret_expires_at)
        change.event(
            EventType.CONFIG_CHANGE, wh.config_change("secret_rotated", hook, previous_secret_expires_at=expires)
        )
        change.audit(
            "webhook.rotate_secret",
            target=wh.url_origin(hook.url),
            details={"id": hook.id, "previous_secret_expires_at": expires},
        )
    tag(response, hook.version)
    return SecretOut(
        id=hook.id,
        secret=secret,
        previous_secret_expires_at=_time(hook.previous_secret_expires_at),
        version=hook.version,
    )


@router.get("/{webhook_id:int}/deliveries", responses=responses(401, 403, 404, 422))
async def list_deliveries(
    webhook_id: DbId,
    request: Request,
    _: AdminUser,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> DeliveryPage:
    """The endpoint's delivery log, newest first."""
    conditions: list[Any] = [WebhookDelivery.webhook_id == webhook_id]
    if status_ is not None:
        conditions.append(WebhookDelivery.status == status_)
    async with request.app.state.db() as session:
        await _get(session, webhook_id)
        total = await session.scalar(select(func.count()).select_from(WebhookDelivery).where(*conditions))
        rows = (
            await session.scalars(
                select(WebhookDelivery)
                .where(*conditions)
                .order_by(WebhookDelivery.id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
    return DeliveryPage(items=[_delivery_out(d) for d in rows], total=int(total or 0), limit=limit, offset=offset)


@router.post("/{webhook_id:int}/test", status_code=status.HTTP_202_ACCEPTED, responses=responses(401, 403, 404, 422))
async def send_test(webhook_id: DbId, request: Request, user: AdminUser) -> DeliveryOut:
    """Queue a `webhook_test` message (one attempt, no retries; also to a disabled endpoint). Its
    outcome appears in the delivery log within moments."""
    message_id, body = wh.test_frame(webhook_id, user.username)
    now = time.time()
    async with Change(request, user) as change:
        session = change.session
        hook = await _get(session, webhook_id)
        delivery = WebhookDelivery(
            webhook_id=hook.id,
            event_id=message_id,
            event_seq=None,
            event_type=wh.TEST_EVENT_TYPE,
            body=body,
            test=True,
            status=wh.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(delivery)
        await session.flush()
        change.audit("webhook.test", target=wh.url_origin(hook.url), details={"id": hook.id, "delivery": delivery.id})
    _service(request).wake()
    return _delivery_out(delivery)


@router.post(
    "/{webhook_id:int}/deliveries/{delivery_id:int}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(401, 403, 404, 409, 422),
)
async def redeliver(webhook_id: DbId, delivery_id: DbId, request: Request, user: AdminUser) -> DeliveryOut:
    """Queue the same message again (same webhook-id, same body, fresh retries), after any waiting."""
    now = time.time()
    async with Change(request, user) as change:
        session = change.session
        hook = await _get(session, webhook_id)
        original = await session.get(WebhookDelivery, delivery_id)
        if original is None or original.webhook_id != webhook_id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"delivery {delivery_id} of webhook {webhook_id} not found")
        if not hook.enabled and not original.test:
            raise HTTPException(status.HTTP_409_CONFLICT, "the webhook is disabled: enable it first")
        delivery = WebhookDelivery(
            webhook_id=hook.id,
            event_id=original.event_id,
            event_seq=original.event_seq,
            event_type=original.event_type,
            body=original.body,
            test=original.test,
            redelivery_of=original.id,
            status=wh.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(delivery)
        await session.flush()
        change.audit(
            "webhook.redeliver",
            target=wh.url_origin(hook.url),
            details={"id": hook.id, "delivery": original.id, "redelivery": delivery.id, "event_id": original.event_id},
        )
    _service(request).wake()
    return _delivery_out(delivery)
