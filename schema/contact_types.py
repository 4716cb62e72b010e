"""Contact types (C1, C2, C4). C4's interaction history is `Contact.history`: its conversations
(calls included) and gestiones in one connection over the `ContactHistoryItem` union."""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Union

import strawberry
from strawberry.scalars import JSON

from db import models
from db.batches import Badge
from db.keyset import PageRequest
from db.models import ChannelKind, CheckDigit, FieldType
from schema import docs, sql_map
from schema.connection import Connection
from schema.node import Node, to_global_id
from schema.types import CursorArg, Info, PageArg, Team, nested_connection
from services.portfolios import OwnerKind

if TYPE_CHECKING:
    from schema.conversation_types import Conversation
    from schema.gestion_types import Gestion
    from schema.portfolio_types import Portfolio

docs.enum(
    ChannelKind,
    name="ChannelKind",
    description="How a contact is reached (C1).",
    values={
        "EMAIL": "An email address, validated.",
        "PHONE": "A phone number, normalised to E.164; a call is a conversation on it.",
        "WHATSAPP": "A WhatsApp number, normalised to E.164.",
        "MESSENGER": "A Facebook Messenger handle.",
        "INSTAGRAM": "An Instagram handle.",
    },
)
docs.enum(
    CheckDigit,
    name="CheckDigit",
    description="Check-digit algorithm of a document type (C6).",
    values={
        "NONE": "No check digit: the format alone decides.",
        "CUIT": "Argentina's CUIT/CUIL: mod 11 over weights 5432765432.",
        "CPF": "Brazil's CPF: two mod-11 digits.",
        "RUC_PE": "Peru's RUC: mod 11 over weights 5432765432.",
        "CI_UY": "Uruguay's cédula: mod 10 over weights 2987634.",
        "RUT_CL": "Chile's RUT: mod 11, K for 10.",
    },
)
docs.enum(
    FieldType,
    name="CustomFieldType",
    description="What a custom field holds (C7); values are validated against it.",
    values={
        "TEXT": "Free text.",
        "NUMBER": "A number.",
        "DATE": "A calendar date, YYYY-MM-DD.",
        "BOOLEAN": "true or false.",
        "CHOICE": "One of the field's options.",
    },
)
docs.enum(
    OwnerKind,
    name="PortfolioOwnerKind",
    description="Who a portfolio belongs to first.",
    values={"AGENT": "An agent owns it (its team may be set too).", "TEAM": "A team owns it, with no agent owner."},
)


@strawberry.type(description="The portfolio a contact is in, as everyone who sees the contact sees it (P8).")
class PortfolioBadge:
    portfolio_id: strawberry.ID = strawberry.field(description="The portfolio's global id.")
    portfolio_name: str = strawberry.field(description="The portfolio's name.")
    owner_name: str = strawberry.field(description="The owning agent's name, or the team's when no agent owns it.")
    owner_kind: OwnerKind = strawberry.field(description="AGENT when an agent owns the portfolio, else TEAM.")
    active: bool = strawberry.field(description="Whether the portfolio still takes new contacts.")

    @classmethod
    def from_row(cls, row: Badge) -> "PortfolioBadge":
        return cls.of(row.portfolio_id, row.portfolio_name, row.active, row.agent_name, row.team_name)

    @classmethod
    def of(
        cls, portfolio_id: int, name: str, active: bool, agent_name: str | None, team_name: str | None
    ) -> "PortfolioBadge":
        """The agent owns it when there is one, else the team."""
        agent_owned = agent_name is not None
        return cls(
            portfolio_id=to_global_id("Portfolio", portfolio_id),
            portfolio_name=name,
            owner_name=(agent_name if agent_owned else team_name) or "",
            owner_kind=OwnerKind.AGENT if agent_owned else OwnerKind.TEAM,
            active=active,
        )


@strawberry.type(description="A company contacts work for; a shared directory.")
class Company(Node):
    name: str = strawberry.field(description=docs.NAME)
    tax_id: str | None = strawberry.field(description="Tax number (CUIT, RUC…), as typed.")
    industry: str | None = strawberry.field(description="Line of business, free text.")
    website: str | None = strawberry.field(description="Web address, free text.")
    address: str | None = strawberry.field(description="Postal address, one free-text line.")
    phone: str | None = strawberry.field(description="E.164.")
    created_at: datetime = strawberry.field(description=docs.CREATED_AT)
    updated_at: datetime = strawberry.field(description=docs.UPDATED_AT)

    @classmethod
    def from_row(cls, row: models.Company) -> "Company":
        return cls(
            id=to_global_id("Company", row.id),
            name=row.name,
            tax_id=row.tax_id,
            industry=row.industry,
            website=row.website,
            address=row.address,
            phone=row.phone,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="A kind of identity document, with its format and check digit (C6).")
class DocumentType(Node):
    code: str = strawberry.field(description="Short unique code, e.g. DNI or CUIT.")
    name: str = strawberry.field(description='Name shown to users, e.g. "Documento Nacional de Identidad".')
    format_regex: str = strawberry.field(description="Regular expression a document number must match in full.")
    check_digit: CheckDigit = strawberry.field(description="Check-digit rule numbers must also pass (NONE for none).")
    active: bool = strawberry.field(description=docs.ACTIVE)

    @classmethod
    def from_row(cls, row: models.DocumentType) -> "DocumentType":
        return cls(
            id=to_global_id("DocumentType", row.id),
            code=row.code,
            name=row.name,
            format_regex=row.format_regex,
            check_digit=CheckDigit(row.check_digit),
            active=row.active,
        )


@strawberry.type(description="A field an admin added to every contact (C7).")
class CustomFieldDefinition(Node):
    key: str = strawberry.field(
        description="Stable key under which contacts store the value (CustomFieldValueInput.key)."
    )
    label: str = strawberry.field(description="Label shown to users.")
    type: FieldType = strawberry.field(description="What values it takes; they are validated against it.")
    options: list[str] = strawberry.field(description="The allowed values of a CHOICE field; empty otherwise.")
    required: bool = strawberry.field(description="Whether every new contact must give a value.")
    position: int = strawberry.field(description="Display order, smallest first.")
    active: bool = strawberry.field(description=docs.ACTIVE)

    @classmethod
    def from_row(cls, row: models.CustomFieldDefinition) -> "CustomFieldDefinition":
        return cls(
            id=to_global_id("CustomFieldDefinition", row.id),
            key=row.key,
            label=row.label,
            type=FieldType(row.type),
            options=list(row.options or []),
            required=row.required,
            position=row.position,
            active=row.active,
        )


@strawberry.type(description="One custom field's value on a contact (C7).")
class CustomFieldValue:
    definition: CustomFieldDefinition = strawberry.field(description="The field's definition.")
    value: JSON = strawberry.field(
        description="The value as JSON: a string, number, ISO date (YYYY-MM-DD), boolean or one of the options."
    )


@strawberry.type(description="One way to reach a contact.")
class ContactChannel(Node):
    kind: ChannelKind = strawberry.field(description="EMAIL, PHONE, WHATSAPP, MESSENGER or INSTAGRAM.")
    value: str = strawberry.field(description="As it was typed.")
    normalized: str = strawberry.field(description="E.164 for phones, the normalised address or handle otherwise.")

    @classmethod
    def from_row(cls, row: models.ContactChannel) -> "ContactChannel":
        return cls(
            id=to_global_id("ContactChannel", row.id),
            kind=ChannelKind(row.kind),
            value=row.value,
            normalized=row.normalized,
        )


@strawberry.type(description="A contact's channels of one kind (C4).")
class ChannelGroup:
    kind: ChannelKind = strawberry.field(description="The kind they share.")
    channels: list[ContactChannel] = strawberry.field(
        description="The contact's channels of this kind, in the order they were added."
    )


@strawberry.type(description="A postal address of a contact (C4); one of them may be primary.")
class ContactAddress(Node):
    label: str | None = strawberry.field(description='Free label, e.g. "Home" or "Office".')
    street: str = strawberry.field(description="Street name.")
    number: str | None = strawberry.field(description="Street number.")
    unit: str | None = strawberry.field(description="Flat, floor or unit.")
    city: str = strawberry.field(description="City.")
    region: str | None = strawberry.field(description="Province, state or region.")
    postal_code: str | None = strawberry.field(description="Postal code.")
    country: str = strawberry.field(description="ISO 3166 alpha-2.")
    is_primary: bool = strawberry.field(description="Whether it is the contact's primary address (at most one is).")

    @classmethod
    def from_row(cls, row: models.ContactAddress) -> "ContactAddress":
        return cls(
            id=to_global_id("ContactAddress", row.id),
            label=row.label,
            street=row.street,
            number=row.number,
            unit=row.unit,
            city=row.city,
            region=row.region,
            postal_code=row.postal_code,
            country=row.country,
            is_primary=row.is_primary,
        )


@strawberry.type(description="An identity document: its type and number (C1).")
class ContactDocument:
    type_pk: strawberry.Private[int]
    number: str = strawberry.field(description="The number as validated against its type (format and check digit).")

    @strawberry.field(description="The document's type.")
    async def type(self, info: Info) -> DocumentType:
        row = await info.context.loaders.document_type_by_id.load(self.type_pk)
        assert row is not None
        return DocumentType.from_row(row)


def _initial(name: str) -> str:
    """A name's first letter in capitals, one letter for one: "ß" stays "ß" (str.upper makes it
    "SS"), as PostgreSQL's upper() leaves it for compiled reads."""
    letter = name[:1]
    upper = letter.upper()
    return upper if len(upper) == 1 else letter


# Its members' modules build on this one, so they are named lazily.
ContactHistoryItem = Annotated[
    Union[  # noqa: UP007  (lazy members are strings, which `|` cannot join)
        Annotated["Conversation", strawberry.lazy("schema.conversation_types")],
        Annotated["Gestion", strawberry.lazy("schema.gestion_types")],
    ],
    strawberry.union(
        "ContactHistoryItem",
        description="One of a contact's interactions (C4): a conversation (a call is one on PHONE) or a gestión.",
    ),
]


@strawberry.type(description="A person the contact centre talks to.")
class Contact(Node):
    pk: strawberry.Private[int]
    company_pk: strawberry.Private[int | None]
    team_pk: strawberry.Private[int]
    values: strawberry.Private[dict[str, Any]]
    first_names: str = strawberry.field(description="First names, as given.")
    last_names: str = strawberry.field(description="Last names, as given.")
    full_name: str = strawberry.field(description="First and last names joined, as lists show it.")
    initials: str = strawberry.field(description="First letter of the first and of the last names (C2).")
    is_vip: bool = strawberry.field(description="Whether the contact is flagged VIP (shown with a star, C2).")
    document: ContactDocument | None = strawberry.field(description="Identity document; null when none was given.")
    created_at: datetime = strawberry.field(description=docs.CREATED_AT)
    updated_at: datetime = strawberry.field(description=docs.UPDATED_AT)
    archived_at: datetime | None = strawberry.field(
        description="Set when archived: hidden from lists, kept for history."
    )

    @classmethod
    def from_row(cls, row: models.Contact) -> "Contact":
        document = (
            ContactDocument(type_pk=row.document_type_id, number=row.document_number)
            if row.document_type_id is not None and row.document_number
            else None
        )
        return cls(
            id=to_global_id("Contact", row.id),
            pk=row.id,
            company_pk=row.company_id,
            team_pk=row.team_id,
            values=dict(row.custom_fields or {}),
            first_names=row.first_names,
            last_names=row.last_names,
            full_name=f"{row.first_names} {row.last_names}",
            initials=_initial(row.first_names) + _initial(row.last_names),
            is_vip=row.is_vip,
            document=document,
            created_at=row.created_at,
            updated_at=row.updated_at,
            archived_at=row.archived_at,
        )

    @strawberry.field(description="The contact's company; null when none (or you cannot see it).")
    async def company(self, info: Info) -> Company | None:
        if self.company_pk is None:
            return None
        row = await info.context.loaders.company_by_id.load(self.company_pk)
        return Company.from_row(row) if row else None

    @strawberry.field(description="The owning team; null when you cannot see it.")
    async def team(self, info: Info) -> Team | None:
        row = await info.context.loaders.team_by_id.load(self.team_pk)
        return Team.from_row(row) if row else None

    @strawberry.field(description="All the contact's channels, in the order they were added.")
    async def channels(self, info: Info) -> list[ContactChannel]:
        return [ContactChannel.from_row(c) for c in await info.context.loaders.channels_by_contact.load(self.pk)]

    @strawberry.field(description="The kinds of channel the contact has, for list rows (C2).")
    async def channel_kinds(self, info: Info) -> list[ChannelKind]:
        rows = await info.context.loaders.channels_by_contact.load(self.pk)
        return [ChannelKind(k) for k in dict.fromkeys(c.kind for c in rows)]

    @strawberry.field(description="Channels grouped by kind, in the order kinds first appear (C4).")
    async def channels_by_kind(self, info: Info) -> list[ChannelGroup]:
        groups: dict[str, list[ContactChannel]] = {}
        for row in await info.context.loaders.channels_by_contact.load(self.pk):
            groups.setdefault(row.kind, []).append(ContactChannel.from_row(row))
        return [ChannelGroup(kind=ChannelKind(k), channels=v) for k, v in groups.items()]

    @strawberry.field(description="Primary first.")
    async def addresses(self, info: Info) -> list[ContactAddress]:
        return [ContactAddress.from_row(a) for a in await info.context.loaders.addresses_by_contact.load(self.pk)]

    @strawberry.field(description="The address marked primary; null when none is.")
    async def primary_address(self, info: Info) -> ContactAddress | None:
        rows = await info.context.loaders.addresses_by_contact.load(self.pk)
        return next((ContactAddress.from_row(a) for a in rows if a.is_primary), None)

    @strawberry.field(description="The badge of the portfolio the contact is in (P8); null when in none.")
    async def badge(self, info: Info) -> PortfolioBadge | None:
        row = await info.context.loaders.badge_by_contact.load(self.pk)
        return PortfolioBadge.from_row(row) if row else None

    @strawberry.field(
        description="The portfolio the contact is in; null when in none, or when you cannot see it (the badge shows)."
    )
    async def portfolio(self, info: Info) -> Annotated["Portfolio", strawberry.lazy("schema.portfolio_types")] | None:
        from schema.portfolio_types import Portfolio

        badge = await info.context.loaders.badge_by_contact.load(self.pk)
        if badge is None:
            return None
        row = await info.context.loaders.portfolio_by_id.load(badge.portfolio_id)
        return Portfolio.from_row(row) if row else None

    @strawberry.field(description="The client's gestiones in every campaign that you can see, newest first (C4, G2).")
    async def gestiones(
        self,
        info: Info,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[Annotated["Gestion", strawberry.lazy("schema.gestion_types")]]:
        from schema.gestion_types import Gestion

        loaders = info.context.loaders
        request = PageRequest(first=first, after=after, last=last, before=before)
        return await nested_connection(
            info, loaders.contact_gestiones, loaders.contact_gestion_count, self.pk, request, Gestion.from_row
        )

    @strawberry.field(
        description=(
            "Its interactions (C4) that you can see, newest first: conversations (a call is one on PHONE) "
            "and gestiones, each with its detail."
        )
    )
    async def history(
        self,
        info: Info,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[ContactHistoryItem]:
        from schema.conversation_types import history_item

        loaders = info.context.loaders
        request = PageRequest(first=first, after=after, last=last, before=before)
        return await nested_connection(
            info, loaders.contact_history, loaders.contact_history_count, self.pk, request, history_item
        )

    @strawberry.field(description="Values of the custom fields, in the definitions' order.")
    async def custom_fields(self, info: Info) -> list[CustomFieldValue]:
        definitions = await info.context.loaders.custom_field_definitions.load(True) or []
        return [
            CustomFieldValue(definition=CustomFieldDefinition.from_row(d), value=self.values[d.key])
            for d in definitions
            if d.key in self.values
        ]


# Compiled reads (schema/sql_map.py): the same fields, read in SQL.
sql_map.declare(
    "Company",
    {
        "id": sql_map.global_id("Company"),
        "name": sql_map.text("name"),
        "taxId": sql_map.text("tax_id"),
        "industry": sql_map.text("industry"),
        "website": sql_map.text("website"),
        "address": sql_map.text("address"),
        "phone": sql_map.text("phone"),
        "createdAt": sql_map.instant("created_at"),
        "updatedAt": sql_map.instant("updated_at"),
    },
)
sql_map.declare(
    "DocumentType",
    {
        "id": sql_map.global_id("DocumentType"),
        "code": sql_map.text("code"),
        "name": sql_map.text("name"),
        "formatRegex": sql_map.text("format_regex"),
        "checkDigit": sql_map.text("check_digit"),
        "active": sql_map.boolean("active"),
    },
)
sql_map.declare(
    "CustomFieldDefinition",
    {
        "id": sql_map.global_id("CustomFieldDefinition"),
        "key": sql_map.text("key"),
        "label": sql_map.text("label"),
        "type": sql_map.text("type"),
        # Re-encoded element by element: the column holds Python's json.dumps text (", " and \u escapes).
        "options": sql_map.Scalar(
            "(SELECT '[' || coalesce(string_agg(to_json(o.value)::text, ',' ORDER BY o.n), '') || ']'"
            " FROM json_array_elements_text({t}.options) WITH ORDINALITY AS o(value, n))"
        ),
        "required": sql_map.boolean("required"),
        "position": sql_map.number("position"),
        "active": sql_map.boolean("active"),
    },
)
sql_map.declare(
    "CustomFieldValue",
    {
        "definition": sql_map.Nested(
            "CustomFieldDefinition",
            "(SELECT {t}.id, {t}.key, {t}.label, {t}.type, {t}.options, {t}.required, {t}.position, {t}.active)",
            "true",
        ),
        # The column is `json`, which keeps the text Python wrote: a number is its repr, as strawberry
        # writes it again. A string is re-encoded, since that text escapes what the response does not.
        "value": sql_map.Scalar(
            "CASE json_typeof({t}.value) WHEN 'string' THEN to_json({t}.value #>> '{}')::text ELSE {t}.value::text END"
        ),
    },
)
sql_map.declare(
    "ContactChannel",
    {
        "id": sql_map.global_id("ContactChannel"),
        "kind": sql_map.text("kind"),
        "value": sql_map.text("value"),
        "normalized": sql_map.text("normalized"),
    },
)
sql_map.declare(
    "ContactAddress",
    {
        "id": sql_map.global_id("ContactAddress"),
        **{
            name: sql_map.text(column)
            for name, column in (
                ("label", "label"),
                ("street", "street"),
                ("number", "number"),
                ("unit", "unit"),
                ("city", "city"),
                ("region", "region"),
                ("postalCode", "postal_code"),
                ("country", "country"),
            )
        },
        "isPrimary": sql_map.boolean("is_primary"),
    },
)
sql_map.declare(
    "ContactDocument",
    {
        "number": sql_map.text("number"),
        "type": sql_map.Nested("DocumentType", "document_types", "{a}.id = {t}.type_id"),
    },
)
sql_map.declare(
    "PortfolioBadge",
    {
        "portfolioId": sql_map.global_id("Portfolio", "portfolio_id"),
        "portfolioName": sql_map.text("portfolio_name"),
        "ownerName": sql_map.Scalar("to_json(coalesce({t}.agent_name, {t}.team_name, ''))::text"),
        "ownerKind": sql_map.Scalar("CASE WHEN {t}.agent_name IS NOT NULL THEN '\"AGENT\"' ELSE '\"TEAM\"' END"),
        "active": sql_map.boolean("active"),
    },
)


# A contact's badge, `{contact}` its id (SQL over `{t}`): looked up per contact, as a join of
# every membership with users and teams the planner hashed the users table once per contact.
BADGE_ROWS = (
    "(SELECT m.contact_id, p.id AS portfolio_id, p.name AS portfolio_name, p.active,"
    " (SELECT u.name FROM users u WHERE u.id = p.agent_id) AS agent_name,"
    " (SELECT w.name FROM teams w WHERE w.id = p.team_id) AS team_name"
    " FROM portfolio_members m JOIN portfolios p ON p.id = m.portfolio_id WHERE m.contact_id = {contact})"
)
_CHANNELS = sql_map.Nested("ContactChannel", "contact_channels", "{a}.contact_id = {t}.id", many=True, order="{a}.id")
_ADDRESSES = sql_map.Nested(
    "ContactAddress", "contact_addresses", "{a}.contact_id = {t}.id", many=True, order="{a}.is_primary DESC, {a}.id"
)
sql_map.declare(
    "ChannelGroup",
    {
        "kind": sql_map.text("kind"),
        "channels": sql_map.Nested(
            "ContactChannel",
            "contact_channels",
            "{a}.contact_id = {t}.contact_id AND {a}.kind = {t}.kind",
            many=True,
            order="{a}.id",
        ),
    },
)
sql_map.declare(
    "Contact",
    {
        "id": sql_map.global_id("Contact"),
        "firstNames": sql_map.text("first_names"),
        "lastNames": sql_map.text("last_names"),
        "fullName": sql_map.Scalar("to_json({t}.first_names || ' ' || {t}.last_names)::text"),
        "initials": sql_map.Scalar("to_json(upper(left({t}.first_names, 1) || left({t}.last_names, 1)))::text"),
        "isVip": sql_map.boolean("is_vip"),
        "createdAt": sql_map.instant("created_at"),
        "updatedAt": sql_map.instant("updated_at"),
        "archivedAt": sql_map.instant("archived_at"),
        "company": sql_map.Nested("Company", "companies", "{a}.id = {t}.company_id"),
        "team": sql_map.Nested("Team", "teams", "{a}.id = {t}.team_id", visible=sql_map.seen_as_loaded(models.Team)),
        "channels": _CHANNELS,
        "channelKinds": sql_map.Scalar(
            "(SELECT coalesce('[' || string_agg(to_json(k.kind)::text, ',' ORDER BY k.first) || ']', '[]')"
            " FROM (SELECT c.kind, min(c.id) AS first FROM contact_channels c WHERE c.contact_id = {t}.id"
            " GROUP BY c.kind) k)"
        ),
        "channelsByKind": sql_map.Nested(
            "ChannelGroup",
            "(SELECT c.contact_id, c.kind, min(c.id) AS first FROM contact_channels c"
            " WHERE c.contact_id = {t}.id GROUP BY c.contact_id, c.kind)",
            "true",
            many=True,
            order="{a}.first",
        ),
        "addresses": _ADDRESSES,
        # Every definition, inactive ones too, that the contact holds a value for, as the resolver lists them.
        "customFields": sql_map.Nested(
            "CustomFieldValue",
            "(SELECT d.*, {t}.custom_fields -> d.key AS value FROM custom_field_definitions d)",
            "{a}.value IS NOT NULL",
            many=True,
            order="{a}.position, {a}.id",
        ),
        "primaryAddress": sql_map.Nested(
            "ContactAddress", "contact_addresses", "{a}.contact_id = {t}.id AND {a}.is_primary", order="{a}.id"
        ),
        "document": sql_map.Nested(
            "ContactDocument",
            "(SELECT {t}.document_type_id AS type_id, {t}.document_number AS number)",
            "{a}.type_id IS NOT NULL AND {a}.number <> ''",
        ),
        "badge": sql_map.Nested("PortfolioBadge", BADGE_ROWS.replace("{contact}", "{t}.id"), "true"),
        "portfolio": sql_map.Nested(
            "Portfolio",
            "portfolios",
            "{a}.id = (SELECT m.portfolio_id FROM portfolio_members m WHERE m.contact_id = {t}.id)",
            visible=sql_map.seen_as_loaded(models.Portfolio),
        ),
    },
)
