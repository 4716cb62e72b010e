"""Companies (C1, C3): shared by contacts; anyone who manages contacts may create and edit them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, String, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.keyset import Page, PageRequest, SortKey, paginate
from db.models import Company, Contact, Role
from db.search import fold, matches
from db.sets import value_table
from services import audit, validation
from services.audit import AuditAction, ResourceType
from services.common import UNSET, Maybe, clean_name, flush_unique, optional_text
from services.errors import DomainError, ErrorCode, Problem, fail, forbidden, not_found
from services.principal import Principal

COMPANY_KEYS = (SortKey(Company.search_name, "search_name", "str"), SortKey(Company.id, "id", "int"))
# A host name's label: letters (any script) or digits, with hyphens inside.
_HOST_LABEL = re.compile(r"[^\W_]([\w-]*[^\W_])?")


@dataclass(frozen=True)
class CompanyData:
    name: str
    tax_id: str | None = None
    industry: str | None = None
    website: str | None = None
    address: str | None = None
    phone: str | None = None


def _website(value: str | None, field: str) -> str | None:
    """A web address: http(s) with a host name that has a dot ("acme.com.ar"), the scheme optional."""
    cleaned = optional_text(value, field, 300)
    if cleaned is None:
        return None
    try:
        parts = urlsplit(cleaned if "://" in cleaned else f"https://{cleaned}")
        host = parts.hostname or ""
    except ValueError:  # an unclosed "[" (IPv6 literal) or a port that is no number
        raise fail(ErrorCode.INVALID, "Not a web address", field) from None
    labels = host.split(".")
    if (
        parts.scheme.lower() not in ("http", "https")
        or " " in cleaned
        or len(labels) < 2
        or not all(_HOST_LABEL.fullmatch(label) for label in labels)
    ):
        raise fail(ErrorCode.INVALID, "Not a web address (e.g. https://example.com)", field)
    return cleaned


def _clean(given: Mapping[str, str | None], default_region: str, prefix: str) -> dict[str, object]:
    """The given fields (by column name) cleaned, the others left out; every problem raised together."""
    checks: dict[str, Callable[[Any], object]] = {
        "name": lambda name: clean_name(name, f"{prefix}name"),
        "tax_id": lambda tax_id: (
            validation.clean_document_number(tax_id, field=f"{prefix}taxId") or None if tax_id else None
        ),
        "industry": lambda industry: optional_text(industry, f"{prefix}industry", 100),
        "website": lambda website: _website(website, f"{prefix}website"),
        "address": lambda address: optional_text(address, f"{prefix}address", 400),
        "phone": lambda phone: (
            validation.normalise_phone(phone, default_region=default_region, field=f"{prefix}phone")
            if phone and phone.strip()
            else None
        ),
    }
    problems: list[Problem] = []
    values: dict[str, object] = {}
    for key, value in given.items():
        try:
            values[key] = checks[key](value)
        except DomainError as error:
            problems.extend(error.problems)
    if problems:
        raise DomainError(*problems)
    return values


def check_company(data: CompanyData, *, default_region: str, prefix: str) -> dict[str, object]:
    """A new company's values, cleaned (problems under `prefix`): what insert_company writes."""
    return _clean(asdict(data), default_region, prefix)


def _audited(values: Mapping[str, object]) -> dict[str, object]:
    """A company's values by their API names (the audit trail's field names)."""
    return {audit.api_name(key): value for key, value in values.items()}


_NAME_TAKEN = "A company with this name already exists"
_TAX_ID_TAKEN = "A company with this tax id already exists"


async def taken(
    session: AsyncSession, candidates: Sequence[Mapping[str, object] | None], prefix: str
) -> list[tuple[Problem, ...]]:
    """For each candidate's values (None: no company), ALREADY_EXISTS on a name or tax id that a
    stored company has, or an earlier candidate that is free; two statements for them all."""
    dialect = session.get_bind().dialect.name
    names = {fold(str(c["name"])) for c in candidates if c and c.get("name")}
    tax_ids = {str(c["tax_id"]) for c in candidates if c and c.get("tax_id")}
    held_names: set[object] = set()
    held_tax_ids: set[object] = set()
    if names:
        listed = value_table(dialect, {"name": (String(), sorted(names))})
        held_names.update(await session.scalars(select(Company.search_name).where(Company.search_name.in_(listed))))
    if tax_ids:
        listed = value_table(dialect, {"tax_id": (String(), sorted(tax_ids))})
        held_tax_ids.update(await session.scalars(select(Company.tax_id).where(Company.tax_id.in_(listed))))
    outcomes: list[tuple[Problem, ...]] = []
    for candidate in candidates:
        name = fold(str(candidate["name"])) if candidate and candidate.get("name") else None
        tax_id = candidate.get("tax_id") if candidate else None
        problems = []
        if name is not None and name in held_names:
            problems.append(Problem(ErrorCode.ALREADY_EXISTS, _NAME_TAKEN, f"{prefix}name"))
        if tax_id and tax_id in held_tax_ids:
            problems.append(Problem(ErrorCode.ALREADY_EXISTS, _TAX_ID_TAKEN, f"{prefix}taxId"))
        if not problems:  # it will be written: later candidates find its name and tax id taken
            held_names.add(name)
            held_tax_ids.add(tax_id)
        outcomes.append(tuple(problems))
    return outcomes


async def check_free(session: AsyncSession, values: Mapping[str, object], prefix: str) -> None:
    """Refuse (ALREADY_EXISTS) the name or tax id among `values` that a stored company has."""
    (problems,) = await taken(session, [values], prefix)
    if problems:
        raise DomainError(*problems)


async def _flush_unique(session: AsyncSession, prefix: str) -> None:
    """Flush; a concurrent call that took the name or the tax id first makes it ALREADY_EXISTS."""
    taken_tax_id = (_TAX_ID_TAKEN, f"{prefix}taxId")
    await flush_unique(session, _NAME_TAKEN, f"{prefix}name", by_index={"uq_companies_tax_id": taken_tax_id})


async def create_company(
    session: AsyncSession, actor: Principal, data: CompanyData, *, default_region: str, prefix: str = ""
) -> Company:
    values = check_company(data, default_region=default_region, prefix=prefix)
    await check_free(session, values, prefix)
    return await insert_company(session, actor, values, prefix)


async def insert_company(session: AsyncSession, actor: Principal, values: Mapping[str, object], prefix: str) -> Company:
    """Write and audit a company from check_company's values, its name and tax id found free
    (check_free, taken); one a concurrent call took since is ALREADY_EXISTS all the same."""
    company = Company(**values)
    session.add(company)
    await _flush_unique(session, prefix)
    await audit.record(
        session,
        actor=actor,
        action=AuditAction.CREATED,
        resource_type=ResourceType.COMPANY,
        resource_id=company.id,
        resource_name=company.name,
        changed=audit.changes({}, _audited({k: v for k, v in values.items() if v is not None})),
    )
    return company


async def update_company(
    session: AsyncSession,
    actor: Principal,
    company_id: int,
    *,
    name: Maybe[str] = UNSET,
    tax_id: Maybe[str | None] = UNSET,
    industry: Maybe[str | None] = UNSET,
    website: Maybe[str | None] = UNSET,
    address: Maybe[str | None] = UNSET,
    phone: Maybe[str | None] = UNSET,
    default_region: str,
) -> Company:
    """Change the given fields (ADMIN, SUPERVISOR); a rename reaches its contacts' search text at once."""
    if actor.role is Role.AGENT:
        raise forbidden("Only admins and supervisors can edit companies")
    company = await session.get(Company, company_id, with_for_update=True)
    if company is None:
        raise not_found("Company", "id")
    given = {
        "name": name,
        "tax_id": tax_id,
        "industry": industry,
        "website": website,
        "address": address,
        "phone": phone,
    }
    # Only the given fields are checked: a stored value from before a rule tightened stays as it is.
    cleaned = _clean({k: v for k, v in given.items() if v is not UNSET}, default_region, "")
    # Only a name or tax id that changes can be another company's (a name as folded: "ACME" is "Acme").
    changing = dict(cleaned)
    if fold(str(changing.get("name", company.name))) == company.search_name:
        changing.pop("name", None)
    if changing.get("tax_id") == company.tax_id:
        changing.pop("tax_id", None)
    await check_free(session, changing, "")
    current = {key: getattr(company, key) for key in cleaned}
    changed = audit.changes(_audited(current), _audited(cleaned))
    if not changed:
        return company
    old_name = company.name
    for key, value in cleaned.items():
        setattr(company, key, value)
    await _flush_unique(session, "")
    if company.name != old_name:
        await rename_company_in_search(session, company.id, old_name, company.name)
    await audit.record(
        session,
        actor=actor,
        action=AuditAction.UPDATED,
        resource_type=ResourceType.COMPANY,
        resource_id=company.id,
        resource_name=company.name,
        changed=changed,
    )
    return company


def filtered(search: str | None) -> Select[Company]:
    stmt = select(Company)
    if search and search.strip():
        stmt = stmt.where(matches(search, Company.search_name))
    return stmt


async def list_companies(
    session: AsyncSession, search: str | None, page: PageRequest, *, max_page_size: int
) -> tuple[Page[Company], Select[Company]]:
    stmt = filtered(search)
    return await paginate(session, stmt, keys=COMPANY_KEYS, request=page, max_page_size=max_page_size), stmt


async def rename_company_in_search(session: AsyncSession, company_id: int, old_name: str, new_name: str) -> None:
    """Rewrite the company section of its contacts' search text in one UPDATE (see contacts.search_text)."""
    await session.execute(
        update(Contact)
        .where(Contact.company_id == company_id)
        .values(search_text=func.replace(Contact.search_text, f" | {fold(old_name)} | ", f" | {fold(new_name)} | "))
        .execution_options(synchronize_session=False)
    )
