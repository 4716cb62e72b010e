"""Contacts (C1 to C8): validation, visibility, search text, single and bulk writes, audit."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, exists, false, insert, literal, not_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import scopes
from db.base import utcnow
from db.batches import NestedList
from db.ids import allocate_ids
from db.keyset import Page, PageRequest, SortKey, Tier, paginate, paginate_tiers
from db.models import (
    ChannelKind,
    CheckDigit,
    Company,
    Contact,
    ContactAddress,
    ContactChannel,
    CustomFieldDefinition,
    DocumentType,
    Portfolio,
    PortfolioMember,
)
from db.search import digits, fold, national_phone_digits, search_terms, starts_with, storable
from db.sets import columns, in_ids, json_member_text
from services import audit, events, validation
from services.audit import AuditAction, Entry, ResourceType
from services.common import UNSET, Maybe, clean_name, optional_text
from services.companies import CompanyData, check_company, check_free, insert_company, taken
from services.errors import DomainError, ErrorCode, Problem, fail, forbidden, not_found
from services.principal import Principal


class ContactOrder(enum.StrEnum):
    NAME = "NAME"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    RELEVANCE = "RELEVANCE"


@dataclass(frozen=True)
class ChannelData:
    kind: ChannelKind
    value: str


@dataclass(frozen=True)
class AddressData:
    street: str
    city: str
    country: str
    label: str | None = None
    number: str | None = None
    unit: str | None = None
    region: str | None = None
    postal_code: str | None = None
    is_primary: bool = False


@dataclass(frozen=True)
class DocumentData:
    type_id: int
    number: str


@dataclass(frozen=True)
class ContactData:
    first_names: str
    last_names: str
    team_id: int
    is_vip: bool = False
    document: DocumentData | None = None
    company_id: int | None = None
    new_company: CompanyData | None = None
    channels: tuple[ChannelData, ...] = ()
    addresses: tuple[AddressData, ...] = ()
    # In the order the client listed them, each key once: problems name them by position.
    custom_fields: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class ContactFilter:
    search: str | None = None
    team_ids: tuple[int, ...] = ()
    vip: bool | None = None
    company_ids: tuple[int, ...] = ()
    channel_kinds: tuple[ChannelKind, ...] = ()
    document_number: str | None = None
    custom_field: tuple[str, object] | None = None
    archived: bool = False
    portfolio_ids: tuple[int, ...] = ()
    # True: in some portfolio; False: in none.
    in_portfolio: bool | None = None
    # Exactly these contacts (a selection by ids, as bulk portfolio calls take it).
    ids: tuple[int, ...] | None = None


# --- search text -------------------------------------------------------------------------


def search_name(first_names: str, last_names: str) -> str:
    return fold(f"{first_names} {last_names}")


def full_name() -> Any:
    """ "First Last" in SQL: how audit rows and panels name a contact."""
    return Contact.first_names + literal(" ") + Contact.last_names


def sort_name(first_names: str, last_names: str) -> str:
    return fold(f"{last_names} {first_names}")


def search_text(
    *, first_names: str, last_names: str, document: str | None, company: str | None, channels: Sequence[tuple[str, str]]
) -> str:
    """Sections "<name> | <document> | <company> | <channels>"; a company rename rewrites its section in SQL.

    Each phone is there as typed in E.164, as its digits, and (after every channel, where migration
    0013 appended them) as the digits of its national dialling form (db.search.national_phone_digits).
    """
    values: list[str] = []
    national: list[str] = []
    for kind, normalized in channels:
        values.append(fold(normalized))
        if kind in (ChannelKind.PHONE, ChannelKind.WHATSAPP):
            values.append(digits(normalized))
            national.extend(n for n in [national_phone_digits(normalized)] if n)
    return " | ".join(
        [
            fold(f"{first_names} {last_names}"),
            fold(document or ""),
            fold(company or ""),
            " ".join(values + national),
        ]
    )


# --- queries --------------------------------------------------------------------------------


def _id_key(descending: bool) -> SortKey:
    return SortKey(Contact.id, "id", "int", descending)


def sort_keys(order: ContactOrder, descending: bool) -> tuple[SortKey, ...]:
    # RELEVANCE without a keyword, and within each relevance tier, is name order.
    by_name = (SortKey(Contact.sort_name, "sort_name", "str", descending),)
    first: tuple[SortKey, ...] = {
        ContactOrder.NAME: by_name,
        ContactOrder.CREATED_AT: (SortKey(Contact.created_at, "created_at", "datetime", descending),),
        ContactOrder.UPDATED_AT: (SortKey(Contact.updated_at, "updated_at", "datetime", descending),),
        ContactOrder.RELEVANCE: by_name,
    }[order]
    return (*first, _id_key(descending))


def _terms(flt: ContactFilter) -> list[str]:
    return search_terms(flt.search) if flt.search and storable(flt.search) else []


def filtered(viewer: Principal, flt: ContactFilter, dialect: str) -> Select[Any]:
    """The visible contacts matching the filter: the one definition every contact selection uses.

    `dialect` (the session's backend) lets `flt.ids` travel as one parameter (db.sets.in_ids).
    """
    return _matching(_narrowed(viewer, flt, dialect), _terms(flt))


def _matching(narrowed: Select[Any], terms: list[str]) -> Select[Any]:
    for term in terms:
        narrowed = narrowed.where(Contact.search_text.contains(term, autoescape=True))
    return narrowed


def _narrowed(viewer: Principal, flt: ContactFilter, dialect: str) -> Select[Any]:
    """`filtered` but for the keyword's terms, which the relevance tiers phrase their own way."""
    stmt = scopes.contacts(select(Contact), viewer)
    stmt = stmt.where(Contact.archived_at.is_not(None) if flt.archived else Contact.archived_at.is_(None))
    if flt.search and not storable(flt.search):
        stmt = stmt.where(false())
    if flt.team_ids:
        stmt = stmt.where(Contact.team_id.in_(flt.team_ids))
    if flt.vip is not None:
        stmt = stmt.where(Contact.is_vip.is_(flt.vip))
    if flt.company_ids:
        stmt = stmt.where(Contact.company_id.in_(flt.company_ids))
    if flt.channel_kinds:
        kinds = [k.value for k in flt.channel_kinds]
        stmt = stmt.where(exists().where(ContactChannel.contact_id == Contact.id, ContactChannel.kind.in_(kinds)))
    if flt.document_number:
        number = validation.normalise_document_number(flt.document_number)
        stmt = stmt.where(Contact.document_number == number if storable(number) else false())
    if flt.custom_field is not None:
        key, value = flt.custom_field
        matchable = storable(key) and storable(str(value))
        stmt = stmt.where(json_member_text(Contact.custom_fields, key, dialect) == str(value) if matchable else false())
    if flt.portfolio_ids:
        ids = list(flt.portfolio_ids)
        stmt = stmt.where(
            exists().where(PortfolioMember.contact_id == Contact.id, PortfolioMember.portfolio_id.in_(ids))
        )
    if flt.in_portfolio is not None:
        member = exists().where(PortfolioMember.contact_id == Contact.id)
        stmt = stmt.where(member if flt.in_portfolio else ~member)
    if flt.ids is not None:
        stmt = stmt.where(in_ids(Contact.id, flt.ids, dialect))
    return stmt


def _relevance_tiers(base: Select[Any], matching: Select[Any], terms: list[str], descending: bool) -> list[Tier]:
    """A keyword's matches from most to least relevant, each tier in name order (C5).

    1. the name starts with the keyword, first names first ("jose", "jose perez"): by first name;
    2. it starts with it last names first ("perez", "perez jose"): by last name;
    3. every term is elsewhere in the name ("Ana Gómez Pérez" for "perez"): by last name;
    4. found only in the document, company or channels: by last name.
    The tiers are disjoint and together are exactly `matching` (`filtered`: `base`, the filter
    without the keyword, and the keyword's `terms`). Tiers 1 and 2 are ranges of the name
    indexes; their conditions imply the terms, which are left out so that the planner walks
    those indexes instead of ranking every row the trigram index finds.
    """
    keyword = " ".join(terms)
    first_names_first = starts_with(Contact.search_name, keyword)
    last_names_first = starts_with(Contact.sort_name, keyword)
    in_name = and_(*(Contact.search_name.contains(t, autoescape=True) for t in terms))
    by_first_name = (SortKey(Contact.search_name, "search_name", "str", descending), _id_key(descending))
    by_last_name = sort_keys(ContactOrder.NAME, descending)
    return [
        Tier(base.where(first_names_first), by_first_name),
        Tier(base.where(last_names_first, not_(first_names_first)), by_last_name),
        Tier(matching.where(in_name, not_(first_names_first), not_(last_names_first)), by_last_name),
        Tier(matching.where(not_(in_name)), by_last_name),
    ]


async def list_contacts(
    session: AsyncSession,
    viewer: Principal,
    flt: ContactFilter,
    page: PageRequest,
    *,
    order: ContactOrder | None = None,
    descending: bool = False,
    max_page_size: int,
) -> tuple[Page[Contact], Select[Any]]:
    """A page of contacts; with a search and no explicit order, by relevance then name (C5)."""
    listed = listing(viewer, flt, session.get_bind().dialect.name, order=order, descending=descending)
    if listed.tiers:
        page_ = await paginate_tiers(session, listed.tiers, request=page, max_page_size=max_page_size)
        return page_, listed.statement
    return await paginate(
        session, listed.statement, keys=listed.keys, request=page, max_page_size=max_page_size
    ), listed.statement


@dataclass(frozen=True)
class Listing:
    """What a list of contacts walks: one statement in key order, or ranked tiers (a search)."""

    statement: Select[Any]
    keys: tuple[SortKey, ...]
    tiers: list[Tier] | None = None


def listing(
    viewer: Principal, flt: ContactFilter, dialect: str, *, order: ContactOrder | None = None, descending: bool = False
) -> Listing:
    """list_contacts' statement and order without running it (compiled reads build on it)."""
    base = _narrowed(viewer, flt, dialect)
    terms = _terms(flt)
    stmt = _matching(base, terms)
    if order is None:
        order = ContactOrder.RELEVANCE if terms else ContactOrder.NAME
    keys = sort_keys(order, descending)
    if order is ContactOrder.RELEVANCE and terms:
        return Listing(stmt, keys, _relevance_tiers(base, stmt, terms, descending))
    return Listing(stmt, keys)


def in_portfolios(
    viewer: Principal, flt: ContactFilter, order: ContactOrder, descending: bool, dialect: str
) -> NestedList:
    """A portfolio's contacts matching `flt` (Portfolio.contacts: its loader and compiled reads)."""
    return NestedList(
        Contact,
        sort_keys(order, descending),
        PortfolioMember.portfolio_id,
        lambda _viewer: filtered(viewer, flt, dialect).join(PortfolioMember, PortfolioMember.contact_id == Contact.id),
    )


class Refusal(enum.StrEnum):
    """Why a contact given by id cannot be selected for a bulk call."""

    NOT_VISIBLE = "NOT_VISIBLE"
    ARCHIVED = "ARCHIVED"


@dataclass(frozen=True)
class Selected:
    """The contacts a bulk call selected, in id order, with their teams (whose supervisors see
    their history) and names (full_name(), which their history entries carry: read with the rows
    the selection reads anyway, not a second time by id)."""

    ids: list[int]
    teams: dict[int, int]
    names: dict[int, str]
    # The portfolio of each selected contact in one, as the selection read it (see selected()).
    portfolio_of: dict[int, int] = field(default_factory=dict)

    @classmethod
    def of(
        cls, ids: list[int], teams: list[int], names: list[str], portfolios: list[int | None] | None = None
    ) -> Selected:
        """From the columns db.sets.columns read (`portfolios`: None for a contact in none)."""
        held = {c: p for c, p in zip(ids, portfolios, strict=True) if p is not None} if portfolios is not None else {}
        return cls(ids, dict(zip(ids, teams, strict=True)), dict(zip(ids, names, strict=True)), held)


async def selected(
    session: AsyncSession, viewer: Principal, selection: ContactFilter, *, with_portfolios: bool = False
) -> tuple[Selected, dict[int, Refusal]]:
    """The contacts a bulk call selects, and, for a selection by ids, the given ids refused with the reason.

    `with_portfolios`: read each one's portfolio in the same statement (Selected.portfolio_of),
    one statement fewer than reading them by id (0.17 to 0.3 s for 100,000). It saves a
    statement, not time, on 2 cores: right after a checkpoint each parallel worker hashes the
    memberships on its own, and the selection took 0.77-0.91 s against 0.60-0.65 s without them
    (bench/portfolio_split.py, 1,000,000 contacts). Nothing is locked: a caller that changes
    memberships locks the ones it will change and reads them again.
    """
    dialect = session.get_bind().dialect.name
    refused = await refused_ids(session, viewer, selection.ids) if selection.ids is not None else {}
    stmt = filtered(viewer, selection, dialect).with_only_columns(
        Contact.id, Contact.team_id, full_name().label("name")
    )
    if with_portfolios:
        stmt = stmt.add_columns(PortfolioMember.portfolio_id).outerjoin(
            PortfolioMember, PortfolioMember.contact_id == Contact.id
        )
    return Selected.of(*await columns(session, stmt, order_by="id")), refused


async def refused_ids(session: AsyncSession, viewer: Principal, ids: Sequence[int]) -> dict[int, Refusal]:
    """The given ids that cannot be selected: not visible (or missing), or archived."""
    dialect = session.get_bind().dialect.name
    stmt = scopes.contacts(select(Contact.id, Contact.archived_at), viewer).where(in_ids(Contact.id, ids, dialect))
    found = dict((await session.execute(stmt)).all())
    refused: dict[int, Refusal] = {}
    for contact_id in dict.fromkeys(ids):
        if contact_id not in found:
            refused[contact_id] = Refusal.NOT_VISIBLE
        elif found[contact_id] is not None:
            refused[contact_id] = Refusal.ARCHIVED
    return refused


async def get_visible(
    session: AsyncSession, viewer: Principal, contact_id: int, field: str = "id", *, for_update: bool = False
) -> Contact:
    stmt = scopes.contacts(select(Contact).where(Contact.id == contact_id), viewer)
    if for_update:
        stmt = stmt.with_for_update()
    contact = (await session.execute(stmt)).scalar_one_or_none()
    if contact is None:
        raise not_found("Contact", field)
    return contact


# --- validation -----------------------------------------------------------------------------


class Problems:
    """Collects the problems of every field, so one answer names them all."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def check(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DomainError as error:
            self.items.extend(error.problems)
            return None

    def add(self, code: ErrorCode, message: str, field: str) -> None:
        self.items.append(Problem(code=code, message=message, field=field))

    def raise_any(self) -> None:
        if self.items:
            raise DomainError(*self.items)


@dataclass
class References:
    """What validating contacts needs from the database, read once per call."""

    document_types: dict[int, DocumentType]
    definitions: list[CustomFieldDefinition]
    # The country of a phone typed without + (the server's CARTERA_DEFAULT_REGION).
    default_region: str

    @classmethod
    async def load(cls, session: AsyncSession, default_region: str) -> References:
        types = {t.id: t for t in await session.scalars(select(DocumentType))}
        definitions = list(
            await session.scalars(select(CustomFieldDefinition).order_by(CustomFieldDefinition.position))
        )
        return cls(document_types=types, definitions=definitions, default_region=default_region)


def check_team(actor: Principal, team_id: int, field: str = "teamId") -> None:
    """Contacts belong to a team the actor works in (AGENT) or manages (SUPERVISOR, ADMIN)."""
    scope = actor.scope_team_ids
    if scope is not None and team_id not in scope:
        raise forbidden("You can only manage contacts of your own teams", field)


def _document(
    refs: References, data: DocumentData | None, problems: Problems, field: str
) -> tuple[int | None, str | None]:
    if data is None:
        return None, None
    kind = refs.document_types.get(data.type_id)
    if kind is None or not kind.active:
        problems.add(ErrorCode.NOT_FOUND, "Document type not found", f"{field}.typeId")
        return None, None
    number = problems.check(validation.clean_document_number, data.number, field=f"{field}.number")
    if number is None:
        return None, None
    if not number:
        problems.add(ErrorCode.REQUIRED, "Must not be blank", f"{field}.number")
        return None, None
    problems.check(
        validation.check_document,
        number,
        type_code=kind.code,
        regex=kind.format_regex,
        rule=CheckDigit(kind.check_digit),
        field=f"{field}.number",
    )
    return kind.id, number


def _channels(
    refs: References, channels: Sequence[ChannelData], problems: Problems, field: str
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for i, channel in enumerate(channels):
        normalized = problems.check(
            validation.normalise_channel,
            channel.kind,
            channel.value,
            default_region=refs.default_region,
            field=f"{field}.{i}.value",
        )
        if normalized is None or (channel.kind.value, normalized) in seen:
            continue  # a duplicate of an earlier channel adds nothing
        seen.add((channel.kind.value, normalized))
        rows.append({"kind": channel.kind.value, "value": channel.value.strip(), "normalized": normalized})
    return rows


def address_row(data: AddressData, problems: Problems, field: str = "") -> dict[str, Any]:
    """The address's columns, validated; problems are named under `field` ("" when the address is the input)."""

    def at(name: str) -> str:
        return f"{field}.{name}" if field else name

    country = data.country.strip().upper()
    if len(country) != 2 or not country.isalpha():
        problems.add(ErrorCode.INVALID, "Use the two-letter ISO country code", at("country"))
    return {
        "label": problems.check(optional_text, data.label, at("label"), 100),
        "street": problems.check(clean_name, data.street, at("street")),
        "number": problems.check(optional_text, data.number, at("number"), 20),
        "unit": problems.check(optional_text, data.unit, at("unit"), 50),
        "city": problems.check(clean_name, data.city, at("city"), max_length=100),
        "region": problems.check(optional_text, data.region, at("region"), 100),
        "postal_code": problems.check(optional_text, data.postal_code, at("postalCode"), 20),
        "country": country,
        "is_primary": data.is_primary,
    }


# An address's columns and their API names: how the audit trail lists a contact's addresses.
ADDRESS_FIELDS = {
    column: audit.api_name(column)
    for column in ("label", "street", "number", "unit", "city", "region", "postal_code", "country", "is_primary")
}


def audited_address(row: Mapping[str, Any]) -> dict[str, Any]:
    return {name: row[column] for column, name in ADDRESS_FIELDS.items()}


def audited_channel(kind: str, normalized: str) -> str:
    """A channel as the audit trail lists it: KIND:value, the value normalised."""
    return f"{kind}:{normalized}"


def _addresses(addresses: Sequence[AddressData], problems: Problems, field: str) -> list[dict[str, Any]]:
    rows = [address_row(a, problems, f"{field}.{i}") for i, a in enumerate(addresses)]
    primaries = [r for r in rows if r["is_primary"]]
    if len(primaries) > 1:
        problems.add(ErrorCode.INVALID, "Only one address can be primary", field)
    elif rows and not primaries:
        rows[0]["is_primary"] = True  # a contact with addresses always has a primary one
    return rows


def _check_company_choice(
    problems: Problems, refs: References, *, by_id: bool, new_company: CompanyData | None
) -> dict[str, object] | None:
    """A contact's company is picked by id or created inline (C3), on creation and edit alike;
    an inline one is validated with the contact's other fields (a bulk call's item by item), and
    its cleaned values are what _inline_company writes."""
    if by_id and new_company is not None:
        problems.add(ErrorCode.INVALID, "Give either companyId or company, not both", "company")
    if new_company is None:
        return None
    values: dict[str, object] | None = problems.check(
        check_company, new_company, default_region=refs.default_region, prefix=_COMPANY
    )
    return values


_COMPANY = "company."


async def _inline_company(session: AsyncSession, actor: Principal, values: Mapping[str, object]) -> int:
    """Create the company a contact's input carries, from _check_company_choice's values, its name
    and tax id found free (problems named under `company`)."""
    return (await insert_company(session, actor, values, _COMPANY)).id


@dataclass
class Prepared:
    """A validated contact, ready to insert."""

    contact: dict[str, Any]
    channels: list[dict[str, Any]]
    addresses: list[dict[str, Any]]
    # The cleaned values of a company created with it (companies.check_company).
    new_company: dict[str, object] | None = None


def prepare(actor: Principal, data: ContactData, refs: References) -> Prepared:
    """Validate every field of a new contact; raise all problems at once."""
    problems = Problems()
    first = problems.check(clean_name, data.first_names, "firstNames")
    last = problems.check(clean_name, data.last_names, "lastNames")
    problems.check(check_team, actor, data.team_id)
    type_id, number = _document(refs, data.document, problems, "document")
    new_company = _check_company_choice(problems, refs, by_id=data.company_id is not None, new_company=data.new_company)
    channels = _channels(refs, data.channels, problems, "channels")
    addresses = _addresses(data.addresses, problems, "addresses")
    custom = problems.check(
        validation.validate_custom_fields, data.custom_fields, refs.definitions, require_all=True, listed=True
    )
    problems.raise_any()
    return Prepared(
        contact={
            "first_names": first,
            "last_names": last,
            "is_vip": data.is_vip,
            "document_type_id": type_id,
            "document_number": number,
            "company_id": data.company_id,
            "team_id": data.team_id,
            "custom_fields": {k: v for k, v in (custom or {}).items() if v is not None},
        },
        channels=channels,
        addresses=addresses,
        new_company=new_company,
    )


# --- writes -----------------------------------------------------------------------------------


def _snapshot(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "firstNames": row["first_names"],
        "lastNames": row["last_names"],
        "isVip": row["is_vip"],
        "documentTypeId": row["document_type_id"],
        "documentNumber": row["document_number"],
        "companyId": row["company_id"],
        "teamId": row["team_id"],
        "customFields": row["custom_fields"],
    }


async def _company_names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(select(Company.id, Company.name).where(Company.id.in_(ids)))
    return {i: name for i, name in rows.all()}


async def insert_prepared(
    session: AsyncSession, actor: Principal, items: Sequence[Prepared], *, batch_id: int | None = None
) -> list[int]:
    """Insert validated contacts with their channels and addresses, set-based, and audit each
    (under the bulk call's event `batch_id`, when there is one). Their inline companies' names and
    tax ids were found free (companies.taken)."""
    for item in items:
        if item.new_company is not None:
            item.contact["company_id"] = await _inline_company(session, actor, item.new_company)
    companies = await _company_names(session, {i.contact["company_id"] for i in items if i.contact["company_id"]})
    missing = {i.contact["company_id"] for i in items if i.contact["company_id"]} - set(companies)
    if missing:
        raise fail(ErrorCode.NOT_FOUND, "Company not found", "companyId")
    now = utcnow()
    ids = await allocate_ids(session, Contact, len(items))
    rows = []
    for contact_id, item in zip(ids, items, strict=True):
        c = item.contact
        rows.append(
            {
                "id": contact_id,
                **c,
                "search_name": search_name(c["first_names"], c["last_names"]),
                "sort_name": sort_name(c["first_names"], c["last_names"]),
                "search_text": search_text(
                    first_names=c["first_names"],
                    last_names=c["last_names"],
                    document=c["document_number"],
                    company=companies.get(c["company_id"]),
                    channels=[(ch["kind"], ch["normalized"]) for ch in item.channels],
                ),
                "created_at": now,
                "updated_at": now,
            }
        )
    await session.execute(insert(Contact), rows)
    channels = [
        {**ch, "contact_id": cid, "created_at": now}
        for cid, item in zip(ids, items, strict=True)
        for ch in item.channels
    ]
    if channels:
        await session.execute(insert(ContactChannel), channels)
    addresses = [
        {**a, "contact_id": cid, "created_at": now, "updated_at": now}
        for cid, item in zip(ids, items, strict=True)
        for a in item.addresses
    ]
    if addresses:
        await session.execute(insert(ContactAddress), addresses)
    await audit.record_many(
        session,
        actor=actor,
        batch_id=batch_id,
        action=AuditAction.CREATED,
        resource_type=ResourceType.CONTACT,
        entries=[
            Entry(
                resource_id=cid,
                resource_name=f"{row['first_names']} {row['last_names']}",
                team_ids=(row["team_id"],),
                changed=audit.changes(
                    {},
                    {
                        **_snapshot(row),
                        "channels": [audited_channel(ch["kind"], ch["normalized"]) for ch in item.channels],
                        "addresses": [audited_address(a) for a in item.addresses],
                    },
                ),
            )
            for cid, row, item in zip(ids, rows, items, strict=True)
        ],
    )
    return ids


async def create_contact(session: AsyncSession, actor: Principal, data: ContactData, *, default_region: str) -> Contact:
    refs = await References.load(session, default_region)
    prepared = prepare(actor, data, refs)
    if prepared.new_company is not None:
        await check_free(session, prepared.new_company, _COMPANY)
    (contact_id,) = await insert_prepared(session, actor, [prepared])
    return await get_visible(session, actor, contact_id)


@dataclass(frozen=True)
class BulkOutcome:
    index: int
    contact_id: int | None
    problems: tuple[Problem, ...] = ()


async def create_contacts(
    session: AsyncSession,
    actor: Principal,
    items: Sequence[ContactData],
    *,
    default_region: str,
    limit: int,
    rejected_before: int = 0,
) -> list[BulkOutcome]:
    """Create many contacts in one call (X2): the valid ones are created, each invalid one reported.

    `rejected_before` counts items the caller already refused (unreadable ids) for the batch record.
    """
    if len(items) + rejected_before > limit:
        raise fail(ErrorCode.LIMIT_EXCEEDED, f"At most {limit} contacts per call", "input")
    refs = await References.load(session, default_region)
    outcomes: dict[int, BulkOutcome] = {}
    good: list[tuple[int, Prepared]] = []
    for index, item in enumerate(items):
        try:
            good.append((index, prepare(actor, item, refs)))
        except DomainError as error:
            outcomes[index] = BulkOutcome(index=index, contact_id=None, problems=error.problems)
    known = await _company_names(session, {p.contact["company_id"] for _, p in good if p.contact["company_id"]})
    for index, prepared in list(good):
        company_id = prepared.contact["company_id"]
        if company_id and company_id not in known:
            problem = Problem(code=ErrorCode.NOT_FOUND, message="Company not found", field="companyId")
            outcomes[index] = BulkOutcome(index=index, contact_id=None, problems=(problem,))
            good.remove((index, prepared))
    inline = [(index, prepared) for index, prepared in good if prepared.new_company is not None]
    refusals = await taken(session, [prepared.new_company for _, prepared in inline], _COMPANY) if inline else []
    for (index, prepared), problems in zip(inline, refusals, strict=True):
        if problems:
            outcomes[index] = BulkOutcome(index=index, contact_id=None, problems=problems)
            good.remove((index, prepared))
    rejected = len(items) - len(good) + rejected_before
    # A call with items (even all refused, here or by the caller) is recorded; an empty one did nothing.
    recorded = items or rejected_before
    batch_id = await _record_batch(session, actor, created=len(good), rejected=rejected) if recorded else None
    ids = await insert_prepared(session, actor, [p for _, p in good], batch_id=batch_id) if good else []
    for (index, _), contact_id in zip(good, ids, strict=True):
        outcomes[index] = BulkOutcome(index=index, contact_id=contact_id)
    return [outcomes[i] for i in range(len(items))]


async def _record_batch(session: AsyncSession, actor: Principal, *, created: int, rejected: int) -> int:
    event_id = await audit.record(
        session,
        actor=actor,
        action=AuditAction.BULK_CREATED,
        resource_type=ResourceType.BATCH,
        resource_id=0,
        resource_name=f"{created} contacts created, {rejected} rejected",
        changed={"created": {"before": None, "after": created}, "rejected": {"before": None, "after": rejected}},
    )
    # The batch is its own resource: its id points back at this event, whose entries are the contacts'.
    await audit.point_to_self(session, event_id)
    return event_id


async def refresh_search(session: AsyncSession, contact: Contact) -> list[tuple[str, str]]:
    """Recompute a contact's search text from its current name, document, company and channels;
    the channels it read (channels_of)."""
    company = (
        await session.scalar(select(Company.name).where(Company.id == contact.company_id))
        if contact.company_id
        else None
    )
    channels = await channels_of(session, contact.id)
    contact.search_name = search_name(contact.first_names, contact.last_names)
    contact.sort_name = sort_name(contact.first_names, contact.last_names)
    contact.search_text = search_text(
        first_names=contact.first_names,
        last_names=contact.last_names,
        document=contact.document_number,
        company=company,
        channels=channels,
    )
    return channels


async def channels_of(session: AsyncSession, contact_id: int) -> list[tuple[str, str]]:
    """A contact's channels' (kind, normalized), in id order."""
    rows = await session.execute(
        select(ContactChannel.kind, ContactChannel.normalized)
        .where(ContactChannel.contact_id == contact_id)
        .order_by(ContactChannel.id)
    )
    return [(kind, normalized) for kind, normalized in rows.all()]


def snapshot(contact: Contact) -> dict[str, Any]:
    return _snapshot(
        {
            "first_names": contact.first_names,
            "last_names": contact.last_names,
            "is_vip": contact.is_vip,
            "document_type_id": contact.document_type_id,
            "document_number": contact.document_number,
            "company_id": contact.company_id,
            "team_id": contact.team_id,
            "custom_fields": dict(contact.custom_fields or {}),
        }
    )


async def record_change(
    session: AsyncSession,
    actor: Principal,
    contact: Contact,
    before: Mapping[str, Any],
    action: AuditAction = AuditAction.UPDATED,
    extra: Mapping[str, Any] | None = None,
) -> None:
    changed = audit.changes(before, snapshot(contact))
    changed.update(extra or {})
    if not changed:
        return
    await audit.record(
        session,
        actor=actor,
        action=action,
        resource_type=ResourceType.CONTACT,
        resource_id=contact.id,
        resource_name=f"{contact.first_names} {contact.last_names}",
        team_ids=sorted({contact.team_id, *(v for v in [before.get("teamId")] if isinstance(v, int))}),
        changed=changed,
    )


@dataclass(frozen=True)
class ContactChanges:
    first_names: Maybe[str] = UNSET
    last_names: Maybe[str] = UNSET
    is_vip: Maybe[bool] = UNSET
    document: Maybe[DocumentData | None] = UNSET
    company_id: Maybe[int | None] = UNSET
    # A company created with the edit, instead of one picked by company_id (C3).
    new_company: Maybe[CompanyData] = UNSET
    team_id: Maybe[int] = UNSET
    custom_fields: Maybe[Mapping[str, object]] = UNSET


async def update_contact(
    session: AsyncSession, actor: Principal, contact_id: int, changes: ContactChanges, *, default_region: str
) -> Contact:
    """Change only the given fields; everything is validated before anything is written.

    `default_region`: the country of a phone typed without + (an inline company's)."""
    contact = await get_visible(session, actor, contact_id, for_update=True)
    if contact.archived_at is not None:
        raise fail(ErrorCode.CONFLICT, "Archived contacts cannot be edited", "id")
    before = snapshot(contact)
    needs_refs = changes.document is not UNSET or changes.custom_fields is not UNSET
    refs = (
        await References.load(session, default_region)
        if needs_refs
        else References(document_types={}, definitions=[], default_region=default_region)
    )
    problems = Problems()
    if changes.first_names is not UNSET:
        contact.first_names = problems.check(clean_name, changes.first_names, "firstNames") or contact.first_names
    if changes.last_names is not UNSET:
        contact.last_names = problems.check(clean_name, changes.last_names, "lastNames") or contact.last_names
    if changes.is_vip is not UNSET:
        contact.is_vip = changes.is_vip
    if changes.document is not UNSET:
        contact.document_type_id, contact.document_number = _document(refs, changes.document, problems, "document")
    if changes.company_id is not UNSET:
        if changes.company_id is not None and not await session.scalar(
            select(exists().where(Company.id == changes.company_id))
        ):
            problems.add(ErrorCode.NOT_FOUND, "Company not found", "companyId")
        contact.company_id = changes.company_id
    new_company = None if changes.new_company is UNSET else changes.new_company
    company = _check_company_choice(problems, refs, by_id=changes.company_id is not UNSET, new_company=new_company)
    if changes.team_id is not UNSET:
        problems.check(check_team, actor, changes.team_id)
        contact.team_id = changes.team_id
    if changes.custom_fields is not UNSET:
        cleaned = problems.check(
            validation.validate_custom_fields, changes.custom_fields, refs.definitions, require_all=False, listed=True
        )
        merged = dict(contact.custom_fields or {})
        for key, value in (cleaned or {}).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        contact.custom_fields = merged
    problems.raise_any()
    if company is not None:
        await check_free(session, company, _COMPANY)
        contact.company_id = await _inline_company(session, actor, company)
    await refresh_search(session, contact)
    await session.flush()
    await record_change(session, actor, contact, before)
    if before["isVip"] != contact.is_vip:
        await _announce_vip(session, contact)
    return contact


async def _announce_vip(session: AsyncSession, contact: Contact) -> None:
    """The VIP star is part of what every agent who sees the contact sees (P8)."""
    owner = await session.scalar(
        select(Portfolio.agent_id)
        .join(PortfolioMember, PortfolioMember.portfolio_id == Portfolio.id)
        .where(PortfolioMember.contact_id == contact.id)
    )
    events.emit(
        session,
        events.EventKind.CONTACT_VIP,
        {"contactId": contact.id, "isVip": contact.is_vip},
        users=[owner],
        teams=[contact.team_id],
    )


async def set_vip(
    session: AsyncSession, actor: Principal, contact_id: int, *, vip: bool, default_region: str
) -> Contact:
    return await update_contact(session, actor, contact_id, ContactChanges(is_vip=vip), default_region=default_region)


async def archive_contact(session: AsyncSession, actor: Principal, contact_id: int) -> Contact:
    """Hide a contact from lists; its row, channels and history stay."""
    contact = await get_visible(session, actor, contact_id, for_update=True)
    if contact.archived_at is not None:
        return contact
    contact.archived_at = utcnow()
    await session.flush()
    await record_change(
        session, actor, contact, snapshot(contact), AuditAction.ARCHIVED, {"archived": {"before": False, "after": True}}
    )
    return contact
