"""Event history, its export, and read state over HTTP: for the history view, the explorer, scripts
and users who were offline. History is the event archive (realtime/archive.py), shared by every
instance through the database; the filters are the real-time filters (realtime/filters.py) as query
parameters, with the same semantics, plus time range and full-text search."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..realtime import archive_query
from ..realtime.archive_query import EntryError, HistoryQuery, filter_from_entries
from ..realtime.events import Category, Event, EventType, Severity
from ..realtime.filters import MAX_ACTOR, MAX_LIST, MAX_TEXT, RECORD_TYPES, EventFilter
from ..realtime.runtime import Realtime
from .contract import MAX_SEQ, IsoDateTime, NotBool, Omitted, responses
from .deps import AnyUser, get_realtime
from .errors import field_error

router = APIRouter(prefix="/api/events", tags=["events"])
Runtime = Annotated[Realtime, Depends(get_realtime)]

# What filters.py accepts, as the OpenAPI document states it (a zone: labels of letters, digits, '-'
# and '_', any case, an optional final dot; a record type: any case).
_LABEL = "[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
ZONE_PATTERN = rf"^{_LABEL}(?:\.{_LABEL})*\.?$"
RECORD_TYPE_PATTERN = "^(?:" + "|".join("".join(f"[{c}{c.lower()}]" for c in t) for t in RECORD_TYPES) + ")$"
MAX_Q = 200

ZoneName = Annotated[str, Field(min_length=1, max_length=254, pattern=ZONE_PATTERN)]
ActorName = Annotated[str, Field(min_length=1, max_length=MAX_ACTOR)]
RecordTypeName = Annotated[str, Field(min_length=1, max_length=5, pattern=RECORD_TYPE_PATTERN)]


def event_filter(values: Mapping[str, Any], field: Callable[[str, int | None], str]) -> EventFilter | None:
    """filters.py's rules, entry by entry (archive_query.filter_from_entries): a refused entry is a 422
    naming it (`field(key, index)`)."""
    try:
        return filter_from_entries(values)
    except EntryError as exc:
        raise field_error(field(exc.key, exc.index), exc.message) from None


_QUERY_NAMES = {
    "zones": "zone",
    "min_severity": "min_severity",
    "categories": "category",
    "actors": "actor",
    "record_types": "record_type",
    "text": "text",
}


def _unix(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


async def history_query(
    user: AnyUser,
    category: Annotated[
        list[Category] | None, Query(max_length=MAX_LIST, description="category (repeat for several: any of them)")
    ] = None,
    type: Annotated[EventType | None, Query(description="event type")] = None,
    zone: Annotated[
        list[ZoneName] | None,
        Query(
            max_length=MAX_LIST,
            description="the zone or a name under it (suffix match on whole labels); repeat for any",
        ),
    ] = None,
    min_severity: Annotated[Severity | None, Query(description="at least this severity")] = None,
    actor: Annotated[
        list[ActorName] | None, Query(max_length=MAX_LIST, description="who caused it; repeat for any")
    ] = None,
    record_type: Annotated[
        list[RecordTypeName] | None,
        Query(max_length=MAX_LIST, description="record type (record events); repeat for any"),
    ] = None,
    text: Annotated[
        str | None, Query(min_length=1, max_length=MAX_TEXT, description="case-insensitive substring of the summary")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_Q,
            description="full text: every word is the start of a word of the summary, zone, name, actor or type",
        ),
    ] = None,
    since: Annotated[IsoDateTime | None, Query(description="events at or after this time (RFC 3339)")] = None,
    until: Annotated[IsoDateTime | None, Query(description="events before this time (RFC 3339)")] = None,
    unread: Annotated[bool | None, Query(description="true: unread notifications only; false: everything else")] = None,
) -> HistoryQuery:
    """The history's filters, shared by the list and the export."""
    values = {
        "zones": zone,
        "min_severity": min_severity.value if min_severity is not None else None,
        "categories": [c.value for c in category] if category else None,
        "actors": actor,
        "record_types": record_type,
        "text": text,
    }
    parsed = event_filter(
        values, lambda key, i: f"query.{_QUERY_NAMES[key]}" + ("" if i is None or key == "categories" else f".{i}")
    )
    return HistoryQuery(
        user=user.username,
        role=user.role,
        filter=parsed,
        types=frozenset({type}) if type is not None else None,
        q=q,
        since=_unix(since),
        until=_unix(until),
        unread=unread,
    )


History = Annotated[HistoryQuery, Depends(history_query)]


@router.get("", responses=responses(401, 422))
async def list_events(
    query: History,
    rt: Runtime,
    after_seq: Annotated[
        int | None, Query(ge=0, le=MAX_SEQ, description="only events after this seq (oldest first)")
    ] = None,
    before_seq: Annotated[int | None, Query(ge=1, le=MAX_SEQ, description="only events before this seq")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """A page of the events the caller's role may see that match the filters, oldest first.

    With `after_seq`, the first `limit` events after it; otherwise the newest `limit` events
    (before `before_seq`, if given). `has_more` tells whether the page was cut by `limit`. Paging by
    seq is exact while events keep coming. Each event is its frame (with `about`) plus `read`.
    `epoch` and `last_seq` are the live stream's position, to resume a socket from."""
    # The position is read before the page: an event published meanwhile is then in the page, in the
    # replay of a socket that resumes from `last_seq`, or in both (a client drops the seqs it holds),
    # never in neither.
    position = rt.broker.position()
    await rt.read_state.fresh()
    view = await rt.read_state.view(query.user)
    rows, has_more = await archive_query.page(
        rt.db, query, view, after_seq=after_seq, before_seq=before_seq, limit=limit
    )
    return {
        "events": [{**orjson.loads(e.frame), "read": read} for e, read in rows],
        "has_more": has_more,
        "epoch": position.epoch,
        "last_seq": position.last_seq,
    }


CSV_COLUMNS = (
    "seq",
    "id",
    "timestamp",
    "type",
    "category",
    "severity",
    "actor",
    "zone",
    "name",
    "record_type",
    "summary",
    "data",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str | None) -> str:
    # A cell a spreadsheet would run as a formula is written as text (OWASP "CSV injection").
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv_rows(events: list[Event]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for e in events:
        about = e.about
        writer.writerow(
            (
                e.seq,
                e.id,
                e.timestamp,
                e.type.value,
                e.category.value,
                e.severity.value,
                _cell(e.actor),
                _cell(about.zone),
                _cell(about.name),
                about.record_type or "",
                _cell(about.summary),
                e.data_json.decode(),
            )
        )
    return out.getvalue().encode()


_EXPORT_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The matching events, oldest first: one event frame per line (NDJSON), or CSV",
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        **responses(401, 422),
    },
)
async def export_events(
    query: History,
    rt: Runtime,
    format: Annotated[Literal["ndjson", "csv"], Query(description="ndjson: one event frame per line; csv")] = "ndjson",
) -> StreamingResponse:
    """Every event the caller's role may see that matches the filters, as of the request, oldest first;
    streamed a thousand at a time (memory stays flat whatever the size). CSV columns: seq, id,
    timestamp, type, category, severity, actor, zone, name, record_type, summary, data (compact JSON);
    a text cell that a spreadsheet would take for a formula starts with an apostrophe."""
    await rt.read_state.fresh()
    view = await rt.read_state.view(query.user)
    through = await rt.archiver.top_seq()

    async def body() -> AsyncIterator[bytes]:
        if format == "csv":
            yield (",".join(CSV_COLUMNS) + "\r\n").encode()
        async for batch in archive_query.export_batches(rt.db, query, view, through_seq=through):
            if format == "csv":
                yield _csv_rows(batch)
            else:
                yield "".join(e.frame + "\n" for e in batch).encode()

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    headers = {
        "Content-Disposition": f'attachment; filename="hybrid-dns-events-{stamp}.{format}"',
        "Cache-Control": "no-store",
    }
    return StreamingResponse(body(), media_type=_EXPORT_TYPES[format], headers=headers)


class FilterBody(BaseModel):
    """A filter (docs/protocol.md "Filters"): every key optional, null the same as absent."""

    model_config = ConfigDict(extra="forbid")

    zones: Annotated[list[ZoneName], Field(max_length=MAX_LIST)] | None = None
    min_severity: Severity | None = None
    categories: Annotated[list[Category], Field(max_length=MAX_LIST)] | None = None
    actors: Annotated[list[ActorName], Field(max_length=MAX_LIST)] | None = None
    record_types: Annotated[list[RecordTypeName], Field(max_length=MAX_LIST)] | None = None
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)] | None = None


class AckRequest(BaseModel):
    """What to mark read: the events with these ids; every event up to this seq, or (`all`) up to now;
    with `filter`, only the events matching it up to that seq or now. Any of them together, or none:
    then nothing changes and the answer says the unread count."""

    model_config = ConfigDict(extra="forbid")

    event_ids: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=1000)] | Omitted = (
        None
    )
    up_to_seq: Annotated[int, Field(ge=0, le=MAX_SEQ), NotBool] | Omitted = None
    all: Annotated[bool, Field(strict=True)] | Omitted = Field(
        None, description="true: everything visible to the caller up to now"
    )
    # null is no filter (as on the wire, where `"filter": null` removes one).
    filter: FilterBody | None = Field(None, description="only the events matching this filter (with all or up_to_seq)")

    @model_validator(mode="after")
    def _no_nulls(self) -> AckRequest:
        for key in self.model_fields_set - {"filter"}:
            if getattr(self, key) is None:
                raise ValueError(f"{key} may not be null")
        return self


@router.post("/ack", responses=responses(401, 413, 422, 503))
async def ack_events(body: AckRequest, user: AnyUser, rt: Runtime) -> dict[str, Any]:
    """Mark events read (one statement for `all` and for a filter, however many events it covers);
    every connection of the user gets an `acked` frame with the new count.

    The answer is the frame's keys: `event_ids` (the ids marked read), `up_to_seq` (the mark after
    `all` / `up_to_seq` without a filter, else null) and `unread_count`; with a `filter`, also
    `filter` (normalized: as `subscriptions` echoes one) and `filter_up_to_seq` (every event matching
    it up to this seq is now read), absent otherwise."""
    parsed = None
    if body.filter is not None:
        if not body.all and body.up_to_seq is None:
            raise field_error("filter", "needs all: true or up_to_seq (how far to mark the matching events read)")
        parsed = event_filter(
            body.filter.model_dump(mode="json", exclude_none=True),
            lambda key, i: f"filter.{key}" + ("" if i is None else f".{i}"),
        )
    done = await rt.read_state.ack(
        user.username,
        user.role,
        event_ids=body.event_ids,
        up_to_seq=body.up_to_seq,
        all=bool(body.all),
        filter=parsed,
    )
    return done.as_dict()


@router.get("/unread-count", responses=responses(401))
async def unread_count(user: AnyUser, rt: Runtime) -> dict[str, int]:
    return {"unread_count": await rt.read_state.unread_count(user.username, user.role)}
