"""Conditional forwarders: /api/forwarders.

Viewers read; operators and admins write. Each change emits `config_change`
{"section": "forwarders", "change": "created" | "updated" | "deleted", "forwarder": name, ...}
and adds its audit entry in the same transaction, then asks BIND to reload everything.

A forwarder sends queries for its `domains` to its `servers`. A `public` forwarder may have no
domains: it then serves as a default forwarder for every name no zone or other forwarder covers.
A domain can be forwarded by one forwarder only, and not also be a zone here (BIND would refuse
both). A server is an IP address with an optional port ("10.0.0.1", "10.0.0.1:5353",
"[2001:db8::53]:53") and nothing else: no IPv6 scope id, no spaces (dns/rules.py `server`). The
forwarder a change leaves is rendered and named-checkconf'd before it commits (a 422 says why).

A forwarder carries a `version` (api/versions.py), which its config_change events carry too: PATCH
and DELETE take If-Match and answer 412 with the forwarder as it is now when it moved.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..dns import validation as v
from ..models import Forwarder, Zone
from ..realtime.events import EventType
from .changes import Change
from .contract import DbId, Offset, Omitted, UtcDateTime, responses
from .deps import AnyUser, OperatorUser
from .errors import about, field_error
from .versions import ETAG_HEADER, IfMatch, Precondition, lock, stale, tag

router = APIRouter(prefix="/api/forwarders", tags=["forwarders"])

ForwarderType = Literal["active_directory", "intranet", "public"]
Domains = Annotated[list[Annotated[str, Field(min_length=1, max_length=253)]], Field(max_length=256)]
Servers = Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=32)]


class ForwarderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    type: str = Field(validation_alias="forwarder_type")
    domains: list[str]
    servers: list[str]
    enabled: bool
    version: int
    updated_by: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ForwarderPage(BaseModel):
    items: list[ForwarderOut]
    total: int
    limit: int
    offset: int


class ForwarderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=64)]
    type: ForwarderType
    domains: Domains = Field(default_factory=list)
    servers: Annotated[Servers, Field(min_length=1)]
    enabled: bool = True


class ForwarderUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=64)] | Omitted = None
    type: ForwarderType | Omitted = None
    domains: Domains | Omitted = None
    servers: Servers | Omitted = None
    enabled: bool | Omitted = None


def _each(values: list[str], what: str, check: Any) -> list[str]:
    """Each value checked and normalised, a bad one named by its place (`servers.1`); no repeats."""
    out = []
    for i, value in enumerate(values):
        with about(f"{what}.{i}"):
            out.append(check(value))
    with about(what):
        return v.unique(out, what)


def _validated(name: str, ftype: str, domains: list[str], servers: list[str]) -> tuple[str, list[str], list[str]]:
    with about("name"):
        name = v.forwarder_name(name)
    domains = _each(domains, "domains", lambda d: v.domain_name(d, "domain"))
    servers = _each(servers, "servers", v.server_address)
    if not servers:
        raise field_error("servers", "a forwarder needs at least one server")
    if not domains and ftype != "public":
        raise field_error("domains", "an active_directory or intranet forwarder needs at least one domain")
    return name, domains, servers


async def _check_conflicts(session: AsyncSession, name: str, domains: list[str], exclude: int | None = None) -> None:
    others = (await session.execute(select(Forwarder.id, Forwarder.name, Forwarder.domains))).all()
    for fid, other, their in others:
        if fid == exclude:
            continue
        if other.lower() == name.lower():
            raise field_error("name", f"a forwarder named {other!r} already exists", status.HTTP_409_CONFLICT)
        for i, domain in enumerate(domains):
            if domain in (their or []):
                raise field_error(
                    f"domains.{i}", f"{domain} is already forwarded by {other!r}", status.HTTP_409_CONFLICT
                )
    if domains:
        zone = await session.scalar(select(Zone.name).where(Zone.name.in_(domains)).limit(1))
        if zone is not None:
            raise field_error(
                f"domains.{domains.index(zone)}",
                f"{zone} is a zone on this server; it cannot be forwarded",
                status.HTTP_409_CONFLICT,
            )


def _event(change: str, fwd: Forwarder, **extra: Any) -> dict[str, Any]:
    return {
        "section": "forwarders",
        "change": change,
        "forwarder": fwd.name,
        "id": fwd.id,
        "type": fwd.forwarder_type,
        "domains": fwd.domains,
        "servers": fwd.servers,
        "enabled": fwd.enabled,
        "version": fwd.version,
        "updated_by": fwd.updated_by,
        **extra,
    }


async def _get(session: AsyncSession, forwarder_id: int) -> Forwarder:
    fwd = await session.get(Forwarder, forwarder_id, populate_existing=True)
    if fwd is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"forwarder {forwarder_id} not found")
    return fwd


async def _locked(session: AsyncSession, forwarder_id: int, if_match: Precondition | None) -> Forwarder:
    """The forwarder, locked for this change and checked against If-Match (404, 412)."""
    if await lock(session, Forwarder, Forwarder.id == forwarder_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"forwarder {forwarder_id} not found")
    fwd = await _get(session, forwarder_id)
    if if_match is not None and not if_match.allows(fwd.version):
        current = ForwarderOut.model_validate(fwd)
        raise stale(f"forwarder {fwd.name!r}", current, fwd.version, fwd.updated_by, if_match)
    return fwd


@router.get("", responses=responses(401, 422))
async def list_forwarders(
    request: Request,
    user: AnyUser,
    type: Annotated[ForwarderType | None, Query(description="forwarder type")] = None,
    search: Annotated[str | None, Query(max_length=64, description="part of the name")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> ForwarderPage:
    conditions: list[Any] = []
    if type is not None:
        conditions.append(Forwarder.forwarder_type == type)
    if search:
        conditions.append(func.lower(Forwarder.name).contains(search.strip().lower(), autoescape=True))
    async with request.app.state.db() as session:
        total = await session.scalar(select(func.count()).select_from(Forwarder).where(*conditions))
        rows = (
            await session.scalars(
                select(Forwarder).where(*conditions).order_by(Forwarder.name).limit(limit).offset(offset)
            )
        ).all()
    return ForwarderPage(
        items=[ForwarderOut.model_validate(f) for f in rows], total=int(total or 0), limit=limit, offset=offset
    )


@router.get("/{forwarder_id:int}", responses={200: ETAG_HEADER, **responses(401, 404, 422)})
async def get_forwarder(forwarder_id: DbId, request: Request, response: Response, user: AnyUser) -> ForwarderOut:
    async with request.app.state.db() as session:
        out = ForwarderOut.model_validate(await _get(session, forwarder_id))
    tag(response, out.version)
    return out


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses={201: ETAG_HEADER, **responses(401, 403, 409, 413, 422)}
)
async def create_forwarder(
    body: ForwarderCreate, request: Request, response: Response, user: OperatorUser
) -> ForwarderOut:
    name, domains, servers = _validated(body.name, body.type, body.domains, body.servers)
    conflict = f"a forwarder named {name!r} already exists"
    async with Change(request, user, conflict=conflict, conflict_field="name") as change:
        session = change.session
        await _check_conflicts(session, name, domains)
        fwd = Forwarder(
            name=name,
            forwarder_type=body.type,
            domains=domains,
            servers=servers,
            enabled=body.enabled,
            version=1,
            updated_by=user.username,
        )
        session.add(fwd)
        await change.check_forwarding(forwarders=[fwd])
        change.event(EventType.CONFIG_CHANGE, _event("created", fwd))
        change.audit(
            "forwarder.create",
            target=name,
            details={"type": body.type, "domains": domains, "servers": servers, "enabled": body.enabled},
        )
        change.reload([], f"forwarder {name} created")
    tag(response, fwd.version)
    return ForwarderOut.model_validate(fwd)


@router.patch("/{forwarder_id:int}", responses={200: ETAG_HEADER, **responses(401, 403, 404, 409, 412, 413, 422)})
async def update_forwarder(
    forwarder_id: DbId,
    body: ForwarderUpdate,
    request: Request,
    response: Response,
    user: OperatorUser,
    if_match: IfMatch,
) -> ForwarderOut:
    """Change any of name, type, domains, servers, enabled (only the fields given)."""
    for key in body.model_fields_set:
        if getattr(body, key) is None:
            raise field_error(key, f"{key} may not be null")
    async with Change(request, user) as change:
        session = change.session
        fwd = await _locked(session, forwarder_id, if_match)
        ftype = body.type or fwd.forwarder_type
        name, domains, servers = _validated(
            body.name if body.name is not None else fwd.name,
            ftype,
            body.domains if body.domains is not None else list(fwd.domains),
            body.servers if body.servers is not None else list(fwd.servers),
        )
        enabled = fwd.enabled if body.enabled is None else body.enabled
        change.conflict, change.conflict_field = f"a forwarder named {name!r} already exists", "name"
        before = {
            "name": fwd.name,
            "type": fwd.forwarder_type,
            "domains": list(fwd.domains),
            "servers": list(fwd.servers),
            "enabled": fwd.enabled,
        }
        after = {"name": name, "type": ftype, "domains": domains, "servers": servers, "enabled": enabled}
        changed = sorted(k for k in after if after[k] != before[k])
        if changed:
            await _check_conflicts(session, name, domains, exclude=fwd.id)
            fwd.name, fwd.forwarder_type, fwd.domains, fwd.servers, fwd.enabled = name, ftype, domains, servers, enabled
            fwd.version += 1
            fwd.updated_by = user.username
            await change.check_forwarding(forwarders=[fwd])
            extra: dict[str, Any] = {"changes": changed}
            if "name" in changed:
                extra["previous_name"] = before["name"]
            change.event(EventType.CONFIG_CHANGE, _event("updated", fwd, **extra))
            change.audit(
                "forwarder.update",
                target=name,
                details={"before": {k: before[k] for k in changed}, "after": {k: after[k] for k in changed}},
            )
            change.reload([], f"forwarder {name} updated")
    tag(response, fwd.version)
    return ForwarderOut.model_validate(fwd)


@router.delete(
    "/{forwarder_id:int}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 403, 404, 412, 422)
)
async def delete_forwarder(forwarder_id: DbId, request: Request, user: OperatorUser, if_match: IfMatch) -> Response:
    async with Change(request, user) as change:
        session = change.session
        fwd = await _locked(session, forwarder_id, if_match)
        await session.execute(delete(Forwarder).where(Forwarder.id == forwarder_id))
        change.event(EventType.CONFIG_CHANGE, _event("deleted", fwd))
        change.audit(
            "forwarder.delete",
            target=fwd.name,
            details={"type": fwd.forwarder_type, "domains": fwd.domains, "servers": fwd.servers},
        )
        change.reload([], f"forwarder {fwd.name} deleted")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
