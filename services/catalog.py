"""What an admin configures for contacts: document types (C6) and custom field definitions (C7)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import CheckDigit, CustomFieldDefinition, DocumentType, FieldType
from services import audit, validation
from services.audit import AuditAction, ResourceType
from services.common import UNSET, Maybe, clean_name, flush_unique, require_admin, require_storable
from services.errors import DomainError, ErrorCode, Problem, fail, not_found
from services.principal import Principal

_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,15}")
_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")


async def list_document_types(session: AsyncSession, *, include_inactive: bool) -> list[DocumentType]:
    stmt = select(DocumentType).order_by(DocumentType.code)
    if not include_inactive:
        stmt = stmt.where(DocumentType.active.is_(True))
    return list(await session.scalars(stmt))


async def list_custom_fields(session: AsyncSession, *, include_inactive: bool) -> list[CustomFieldDefinition]:
    stmt = select(CustomFieldDefinition).order_by(CustomFieldDefinition.position, CustomFieldDefinition.id)
    if not include_inactive:
        stmt = stmt.where(CustomFieldDefinition.active.is_(True))
    return list(await session.scalars(stmt))


def _regex(pattern: str, field: str) -> str:
    pattern = require_storable(pattern.strip(), field)
    if not pattern or len(pattern) > 200:
        raise fail(ErrorCode.INVALID, "Give a regular expression of at most 200 characters", field)
    validation.check_format_pattern(pattern, field)
    return pattern


async def create_document_type(
    session: AsyncSession, actor: Principal, *, code: str, name: str, format_regex: str, check_digit: CheckDigit
) -> DocumentType:
    require_admin(actor, "manage document types")
    code = code.strip().upper()
    if not _CODE.fullmatch(code):
        raise fail(ErrorCode.INVALID, "Use 1 to 16 capital letters, digits or _ starting with a letter", "code")
    kind = DocumentType(
        code=code,
        name=clean_name(name, "name", max_length=100),
        format_regex=_regex(format_regex, "formatRegex"),
        check_digit=check_digit.value,
        active=True,
    )
    if await session.scalar(select(DocumentType.id).where(DocumentType.code == code)):
        raise fail(ErrorCode.ALREADY_EXISTS, "A document type with this code already exists", "code")
    session.add(kind)
    await flush_unique(session, "A document type with this code already exists", "code")
    await audit.record(
        session,
        actor=actor,
        action=AuditAction.CREATED,
        resource_type=ResourceType.DOCUMENT_TYPE,
        resource_id=kind.id,
        resource_name=kind.code,
        changed=audit.changes({}, _document_snapshot(kind)),
    )
    return kind


def _document_snapshot(kind: DocumentType) -> dict[str, object]:
    return {
        "name": kind.name,
        "formatRegex": kind.format_regex,
        "checkDigit": kind.check_digit,
        "active": kind.active,
    }


async def update_document_type(
    session: AsyncSession,
    actor: Principal,
    type_id: int,
    *,
    name: Maybe[str] = UNSET,
    format_regex: Maybe[str] = UNSET,
    check_digit: Maybe[CheckDigit] = UNSET,
    active: Maybe[bool] = UNSET,
) -> DocumentType:
    """Existing contacts keep their numbers; the new rules apply to numbers entered from now on."""
    require_admin(actor, "manage document types")
    kind = await session.get(DocumentType, type_id)
    if kind is None:
        raise not_found("Document type", "id")
    before = _document_snapshot(kind)
    if name is not UNSET:
        kind.name = clean_name(name, "name", max_length=100)
    if format_regex is not UNSET:
        kind.format_regex = _regex(format_regex, "formatRegex")
    if check_digit is not UNSET:
        kind.check_digit = check_digit.value
    if active is not UNSET:
        kind.active = active
    changed = audit.changes(before, _document_snapshot(kind))
    if changed:
        await session.flush()
        await audit.record(
            session,
            actor=actor,
            action=AuditAction.UPDATED,
            resource_type=ResourceType.DOCUMENT_TYPE,
            resource_id=kind.id,
            resource_name=kind.code,
            changed=changed,
        )
    return kind


def _options(field_type: FieldType, options: Sequence[str], field: str) -> list[str]:
    cleaned = [require_storable(" ".join(o.split()), field) for o in options if o and o.strip()]
    if field_type is FieldType.CHOICE:
        if not cleaned:
            raise fail(ErrorCode.REQUIRED, "A choice field needs at least one option", field)
        if len(set(cleaned)) != len(cleaned):
            raise fail(ErrorCode.INVALID, "Options must be different from each other", field)
    elif cleaned:
        raise fail(ErrorCode.INVALID, "Only choice fields have options", field)
    return cleaned


def _field_snapshot(definition: CustomFieldDefinition) -> dict[str, object]:
    return {
        "label": definition.label,
        "type": definition.type,
        "options": list(definition.options or []),
        "required": definition.required,
        "position": definition.position,
        "active": definition.active,
    }


async def create_custom_field(
    session: AsyncSession,
    actor: Principal,
    *,
    key: str,
    label: str,
    field_type: FieldType,
    options: Sequence[str] = (),
    required: bool = False,
    position: int = 0,
) -> CustomFieldDefinition:
    require_admin(actor, "manage custom fields")
    problems: list[Problem] = []
    key = key.strip()
    if not _KEY.fullmatch(key):
        problems.append(
            Problem(ErrorCode.INVALID, "Use 1 to 64 lower-case letters, digits or _ starting with a letter", "key")
        )
    try:
        label = clean_name(label, "label")
        cleaned = _options(field_type, options, "options")
    except DomainError as error:
        problems.extend(error.problems)
        cleaned = []
    if problems:
        raise DomainError(*problems)
    if await session.scalar(select(CustomFieldDefinition.id).where(CustomFieldDefinition.key == key)):
        raise fail(ErrorCode.ALREADY_EXISTS, "A custom field with this key already exists", "key")
    definition = CustomFieldDefinition(
        key=key,
        label=label,
        type=field_type.value,
        options=cleaned,
        required=required,
        position=position,
        active=True,
    )
    session.add(definition)
    await flush_unique(session, "A custom field with this key already exists", "key")
    await audit.record(
        session,
        actor=actor,
        action=AuditAction.CREATED,
        resource_type=ResourceType.CUSTOM_FIELD,
        resource_id=definition.id,
        resource_name=definition.key,
        changed=audit.changes({}, _field_snapshot(definition)),
    )
    return definition


async def update_custom_field(
    session: AsyncSession,
    actor: Principal,
    definition_id: int,
    *,
    label: Maybe[str] = UNSET,
    options: Maybe[Sequence[str]] = UNSET,
    required: Maybe[bool] = UNSET,
    position: Maybe[int] = UNSET,
    active: Maybe[bool] = UNSET,
) -> CustomFieldDefinition:
    """The key and type are fixed once values exist; a new requirement applies to contacts created from now on."""
    require_admin(actor, "manage custom fields")
    definition = await session.get(CustomFieldDefinition, definition_id)
    if definition is None:
        raise not_found("Custom field", "id")
    before = _field_snapshot(definition)
    if label is not UNSET:
        definition.label = clean_name(label, "label")
    if options is not UNSET:
        definition.options = _options(FieldType(definition.type), options, "options")
    if required is not UNSET:
        definition.required = required
    if position is not UNSET:
        definition.position = position
    if active is not UNSET:
        definition.active = active
    changed = audit.changes(before, _field_snapshot(definition))
    if changed:
        await session.flush()
        await audit.record(
            session,
            actor=actor,
            action=AuditAction.UPDATED,
            resource_type=ResourceType.CUSTOM_FIELD,
            resource_id=definition.id,
            resource_name=definition.key,
            changed=changed,
        )
    return definition
