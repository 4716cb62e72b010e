"""Campaign typologies and their result catalogues (G1): read by everyone, managed by admins.

A typology says what a gestión's plan holds (fields defined the way custom fields are, and
validated by the same rule, services.validation.validate_custom_fields) and which results
an operator may give it (G5). Results are never deleted, since gestiones point at them:
they are deactivated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import FieldType, Typology, TypologyResult
from services import audit, validation
from services.audit import AuditAction, ResourceType
from services.common import UNSET, Maybe, clean_name, flush_unique, require_admin, require_storable
from services.errors import ErrorCode, fail, not_found
from services.principal import Principal

_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,31}")
_KEY = re.compile(r"[a-zA-Z][a-zA-Z0-9_]{0,63}")
MAX_PLAN_FIELDS = 30


@dataclass(frozen=True)
class PlanField:
    """One field of a typology's plan; the shape services.validation.Definition asks for."""

    key: str
    label: str
    type: str
    options: Sequence[str] = ()
    required: bool = False
    active: bool = True

    def stored(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "type": self.type,
            "options": list(self.options),
            "required": self.required,
        }


@dataclass(frozen=True)
class PlanFieldData:
    key: str
    label: str
    type: FieldType
    options: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True)
class ResultData:
    code: str
    label: str
    finishes: bool = True
    requires_comment: bool = False
    position: int | None = None


@dataclass(frozen=True)
class ResultChanges:
    label: Maybe[str] = UNSET
    finishes: Maybe[bool] = UNSET
    requires_comment: Maybe[bool] = UNSET
    position: Maybe[int] = UNSET
    active: Maybe[bool] = UNSET


@dataclass(frozen=True)
class TypologyChanges:
    name: Maybe[str] = UNSET
    plan_fields: Maybe[Sequence[PlanFieldData]] = UNSET
    active: Maybe[bool] = UNSET


def plan_fields(typology: Typology) -> list[PlanField]:
    return [
        PlanField(
            key=f["key"],
            label=f["label"],
            type=f["type"],
            options=tuple(f.get("options") or ()),
            required=bool(f.get("required")),
        )
        for f in typology.plan_fields or []
    ]


def validate_plan(typology: Typology, plan: object, *, field: str = "plan", partial: bool = False) -> dict[str, Any]:
    """The plan cleaned by its typology's fields; every problem raised together (G2).

    Unknown keys are refused; a required field must be given unless `partial` (an edit)."""
    if not isinstance(plan, Mapping):
        raise fail(ErrorCode.INVALID, "Must be an object of plan fields", field)
    cleaned = validation.validate_custom_fields(
        plan, plan_fields(typology), require_all=not partial, field=field, noun="plan field"
    )
    return {key: value for key, value in cleaned.items() if value is not None}


def _code(value: str, field: str) -> str:
    code = value.strip().upper()
    if not _CODE.fullmatch(code):
        raise fail(ErrorCode.INVALID, "Use 1-32 capital letters, digits or _, starting with a letter", field)
    return code


def _fields(data: Sequence[PlanFieldData], field: str) -> list[dict[str, Any]]:
    if len(data) > MAX_PLAN_FIELDS:
        raise fail(ErrorCode.LIMIT_EXCEEDED, f"At most {MAX_PLAN_FIELDS} plan fields", field)
    seen: set[str] = set()
    stored = []
    for i, item in enumerate(data):
        path = f"{field}.{i}"
        if not _KEY.fullmatch(item.key):
            raise fail(ErrorCode.INVALID, "Keys are letters, digits or _, starting with a letter", f"{path}.key")
        if item.key in seen:
            raise fail(ErrorCode.ALREADY_EXISTS, f"The key {item.key} is used twice", f"{path}.key")
        seen.add(item.key)
        options = [clean_name(o, f"{path}.options", max_length=100) for o in item.options]
        if item.type is FieldType.CHOICE and not options:
            raise fail(ErrorCode.REQUIRED, "A choice needs its options", f"{path}.options")
        if item.type is not FieldType.CHOICE and options:
            raise fail(ErrorCode.INVALID, "Only a choice has options", f"{path}.options")
        label = clean_name(item.label, f"{path}.label")
        stored.append(PlanField(item.key, label, item.type.value, tuple(options), item.required).stored())
    return stored


async def list_typologies(session: AsyncSession, *, include_inactive: bool) -> list[Typology]:
    stmt = select(Typology).order_by(Typology.search_name, Typology.id)
    if not include_inactive:
        stmt = stmt.where(Typology.active.is_(True))
    return list(await session.scalars(stmt))


async def get(session: AsyncSession, typology_id: int, field: str = "id", *, lock: bool = False) -> Typology:
    stmt = select(Typology).where(Typology.id == typology_id)
    if lock:
        stmt = stmt.with_for_update()
    typology = (await session.execute(stmt)).scalar_one_or_none()
    if typology is None:
        raise not_found("Typology", field)
    return typology


async def results_of(session: AsyncSession, typology_id: int, *, active_only: bool = True) -> list[TypologyResult]:
    stmt = (
        select(TypologyResult)
        .where(TypologyResult.typology_id == typology_id)
        .order_by(TypologyResult.position, TypologyResult.id)
    )
    if active_only:
        stmt = stmt.where(TypologyResult.active.is_(True))
    return list(await session.scalars(stmt))


async def result_by_code(session: AsyncSession, typology_id: int, code: str, field: str) -> TypologyResult:
    """An active result of this typology's catalogue, else a typed error naming the field (G5)."""
    code = require_storable(code.strip().upper(), field)
    result = (
        await session.execute(
            select(TypologyResult).where(
                TypologyResult.typology_id == typology_id,
                TypologyResult.code == code,
                TypologyResult.active.is_(True),
            )
        )
    ).scalar_one_or_none()
    if result is None:
        raise fail(ErrorCode.INVALID, "Not a result of this campaign's typology", field)
    return result


def _snapshot(typology: Typology) -> dict[str, Any]:
    return {"name": typology.name, "planFields": typology.plan_fields, "active": typology.active}


def _result_snapshot(result: TypologyResult) -> dict[str, Any]:
    return {
        "code": result.code,
        "label": result.label,
        "finishes": result.finishes,
        "requiresComment": result.requires_comment,
        "position": result.position,
        "active": result.active,
    }


async def _record(
    session: AsyncSession, actor: Principal, typology: Typology, action: AuditAction, changed: dict[str, Any]
) -> None:
    await audit.record(
        session,
        actor=actor,
        action=action,
        resource_type=ResourceType.TYPOLOGY,
        resource_id=typology.id,
        resource_name=typology.name,
        changed=changed,
    )


async def create_typology(
    session: AsyncSession, actor: Principal, *, code: str, name: str, fields: Sequence[PlanFieldData]
) -> Typology:
    require_admin(actor, "manage typologies")
    typology = Typology(
        code=_code(code, "code"), name=clean_name(name, "name"), plan_fields=_fields(fields, "planFields"), active=True
    )
    session.add(typology)
    await flush_unique(session, "A typology with this code exists", "code")
    await _record(session, actor, typology, AuditAction.CREATED, audit.changes({}, _snapshot(typology)))
    return typology


async def update_typology(
    session: AsyncSession, actor: Principal, typology_id: int, changes: TypologyChanges
) -> Typology:
    """Rename, redefine the plan (new gestiones are checked against it; existing ones keep theirs),
    or (de)activate: an inactive typology takes no new campaigns."""
    require_admin(actor, "manage typologies")
    typology = await get(session, typology_id, lock=True)
    before = _snapshot(typology)
    if changes.name is not UNSET:
        typology.name = clean_name(changes.name, "name")
    if changes.plan_fields is not UNSET:
        typology.plan_fields = _fields(changes.plan_fields, "planFields")
    if changes.active is not UNSET:
        typology.active = changes.active
    changed = audit.changes(before, _snapshot(typology))
    if changed:
        await session.flush()
        await _record(session, actor, typology, AuditAction.UPDATED, changed)
    return typology


async def create_result(session: AsyncSession, actor: Principal, typology_id: int, data: ResultData) -> TypologyResult:
    require_admin(actor, "manage typologies")
    typology = await get(session, typology_id, "typologyId", lock=True)
    before = await _results(session, typology.id)
    position = data.position
    if position is None:
        position = max((r["position"] for r in before), default=-1) + 1
    result = TypologyResult(
        typology_id=typology.id,
        code=_code(data.code, "code"),
        label=clean_name(data.label, "label"),
        finishes=data.finishes,
        requires_comment=data.requires_comment,
        position=position,
        active=True,
    )
    session.add(result)
    await flush_unique(session, "This typology already has a result with this code", "code")
    await _record_results(session, actor, typology, before)
    return result


async def update_result(
    session: AsyncSession, actor: Principal, result_id: int, changes: ResultChanges
) -> TypologyResult:
    """Change a result; a deactivated one is no longer offered, and gestiones keep it if they have it."""
    require_admin(actor, "manage typologies")
    result = (
        await session.execute(select(TypologyResult).where(TypologyResult.id == result_id).with_for_update())
    ).scalar_one_or_none()
    if result is None:
        raise not_found("Typology result", "id")
    before = await _results(session, result.typology_id)
    if changes.label is not UNSET:
        result.label = clean_name(changes.label, "label")
    if changes.finishes is not UNSET:
        result.finishes = changes.finishes
    if changes.requires_comment is not UNSET:
        result.requires_comment = changes.requires_comment
    if changes.position is not UNSET:
        result.position = changes.position
    if changes.active is not UNSET:
        result.active = changes.active
    await session.flush()
    await _record_results(session, actor, result.typology_id, before)
    return result


async def _results(session: AsyncSession, typology_id: int) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(TypologyResult)
        .where(TypologyResult.typology_id == typology_id)
        .order_by(TypologyResult.position, TypologyResult.id)
    )
    return [_result_snapshot(row) for row in rows]


async def _record_results(
    session: AsyncSession, actor: Principal, typology: Typology | int, before: list[dict[str, Any]]
) -> None:
    """Audit a change to a typology's results: the whole list before and after, when it differs.

    A typology given by id is read only then."""
    typology_id = typology if isinstance(typology, int) else typology.id
    after = await _results(session, typology_id)
    if before != after:
        if isinstance(typology, int):
            typology = await get(session, typology)
        await _record(session, actor, typology, AuditAction.UPDATED, {"results": {"before": before, "after": after}})
