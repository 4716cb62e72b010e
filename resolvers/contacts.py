"""Root fields for contacts, their channels and addresses, and companies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from db import keyset
from db.keyset import PageRequest
from db.models import Company as CompanyRow
from db.models import Contact as ContactRow
from resolvers.given import given, given_or_null
from resolvers.uow import mutate, mutate_into
from schema import docs
from schema.connection import Connection, connection
from schema.contact_inputs import (
    AddressInput,
    ChannelInput,
    CompanyInput,
    CompanyPayload,
    ContactFilter,
    ContactOrder,
    ContactPayload,
    ContactResult,
    CreateContactInput,
    CreateContactsPayload,
    CustomFieldValueInput,
    DocumentInput,
    UpdateAddressInput,
    UpdateCompanyInput,
    UpdateContactInput,
)
from schema.contact_types import Company, Contact
from schema.errors import UserError
from schema.ids import optional_pk, require_pk
from schema.types import CursorArg, Info, PageArg
from services import companies, contact_details, contacts
from services.common import UNSET
from services.companies import CompanyData
from services.contact_details import AddressChanges
from services.contacts import AddressData, ChannelData, ContactChanges, ContactData, DocumentData
from services.errors import DomainError, ErrorCode, fail
from services.principal import Principal


def _custom(values: list[CustomFieldValueInput]) -> dict[str, object]:
    """By key, in the client's order (problems name the items by position), so each key once."""
    custom: dict[str, object] = {}
    for i, value in enumerate(values):
        if value.key in custom:
            raise fail(ErrorCode.ALREADY_EXISTS, f"The key {value.key} is given twice", f"customFields.{i}.key")
        custom[value.key] = value.value
    return custom


def _address(a: AddressInput) -> AddressData:
    return AddressData(
        street=a.street,
        city=a.city,
        country=a.country,
        label=a.label,
        number=a.number,
        unit=a.unit,
        region=a.region,
        postal_code=a.postal_code,
        is_primary=a.is_primary,
    )


def _address_changes(a: UpdateAddressInput) -> AddressChanges:
    return AddressChanges(
        street=given(a.street, "street"),
        city=given(a.city, "city"),
        country=given(a.country, "country"),
        label=given_or_null(a.label),
        number=given_or_null(a.number),
        unit=given_or_null(a.unit),
        region=given_or_null(a.region),
        postal_code=given_or_null(a.postal_code),
        is_primary=given(a.is_primary, "isPrimary"),
    )


def _company(c: CompanyInput) -> CompanyData:
    return CompanyData(
        name=c.name, tax_id=c.tax_id, industry=c.industry, website=c.website, address=c.address, phone=c.phone
    )


def _document(d: DocumentInput | None, field: str) -> DocumentData | None:
    if d is None:
        return None
    return DocumentData(type_id=require_pk(d.type_id, "DocumentType", f"{field}.typeId"), number=d.number)


def contact_data(item: CreateContactInput) -> ContactData:
    return ContactData(
        first_names=item.first_names,
        last_names=item.last_names,
        team_id=require_pk(item.team_id, "Team", "teamId"),
        is_vip=item.is_vip,
        document=_document(item.document, "document"),
        company_id=optional_pk(item.company_id, "Company", "companyId"),
        new_company=_company(item.company) if item.company else None,
        channels=tuple(ChannelData(kind=c.kind, value=c.value) for c in item.channels),
        addresses=tuple(_address(a) for a in item.addresses),
        custom_fields=_custom(item.custom_fields),
    )


async def _contact_mutation(
    info: Info, work: Callable[[AsyncSession, Principal], Awaitable[ContactRow]]
) -> ContactPayload:
    return await mutate_into(info.context, work, ContactPayload, "contact", Contact.from_row)


@strawberry.type
class ContactQueries:
    @strawberry.field(description="Contacts you can see; with `filter.search`, by relevance then name (C5).")
    async def contacts(
        self,
        info: Info,
        filter: Annotated[ContactFilter | None, strawberry.argument(description=docs.FILTER)] = None,
        order_by: Annotated[ContactOrder | None, strawberry.argument(description=docs.ORDER_BY)] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[Contact] | None:
        ctx = info.context
        # No orderBy: by relevance with a search, else by name (the service decides).
        order, descending = order_by.to_service() if order_by else (None, False)
        page, stmt = await contacts.list_contacts(
            ctx.session,
            ctx.principal,
            (filter or ContactFilter()).to_service(),
            PageRequest(first=first, after=after, last=last, before=before),
            order=order,
            descending=descending,
            max_page_size=ctx.settings.max_page_size,
        )
        session = ctx.session
        return connection(page, Contact.from_row, lambda: keyset.count(session, stmt))

    @strawberry.field(description="Companies by name; `search` matches any part of the name.")
    async def companies(
        self,
        info: Info,
        search: Annotated[
            str | None, strawberry.argument(description="Part of the company's name; omitted: all companies.")
        ] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[Company] | None:
        ctx = info.context
        ctx.principal  # noqa: B018  (signed-in users only)
        page, stmt = await companies.list_companies(
            ctx.session,
            search,
            PageRequest(first=first, after=after, last=last, before=before),
            max_page_size=ctx.settings.max_page_size,
        )
        session = ctx.session
        return connection(page, Company.from_row, lambda: keyset.count(session, stmt))


@strawberry.type
class ContactMutations:
    @strawberry.mutation(description="Create a contact, with a company picked by id or created inline (C3).")
    async def create_contact(
        self, info: Info, input: Annotated[CreateContactInput, strawberry.argument(description=docs.INPUT)]
    ) -> ContactPayload:
        region = info.context.settings.default_region

        async def work(session: AsyncSession, actor: Principal) -> ContactRow:
            return await contacts.create_contact(session, actor, contact_data(input), default_region=region)

        return await _contact_mutation(info, work)

    @strawberry.mutation(description="Create many contacts; each item is created or rejected on its own (X2).")
    async def create_contacts(
        self,
        info: Info,
        input: Annotated[
            list[CreateContactInput],
            strawberry.argument(
                description="The contacts to create; at most the server's bulk limit per call (LIMIT_EXCEEDED)."
            ),
        ],
    ) -> CreateContactsPayload:
        ctx = info.context
        settings = ctx.settings
        parse_errors: dict[int, list[UserError]] = {}

        async def work(session: AsyncSession, actor: Principal) -> tuple[contacts.BulkOutcome, ...]:
            items: list[ContactData] = []
            positions: list[int] = []
            for index, item in enumerate(input):
                try:
                    items.append(contact_data(item))
                    positions.append(index)
                except DomainError as error:
                    parse_errors[index] = [UserError.from_problem(p, at=(index,)) for p in error.problems]
            outcomes = await contacts.create_contacts(
                session,
                actor,
                items,
                default_region=settings.default_region,
                limit=settings.max_bulk_contacts,
                rejected_before=len(parse_errors),
            )
            return tuple(contacts.BulkOutcome(positions[o.index], o.contact_id, o.problems) for o in outcomes)

        outcomes = await mutate(ctx, work)
        if isinstance(outcomes, list):
            return CreateContactsPayload(user_errors=outcomes)
        loaded = await ctx.loaders.contact_by_id.load_many([o.contact_id for o in outcomes if o.contact_id])
        by_id = {row.id: row for row in loaded if row is not None}
        results = [
            ContactResult(index=index, contact=None, user_errors=errors) for index, errors in parse_errors.items()
        ]
        for o in outcomes:
            row = by_id.get(o.contact_id) if o.contact_id else None
            results.append(
                ContactResult(
                    index=o.index,
                    contact=Contact.from_row(row) if row else None,
                    user_errors=[UserError.from_problem(p, at=(o.index,)) for p in o.problems],
                )
            )
        results.sort(key=lambda r: r.index)
        created = sum(1 for r in results if r.contact is not None)
        return CreateContactsPayload(created_count=created, rejected_count=len(results) - created, results=results)

    @strawberry.mutation(
        description="Change the given fields of a contact; a company picked by id or created inline (C3)."
    )
    async def update_contact(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The contact to change.")],
        input: Annotated[UpdateContactInput, strawberry.argument(description=docs.INPUT)],
    ) -> ContactPayload:
        region = info.context.settings.default_region

        async def work(session: AsyncSession, actor: Principal) -> ContactRow:
            company = given(input.company, "company")
            changes = ContactChanges(
                first_names=given(input.first_names, "firstNames"),
                last_names=given(input.last_names, "lastNames"),
                is_vip=given(input.is_vip, "isVip"),
                document=UNSET if input.document is strawberry.UNSET else _document(input.document, "document"),
                company_id=(
                    UNSET
                    if input.company_id is strawberry.UNSET
                    else optional_pk(input.company_id, "Company", "companyId")
                ),
                new_company=UNSET if company is UNSET else _company(company),
                team_id=(
                    UNSET
                    if input.team_id is strawberry.UNSET
                    else require_pk(str(given(input.team_id, "teamId")), "Team", "teamId")
                ),
                custom_fields=(
                    UNSET
                    if input.custom_fields is strawberry.UNSET
                    else _custom(given(input.custom_fields, "customFields"))  # type: ignore[arg-type]
                ),
            )
            return await contacts.update_contact(
                session, actor, require_pk(id, "Contact", "id"), changes, default_region=region
            )

        return await _contact_mutation(info, work)

    @strawberry.mutation(description="Mark or unmark a contact as VIP.")
    async def set_contact_vip(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The contact to flag or unflag.")],
        vip: Annotated[bool, strawberry.argument(description="true to flag it VIP, false to clear the flag.")],
    ) -> ContactPayload:
        region = info.context.settings.default_region

        async def work(session: AsyncSession, actor: Principal) -> ContactRow:
            return await contacts.set_vip(
                session, actor, require_pk(id, "Contact", "id"), vip=vip, default_region=region
            )

        return await _contact_mutation(info, work)

    @strawberry.mutation(description="Hide a contact from lists; it and its history are kept.")
    async def archive_contact(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The contact to archive.")]
    ) -> ContactPayload:
        async def work(session: AsyncSession, actor: Principal) -> ContactRow:
            return await contacts.archive_contact(session, actor, require_pk(id, "Contact", "id"))

        return await _contact_mutation(info, work)

    @strawberry.mutation(
        description=(
            "Add a channel to a contact (C1): a phone is normalised to E.164, an email validated (INVALID); CONFLICT "
            "when archived."
        )
    )
    async def add_contact_channel(
        self,
        info: Info,
        contact_id: Annotated[strawberry.ID, strawberry.argument(description="The contact to add the channel to.")],
        input: Annotated[ChannelInput, strawberry.argument(description="The channel.")],
    ) -> ContactPayload:
        region = info.context.settings.default_region

        async def work(session: AsyncSession, actor: Principal) -> ContactRow:
            pk = require_pk(contact_id, "Contact", "contactId")
            await contact_details.add_channel(
                session, actor, pk, kind=input.kind, value=input.value, default_region=region
            )
            return await contacts.get_visible(session, actor, pk)

        return await _contact_mutation(info, work)

    @strawberry.mutation(description="Remove one of a contact's channels.")
    async def remove_contact_channel(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The ContactChannel to remove.")]
    ) -> ContactPayload:
        async def work(session: AsyncSession, actor: Principal) -> ContactRow:
            return await contact_details.remove_channel(session, actor, require_pk(id, "ContactChannel", "id"))

        return await _contact_mutation(info, work)

    @strawberry.mutation(description="Add an address; the first one becomes primary.")
    async def add_contact_address(
        self,
        info: Info,
        contact_id: Annotated[strawberry.ID, strawberry.argument(description="The contact to add the address to.")],
        input: Annotated[AddressInput, strawberry.argument(description="The address.")],
    ) -> ContactPayload:
        async def work(session: AsyncSession, actor: Principal) -> ContactRow:
            pk = require_pk(contact_id, "Contact", "contactId")
            await contact_details.add_address(session, actor, pk, _address(input))
            return await contacts.get_visible(session, actor, pk)

        return await _contact_mutation(info, work)

    @strawberry.mutation(description="Change the given fields of an address, and whether it is the primary one.")
    async def update_contact_address(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The ContactAddress to change.")],
        input: Annotated[UpdateAddressInput, strawberry.argument(description=docs.INPUT)],
    ) -> ContactPayload:
        async def work(session: AsyncSession, actor: Principal) -> ContactRow:
            address = await contact_details.update_address(
                session, actor, require_pk(id, "ContactAddress", "id"), _address_changes(input)
            )
            return await contacts.get_visible(session, actor, address.contact_id)

        return await _contact_mutation(info, work)

    @strawberry.mutation(description="Remove an address; if it was primary, the oldest remaining one becomes primary.")
    async def remove_contact_address(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The ContactAddress to remove.")]
    ) -> ContactPayload:
        async def work(session: AsyncSession, actor: Principal) -> ContactRow:
            return await contact_details.remove_address(session, actor, require_pk(id, "ContactAddress", "id"))

        return await _contact_mutation(info, work)

    @strawberry.mutation(description="Make an address the contact's primary one; the previous primary stops being it.")
    async def set_primary_contact_address(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The ContactAddress to make primary.")],
    ) -> ContactPayload:
        async def work(session: AsyncSession, actor: Principal) -> ContactRow:
            address = await contact_details.set_primary_address(session, actor, require_pk(id, "ContactAddress", "id"))
            return await contacts.get_visible(session, actor, address.contact_id)

        return await _contact_mutation(info, work)

    @strawberry.mutation(description="Create a company (any role); INVALID for a bad website or phone.")
    async def create_company(
        self, info: Info, input: Annotated[CompanyInput, strawberry.argument(description=docs.INPUT)]
    ) -> CompanyPayload:
        region = info.context.settings.default_region

        async def work(session: AsyncSession, actor: Principal) -> CompanyRow:
            return await companies.create_company(session, actor, _company(input), default_region=region, prefix="")

        return await mutate_into(info.context, work, CompanyPayload, "company", Company.from_row)

    @strawberry.mutation(description="Change the given fields of a company (ADMIN, SUPERVISOR).")
    async def update_company(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The company to change.")],
        input: Annotated[UpdateCompanyInput, strawberry.argument(description=docs.INPUT)],
    ) -> CompanyPayload:
        region = info.context.settings.default_region

        async def work(session: AsyncSession, actor: Principal) -> CompanyRow:
            if input.name is None:
                raise fail(ErrorCode.REQUIRED, "Must not be null", "name")
            return await companies.update_company(
                session,
                actor,
                require_pk(id, "Company", "id"),
                name=UNSET if input.name is strawberry.UNSET else input.name,
                tax_id=UNSET if input.tax_id is strawberry.UNSET else input.tax_id,
                industry=UNSET if input.industry is strawberry.UNSET else input.industry,
                website=UNSET if input.website is strawberry.UNSET else input.website,
                address=UNSET if input.address is strawberry.UNSET else input.address,
                phone=UNSET if input.phone is strawberry.UNSET else input.phone,
                default_region=region,
            )

        return await mutate_into(info.context, work, CompanyPayload, "company", Company.from_row)
