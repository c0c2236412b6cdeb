"""The audit log: every security-relevant action, with actor, source address, time, target and outcome.

Entries are only ever added. Callers that change data add the entry in the same session (and so
the same transaction) as the change, so a rolled-back change leaves no entry claiming success.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from .db import Database
from .models import AuditEntry


def client_address(request: Request | None) -> str | None:
    if request is None or request.client is None:
        return None
    return request.client.host


def add_entry(
    session: AsyncSession,
    *,
    action: str,
    outcome: str,
    actor: str | None = None,
    source: str | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry to the caller's session; it is written when the caller commits."""
    entry = AuditEntry(action=action, outcome=outcome, actor=actor, source=source, target=target, details=details or {})
    session.add(entry)
    return entry


async def record(db: Database, **fields: Any) -> None:
    """Write an entry on its own (for actions that change nothing else: logins, refusals)."""
    async with db() as session, session.begin():
        add_entry(session, **fields)


async def record_all(db: Database, entries: Iterable[Mapping[str, Any]]) -> None:
    """Write several entries in one transaction (a batch of aggregated refusals)."""
    async with db() as session, session.begin():
        for fields in entries:
            add_entry(session, **fields)
