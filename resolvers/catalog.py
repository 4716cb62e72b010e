"""Root fields for document types (C6) and custom field definitions (C7)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import CheckDigit
from db.models import CustomFieldDefinition as DefinitionRow
from db.models import DocumentType as DocumentTypeRow
from resolvers.given import given
from resolvers.uow import mutate_into
from schema import docs
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
from services.principal import Principal


@strawberry.type
class CatalogQueries:
    @strawberry.field(description="Document types contacts may carry; inactive ones only when asked.")
    async def document_types(
        self,
        info: Info,
        include_inactive: Annotated[bool, strawberry.argument(description=docs.INCLUDE_INACTIVE)] = False,
    ) -> list[DocumentType] | None:
        info.context.principal  # noqa: B018  (signed-in users only)
        rows = await catalog.list_document_types(info.context.session, include_inactive=include_inactive)
        return [DocumentType.from_row(r) for r in rows]

    @strawberry.field(description="Custom fields of contacts, in display order.")
    async def custom_field_definitions(
        self,
        info: Info,
        include_inactive: Annotated[bool, strawberry.argument(description=docs.INCLUDE_INACTIVE)] = False,
    ) -> list[CustomFieldDefinition] | None:
        info.context.principal  # noqa: B018
        rows = await catalog.list_custom_fields(info.context.session, include_inactive=include_inactive)
        return [CustomFieldDefinition.from_row(r) for r in rows]


@strawberry.type
class CatalogMutations:
    @strawberry.mutation(description="Add a document type (ADMIN).")
    async def create_document_type(
        self, info: Info, input: Annotated[CreateDocumentTypeInput, strawberry.argument(description=docs.INPUT)]
    ) -> DocumentTypePayload:
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
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The document type to change.")],
        input: Annotated[UpdateDocumentTypeInput, strawberry.argument(description=docs.INPUT)],
    ) -> DocumentTypePayload:
        async def work(session: AsyncSession, actor: Principal) -> DocumentTypeRow:
            check = given(input.check_digit, "checkDigit")
            return await catalog.update_document_type(
                session,
                actor,
                require_pk(id, "DocumentType", "id"),
                name=given(input.name, "name"),
                format_regex=given(input.format_regex, "formatRegex"),
                check_digit=check if check is UNSET else CheckDigit(check),
                active=given(input.active, "active"),
            )

        return await mutate_into(info.context, work, DocumentTypePayload, "document_type", DocumentType.from_row)

    @strawberry.mutation(description="Add a custom field to contacts (ADMIN).")
    async def create_custom_field(
        self, info: Info, input: Annotated[CreateCustomFieldInput, strawberry.argument(description=docs.INPUT)]
    ) -> CustomFieldPayload:
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
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The definition to change.")],
        input: Annotated[UpdateCustomFieldInput, strawberry.argument(description=docs.INPUT)],
    ) -> CustomFieldPayload:
        async def work(session: AsyncSession, actor: Principal) -> DefinitionRow:
            return await catalog.update_custom_field(
                session,
                actor,
                require_pk(id, "CustomFieldDefinition", "id"),
                label=given(input.label, "label"),
                options=given(input.options, "options"),
                required=given(input.required, "required"),
                position=given(input.position, "position"),
                active=given(input.active, "active"),
            )

        return await mutate_into(info.context, work, CustomFieldPayload, "custom_field", CustomFieldDefinition.from_row)
