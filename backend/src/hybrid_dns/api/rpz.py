"""RPZ security rules: /api/rpz/rules.

Viewers read; operators and admins write. Each change emits `rpz_update` (security connections)
and adds its audit entry in the same transaction, then asks BIND to reload the RPZ zone. A bulk
import or bulk removal is one transaction and one event batch: its events (one per
`EVENT_CHUNK` domains) reach every client together in one `batch` frame.

A rule blocks (or redirects, or lets through) one domain and, by wildcard, its subdomains: its
domain has two labels or more, may start with '*.' (only the subdomains) and holds no RPZ trigger
label (rpz-ip, rpz-client-ip, rpz-nsdname, rpz-nsip...), so no rule can match every name or every
client (dns/rules.py `rpz_domain`). The rules a change writes are rendered and checked before it
commits (a 422 says why they would not deploy).

A rule carries a `version` (api/versions.py): PATCH and DELETE take If-Match and answer 412 with
the rule as it is now when it moved. An `rpz_update` about one rule carries its `id` and `version`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..dns import validation as v
from ..dns.render import RuleSpec
from ..models import RpzRule
from ..realtime.events import EventType
from .changes import Change
from .changes import rowcount as _rowcount
from .contract import DbId, Offset, Omitted, UtcDateTime, responses
from .deps import AnyUser, OperatorUser
from .errors import about, field_error, fields_error
from .versions import ETAG_HEADER, IfMatch, Precondition, lock, stale, tag

router = APIRouter(prefix="/api/rpz", tags=["rpz"])

Action = Literal["block", "redirect", "passthru"]
Domain = Annotated[str, Field(min_length=1, max_length=253)]

EVENT_CHUNK = 100  # domains per rpz_update event of a bulk operation
QUERY_CHUNK = 500  # domains per IN (...) query
MAX_BULK = 50_000


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    domain: str
    action: str
    redirect_to: str | None
    category: str
    version: int
    updated_by: str | None
    created_at: UtcDateTime


class RulePage(BaseModel):
    items: list[RuleOut]
    total: int
    limit: int
    offset: int


class RuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: Domain
    action: Action = "block"
    redirect_to: Annotated[str | None, Field(max_length=253)] = None
    category: Annotated[str, Field(max_length=64)] = "custom"


class RuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Action | Omitted = None
    redirect_to: Annotated[str | None, Field(max_length=253)] = None  # null: no redirect target
    category: Annotated[str, Field(max_length=64)] | Omitted = None


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domains: Annotated[list[Domain], Field(min_length=1, max_length=MAX_BULK)]
    action: Action = "block"
    redirect_to: Annotated[str | None, Field(max_length=253)] = None
    category: Annotated[str, Field(max_length=64)] = "custom"


class BulkDeleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domains: Annotated[list[Domain], Field(min_length=1, max_length=MAX_BULK)]


def _rule_fields(action: str, redirect_to: str | None, category: str) -> tuple[str | None, str]:
    """The redirect target and category of a rule with this action; a 422 names the field at fault."""
    with about("redirect_to"):
        if action == "redirect":
            if not redirect_to:
                raise v.Invalid("the redirect action needs redirect_to (a host name or IP address)")
            target: str | None = v.redirect_target(redirect_to)
        elif redirect_to:
            raise v.Invalid("redirect_to is only for the redirect action")
        else:
            target = None
    with about("category"):
        return target, v.category(category)


MAX_FIELD_ERRORS = 100  # bad domains named one by one in `errors`; the detail counts them all


def _domains(values: Sequence[str], rpz_zone: str | None) -> tuple[list[str], int]:
    """Normalised domains without repeats, and how many repeats there were; 422 naming bad ones
    (`domains.<index>` in `errors`).

    With `rpz_zone`, each must be a domain a rule may hold; without (to remove rules), any name.
    """
    out: dict[str, None] = {}
    bad: list[tuple[int, str, str]] = []
    for index, raw in enumerate(values):
        try:
            domain = v.rpz_domain(raw, rpz_zone) if rpz_zone else v.domain_name(raw, "domain", wildcard=True)
            out[domain] = None
        except v.Invalid as exc:
            bad.append((index, raw.strip()[:80], str(exc)))
    if bad:
        shown = ", ".join(repr(b) for _, b, _ in bad[:10])
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise fields_error(
            [(f"domains.{i}", message) for i, _, message in bad[:MAX_FIELD_ERRORS]],
            f"{len(bad)} invalid domain(s): {shown}{more} (the first: {bad[0][2]})",
        )
    return list(out), len(values) - len(out)


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _event(change: str, domains: list[str], action: str | None, category: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "action": change,
        "domains": domains,
        "rule_action": action,
        "category": category,
        "count": len(domains),
        **extra,
    }


async def _existing(session: AsyncSession, domains: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(domains, QUERY_CHUNK):
        found.update((await session.scalars(select(RpzRule.domain).where(RpzRule.domain.in_(chunk)))).all())
    return found


async def _get_rule(session: AsyncSession, rule_id: int) -> RpzRule:
    rule = await session.get(RpzRule, rule_id, populate_existing=True)
    if rule is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"rule {rule_id} not found")
    return rule


async def _locked_rule(session: AsyncSession, rule_id: int, if_match: Precondition | None) -> RpzRule:
    """The rule, locked for this change and checked against If-Match (404, 412)."""
    if await lock(session, RpzRule, RpzRule.id == rule_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"rule {rule_id} not found")
    rule = await _get_rule(session, rule_id)
    if if_match is not None and not if_match.allows(rule.version):
        raise stale(
            f"the rule for {rule.domain}", RuleOut.model_validate(rule), rule.version, rule.updated_by, if_match
        )
    return rule


def _one_rule(rule: RpzRule) -> dict[str, Any]:
    """What an rpz_update about one rule adds: the rule's id, version and when it was made."""
    return {"id": rule.id, "version": rule.version, "created_at": rule.created_at, "updated_by": rule.updated_by}


def _rpz_zone(request: Request) -> str:
    return str(request.app.state.settings.BIND_RPZ_ZONE).lower().rstrip(".")


@router.get("/rules", responses=responses(401, 422))
async def list_rules(
    request: Request,
    user: AnyUser,
    search: Annotated[str | None, Query(max_length=253, description="part of the domain")] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    action: Action | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> RulePage:
    conditions: list[Any] = []
    if search:
        conditions.append(RpzRule.domain.contains(search.strip().lower().rstrip("."), autoescape=True))
    if category:
        conditions.append(RpzRule.category == category.strip().lower())
    if action is not None:
        conditions.append(RpzRule.action == action)
    async with request.app.state.db() as session:
        total = await session.scalar(select(func.count()).select_from(RpzRule).where(*conditions))
        rows = (
            await session.scalars(
                select(RpzRule).where(*conditions).order_by(RpzRule.domain).limit(limit).offset(offset)
            )
        ).all()
    return RulePage(items=[RuleOut.model_validate(r) for r in rows], total=int(total or 0), limit=limit, offset=offset)


@router.get("/rules/{rule_id:int}", responses={200: ETAG_HEADER, **responses(401, 404, 422)})
async def get_rule(rule_id: DbId, request: Request, response: Response, user: AnyUser) -> RuleOut:
    async with request.app.state.db() as session:
        out = RuleOut.model_validate(await _get_rule(session, rule_id))
    tag(response, out.version)
    return out


@router.post(
    "/rules", status_code=status.HTTP_201_CREATED, responses={201: ETAG_HEADER, **responses(401, 403, 409, 413, 422)}
)
async def create_rule(body: RuleCreate, request: Request, response: Response, user: OperatorUser) -> RuleOut:
    with about("domain"):
        domain = v.rpz_domain(body.domain, _rpz_zone(request))
    target, category = _rule_fields(body.action, body.redirect_to, body.category)
    conflict = f"a rule for {domain} already exists"
    async with Change(request, user, conflict=conflict, conflict_field="domain") as change:
        session = change.session
        if await session.scalar(select(RpzRule.id).where(RpzRule.domain == domain)) is not None:
            raise field_error("domain", conflict, status.HTTP_409_CONFLICT)
        await change.check_rules([RuleSpec(domain, body.action, target, category)])
        rule = RpzRule(
            domain=domain,
            action=body.action,
            redirect_to=target,
            category=category,
            version=1,
            updated_by=user.username,
        )
        session.add(rule)
        await session.flush()
        change.event(
            EventType.RPZ_UPDATE,
            _event("added", [domain], body.action, category, redirect_to=target, **_one_rule(rule)),
        )
        change.audit(
            "rpz.create", target=domain, details={"action": body.action, "redirect_to": target, "category": category}
        )
        change.reload([_rpz_zone(request)], f"rpz rule for {domain} added")
    tag(response, rule.version)
    return RuleOut.model_validate(rule)


@router.patch("/rules/{rule_id:int}", responses={200: ETAG_HEADER, **responses(401, 403, 404, 412, 413, 422)})
async def update_rule(
    rule_id: DbId, body: RuleUpdate, request: Request, response: Response, user: OperatorUser, if_match: IfMatch
) -> RuleOut:
    """Change a rule's action, redirect target or category (only the fields given)."""
    given = body.model_fields_set
    for key in ("action", "category"):
        if key in given and getattr(body, key) is None:
            raise field_error(key, f"{key} may not be null")
    async with Change(request, user) as change:
        session = change.session
        rule = await _locked_rule(session, rule_id, if_match)
        action = body.action or rule.action
        redirect = body.redirect_to if "redirect_to" in given else (rule.redirect_to if action == "redirect" else None)
        target, category = _rule_fields(action, redirect, body.category or rule.category)
        before = {"action": rule.action, "redirect_to": rule.redirect_to, "category": rule.category}
        after = {"action": action, "redirect_to": target, "category": category}
        if before != after:
            await change.check_rules([RuleSpec(rule.domain, action, target, category)])
            rule.action, rule.redirect_to, rule.category = action, target, category
            rule.version += 1
            rule.updated_by = user.username
            await session.flush()
            change.event(
                EventType.RPZ_UPDATE,
                _event("updated", [rule.domain], action, category, redirect_to=target, **_one_rule(rule)),
            )
            change.audit("rpz.update", target=rule.domain, details={"before": before, "after": after})
            change.reload([_rpz_zone(request)], f"rpz rule for {rule.domain} changed")
    tag(response, rule.version)
    return RuleOut.model_validate(rule)


@router.delete(
    "/rules/{rule_id:int}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 403, 404, 412, 422)
)
async def delete_rule(rule_id: DbId, request: Request, user: OperatorUser, if_match: IfMatch) -> Response:
    async with Change(request, user) as change:
        session = change.session
        rule = await _locked_rule(session, rule_id, if_match)
        if _rowcount(await session.execute(delete(RpzRule).where(RpzRule.id == rule_id))) == 0:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"rule {rule_id} not found")
        change.event(
            EventType.RPZ_UPDATE, _event("removed", [rule.domain], rule.action, rule.category, **_one_rule(rule))
        )
        change.audit("rpz.delete", target=rule.domain, details={"action": rule.action, "category": rule.category})
        change.reload([_rpz_zone(request)], f"rpz rule for {rule.domain} removed")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/rules/import", responses=responses(401, 403, 413, 422))
async def import_rules(body: ImportRequest, request: Request, user: OperatorUser) -> dict[str, Any]:
    """Add a rule for each domain not already listed; one transaction, one event batch.

    Returns counts: `imported`, `skipped_existing` (a rule already existed) and `duplicates`
    (repeats within the request). Any invalid domain rejects the whole import with a 422.
    """
    domains, duplicates = _domains(body.domains, _rpz_zone(request))
    target, category = _rule_fields(body.action, body.redirect_to, body.category)
    async with Change(request, user, conflict="rules were added meanwhile; retry the import") as change:
        session = change.session
        existing = await _existing(session, domains)
        new = [d for d in domains if d not in existing]
        if new:
            await change.check_rules([RuleSpec(d, body.action, target, category) for d in new])
            await session.execute(
                insert(RpzRule),
                [
                    {
                        "domain": d,
                        "action": body.action,
                        "redirect_to": target,
                        "category": category,
                        "version": 1,
                        "updated_by": user.username,
                    }
                    for d in new
                ],
            )
            parts = _chunks(new, EVENT_CHUNK)
            for i, part in enumerate(parts, 1):
                change.event(
                    EventType.RPZ_UPDATE,
                    _event(
                        "imported",
                        part,
                        body.action,
                        category,
                        redirect_to=target,
                        part=i,
                        parts=len(parts),
                        total=len(new),
                    ),
                )
            change.reload([_rpz_zone(request)], f"{len(new)} rpz rules imported")
        change.audit(
            "rpz.import",
            target=f"{len(new)} domains",
            details={
                "action": body.action,
                "category": category,
                "redirect_to": target,
                "imported": len(new),
                "skipped_existing": len(existing),
                "duplicates": duplicates,
            },
        )
    return {
        "imported": len(new),
        "skipped_existing": len(existing),
        "duplicates": duplicates,
        "received": len(body.domains),
    }


@router.post("/rules/bulk-delete", responses=responses(401, 403, 413, 422))
async def bulk_delete_rules(body: BulkDeleteRequest, request: Request, user: OperatorUser) -> dict[str, Any]:
    """Remove the rules of these domains; one transaction, one event batch. Unknown domains are counted."""
    domains, _ = _domains(body.domains, None)
    async with Change(request, user) as change:
        session = change.session
        rows: list[tuple[str, str, str]] = []
        for chunk in _chunks(domains, QUERY_CHUNK):
            rows.extend(
                (r.domain, r.action, r.category)
                for r in (
                    await session.execute(
                        select(RpzRule.domain, RpzRule.action, RpzRule.category).where(RpzRule.domain.in_(chunk))
                    )
                ).all()
            )
            await session.execute(delete(RpzRule).where(RpzRule.domain.in_(chunk)))
        removed = [d for d, _, _ in rows]
        if removed:
            parts = _chunks(removed, EVENT_CHUNK)
            for i, part in enumerate(parts, 1):
                change.event(
                    EventType.RPZ_UPDATE,
                    _event("removed", part, None, None, part=i, parts=len(parts), total=len(removed)),
                )
            change.audit("rpz.bulk_delete", target=f"{len(removed)} domains", details={"removed": len(removed)})
            change.reload([_rpz_zone(request)], f"{len(removed)} rpz rules removed")
    return {"removed": len(removed), "not_found": len(domains) - len(removed)}
