"""Root fields for document types (C6) and custom field definitions (C7)."""

from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import CheckDigit
from db.models import CustomFieldDefinition as DefinitionRow
from db.models import DocumentType as DocumentTypeRow
from resolvers.uow import mutate_into
from schema.contact_inputs import (
    CreateCustomFieldInput,
    CreateDocumentTypeInput,
    CustomFieldPayload,
    DocumentTypePayload,
    UpdateCustomFieldInput,
    UpdateDocumentTypeInput,
)
from schema.contact_types import CustomFieldDefinition, DocumentType
from schema.ids import require_pk
from schema.types import Info
from services import catalog
from services.common import UNSET
from services.errors import ErrorCode, fail
from services.principal import Principal


def _given(value: object, field: str) -> object:
    if value is strawberry.UNSET:
        return UNSET
    if value is None:
        raise fail(ErrorCode.REQUIRED, "Must not be null", field)
    return value


@strawberry.type
class CatalogQueries:
    @strawberry.field(description="Document types contacts may carry; inactive ones only when asked.")
    async def document_types(self, info: Info, include_inactive: bool = False) -> list[DocumentType]:
        info.context.principal  # noqa: B018  (signed-in users only)
        rows = await catalog.list_document_types(info.context.session, include_inactive=include_inactive)
        return [DocumentType.from_row(r) for r in rows]

    @strawberry.field(description="Custom fields of contacts, in display order.")
    async def custom_field_definitions(self, info: Info, include_inactive: bool = False) -> list[CustomFieldDefinition]:
        info.context.principal  # noqa: B018
        rows = await catalog.list_custom_fields(info.context.session, include_inactive=include_inactive)
        return [CustomFieldDefinition.from_row(r) for r in rows]


@strawberry.type
class CatalogMutations:
    @strawberry.mutation(description="Add a document type (ADMIN).")
    async def create_document_type(self, info: Info, input: CreateDocumentTypeInput) -> DocumentTypePayload:
        async def work(session: AsyncSession, actor: Principal) -> DocumentTypeRow:
            return await catalog.create_document_type(
                session,
                actor,
                code=input.code,
                name=input.name,
                format_regex=input.format_regex,
                check_digit=input.check_digit,
            )

        return await mutate_into(info.context, work, DocumentTypePayload, "document_type", DocumentType.from_row)

    @strawberry.mutation(description="Change a document type; existing numbers are kept (ADMIN).")
    async def update_document_type(
        self, info: Info, id: strawberry.ID, input: UpdateDocumentTypeInput
    ) -> DocumentTypePayload:
        async def work(session: AsyncSession, actor: Principal) -> DocumentTypeRow:
            check = _given(input.check_digit, "checkDigit")
            return await catalog.update_document_type(
                session,
                actor,
                require_pk(id, "DocumentType", "id"),
                name=_given(input.name, "name"),  # type: ignore[arg-type]
                format_regex=_given(input.format_regex, "formatRegex"),  # type: ignore[arg-type]
                check_digit=check if check is UNSET else CheckDigit(check),  # type: ignore[arg-type]
                active=_given(input.active, "active"),  # type: ignore[arg-type]
            )

        return await mutate_into(info.context, work, DocumentTypePayload, "document_type", DocumentType.from_row)

    @strawberry.mutation(description="Add a custom field to contacts (ADMIN).")
    async def create_custom_field(self, info: Info, input: CreateCustomFieldInput) -> CustomFieldPayload:
        async def work(session: AsyncSession, actor: Principal) -> DefinitionRow:
            return await catalog.create_custom_field(
                session,
                actor,
                key=input.key,
                label=input.label,
                field_type=input.type,
                options=input.options,
                required=input.required,
                position=input.position,
            )

        return await mutate_into(info.context, work, CustomFieldPayload, "custom_field", CustomFieldDefinition.from_row)

    @strawberry.mutation(description="Change a custom field's label, options, requirement, order or activity (ADMIN).")
    async def update_custom_field(
        self, info: Info, id: strawberry.ID, input: UpdateCustomFieldInput
    ) -> CustomFieldPayload:
        async def work(session: AsyncSession, actor: Principal) -> DefinitionRow:
            return await catalog.update_custom_field(
                session,
                actor,
                require_pk(id, "CustomFieldDefinition", "id"),
                label=_given(input.label, "label"),  # type: ignore[arg-type]
                options=_given(input.options, "options"),  # type: ignore[arg-type]
                required=_given(input.required, "required"),  # type: ignore[arg-type]
                position=_given(input.position, "position"),  # type: ignore[arg-type]
                active=_given(input.active, "active"),  # type: ignore[arg-type]
            )

        return await mutate_into(info.context, work, CustomFieldPayload, "custom_field", CustomFieldDefinition.from_row)
