"""GET/PUT /api/settings (admin): the runtime settings that may change live."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from .. import audit
from .. import runtime_settings as rs
from ..config import Settings
from ..models import RuntimeSetting
from ..realtime.broker import BrokerUnavailable
from ..realtime.events import EventDraft, EventType
from .contract import responses
from .deps import AdminUser, get_settings

router = APIRouter(prefix="/api/settings", tags=["settings"])


@router.get("", responses=responses(401, 403))
async def get_runtime_settings(_: AdminUser, settings: Annotated[Settings, Depends(get_settings)]) -> dict[str, Any]:
    return rs.current(settings)


@router.put("", responses=responses(401, 403, 413, 422))
async def put_runtime_settings(body: rs.RuntimeSettings, user: AdminUser, request: Request) -> dict[str, Any]:
    """Change some settings; a `config_change` event says what changed and who changed it."""
    settings: Settings = request.app.state.settings
    rt = request.app.state.realtime
    values = body.model_dump(exclude_none=True)
    changes = {k: {"old": getattr(settings, k), "new": v} for k, v in values.items() if getattr(settings, k) != v}
    if not changes:
        return {"settings": rs.current(settings), "changed": {}}
    async with request.app.state.db() as session, session.begin():
        for key, change in changes.items():
            row = await session.get(RuntimeSetting, key)
            if row is None:
                session.add(RuntimeSetting(key=key, value=change["new"], updated_by=user.username))
            else:
                row.value, row.updated_by = change["new"], user.username
        audit.add_entry(
            session,
            action="settings.update",
            outcome="success",
            actor=user.username,
            source=audit.client_address(request),
            target="settings",
            details={"changes": changes},
        )
        batch = rt.outbox.add(
            session,
            [
                EventDraft.make(
                    EventType.CONFIG_CHANGE,
                    {"section": "settings", "changes": changes, "changed_by": user.username},
                    actor=user.username,
                )
            ],
        )
    rs.apply(settings, values)
    try:
        await rt.outbox.publish(batch)
    except BrokerUnavailable:
        pass  # committed: the outbox relay announces it shortly
    return {"settings": rs.current(settings), "changed": changes}
