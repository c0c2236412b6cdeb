"""Event history and read state over HTTP: for the history view and for users who were offline."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..realtime.events import Category, EventType, visible_to_user
from ..realtime.readstate import is_notification
from ..realtime.runtime import Realtime
from .contract import MAX_SEQ, NotBool, Omitted, responses
from .deps import AnyUser, get_realtime

router = APIRouter(prefix="/api/events", tags=["events"])
Runtime = Annotated[Realtime, Depends(get_realtime)]


@router.get("", responses=responses(401, 422))
async def list_events(
    user: AnyUser,
    rt: Runtime,
    after_seq: Annotated[
        int | None, Query(ge=0, le=MAX_SEQ, description="only events after this seq (oldest first)")
    ] = None,
    before_seq: Annotated[int | None, Query(ge=1, le=MAX_SEQ, description="only events before this seq")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    category: Category | None = None,
    type: Annotated[EventType | None, Query(description="event type")] = None,
    unread: Annotated[bool | None, Query(description="true: unread notifications only; false: read only")] = None,
) -> dict[str, Any]:
    """A page of the events the caller's role may see, oldest first.

    With `after_seq`, the first `limit` events after it; otherwise the newest `limit` events
    (before `before_seq`, if given). `has_more` tells whether the page was cut by `limit`.
    """
    state = await rt.read_state.load(user.username)
    matching = []
    for event in await rt.read_state.kept_after(after_seq or 0):
        if before_seq is not None and event.seq >= before_seq:
            break
        if not visible_to_user(event, user.username, user.role):
            continue
        if category is not None and event.category is not category:
            continue
        if type is not None and event.type is not type:
            continue
        if unread is not None:
            is_unread = is_notification(event) and not state.is_read(event)
            if is_unread is not unread:
                continue
        matching.append(event)
    has_more = len(matching) > limit
    page = matching[:limit] if after_seq is not None else matching[-limit:]
    position = rt.broker.position()
    return {
        "events": [{**orjson.loads(e.frame), "read": state.is_read(e)} for e in page],
        "has_more": has_more,
        "epoch": position.epoch,
        "last_seq": position.last_seq,
    }


class AckRequest(BaseModel):
    """The events with these ids, and every event up to this seq (either, both, or neither: then
    nothing changes and the answer says the unread count)."""

    model_config = ConfigDict(extra="forbid")

    event_ids: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=1000)] | Omitted = (
        None
    )
    up_to_seq: Annotated[int, Field(ge=0, le=MAX_SEQ), NotBool] | Omitted = None

    @model_validator(mode="after")
    def _no_nulls(self) -> AckRequest:
        for key in self.model_fields_set:
            if getattr(self, key) is None:
                raise ValueError(f"{key} may not be null")
        return self


@router.post("/ack", responses=responses(401, 413, 422, 503))
async def ack_events(body: AckRequest, user: AnyUser, rt: Runtime) -> dict[str, Any]:
    """Mark events read; every connection of the user gets an `acked` frame with the new count."""
    acked, mark, unread = await rt.read_state.ack(
        user.username, user.role, event_ids=body.event_ids, up_to_seq=body.up_to_seq
    )
    return {"event_ids": acked, "up_to_seq": mark, "unread_count": unread}


@router.get("/unread-count", responses=responses(401))
async def unread_count(user: AnyUser, rt: Runtime) -> dict[str, int]:
    return {"unread_count": await rt.read_state.unread_count(user.username, user.role)}
