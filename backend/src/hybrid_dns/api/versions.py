"""Optimistic concurrency over HTTP: each editable object's `version` as its ETag, `If-Match`, and 412.

Zones, records, RPZ rules, forwarders and users carry an integer `version`, bumped by every change
and sent as `ETag: "<version>"` with one object. A PATCH or DELETE with `If-Match: "<version>"`
(`W/"<version>"`, a bare `<version>` and `*` are taken too) is carried out only if the object is
still at that version; otherwise the answer is 412 with the object as it is now (`current`) and who
changed it, so that a form can show what moved instead of overwriting it. Without If-Match a write
goes through as it always did.

The check and the write are one step: the row is locked first (`lock`: an UPDATE that changes
nothing, which takes PostgreSQL's row lock and SQLite's write lock until the transaction ends), so
no other change can slip in between reading the version and writing the new one.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Annotated, Any

from fastapi import Depends, Header, Response
from pydantic import BaseModel
from sqlalchemy import ColumnElement, update
from sqlalchemy.ext.asyncio import AsyncSession

from .contract import Omitted
from .errors import ApiError, field_error

# One version, as the ETag gave it ("7"; weak W/"7" and bare 7 are taken too), or `*` for "whatever
# version it is at".
IF_MATCH_PATTERN = r'^(\*|(W/)?"[0-9]{1,10}"|[0-9]{1,10})$'


@dataclasses.dataclass(frozen=True, slots=True)
class Precondition:
    """What an If-Match header asks for: any existing version (`*`), or one of these."""

    versions: frozenset[int]
    any: bool = False

    def allows(self, version: int) -> bool:
        return self.any or version in self.versions

    def __str__(self) -> str:
        return "*" if self.any else ", ".join(f'"{n}"' for n in sorted(self.versions))


def _if_match(
    value: Annotated[
        str | Omitted,
        Header(
            alias="If-Match",
            max_length=256,
            description='The version the change is based on, as the ETag gave it: "<version>" (W/"<version>", a '
            "bare <version> and * are taken too). A different current version answers 412 with the object as it "
            "is now; without this header the change is made whatever the version.",
            json_schema_extra={"pattern": IF_MATCH_PATTERN},
        ),
    ] = None,
) -> Precondition | None:
    if value is None:
        return None
    if not re.fullmatch(IF_MATCH_PATTERN, value):
        raise field_error(
            "If-Match", 'If-Match must be "<version>" as the ETag header gave it (or W/"<version>", <version>, *)'
        )
    if value == "*":
        return Precondition(frozenset(), any=True)
    return Precondition(frozenset({int(value.removeprefix("W/").strip('"'))}))  # the pattern leaves digits only


# A route parameter: `if_match: IfMatch`.
IfMatch = Annotated[Precondition | None, Depends(_if_match)]


def etag(version: int) -> str:
    return f'"{version}"'


def tag(response: Response, version: int) -> None:
    """Send one object's version as its ETag."""
    response.headers["ETag"] = etag(version)


# What an operation that answers one object declares for its success code (merged into `responses`).
ETAG_HEADER: dict[str, Any] = {
    "headers": {
        "ETag": {"description": 'The object\'s version, "<version>": send it as If-Match', "schema": {"type": "string"}}
    }
}


def stale(what: str, current: BaseModel, version: int, changed_by: str | None, sent: Precondition) -> ApiError:
    """412: `what` is no longer at the version the caller read; `current` is the object as it is now."""
    by = f" by {changed_by}" if changed_by else ""
    return ApiError(
        412,
        f"{what} was changed{by} since you read it: it is at version {version} now, and your If-Match was {sent}",
        extra={"current": current.model_dump(mode="json")},
        headers={"ETag": etag(version)},
    )


async def lock(session: AsyncSession, model: Any, *where: ColumnElement[bool]) -> int | None:
    """Lock the row matching `where` until the transaction ends, changing nothing; its version, or None
    when there is no such row. Every write to a versioned row locks it (or, for records, their zone)
    before it reads what it will check, so that a check and its write are one step."""
    values: dict[str, Any] = {"version": model.version}
    if hasattr(model, "updated_at"):
        values["updated_at"] = model.updated_at  # not touched: an UPDATE would otherwise set it to now
    version = await session.scalar(
        update(model)
        .where(*where)
        .values(**values)
        .returning(model.version)
        .execution_options(synchronize_session=False)
    )
    return None if version is None else int(version)
