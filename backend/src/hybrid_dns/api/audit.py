"""GET /api/audit (admin): the audit log, newest first, with filters. Read-only by design."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import func, select

from ..models import AuditEntry
from .contract import IsoDateTime, Offset, responses
from .deps import AdminUser

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", responses=responses(401, 403, 422))
async def list_audit(
    _: AdminUser,
    request: Request,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64, description="exact, or a prefix ending in '.'")] = None,
    outcome: Annotated[str | None, Query(pattern="^(success|failure|refused)$")] = None,
    source: Annotated[str | None, Query(max_length=64)] = None,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    query = select(AuditEntry)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if action is not None:
        query = query.where(
            AuditEntry.action.startswith(action) if action.endswith(".") else AuditEntry.action == action
        )
    if outcome is not None:
        query = query.where(AuditEntry.outcome == outcome)
    if source is not None:
        query = query.where(AuditEntry.source == source)
    if since is not None:
        query = query.where(AuditEntry.time >= since)
    if until is not None:
        query = query.where(AuditEntry.time < until)
    async with request.app.state.db() as session:
        total = await session.scalar(select(func.count()).select_from(query.subquery()))
        rows = (
            await session.scalars(
                query.order_by(AuditEntry.time.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
            )
        ).all()
    return {
        "entries": [
            {
                "id": r.id,
                "time": r.time.isoformat().replace("+00:00", "Z") if r.time.tzinfo else r.time.isoformat() + "Z",
                "actor": r.actor,
                "source": r.source,
                "action": r.action,
                "target": r.target,
                "outcome": r.outcome,
                "details": r.details,
            }
            for r in rows
        ],
        "total": int(total or 0),
        "limit": limit,
        "offset": offset,
    }
