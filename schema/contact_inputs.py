"""Inputs and payloads of contacts, companies, document types and custom fields."""

import enum

import strawberry
from strawberry.scalars import JSON

from db.models import ChannelKind, CheckDigit, FieldType
from schema.contact_types import Company, Contact, CustomFieldDefinition, DocumentType
from schema.enums import OrderDirection
from schema.errors import UserError
from schema.ids import pks
from services import contacts


@strawberry.enum
class ContactOrderField(enum.Enum):
    NAME = "NAME"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    RELEVANCE = "RELEVANCE"


@strawberry.input
class ContactOrder:
    field: ContactOrderField = ContactOrderField.NAME
    direction: OrderDirection = OrderDirection.ASC

    def to_service(self) -> tuple[contacts.ContactOrder, bool]:
        return contacts.ContactOrder(self.field.value), self.direction is OrderDirection.DESC


@strawberry.input(description="A custom field that must hold exactly this value.")
class CustomFieldMatch:
    key: str
    value: str


@strawberry.input(description="Narrow the contacts list; all given conditions must hold.")
class ContactFilter:
    search: str | None = strawberry.field(
        default=None,
        description="Names, document, company or any channel; accents, case and phone punctuation ignored.",
    )
    team_ids: list[strawberry.ID] | None = None
    is_vip: bool | None = None
    company_ids: list[strawberry.ID] | None = None
    channel_kinds: list[ChannelKind] | None = strawberry.field(
        default=None, description="Has a channel of any of these kinds."
    )
    document_number: str | None = None
    custom_field: CustomFieldMatch | None = None
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


@strawberry.input
class ChannelInput:
    kind: ChannelKind
    value: str


@strawberry.input
class AddressInput:
    street: str
    city: str
    country: str = strawberry.field(description="ISO 3166 alpha-2, e.g. AR.")
    label: str | None = None
    number: str | None = None
    unit: str | None = None
    region: str | None = None
    postal_code: str | None = None
    is_primary: bool = False


@strawberry.input(
    description="Only the fields you give change; null clears label, number, unit, region and postalCode."
)
class UpdateAddressInput:
    street: str | None = strawberry.UNSET
    city: str | None = strawberry.UNSET
    country: str | None = strawberry.field(default=strawberry.UNSET, description="ISO 3166 alpha-2, e.g. AR.")
    label: str | None = strawberry.UNSET
    number: str | None = strawberry.UNSET
    unit: str | None = strawberry.UNSET
    region: str | None = strawberry.UNSET
    postal_code: str | None = strawberry.UNSET
    is_primary: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "true makes it the contact's primary address (the others lose it); false on the primary one "
            "makes the oldest other address primary, as removing it would (INVALID on the only address)."
        ),
    )


@strawberry.input
class DocumentInput:
    type_id: strawberry.ID
    number: str


@strawberry.input
class CompanyInput:
    name: str
    tax_id: str | None = None
    industry: str | None = None
    website: str | None = None
    address: str | None = None
    phone: str | None = None


@strawberry.input
class CustomFieldValueInput:
    key: str
    value: JSON | None = strawberry.field(description="null clears the field.")


@strawberry.input
class CreateContactInput:
    first_names: str
    last_names: str
    team_id: strawberry.ID
    is_vip: bool = False
    document: DocumentInput | None = None
    company_id: strawberry.ID | None = strawberry.field(default=None, description="An existing company…")
    company: CompanyInput | None = strawberry.field(
        default=None, description="…or a new one, created with the contact."
    )
    channels: list[ChannelInput] = strawberry.field(default_factory=list)
    addresses: list[AddressInput] = strawberry.field(default_factory=list)
    custom_fields: list[CustomFieldValueInput] = strawberry.field(default_factory=list)


@strawberry.input(description="Only the fields you give change; null clears document and companyId.")
class UpdateContactInput:
    first_names: str | None = strawberry.UNSET
    last_names: str | None = strawberry.UNSET
    is_vip: bool | None = strawberry.UNSET
    document: DocumentInput | None = strawberry.UNSET
    company_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="An existing company…")
    company: CompanyInput | None = strawberry.field(
        default=strawberry.UNSET, description="…or a new one, created with the edit (C3)."
    )
    team_id: strawberry.ID | None = strawberry.UNSET
    custom_fields: list[CustomFieldValueInput] | None = strawberry.UNSET


@strawberry.input(description="Only the fields you give change.")
class UpdateCompanyInput:
    name: str | None = strawberry.UNSET
    tax_id: str | None = strawberry.UNSET
    industry: str | None = strawberry.UNSET
    website: str | None = strawberry.UNSET
    address: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET


@strawberry.input
class CreateDocumentTypeInput:
    code: str
    name: str
    format_regex: str = strawberry.field(
        description=(
            "Regular expression the whole normalised number (at most 32 characters) must match: Python's re"
            " syntax without backreferences or lookaround, matched in linear time (RE2); a { starts a"
            " repetition up to 1000 (write \\{ for a brace)."
        )
    )
    check_digit: CheckDigit = CheckDigit.NONE


@strawberry.input
class UpdateDocumentTypeInput:
    name: str | None = strawberry.UNSET
    format_regex: str | None = strawberry.UNSET
    check_digit: CheckDigit | None = strawberry.UNSET
    active: bool | None = strawberry.UNSET


@strawberry.input
class CreateCustomFieldInput:
    key: str
    label: str
    type: FieldType
    options: list[str] = strawberry.field(default_factory=list)
    required: bool = False
    position: int = 0


@strawberry.input
class UpdateCustomFieldInput:
    label: str | None = strawberry.UNSET
    options: list[str] | None = strawberry.UNSET
    required: bool | None = strawberry.UNSET
    position: int | None = strawberry.UNSET
    active: bool | None = strawberry.UNSET


@strawberry.type
class ContactPayload:
    contact: Contact | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="What happened to one item of a bulk call (X2).")
class ContactResult:
    index: int = strawberry.field(description="Position of the item in the input list.")
    contact: Contact | None
    user_errors: list[UserError]


@strawberry.type
class CreateContactsPayload:
    created_count: int = 0
    rejected_count: int = 0
    results: list[ContactResult] = strawberry.field(default_factory=list)
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Problems with the call itself (too many items); nothing was created."
    )


@strawberry.type
class CompanyPayload:
    company: Company | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DocumentTypePayload:
    document_type: DocumentType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CustomFieldPayload:
    custom_field: CustomFieldDefinition | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
