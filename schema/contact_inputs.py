"""Inputs and payloads of contacts, companies, document types and custom fields."""

import enum

import strawberry
from strawberry.scalars import JSON

from db.models import ChannelKind, CheckDigit, FieldType
from schema import docs
from schema.contact_types import Company, Contact, CustomFieldDefinition, DocumentType
from schema.enums import OrderDirection
from schema.errors import UserError
from schema.ids import pks
from services import contacts


class ContactOrderField(enum.Enum):
    NAME = "NAME"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    RELEVANCE = "RELEVANCE"


docs.enum(
    ContactOrderField,
    name="ContactOrderField",
    description="What the contacts list sorts by.",
    values={
        "NAME": "Full name, case- and accent-insensitive.",
        "CREATED_AT": "When the contact was created.",
        "UPDATED_AT": "When the contact last changed.",
        "RELEVANCE": "With a search: exact matches first, then by name (without one: by name).",
    },
)


@strawberry.input(description="Sort order of the contacts list; omitted: RELEVANCE with a search, else by name.")
class ContactOrder:
    field: ContactOrderField = strawberry.field(default=ContactOrderField.NAME, description=docs.ORDER_FIELD)
    direction: OrderDirection = strawberry.field(default=OrderDirection.ASC, description=docs.ORDER_DIRECTION)

    def to_service(self) -> tuple[contacts.ContactOrder, bool]:
        return contacts.ContactOrder(self.field.value), self.direction is OrderDirection.DESC


@strawberry.input(description="A custom field that must hold exactly this value.")
class CustomFieldMatch:
    key: str = strawberry.field(description="The custom field's key.")
    value: str = strawberry.field(
        description='The value, written as the field\'s type reads it (e.g. "true", "2026-01-31").'
    )


@strawberry.input(description="Narrow the contacts list; all given conditions must hold.")
class ContactFilter:
    search: str | None = strawberry.field(
        default=None,
        description="Names, document, company or any channel; accents, case and phone punctuation ignored.",
    )
    team_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Owned by any of these teams.")
    is_vip: bool | None = strawberry.field(
        default=None, description="Only VIP (true) or only non-VIP (false) contacts."
    )
    company_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Working at any of these companies."
    )
    channel_kinds: list[ChannelKind] | None = strawberry.field(
        default=None, description="Has a channel of any of these kinds."
    )
    document_number: str | None = strawberry.field(
        default=None, description="Exactly this document number (normalised as the type stores it)."
    )
    custom_field: CustomFieldMatch | None = strawberry.field(
        default=None, description="Holding this custom field value."
    )
    archived: bool = strawberry.field(default=False, description="true lists only archived contacts.")
    portfolio_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="In any of these portfolios."
    )
    in_portfolio: bool | None = strawberry.field(default=None, description="true: in some portfolio; false: in none.")

    def to_service(self) -> contacts.ContactFilter:
        return contacts.ContactFilter(
            search=self.search,
            team_ids=pks(self.team_ids, "Team", "filter.teamIds"),
            vip=self.is_vip,
            company_ids=pks(self.company_ids, "Company", "filter.companyIds"),
            channel_kinds=tuple(self.channel_kinds or ()),
            document_number=self.document_number,
            custom_field=(self.custom_field.key, self.custom_field.value) if self.custom_field else None,
            archived=self.archived,
            portfolio_ids=pks(self.portfolio_ids, "Portfolio", "filter.portfolioIds"),
            in_portfolio=self.in_portfolio,
        )


@strawberry.input(description="A channel to reach a contact.")
class ChannelInput:
    kind: ChannelKind = strawberry.field(description="The kind of channel.")
    value: str = strawberry.field(
        description="Phone numbers are normalised to E.164 and emails validated (INVALID otherwise)."
    )


@strawberry.input(description="A new postal address for a contact.")
class AddressInput:
    street: str = strawberry.field(description="Street name (REQUIRED).")
    city: str = strawberry.field(description="City (REQUIRED).")
    country: str = strawberry.field(description="ISO 3166 alpha-2, e.g. AR.")
    label: str | None = strawberry.field(default=None, description='Free label, e.g. "Home".')
    number: str | None = strawberry.field(default=None, description="Street number.")
    unit: str | None = strawberry.field(default=None, description="Flat, floor or unit.")
    region: str | None = strawberry.field(default=None, description="Province, state or region.")
    postal_code: str | None = strawberry.field(default=None, description="Postal code.")
    is_primary: bool = strawberry.field(
        default=False, description="Make it the primary address (the previous primary stops being one)."
    )


@strawberry.input(
    description="Only the fields you give change; null clears label, number, unit, region and postalCode."
)
class UpdateAddressInput:
    street: str | None = strawberry.field(default=strawberry.UNSET, description="New street name.")
    city: str | None = strawberry.field(default=strawberry.UNSET, description="New city.")
    country: str | None = strawberry.field(default=strawberry.UNSET, description="ISO 3166 alpha-2, e.g. AR.")
    label: str | None = strawberry.field(default=strawberry.UNSET, description="New label; null clears it.")
    number: str | None = strawberry.field(default=strawberry.UNSET, description="New street number; null clears it.")
    unit: str | None = strawberry.field(
        default=strawberry.UNSET, description="New flat, floor or unit; null clears it."
    )
    region: str | None = strawberry.field(default=strawberry.UNSET, description="New region; null clears it.")
    postal_code: str | None = strawberry.field(default=strawberry.UNSET, description="New postal code; null clears it.")
    is_primary: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "true makes it the contact's primary address (the others lose it); false on the primary one "
            "makes the oldest other address primary, as removing it would (INVALID on the only address)."
        ),
    )


@strawberry.input(description="An identity document (C1).")
class DocumentInput:
    type_id: strawberry.ID = strawberry.field(
        description="The document type (NOT_FOUND, or INACTIVE when deactivated)."
    )
    number: str = strawberry.field(description="Must match the type's format and check digit (INVALID).")


@strawberry.input(description="A new company, created inline with a contact (C3).")
class CompanyInput:
    name: str = strawberry.field(description="Company name (REQUIRED).")
    tax_id: str | None = strawberry.field(default=None, description="Tax number.")
    industry: str | None = strawberry.field(default=None, description="Line of business.")
    website: str | None = strawberry.field(default=None, description="Web address.")
    address: str | None = strawberry.field(default=None, description="Postal address, one line.")
    phone: str | None = strawberry.field(default=None, description="Phone number, normalised to E.164.")


@strawberry.input(description="A value for one of the account's custom fields (C7).")
class CustomFieldValueInput:
    key: str = strawberry.field(description="The field's key (NOT_FOUND for an unknown one).")
    value: JSON | None = strawberry.field(description="null clears the field.")


@strawberry.input(description="A new contact (C3); the owning team must be one you see.")
class CreateContactInput:
    first_names: str = strawberry.field(description="First names (REQUIRED).")
    last_names: str = strawberry.field(description="Last names (REQUIRED).")
    team_id: strawberry.ID = strawberry.field(description="The owning team: decides who sees the contact (R3).")
    is_vip: bool = strawberry.field(default=False, description="Flag the contact VIP.")
    document: DocumentInput | None = strawberry.field(default=None, description="Identity document; omitted for none.")
    company_id: strawberry.ID | None = strawberry.field(default=None, description="An existing company…")
    company: CompanyInput | None = strawberry.field(
        default=None, description="…or a new one, created with the contact."
    )
    channels: list[ChannelInput] = strawberry.field(
        default_factory=list, description="Ways to reach the contact, in order."
    )
    addresses: list[AddressInput] = strawberry.field(
        default_factory=list, description="Postal addresses; at most one primary."
    )
    custom_fields: list[CustomFieldValueInput] = strawberry.field(
        default_factory=list, description="Custom field values; every required field must have one (REQUIRED)."
    )


@strawberry.input(description="Only the fields you give change; null clears document and companyId.")
class UpdateContactInput:
    first_names: str | None = strawberry.field(default=strawberry.UNSET, description="New first names.")
    last_names: str | None = strawberry.field(default=strawberry.UNSET, description="New last names.")
    is_vip: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="Set or clear the VIP flag (agents who see the contact get the change live).",
    )
    document: DocumentInput | None = strawberry.field(
        default=strawberry.UNSET, description="New document; null removes it."
    )
    company_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="An existing company…")
    company: CompanyInput | None = strawberry.field(
        default=strawberry.UNSET, description="…or a new one, created with the edit (C3)."
    )
    team_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="Move the contact to another team you see."
    )
    custom_fields: list[CustomFieldValueInput] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Values to set, merged into the current ones; a null value clears that field.",
    )


@strawberry.input(description="Only the fields you give change.")
class UpdateCompanyInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    tax_id: str | None = strawberry.field(default=strawberry.UNSET, description="New tax number; null clears it.")
    industry: str | None = strawberry.field(
        default=strawberry.UNSET, description="New line of business; null clears it."
    )
    website: str | None = strawberry.field(default=strawberry.UNSET, description="New web address; null clears it.")
    address: str | None = strawberry.field(default=strawberry.UNSET, description="New postal address; null clears it.")
    phone: str | None = strawberry.field(default=strawberry.UNSET, description="New phone; null clears it.")


@strawberry.input(description="A new document type (ADMIN, C6).")
class CreateDocumentTypeInput:
    code: str = strawberry.field(description="Short unique code, e.g. DNI (ALREADY_EXISTS).")
    name: str = strawberry.field(description="Name shown to users.")
    format_regex: str = strawberry.field(
        description=(
            "Regular expression the whole normalised number (at most 32 characters) must match: Python's re"
            " syntax without backreferences or lookaround, matched in linear time (RE2); a { starts a"
            " repetition up to 1000 (write \\{ for a brace)."
        )
    )
    check_digit: CheckDigit = strawberry.field(default=CheckDigit.NONE, description="Check-digit rule (default NONE).")


@strawberry.input(description="Changes to a document type (ADMIN); only the fields you give change.")
class UpdateDocumentTypeInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    format_regex: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="New format, the same rules as on creation; existing numbers are not checked again.",
    )
    check_digit: CheckDigit | None = strawberry.field(default=strawberry.UNSET, description="New check-digit rule.")
    active: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="Deactivate (false) or activate (true): a deactivated type takes no new documents.",
    )


@strawberry.input(description="A new custom field definition (ADMIN, C7).")
class CreateCustomFieldInput:
    key: str = strawberry.field(description="Stable key, unique (ALREADY_EXISTS); it cannot change later.")
    label: str = strawberry.field(description="Label shown to users.")
    type: FieldType = strawberry.field(description="What values it takes.")
    options: list[str] = strawberry.field(
        default_factory=list, description="The allowed values of a CHOICE field (REQUIRED for one)."
    )
    required: bool = strawberry.field(default=False, description="Whether every new contact must give a value.")
    position: int = strawberry.field(default=0, description="Display order, smallest first.")


@strawberry.input(description="Changes to a custom field definition (ADMIN); only the fields you give change.")
class UpdateCustomFieldInput:
    label: str | None = strawberry.field(default=strawberry.UNSET, description="New label.")
    options: list[str] | None = strawberry.field(default=strawberry.UNSET, description="New options of a CHOICE field.")
    required: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Whether a value is required from now on."
    )
    position: int | None = strawberry.field(default=strawberry.UNSET, description="New display order.")
    active: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Deactivate (false) or activate (true)."
    )


@strawberry.type(
    description="Result of a contact mutation: the contact as it is now, or userErrors and nothing changed."
)
class ContactPayload:
    contact: Contact | None = strawberry.field(default=None, description="The contact; null when refused.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)


@strawberry.type(description="What happened to one item of a bulk call (X2).")
class ContactResult:
    index: int = strawberry.field(description="Position of the item in the input list.")
    contact: Contact | None = strawberry.field(description="The contact created; null when this item was refused.")
    user_errors: list[UserError] = strawberry.field(description="Why this item was refused; empty when it was created.")


@strawberry.type(description="Result of createContacts: each item is created or refused on its own (X2).")
class CreateContactsPayload:
    created_count: int = strawberry.field(default=0, description="Contacts created.")
    rejected_count: int = strawberry.field(default=0, description="Items refused.")
    results: list[ContactResult] = strawberry.field(default_factory=list, description=docs.BULK_RESULTS)
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Problems with the call itself (too many items); nothing was created."
    )


@strawberry.type(description="Result of a company mutation.")
class CompanyPayload:
    company: Company | None = strawberry.field(default=None, description="The company; null when refused.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)


@strawberry.type(description="Result of a document type mutation.")
class DocumentTypePayload:
    document_type: DocumentType | None = strawberry.field(
        default=None, description="The document type; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)


@strawberry.type(description="Result of a custom field mutation.")
class CustomFieldPayload:
    custom_field: CustomFieldDefinition | None = strawberry.field(
        default=None, description="The definition; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)
