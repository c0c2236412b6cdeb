"""Settings an admin may change while the server runs, kept in the database and applied on every instance.

A change is validated, stored with an audit entry and a `config_change` event in one transaction
(outbox), and applied to this instance's live settings; other instances reload the stored values
when they deliver that event, and every instance applies the stored values at start-up. The
database is the only source of values: an event says "look again", never what to apply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import select

from .config import Settings
from .db import Database
from .models import RuntimeSetting
from .realtime.events import Event, EventType

log = logging.getLogger("hybrid_dns")


def _not_bool(value: Any) -> Any:
    # pydantic reads JSON true/false as 1/0; a setting is a number, so a boolean is refused.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


NotBool = BeforeValidator(_not_bool)  # after the constraints, so that they stay JSON Schema's minimum/maximum


class RuntimeSettings(BaseModel):
    """The live-changeable settings; every field optional in an update."""

    model_config = ConfigDict(extra="forbid")

    HEALTH_BROADCAST_INTERVAL: Annotated[float, Field(ge=1, le=3600), NotBool] | None = None
    SYSTEM_BROADCAST_INTERVAL: Annotated[float, Field(ge=1, le=3600), NotBool] | None = None
    FORWARDER_CHECK_INTERVAL: Annotated[float, Field(ge=1, le=3600), NotBool] | None = None
    FORWARDER_CHECK_TIMEOUT: Annotated[float, Field(gt=0, le=30), NotBool] | None = None
    FORWARDER_FAILURES_TO_DEGRADE: Annotated[int, Field(ge=1, le=100), NotBool] | None = None
    FORWARDER_SUCCESSES_TO_RECOVER: Annotated[int, Field(ge=1, le=100), NotBool] | None = None
    HEALTH_ALERT_RESPONSE_MS: Annotated[float, Field(gt=0, le=60_000), NotBool] | None = None
    HEALTH_ALERT_FAILURE_RATIO: Annotated[float, Field(gt=0, le=1), NotBool] | None = None
    LOGIN_FAILURE_LIMIT: Annotated[int, Field(ge=1, le=1000), NotBool] | None = None
    LOGIN_FAILURE_WINDOW: Annotated[float, Field(ge=10, le=86_400), NotBool] | None = None
    BIND_RELOAD_DEBOUNCE: Annotated[float, Field(ge=0, le=60), NotBool] | None = None


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


RELOAD_ATTEMPTS = 3  # a database that does not answer is tried again, a second apart


def event_hook(settings: Settings, db: Database | None = None) -> Callable[[Event], None]:
    """Reload the stored settings when a settings `config_change` event arrives (one made on any instance).

    The event is only the signal. Its body is not trusted: events can be emitted by other means
    than the settings API (the demo endpoint emits any `config_change` an admin writes), and only
    what the settings API stored, with its audit entry, may change a live setting. Reloads run one
    at a time, off the event path; a change that arrives during one is followed by another.
    """
    running: asyncio.Task[None] | None = None
    again = False

    async def reload() -> None:
        nonlocal again
        assert db is not None
        attempt = 0
        while True:
            again = False
            try:
                await load(db, settings)
                attempt = 0
            except Exception:
                attempt += 1
                if attempt >= RELOAD_ATTEMPTS:
                    log.exception("could not reload the runtime settings; keeping the live values")
                    return
                again = True
                await asyncio.sleep(1.0)
            if not again:
                return

    def on_event(event: Event) -> None:
        nonlocal running, again
        if event.type is not EventType.CONFIG_CHANGE or event.data.get("section") != "settings":
            return
        if db is None:
            log.warning("a settings change was announced (event %s) but there is no database to reload from", event.id)
            return
        if running is not None and not running.done():
            again = True
            return
        running = asyncio.get_running_loop().create_task(reload(), name="runtime-settings-reload")

    return on_event
