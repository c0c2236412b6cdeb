"""Settings an admin may change while the server runs, kept in the database and applied on every instance.

A change is validated, stored with an audit entry and a `config_change` event in one transaction
(outbox), and applied to this instance's live settings; other instances apply it when they deliver
that event, and every instance applies the stored values at start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from .config import Settings
from .db import Database
from .models import RuntimeSetting
from .realtime.events import Event, EventType

log = logging.getLogger("hybrid_dns")


class RuntimeSettings(BaseModel):
    """The live-changeable settings; every field optional in an update."""

    model_config = ConfigDict(extra="forbid")

    HEALTH_BROADCAST_INTERVAL: Annotated[float, Field(ge=1, le=3600)] | None = None
    SYSTEM_BROADCAST_INTERVAL: Annotated[float, Field(ge=1, le=3600)] | None = None
    FORWARDER_CHECK_INTERVAL: Annotated[float, Field(ge=1, le=3600)] | None = None
    FORWARDER_CHECK_TIMEOUT: Annotated[float, Field(gt=0, le=30)] | None = None
    FORWARDER_FAILURES_TO_DEGRADE: Annotated[int, Field(ge=1, le=100)] | None = None
    FORWARDER_SUCCESSES_TO_RECOVER: Annotated[int, Field(ge=1, le=100)] | None = None
    HEALTH_ALERT_RESPONSE_MS: Annotated[float, Field(gt=0, le=60_000)] | None = None
    HEALTH_ALERT_FAILURE_RATIO: Annotated[float, Field(gt=0, le=1)] | None = None
    LOGIN_FAILURE_LIMIT: Annotated[int, Field(ge=1, le=1000)] | None = None
    LOGIN_FAILURE_WINDOW: Annotated[float, Field(ge=10, le=86_400)] | None = None
    BIND_RELOAD_DEBOUNCE: Annotated[float, Field(ge=0, le=60)] | None = None


KEYS = tuple(RuntimeSettings.model_fields)


def current(settings: Settings) -> dict[str, Any]:
    return {key: getattr(settings, key) for key in KEYS}


def apply(settings: Settings, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Apply validated values to the live settings; returns what changed as {key: {old, new}}."""
    changes = {}
    for key, value in values.items():
        if key in KEYS and value is not None and getattr(settings, key) != value:
            changes[key] = {"old": getattr(settings, key), "new": value}
            setattr(settings, key, value)
    return changes


async def load(db: Database, settings: Settings) -> None:
    async with db() as session:
        rows = (await session.scalars(select(RuntimeSetting))).all()
    stored = {row.key: row.value for row in rows if row.key in KEYS}
    if stored:
        try:
            apply(settings, RuntimeSettings.model_validate(stored).model_dump(exclude_none=True))
        except ValueError:
            log.exception("stored runtime settings are invalid; keeping the configured values")


def event_hook(settings: Settings) -> Callable[[Event], None]:
    """Apply settings changes made on other instances, as their `config_change` events arrive."""

    def on_event(event: Event) -> None:
        if event.type is not EventType.CONFIG_CHANGE:
            return
        data = event.data
        if data.get("section") != "settings" or not isinstance(data.get("changes"), dict):
            return
        values = {k: v.get("new") for k, v in data["changes"].items() if isinstance(v, dict)}
        try:
            apply(settings, RuntimeSettings.model_validate(values).model_dump(exclude_none=True))
        except ValueError:
            log.warning("ignored an invalid settings change from event %s", event.id)

    return on_event
