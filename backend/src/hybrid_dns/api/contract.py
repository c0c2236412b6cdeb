"""The HTTP API's contract: its error answers, bounds and formats, as the OpenAPI document states them.

Every error has one shape, `ErrorBody`: `detail` says what is wrong in words fit to show a user;
a 422 also lists each wrong field. Operations declare the status codes they may answer with
`responses(...)`, so that generated clients (and the property-based contract test) can rely on
the document. Integer parameters are bounded by what the database stores (`DbId`, `Offset`,
`MAX_SEQ` for seqs), so no value reaches SQL as an overflowing integer; times are RFC 3339 with
their offset (`UtcDateTime`), whatever the database hands back.

An optional field that may be left out but not sent as null is typed `X | Omitted`: the document
then says only X, and a null is refused like any other wrong value.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator
from pydantic.json_schema import SkipJsonSchema

MAX_INT32 = 2**31 - 1  # ids (INTEGER columns on PostgreSQL)
MAX_SEQ = 2**53 - 1  # seqs: BIGINT in the database, and the largest integer a JavaScript client reads exactly


class FieldError(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    """What every 4xx and 5xx answer holds."""

    detail: str
    errors: list[FieldError] | None = None


class StaleBody(ErrorBody):
    """A 412: the object changed since the version If-Match named; `current` is the object as it is now."""

    current: dict[str, Any]


_DESCRIPTIONS: dict[int, str] = {
    400: "The request cannot be read",
    401: "Not signed in: the bearer token is missing, invalid, expired or revoked",
    403: "Signed in, but the role does not allow this",
    404: "Not found",
    405: "Method not allowed (the Allow header lists the allowed ones)",
    409: "Conflicts with existing data",
    412: "The object changed since it was read (If-Match)",
    413: "The request body is too large",
    415: "The request body is not JSON",
    422: "The request is not valid; `errors` names each wrong field",
    429: "Too many attempts: wait for Retry-After seconds",
    503: "A service this needs (the event broker, the database) is unavailable; retry",
}

_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    405: {"Allow": {"description": "The allowed methods", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of an operation for these error codes."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"model": StaleBody if code == 412 else ErrorBody, "description": _DESCRIPTIONS[code]}
        if code in _HEADERS:
            entry["headers"] = _HEADERS[code]
        out[code] = entry
    return out


# The usual sets: every operation that needs a token can answer 401; one that needs a role, 403.
SIGNED_IN = (401, 422)
ROLE = (401, 403, 422)
WRITE = (401, 403, 413, 415, 422, 503)

DbId = Annotated[int, Path(ge=1, le=MAX_INT32)]
Offset = Annotated[int, Query(ge=0, le=MAX_INT32)]
Omitted = SkipJsonSchema[None]


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time the app stores is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_utc)]


def _not_bool(value: Any) -> Any:
    # pydantic reads JSON true/false as 1/0 for an int; the document says integer, so a boolean is refused.
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


# After the constraints in an Annotated (`Annotated[int, Field(ge=0), NotBool]`), so that they stay
# JSON Schema's minimum and maximum.
NotBool = BeforeValidator(_not_bool)


def _not_number(value: Any) -> Any:
    # pydantic would read a bare number as a unix time; the document says an RFC 3339 date-time.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        raise ValueError("must be a date and time such as 2026-12-02T08:00:00Z")
    return value


_NUMBER = re.compile(r"[-+]?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?")
IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_not_number)]
