"""Zones and their records: /api/zones, /api/zones/{id}/records.

Viewers read; operators and admins write. Every change bumps the zone's serial (YYYYMMDDnn, see
dns/validation.py), emits its event and adds its audit entry in the same transaction, then asks
BIND to reload the zone. Before it commits, the zone as the change leaves it is rendered and
checked the way the deployer will (api/changes.py `check_zone`): a change after which the zone
would not load in BIND is refused with a 422 saying why.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from ..dns import validation as v
from ..models import Forwarder, Record, Zone
from ..realtime.events import EventType
from .changes import Change
from .changes import rowcount as _rowcount
from .contract import DbId, NotBool, Offset, Omitted, UtcDateTime, responses
from .deps import AnyUser, OperatorUser

router = APIRouter(prefix="/api/zones", tags=["zones"])

Ttl = Annotated[int, Field(ge=v.TTL_MIN, le=v.TTL_MAX), NotBool]
RecordType = Literal["A", "AAAA", "CNAME", "MX", "TXT", "SRV", "PTR", "NS"]


def invalid(exc: v.Invalid) -> HTTPException:
    return HTTPException(422, str(exc))


# --- models ---------------------------------------------------------------------------------


class Page(BaseModel):
    total: int
    limit: int
    offset: int


class ZoneOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    zone_type: str
    serial: int
    primary_ns: str
    admin_email: str
    refresh: int
    retry: int
    expire: int
    minimum: int
    default_ttl: int
    forwarders: list[str]
    record_count: int = 0
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ZonePage(Page):
    items: list[ZoneOut]


class _SoaFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    primary_ns: Annotated[str, Field(max_length=253)] | Omitted = None
    admin_email: Annotated[str, Field(max_length=253)] | Omitted = None
    refresh: Annotated[int, Field(ge=60, le=2_419_200), NotBool] | Omitted = None
    retry: Annotated[int, Field(ge=60, le=2_419_200), NotBool] | Omitted = None
    expire: Annotated[int, Field(ge=300, le=31_536_000), NotBool] | Omitted = None
    minimum: Annotated[int, Field(ge=v.TTL_MIN, le=86_400), NotBool] | Omitted = None
    default_ttl: Ttl | Omitted = None
    forwarders: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=32)] | Omitted = None


class ZoneCreate(_SoaFields):
    name: Annotated[str, Field(min_length=1, max_length=253)]
    zone_type: Literal["master", "forward"] = "master"


class ZoneUpdate(_SoaFields):
    pass


class RecordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    zone_id: int
    name: str
    type: str
    value: str
    ttl: int | None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class RecordPage(Page):
    items: list[RecordOut]


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


class RecordCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=253)] = "@"
    type: RecordType
    value: Annotated[str, Field(min_length=1, max_length=4000)]
    ttl: Ttl | None = None

    _type = field_validator("type", mode="before")(_upper)


class RecordUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=253)] | Omitted = None
    type: RecordType | Omitted = None
    value: Annotated[str, Field(min_length=1, max_length=4000)] | Omitted = None
    ttl: Ttl | None = None  # explicitly null: back to the zone's default TTL

    _type = field_validator("type", mode="before")(_upper)


# --- helpers --------------------------------------------------------------------------------


def _zone_out(zone: Zone, record_count: int = 0) -> ZoneOut:
    out = ZoneOut.model_validate(zone)
    out.record_count = record_count
    return out


async def _get_zone(session: AsyncSession, zone_id: int) -> Zone:
    zone = await session.get(Zone, zone_id)
    if zone is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"zone {zone_id} not found")
    return zone


async def _record_count(session: AsyncSession, zone_id: int) -> int:
    return int(await session.scalar(select(func.count()).select_from(Record).where(Record.zone_id == zone_id)) or 0)


async def bump_serial(session: AsyncSession, zone: Zone) -> int:
    """Bump the zone's serial in one statement (which also locks the row until commit); 404 if it is gone."""
    base = v.serial_base()
    now = datetime.now(UTC)
    new = case((Zone.serial + 1 > base, Zone.serial + 1), else_=base)
    serial = await session.scalar(
        update(Zone)
        .where(Zone.id == zone.id)
        .values(serial=new, updated_at=now)
        .returning(Zone.serial)
        .execution_options(synchronize_session=False)
    )
    if serial is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"zone {zone.id} not found")
    set_committed_value(zone, "serial", int(serial))
    set_committed_value(zone, "updated_at", now)
    return int(serial)


def _servers(values: list[str], what: str) -> list[str]:
    return v.unique([v.server_address(s) for s in values], what)


async def _forwarded_by(session: AsyncSession, domain: str) -> str | None:
    """The forwarder that already forwards `domain`, if any (BIND cannot have both)."""
    for name, domains in (await session.execute(select(Forwarder.name, Forwarder.domains))).all():
        if domain in (domains or []):
            return str(name)
    return None


def _zone_event(zone: Zone, **extra: Any) -> dict[str, Any]:
    return {"zone": zone.name, "id": zone.id, "zone_type": zone.zone_type, "serial": zone.serial, **extra}


def _record_event(zone: Zone, record: Record, **extra: Any) -> dict[str, Any]:
    return {
        "zone": zone.name,
        "zone_id": zone.id,
        "id": record.id,
        "name": record.name,
        "type": record.type,
        "value": record.value,
        "ttl": record.ttl,
        "serial": zone.serial,
        **extra,
    }


def _soa_updates(body: _SoaFields, zone_name: str, zone_type: str, current: Zone | None) -> dict[str, Any]:
    """The validated zone fields present in `body`."""
    fields = body.model_dump(exclude_unset=True, exclude={"name", "zone_type"})
    out: dict[str, Any] = {}
    try:
        for key, value in fields.items():
            if value is None:
                raise v.Invalid(f"{key} may not be null")
            if key == "primary_ns":
                out[key] = v.soa_name(value, zone_name, "primary_ns")
            elif key == "admin_email":
                out[key] = v.soa_name(value, zone_name, "admin_email", email=True)
            elif key == "forwarders":
                if zone_type != "forward":
                    raise v.Invalid("forwarders are for forward zones only")
                out[key] = _servers(value, "forwarders")
            else:
                out[key] = value
        if zone_type == "forward":
            forwarders = out.get("forwarders", current.forwarders if current is not None else [])
            if not forwarders:
                raise v.Invalid("a forward zone needs at least one forwarder server")
        merged = {
            k: out.get(k, getattr(current, k) if current is not None else default)
            for k, default in (("refresh", 3600), ("retry", 900), ("expire", 1_209_600))
        }
        if merged["expire"] <= max(merged["refresh"], merged["retry"]):
            raise v.Invalid("expire must be greater than refresh and retry")
    except v.Invalid as exc:
        raise invalid(exc) from None
    return out


# --- zones ----------------------------------------------------------------------------------


@router.get("", responses=responses(401, 422))
async def list_zones(
    request: Request,
    user: AnyUser,
    search: Annotated[str | None, Query(max_length=253, description="part of the zone name")] = None,
    zone_type: Literal["master", "forward"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> ZonePage:
    conditions = []
    if search:
        conditions.append(Zone.name.contains(search.strip().lower().rstrip("."), autoescape=True))
    if zone_type is not None:
        conditions.append(Zone.zone_type == zone_type)
    counts = select(Record.zone_id, func.count().label("n")).group_by(Record.zone_id).subquery()
    async with request.app.state.db() as session:
        total = await session.scalar(select(func.count()).select_from(Zone).where(*conditions))
        rows = (
            await session.execute(
                select(Zone, func.coalesce(counts.c.n, 0))
                .outerjoin(counts, counts.c.zone_id == Zone.id)
                .where(*conditions)
                .order_by(Zone.name)
                .limit(limit)
                .offset(offset)
            )
        ).all()
    return ZonePage(
        items=[_zone_out(zone, int(n)) for zone, n in rows], total=int(total or 0), limit=limit, offset=offset
    )


@router.get("/{zone_id:int}", responses=responses(401, 404, 422))
async def get_zone(zone_id: DbId, request: Request, user: AnyUser) -> ZoneOut:
    async with request.app.state.db() as session:
        zone = await _get_zone(session, zone_id)
        return _zone_out(zone, await _record_count(session, zone_id))


@router.post("", status_code=status.HTTP_201_CREATED, responses=responses(401, 403, 409, 413, 422))
async def create_zone(body: ZoneCreate, request: Request, user: OperatorUser) -> ZoneOut:
    try:
        name = v.zone_name(body.name)
    except v.Invalid as exc:
        raise invalid(exc) from None
    if name == request.app.state.settings.BIND_RPZ_ZONE.lower().rstrip("."):
        raise HTTPException(status.HTTP_409_CONFLICT, f"{name} is the RPZ zone's name; choose another")
    fields = _soa_updates(body, name, body.zone_type, None)
    if body.zone_type == "master":
        primary_ns = fields.get("primary_ns")
        if primary_ns is not None and not primary_ns.endswith("."):
            raise HTTPException(
                422,
                f"primary_ns {primary_ns}.{name} is inside the new zone, so BIND needs an address record for it, "
                "which the zone can only hold once it exists: create the zone with a primary_ns outside it "
                f"(the default is localhost.), add an A or AAAA record for {primary_ns}, then set primary_ns",
            )
        default_email = v.default_admin_email(name)
        if "admin_email" not in fields and default_email != "hostmaster":
            try:
                fields["admin_email"] = v.soa_name(default_email, name, "admin_email", email=True)
            except v.Invalid as exc:
                raise invalid(exc) from None
    async with Change(request, user, conflict=f"zone {name} already exists") as change:
        session = change.session
        if await session.scalar(select(Zone.id).where(Zone.name == name)) is not None:
            raise HTTPException(status.HTTP_409_CONFLICT, f"zone {name} already exists")
        forwarder = await _forwarded_by(session, name)
        if forwarder is not None:
            raise HTTPException(status.HTTP_409_CONFLICT, f"{name} is already forwarded by forwarder {forwarder!r}")
        zone = Zone(name=name, zone_type=body.zone_type, serial=v.serial_base(), **{"forwarders": [], **fields})
        session.add(zone)
        await change.check_zone(zone)
        change.event(EventType.ZONE_CREATED, _zone_event(zone))
        change.audit("zone.create", target=name, details={"zone_type": zone.zone_type, **fields})
        change.reload([name], f"zone {name} created")
    return _zone_out(zone)


@router.patch("/{zone_id:int}", responses=responses(401, 403, 404, 409, 413, 422))
async def update_zone(zone_id: DbId, body: ZoneUpdate, request: Request, user: OperatorUser) -> ZoneOut:
    """Change SOA fields, the default TTL or (forward zones) the forwarders; the serial is bumped."""
    async with request.app.state.db() as session:
        current = await _get_zone(session, zone_id)
    fields = _soa_updates(body, current.name, current.zone_type, current)
    changed = {k: val for k, val in fields.items() if getattr(current, k) != val}
    async with Change(request, user) as change:
        session = change.session
        zone = await _get_zone(session, zone_id)
        if changed:
            await bump_serial(session, zone)
            for key, value in changed.items():
                setattr(zone, key, value)
            await change.check_zone(zone)
            change.event(EventType.ZONE_UPDATED, _zone_event(zone, changes=sorted(changed)))
            change.audit("zone.update", target=zone.name, details=changed)
            change.reload([zone.name], f"zone {zone.name} updated")
        count = await _record_count(session, zone_id)
    return _zone_out(zone, count)


@router.delete("/{zone_id:int}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 403, 404, 422))
async def delete_zone(zone_id: DbId, request: Request, user: OperatorUser) -> Response:
    async with Change(request, user) as change:
        session = change.session
        zone = await _get_zone(session, zone_id)
        records = _rowcount(await session.execute(delete(Record).where(Record.zone_id == zone_id)))
        if _rowcount(await session.execute(delete(Zone).where(Zone.id == zone_id))) == 0:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"zone {zone_id} not found")
        change.event(
            EventType.ZONE_DELETED,
            {"zone": zone.name, "id": zone.id, "zone_type": zone.zone_type, "serial": zone.serial, "records": records},
        )
        change.audit("zone.delete", target=zone.name, details={"zone_type": zone.zone_type, "records": records})
        change.reload([zone.name], f"zone {zone.name} deleted")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- records --------------------------------------------------------------------------------


@router.get("/{zone_id:int}/records", responses=responses(401, 404, 422))
async def list_records(
    zone_id: DbId,
    request: Request,
    user: AnyUser,
    type: Annotated[RecordType | None, Query(description="record type")] = None,
    name: Annotated[str | None, Query(max_length=253, description="exact owner name, relative ('@' apex)")] = None,
    search: Annotated[str | None, Query(max_length=253, description="part of the name or value")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> RecordPage:
    conditions: list[Any] = [Record.zone_id == zone_id]
    if type is not None:
        conditions.append(Record.type == type)
    if search:
        term = search.strip().lower()
        conditions.append(
            Record.name.contains(term, autoescape=True) | func.lower(Record.value).contains(term, autoescape=True)
        )
    async with request.app.state.db() as session:
        zone = await _get_zone(session, zone_id)
        if name is not None:
            try:
                conditions.append(Record.name == v.record_name(name, zone.name))
            except v.Invalid as exc:
                raise invalid(exc) from None
        total = await session.scalar(select(func.count()).select_from(Record).where(*conditions))
        rows = (
            await session.scalars(
                select(Record)
                .where(*conditions)
                .order_by(Record.name, Record.type, Record.id)
                .limit(limit)
                .offset(offset)
            )
        ).all()
    return RecordPage(
        items=[RecordOut.model_validate(r) for r in rows], total=int(total or 0), limit=limit, offset=offset
    )


@router.get("/{zone_id:int}/records/{record_id:int}", responses=responses(401, 404, 422))
async def get_record(zone_id: DbId, record_id: DbId, request: Request, user: AnyUser) -> RecordOut:
    async with request.app.state.db() as session:
        await _get_zone(session, zone_id)
        return RecordOut.model_validate(await _get_record(session, zone_id, record_id))


async def _get_record(session: AsyncSession, zone_id: int, record_id: int) -> Record:
    record = await session.scalar(select(Record).where(Record.id == record_id, Record.zone_id == zone_id))
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"record {record_id} not found in zone {zone_id}")
    return record


def _validate_record(zone: Zone, name: str, rtype: str, value: str) -> tuple[str, str]:
    if zone.zone_type != "master":
        raise HTTPException(422, f"{zone.name} is a forward zone; records belong in master zones")
    try:
        return v.record(name, rtype, value, zone.name)
    except v.Invalid as exc:
        raise invalid(exc) from None


async def _check_conflicts(
    session: AsyncSession, zone: Zone, name: str, rtype: str, value: str, exclude: int | None = None
) -> None:
    """409 for a duplicate record or a CNAME sharing its name with other records (RFC 1034 3.6.2)."""
    conditions = [Record.zone_id == zone.id, Record.name == name]
    if exclude is not None:
        conditions.append(Record.id != exclude)
    others = (await session.execute(select(Record.type, Record.value).where(*conditions))).all()
    shown = name if name != "@" else f"the apex of {zone.name}"
    if any(t == rtype and val == value for t, val in others):
        raise HTTPException(status.HTTP_409_CONFLICT, f"{shown} already has the {rtype} record {value}")
    types = sorted({t for t, _ in others})
    if rtype == "CNAME" and types:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"a CNAME cannot coexist with other records: {shown} already has {', '.join(types)}",
        )
    if rtype != "CNAME" and "CNAME" in types:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{shown} has a CNAME record, so it can have no other record")


@router.post(
    "/{zone_id:int}/records", status_code=status.HTTP_201_CREATED, responses=responses(401, 403, 404, 409, 413, 422)
)
async def create_record(zone_id: DbId, body: RecordCreate, request: Request, user: OperatorUser) -> RecordOut:
    async with request.app.state.db() as session:
        zone = await _get_zone(session, zone_id)
    name, value = _validate_record(zone, body.name, body.type, body.value)
    async with Change(request, user) as change:
        session = change.session
        zone = await _get_zone(session, zone_id)
        serial = await bump_serial(session, zone)  # first: locks the zone, so checks below see every change
        await _check_conflicts(session, zone, name, body.type, value)
        record = Record(zone_id=zone.id, name=name, type=body.type, value=value, ttl=body.ttl)
        session.add(record)
        await change.check_zone(zone)
        change.event(EventType.RECORD_CREATED, _record_event(zone, record))
        change.audit(
            "record.create",
            target=f"{name} {body.type} in {zone.name}",
            details={
                "zone": zone.name,
                "name": name,
                "type": body.type,
                "value": value,
                "ttl": body.ttl,
                "serial": serial,
            },
        )
        change.reload([zone.name], f"record {name} {body.type} added to {zone.name}")
    return RecordOut.model_validate(record)


@router.patch("/{zone_id:int}/records/{record_id:int}", responses=responses(401, 403, 404, 409, 413, 422))
async def update_record(
    zone_id: DbId, record_id: DbId, body: RecordUpdate, request: Request, user: OperatorUser
) -> RecordOut:
    """Change a record's name, type, value or TTL (only the fields given; `"ttl": null` = zone default)."""
    async with request.app.state.db() as session:
        zone = await _get_zone(session, zone_id)
        current = await _get_record(session, zone_id, record_id)
    given = body.model_fields_set
    for key in ("name", "type", "value"):
        if key in given and getattr(body, key) is None:
            raise HTTPException(422, f"{key} may not be null")
    rtype = body.type or current.type
    if "type" in given and "value" not in given and rtype != current.type:
        raise HTTPException(422, "changing the type needs a value of the new type")
    name, value = _validate_record(
        zone, body.name if body.name is not None else current.name, rtype, body.value or current.value
    )
    ttl = body.ttl if "ttl" in given else current.ttl
    async with Change(request, user) as change:
        session = change.session
        zone = await _get_zone(session, zone_id)
        record = await _get_record(session, zone_id, record_id)
        previous = {"name": record.name, "type": record.type, "value": record.value, "ttl": record.ttl}
        new = {"name": name, "type": rtype, "value": value, "ttl": ttl}
        if new != previous:
            serial = await bump_serial(session, zone)
            await _check_conflicts(session, zone, name, rtype, value, exclude=record.id)
            record.name, record.type, record.value, record.ttl = name, rtype, value, ttl
            await change.check_zone(zone)
            change.event(EventType.RECORD_UPDATED, _record_event(zone, record, previous=previous))
            change.audit(
                "record.update",
                target=f"{name} {rtype} in {zone.name}",
                details={"zone": zone.name, "before": previous, "after": new, "serial": serial},
            )
            change.reload([zone.name], f"record {name} {rtype} changed in {zone.name}")
    return RecordOut.model_validate(record)


@router.delete(
    "/{zone_id:int}/records/{record_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(401, 403, 404, 422),
)
async def delete_record(zone_id: DbId, record_id: DbId, request: Request, user: OperatorUser) -> Response:
    async with Change(request, user) as change:
        session = change.session
        zone = await _get_zone(session, zone_id)
        record = await _get_record(session, zone_id, record_id)
        serial = await bump_serial(session, zone)
        if _rowcount(await session.execute(delete(Record).where(Record.id == record.id))) == 0:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"record {record_id} not found in zone {zone_id}")
        await change.check_zone(zone)
        change.event(EventType.RECORD_DELETED, _record_event(zone, record))
        change.audit(
            "record.delete",
            target=f"{record.name} {record.type} in {zone.name}",
            details={
                "zone": zone.name,
                "name": record.name,
                "type": record.type,
                "value": record.value,
                "serial": serial,
            },
        )
        change.reload([zone.name], f"record {record.name} {record.type} removed from {zone.name}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
