"""Zones and their records: /api/zones, /api/zones/{id}/records.

Viewers read; operators and admins write. Every change bumps the zone's serial (YYYYMMDDnn, see
dns/validation.py), emits its event and adds its audit entry in the same transaction, then asks
BIND to reload the zone. Before it commits, the zone as the change leaves it is rendered and
checked the way the deployer will (api/changes.py `check_zone`): a change after which the zone
would not load in BIND is refused with a 422 saying why.

Zones and records carry a `version` (api/versions.py): PATCH and DELETE take If-Match and answer
412 with the object as it is now when it moved. A zone's version counts changes to its own fields
(SOA, default TTL, forwarders); each record has its own, and the zone's serial moves with every
record change. Every write locks the zone's row first (`bump_serial`, or `lock`), so the checks of
one change see every change made before it, and a version check and its write are one step.
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
from .contract import MAX_INT32, DbId, NotBool, Offset, Omitted, UtcDateTime, responses
from .deps import AnyUser, OperatorUser
from .errors import about, field_error
from .versions import ETAG_HEADER, IfMatch, Precondition, lock, stale, tag

router = APIRouter(prefix="/api/zones", tags=["zones"])

Ttl = Annotated[int, Field(ge=v.TTL_MIN, le=v.TTL_MAX), NotBool]
RecordType = Literal["A", "AAAA", "CNAME", "MX", "TXT", "SRV", "PTR", "NS"]


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
    version: int
    updated_by: str | None
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
    version: int
    updated_by: str | None
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


class RecordIds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: Annotated[list[Annotated[int, Field(ge=1, le=MAX_INT32), NotBool]], Field(min_length=1, max_length=1000)]


class BulkDeleted(BaseModel):
    deleted: list[int]  # the records removed, in the order asked
    not_found: list[int]  # ids that are not records of this zone (any more): nothing to do for them
    serial: int  # the zone's serial after the change (unchanged when nothing was removed)


class RecordUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=253)] | Omitted = None
    type: RecordType | Omitted = None
    value: Annotated[str, Field(min_length=1, max_length=4000)] | Omitted = None
    ttl: Ttl | None = None  # explicitly null: back to the zone's default TTL

    _type = field_validator("type", mode="before")(_upper)


# --- helpers --------------------------------------------------------------------------------


def _zone_out(zone: Zone, record_count: int | None = 0) -> ZoneOut:
    out = ZoneOut.model_validate(zone)
    out.record_count = record_count or 0
    return out


async def _get_zone(session: AsyncSession, zone_id: int) -> Zone:
    zone = await session.get(Zone, zone_id, populate_existing=True)
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
    """Server addresses, normalised; a bad one is named by its place (`forwarders.1`)."""
    out = []
    for i, value in enumerate(values):
        with about(f"{what}.{i}"):
            out.append(v.server_address(value))
    return v.unique(out, what)


async def _forwarded_by(session: AsyncSession, domain: str) -> str | None:
    """The forwarder that already forwards `domain`, if any (BIND cannot have both)."""
    for name, domains in (await session.execute(select(Forwarder.name, Forwarder.domains))).all():
        if domain in (domains or []):
            return str(name)
    return None


def _zone_event(zone: Zone, record_count: int | None = None, **extra: Any) -> dict[str, Any]:
    """A zone event's data: the zone as GET answers it (when `record_count` is known), and its name as `zone`."""
    head = {"zone": zone.name, "id": zone.id, "zone_type": zone.zone_type, "serial": zone.serial}
    whole = _zone_out(zone, record_count).model_dump(mode="json") if record_count is not None else {}
    return {**whole, **head, "version": zone.version, **extra}


def _record_event(zone: Zone, record: Record, **extra: Any) -> dict[str, Any]:
    """A record event's data: the record as GET answers it, its zone's name and the zone's serial."""
    return {
        **RecordOut.model_validate(record).model_dump(mode="json"),
        "zone": zone.name,
        "serial": zone.serial,
        **extra,
    }


def _stale_zone(zone: Zone, record_count: int, sent: Precondition) -> HTTPException:
    return stale(f"zone {zone.name}", _zone_out(zone, record_count), zone.version, zone.updated_by, sent)


def _stale_record(zone: Zone, record: Record, sent: Precondition) -> HTTPException:
    shown = f"record {record.name} {record.type} in {zone.name}"
    return stale(shown, RecordOut.model_validate(record), record.version, record.updated_by, sent)


def _soa_updates(body: _SoaFields, zone_name: str, zone_type: str, current: Zone | None) -> dict[str, Any]:
    """The validated zone fields present in `body`."""
    fields = body.model_dump(exclude_unset=True, exclude={"name", "zone_type"})
    out: dict[str, Any] = {}
    for key, value in fields.items():
        with about(key):
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
            raise field_error("forwarders", "a forward zone needs at least one forwarder server")
    merged = {
        k: out.get(k, getattr(current, k) if current is not None else default)
        for k, default in (("refresh", 3600), ("retry", 900), ("expire", 1_209_600))
    }
    if merged["expire"] <= max(merged["refresh"], merged["retry"]):
        raise field_error("expire", "expire must be greater than refresh and retry")
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


@router.get("/{zone_id:int}", responses={200: ETAG_HEADER, **responses(401, 404, 422)})
async def get_zone(zone_id: DbId, request: Request, response: Response, user: AnyUser) -> ZoneOut:
    async with request.app.state.db() as session:
        zone = await _get_zone(session, zone_id)
        out = _zone_out(zone, await _record_count(session, zone_id))
    tag(response, out.version)
    return out


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses={201: ETAG_HEADER, **responses(401, 403, 409, 413, 422)}
)
async def create_zone(body: ZoneCreate, request: Request, response: Response, user: OperatorUser) -> ZoneOut:
    with about("name"):
        name = v.zone_name(body.name)
    if name == request.app.state.settings.BIND_RPZ_ZONE.lower().rstrip("."):
        raise field_error("name", f"{name} is the RPZ zone's name; choose another", status.HTTP_409_CONFLICT)
    fields = _soa_updates(body, name, body.zone_type, None)
    if body.zone_type == "master":
        primary_ns = fields.get("primary_ns")
        if primary_ns is not None and not primary_ns.endswith("."):
            raise field_error(
                "primary_ns",
                f"primary_ns {primary_ns}.{name} is inside the new zone, so BIND needs an address record for it, "
                "which the zone can only hold once it exists: create the zone with a primary_ns outside it "
                f"(the default is localhost.), add an A or AAAA record for {primary_ns}, then set primary_ns",
            )
        default_email = v.default_admin_email(name)
        if "admin_email" not in fields and default_email != "hostmaster":
            with about("admin_email"):
                fields["admin_email"] = v.soa_name(default_email, name, "admin_email", email=True)
    exists = f"zone {name} already exists"
    async with Change(request, user, conflict=exists, conflict_field="name") as change:
        session = change.session
        if await session.scalar(select(Zone.id).where(Zone.name == name)) is not None:
            raise field_error("name", exists, status.HTTP_409_CONFLICT)
        forwarder = await _forwarded_by(session, name)
        if forwarder is not None:
            raise field_error(
                "name", f"{name} is already forwarded by forwarder {forwarder!r}", status.HTTP_409_CONFLICT
            )
        zone = Zone(
            name=name,
            zone_type=body.zone_type,
            serial=v.serial_base(),
            version=1,
            updated_by=user.username,
            **{"forwarders": [], **fields},
        )
        session.add(zone)
        await change.check_zone(zone)
        change.event(EventType.ZONE_CREATED, _zone_event(zone, 0))
        change.audit("zone.create", target=name, details={"zone_type": zone.zone_type, **fields})
        change.reload([name], f"zone {name} created")
    tag(response, zone.version)
    return _zone_out(zone)


@router.patch("/{zone_id:int}", responses={200: ETAG_HEADER, **responses(401, 403, 404, 409, 412, 413, 422)})
async def update_zone(
    zone_id: DbId, body: ZoneUpdate, request: Request, response: Response, user: OperatorUser, if_match: IfMatch
) -> ZoneOut:
    """Change SOA fields, the default TTL or (forward zones) the forwarders; the serial is bumped."""
    async with Change(request, user) as change:
        session = change.session
        if await lock(session, Zone, Zone.id == zone_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"zone {zone_id} not found")
        zone = await _get_zone(session, zone_id)
        count = await _record_count(session, zone_id)
        if if_match is not None and not if_match.allows(zone.version):
            raise _stale_zone(zone, count, if_match)
        fields = _soa_updates(body, zone.name, zone.zone_type, zone)
        changed = {k: val for k, val in fields.items() if getattr(zone, k) != val}
        if changed:
            await bump_serial(session, zone)
            for key, value in changed.items():
                setattr(zone, key, value)
            zone.version += 1
            zone.updated_by = user.username
            await change.check_zone(zone)
            change.event(EventType.ZONE_UPDATED, _zone_event(zone, count, changes=sorted(changed)))
            change.audit("zone.update", target=zone.name, details=changed)
            change.reload([zone.name], f"zone {zone.name} updated")
    tag(response, zone.version)
    return _zone_out(zone, count)


@router.delete("/{zone_id:int}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 403, 404, 412, 422))
async def delete_zone(zone_id: DbId, request: Request, user: OperatorUser, if_match: IfMatch) -> Response:
    async with Change(request, user) as change:
        session = change.session
        if await lock(session, Zone, Zone.id == zone_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"zone {zone_id} not found")
        zone = await _get_zone(session, zone_id)
        if if_match is not None and not if_match.allows(zone.version):
            raise _stale_zone(zone, await _record_count(session, zone_id), if_match)
        records = _rowcount(await session.execute(delete(Record).where(Record.zone_id == zone_id)))
        if _rowcount(await session.execute(delete(Zone).where(Zone.id == zone_id))) == 0:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"zone {zone_id} not found")
        change.event(EventType.ZONE_DELETED, _zone_event(zone, records=records))
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
            with about("name"):
                conditions.append(Record.name == v.record_name(name, zone.name))
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


@router.get("/{zone_id:int}/records/{record_id:int}", responses={200: ETAG_HEADER, **responses(401, 404, 422)})
async def get_record(zone_id: DbId, record_id: DbId, request: Request, response: Response, user: AnyUser) -> RecordOut:
    async with request.app.state.db() as session:
        await _get_zone(session, zone_id)
        out = RecordOut.model_validate(await _get_record(session, zone_id, record_id))
    tag(response, out.version)
    return out


async def _get_record(session: AsyncSession, zone_id: int, record_id: int) -> Record:
    record = await session.scalar(
        select(Record)
        .where(Record.id == record_id, Record.zone_id == zone_id)
        .execution_options(populate_existing=True)
    )
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"record {record_id} not found in zone {zone_id}")
    return record


def _validate_record(zone: Zone, name: str, rtype: str, value: str) -> tuple[str, str]:
    """The owner name (relative) and the canonical value; a 422 names the field at fault."""
    if zone.zone_type != "master":
        raise HTTPException(422, f"{zone.name} is a forward zone; records belong in master zones")
    with about("name"):
        owner = v.record_owner(v.record_name(name, zone.name), rtype, zone.name)
    with about("value"):
        return owner, v.record_value(rtype, value, zone.name, owner)


async def _check_conflicts(
    session: AsyncSession, zone: Zone, name: str, rtype: str, value: str, exclude: int | None = None
) -> None:
    """409 for a duplicate record or a CNAME sharing its name with other records (RFC 1034 3.6.2)."""
    conditions = [Record.zone_id == zone.id, Record.name == name]
    if exclude is not None:
        conditions.append(Record.id != exclude)
    others = (await session.execute(select(Record.type, Record.value).where(*conditions))).all()
    shown = name if name != "@" else f"the apex of {zone.name}"
    conflict = status.HTTP_409_CONFLICT
    if any(t == rtype and val == value for t, val in others):
        raise field_error("value", f"{shown} already has the {rtype} record {value}", conflict)
    types = sorted({t for t, _ in others})
    if rtype == "CNAME" and types:
        raise field_error(
            "type", f"a CNAME cannot coexist with other records: {shown} already has {', '.join(types)}", conflict
        )
    if rtype != "CNAME" and "CNAME" in types:
        raise field_error("name", f"{shown} has a CNAME record, so it can have no other record", conflict)


@router.post(
    "/{zone_id:int}/records",
    status_code=status.HTTP_201_CREATED,
    responses={201: ETAG_HEADER, **responses(401, 403, 404, 409, 413, 422)},
)
async def create_record(
    zone_id: DbId, body: RecordCreate, request: Request, response: Response, user: OperatorUser
) -> RecordOut:
    async with request.app.state.db() as session:
        zone = await _get_zone(session, zone_id)
    name, value = _validate_record(zone, body.name, body.type, body.value)
    async with Change(request, user) as change:
        session = change.session
        zone = await _get_zone(session, zone_id)
        serial = await bump_serial(session, zone)  # first: locks the zone, so checks below see every change
        await _check_conflicts(session, zone, name, body.type, value)
        record = Record(
            zone_id=zone.id, name=name, type=body.type, value=value, ttl=body.ttl, version=1, updated_by=user.username
        )
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
    tag(response, record.version)
    return RecordOut.model_validate(record)


@router.patch(
    "/{zone_id:int}/records/{record_id:int}",
    responses={200: ETAG_HEADER, **responses(401, 403, 404, 409, 412, 413, 422)},
)
async def update_record(
    zone_id: DbId,
    record_id: DbId,
    body: RecordUpdate,
    request: Request,
    response: Response,
    user: OperatorUser,
    if_match: IfMatch,
) -> RecordOut:
    """Change a record's name, type, value or TTL (only the fields given; `"ttl": null` = zone default)."""
    given = body.model_fields_set
    for key in ("name", "type", "value"):
        if key in given and getattr(body, key) is None:
            raise field_error(key, f"{key} may not be null")
    async with Change(request, user) as change:
        session = change.session
        if await lock(session, Zone, Zone.id == zone_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"zone {zone_id} not found")
        zone = await _get_zone(session, zone_id)
        record = await _get_record(session, zone_id, record_id)
        if if_match is not None and not if_match.allows(record.version):
            raise _stale_record(zone, record, if_match)
        rtype = body.type or record.type
        if "type" in given and "value" not in given and rtype != record.type:
            raise field_error("value", "changing the type needs a value of the new type")
        name, value = _validate_record(
            zone, body.name if body.name is not None else record.name, rtype, body.value or record.value
        )
        ttl = body.ttl if "ttl" in given else record.ttl
        previous = {"name": record.name, "type": record.type, "value": record.value, "ttl": record.ttl}
        new = {"name": name, "type": rtype, "value": value, "ttl": ttl}
        if new != previous:
            serial = await bump_serial(session, zone)
            await _check_conflicts(session, zone, name, rtype, value, exclude=record.id)
            record.name, record.type, record.value, record.ttl = name, rtype, value, ttl
            record.version += 1
            record.updated_by = user.username
            await change.check_zone(zone)
            change.event(EventType.RECORD_UPDATED, _record_event(zone, record, previous=previous))
            change.audit(
                "record.update",
                target=f"{name} {rtype} in {zone.name}",
                details={"zone": zone.name, "before": previous, "after": new, "serial": serial},
            )
            change.reload([zone.name], f"record {name} {rtype} changed in {zone.name}")
    tag(response, record.version)
    return RecordOut.model_validate(record)


@router.delete(
    "/{zone_id:int}/records/{record_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(401, 403, 404, 412, 422),
)
async def delete_record(
    zone_id: DbId, record_id: DbId, request: Request, user: OperatorUser, if_match: IfMatch
) -> Response:
    async with Change(request, user) as change:
        session = change.session
        zone = await _get_zone(session, zone_id)
        serial = await bump_serial(session, zone)
        record = await _get_record(session, zone_id, record_id)
        if if_match is not None and not if_match.allows(record.version):
            raise _stale_record(zone, record, if_match)
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


@router.post("/{zone_id:int}/records/bulk-delete", responses=responses(401, 403, 404, 413, 422))
async def bulk_delete_records(zone_id: DbId, body: RecordIds, request: Request, user: OperatorUser) -> BulkDeleted:
    """Remove these records of the zone in one change: one serial bump, one reload, and their
    `record_deleted` events in one batch. Ids that are not records of this zone are listed in
    `not_found` and change nothing (someone may have removed them meanwhile); no If-Match."""
    ids = list(dict.fromkeys(body.ids))
    async with Change(request, user) as change:
        session = change.session
        if await lock(session, Zone, Zone.id == zone_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"zone {zone_id} not found")
        zone = await _get_zone(session, zone_id)
        found = {
            r.id: r
            for r in (
                await session.scalars(
                    select(Record)
                    .where(Record.zone_id == zone_id, Record.id.in_(ids))
                    .execution_options(populate_existing=True)
                )
            ).all()
        }
        removed = [found[i] for i in ids if i in found]
        if removed:
            serial = await bump_serial(session, zone)
            await session.execute(delete(Record).where(Record.zone_id == zone_id, Record.id.in_(list(found))))
            await change.check_zone(zone)
            for record in removed:
                change.event(EventType.RECORD_DELETED, _record_event(zone, record, bulk=True))
            change.audit(
                "record.bulk_delete",
                target=f"{len(removed)} records in {zone.name}",
                details={
                    "zone": zone.name,
                    "serial": serial,
                    "records": [{"id": r.id, "name": r.name, "type": r.type, "value": r.value} for r in removed],
                },
            )
            change.reload([zone.name], f"{len(removed)} records removed from {zone.name}")
    return BulkDeleted(
        deleted=[r.id for r in removed], not_found=[i for i in ids if i not in found], serial=zone.serial
    )
