"""Duplicates (issue 21, point 17): one e-mail channel per address and contact whatever its case,
one company per folded name, one portfolio per folded name and owner, a company website that is
one; each a typed error that writes nothing, kept by unique indexes against racing calls, and
resolved by migration 0014 where a database already had them."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from db import migrate
from db.models import AuditEvent, Company, ContactChannel, Portfolio, Role, Team, User
from services import demo
from tests.conftest import GraphQLClient
from tests.factories import Factory, gid, person, problems

CREATE_CONTACT = """
mutation($input: CreateContactInput!) {
  createContact(input: $input) { contact { id channels { normalized } } userErrors { field code } }
}
"""
ADD_CHANNEL = """
mutation($id: ID!, $input: ChannelInput!) {
  addContactChannel(contactId: $id, input: $input) { contact { channels { value } } userErrors { field code } }
}
"""
CREATE_COMPANY = """
mutation($input: CompanyInput!) { createCompany(input: $input) { company { id } userErrors { field code } } }
"""
UPDATE_COMPANY = """
mutation($id: ID!, $input: UpdateCompanyInput!) {
  updateCompany(id: $id, input: $input) { userErrors { field code } }
}
"""
CREATE_PORTFOLIO = """
mutation($input: CreatePortfolioInput!) {
  createPortfolio(input: $input) { portfolio { id } userErrors { field code } }
}
"""
UPDATE_PORTFOLIO = """
mutation($id: ID!, $input: UpdatePortfolioInput!) {
  updatePortfolio(id: $id, input: $input) { userErrors { field code } }
}
"""


async def test_an_email_differing_in_case_is_the_same_channel(
    client: GraphQLClient, factory: Factory, admin: User, team: Team
) -> None:
    token = factory.token(admin)
    typed = [{"kind": "EMAIL", "value": "Ana.Gomez@Example.com"}, {"kind": "EMAIL", "value": "ana.gomez@example.COM"}]
    made = await client.data(CREATE_CONTACT, {"input": person(team, firstNames="Ana", channels=typed)}, token)
    contact = made["createContact"]["contact"]
    assert [c["normalized"] for c in contact["channels"]] == ["ana.gomez@example.com"]
    before = await factory.count(AuditEvent)
    again = await client.data(
        ADD_CHANNEL, {"id": contact["id"], "input": {"kind": "EMAIL", "value": "ANA.GOMEZ@example.com"}}, token
    )
    assert problems(again["addContactChannel"]) == [("ALREADY_EXISTS", "input.value")]
    assert await factory.count(ContactChannel) == 1
    assert await factory.count(AuditEvent) == before
    # Across contacts the rule stays what it was: two clients may share an address (a family's).
    other = await client.data(CREATE_CONTACT, {"input": person(team, firstNames="Luis", channels=typed[:1])}, token)
    assert other["createContact"]["userErrors"] == []


async def test_companies_named_alike_but_for_accents_and_case(
    client: GraphQLClient, factory: Factory, admin: User, team: Team
) -> None:
    token = factory.token(admin)
    first = await client.data(CREATE_COMPANY, {"input": {"name": "Logística del Sur S.A."}}, token)
    assert first["createCompany"]["userErrors"] == []
    before = await factory.count(AuditEvent)
    for name in ("LOGISTICA DEL SUR S.A.", "logística  del sur s.a."):
        again = await client.data(CREATE_COMPANY, {"input": {"name": name}}, token)
        assert problems(again["createCompany"]) == [("ALREADY_EXISTS", "input.name")], name
    inline = await client.data(
        CREATE_CONTACT, {"input": person(team, company={"name": "Logistica Del Sur S.A."})}, token
    )
    assert problems(inline["createContact"]) == [("ALREADY_EXISTS", "input.company.name")]
    other = await client.data(CREATE_COMPANY, {"input": {"name": "Bodega Andina"}}, token)
    rename = await client.data(
        UPDATE_COMPANY,
        {"id": other["createCompany"]["company"]["id"], "input": {"name": "LOGÍSTICA DEL SUR S.A."}},
        token,
    )
    assert problems(rename["updateCompany"]) == [("ALREADY_EXISTS", "input.name")]
    assert await factory.count(Company) == 2
    assert await factory.count(AuditEvent) == before + 1  # Bodega Andina's creation only


@pytest.mark.parametrize("website", ["not a url", "ftp://example.com", "https://", "example", "http://exa mple.com"])
async def test_a_website_must_be_a_web_address(
    client: GraphQLClient, factory: Factory, admin: User, website: str
) -> None:
    token = factory.token(admin)
    refused = await client.data(CREATE_COMPANY, {"input": {"name": "Acme", "website": website}}, token)
    assert problems(refused["createCompany"]) == [("INVALID", "input.website")]
    assert await factory.count(Company) == 0
    assert await factory.count(AuditEvent) == 0


async def test_websites_that_are_accepted(client: GraphQLClient, factory: Factory, admin: User) -> None:
    token = factory.token(admin)
    for n, website in enumerate(["https://www.acme.com.ar", "acme.com", "http://ñandú.com.ar/contacto?x=1"]):
        made = await client.data(CREATE_COMPANY, {"input": {"name": f"Acme {n}", "website": website}}, token)
        assert made["createCompany"]["userErrors"] == [], website


async def test_portfolios_named_alike_in_one_team(
    client: GraphQLClient, factory: Factory, admin: User, team: Team
) -> None:
    token = factory.token(admin)
    other_team = await factory.team("Ventas")
    agent = await factory.user(Role.AGENT, teams=[team])
    first = await client.data(CREATE_PORTFOLIO, {"input": {"name": "Morosos Críticos", "teamId": gid(team)}}, token)
    assert first["createPortfolio"]["userErrors"] == []
    before = await factory.count(AuditEvent)
    for owners in ({"teamId": gid(team)}, {"teamId": gid(team), "agentId": gid(agent)}):
        again = await client.data(CREATE_PORTFOLIO, {"input": {"name": "MOROSOS CRITICOS", **owners}}, token)
        assert problems(again["createPortfolio"]) == [("ALREADY_EXISTS", "input.name")], owners
    assert await factory.count(Portfolio) == 1
    assert await factory.count(AuditEvent) == before
    # Another team, or an agent's own portfolio of no team, may have the name.
    for owners in ({"teamId": gid(other_team)}, {"agentId": gid(agent)}):
        made = await client.data(CREATE_PORTFOLIO, {"input": {"name": "Morosos críticos", **owners}}, token)
        assert made["createPortfolio"]["userErrors"] == [], owners
    second = await client.data(CREATE_PORTFOLIO, {"input": {"name": "Al día", "teamId": gid(team)}}, token)
    renamed = await client.data(
        UPDATE_PORTFOLIO,
        {"id": second["createPortfolio"]["portfolio"]["id"], "input": {"name": "morosos críticos"}},
        token,
    )
    assert problems(renamed["updatePortfolio"]) == [("ALREADY_EXISTS", "input.name")]


async def test_racing_creates_one_wins(client: GraphQLClient, factory: Factory, admin: User, team: Team) -> None:
    """Both calls may pass the check before either writes: the unique index decides."""
    token = factory.token(admin)
    companies = await asyncio.gather(
        *(client.data(CREATE_COMPANY, {"input": {"name": name}}, token) for name in ["Ñandú SRL", "ñandu srl"] * 5)
    )
    portfolios = await asyncio.gather(
        *(
            client.data(CREATE_PORTFOLIO, {"input": {"name": name, "teamId": gid(team)}}, token)
            for name in ["Élite", "elite"] * 5
        )
    )
    for outcomes, field in ((companies, "createCompany"), (portfolios, "createPortfolio")):
        codes = sorted(tuple(problems(o[field])) for o in outcomes)
        assert codes == [()] + [(("ALREADY_EXISTS", "input.name"),)] * 9, field
    assert await factory.count(Company) == 1
    assert await factory.count(Portfolio) == 1


async def test_demo_companies_are_unique_once_folded(blank_engine: AsyncEngine) -> None:
    """The seeder's name patterns repeat long before the companies of a large seed (25,000 at a million)."""
    await migrate.upgrade(blank_engine)
    async with blank_engine.begin() as conn:
        await demo._setup(conn, random.Random(2026), 4000, datetime.now(UTC))
    async with blank_engine.connect() as conn:
        total = await conn.scalar(select(func.count()).select_from(Company))
        distinct = await conn.scalar(select(func.count(func.distinct(Company.search_name))))
    assert total == distinct == 4000


async def test_migration_resolves_existing_duplicates(blank_engine: AsyncEngine) -> None:
    """0014 on a database that has them: the oldest keeps its name, the others are renamed; a
    contact's e-mails that differ only in case become one."""
    now = "CURRENT_TIMESTAMP"
    await migrate.upgrade(blank_engine, "0013")
    async with blank_engine.begin() as conn:

        async def insert(sql: str, **values: Any) -> int:
            found = await conn.scalar(text(f"{sql} RETURNING id"), values)
            assert isinstance(found, int)
            return found

        add_team = (
            f"INSERT INTO teams (name, path, sort_name, created_at, updated_at) VALUES (:n, '/', 'area', {now}, {now})"
        )
        team = await insert(add_team, n="Área")
        twin = await insert(add_team, n="AREA")
        companies = [
            await insert(
                "INSERT INTO companies (name, search_name, created_at, updated_at)"
                f" VALUES (:n, 'logistica sur', {now}, {now})",
                n=name,
            )
            for name in ("Logística Sur", "LOGISTICA SUR")
        ]
        for name in ("Élite", "elite"):
            await insert(
                "INSERT INTO portfolios (name, search_name, team_id, active, created_at, updated_at)"
                f" VALUES (:n, 'elite', :t, true, {now}, {now})",
                n=name,
                t=team,
            )
        contact = await insert(
            "INSERT INTO contacts (first_names, last_names, is_vip, team_id, company_id, custom_fields,"
            " search_text, search_name, sort_name, created_at, updated_at) VALUES ('Ana', 'Paz', false, :t, :c,"
            f" '{{}}', 'ana paz |  | logistica sur | ana@x.com', 'ana paz', 'paz ana', {now}, {now})",
            t=team,
            c=companies[1],
        )
        for value in ("Ana@X.com", "ana@x.com", "Otra@X.com"):
            await insert(
                "INSERT INTO contact_channels (contact_id, kind, value, normalized, created_at)"
                f" VALUES (:c, 'EMAIL', :v, :v, {now})",
                c=contact,
                v=value,
            )
    await migrate.upgrade(blank_engine)
    async with blank_engine.connect() as conn:
        teams = (await conn.execute(text("SELECT name FROM teams ORDER BY id"))).scalars().all()
        names = (await conn.execute(text("SELECT name, search_name FROM companies ORDER BY id"))).all()
        kept = (await conn.execute(text("SELECT name FROM portfolios ORDER BY id"))).scalars().all()
        emails = (await conn.execute(text("SELECT value, normalized FROM contact_channels ORDER BY id"))).all()
        searched = await conn.scalar(text("SELECT search_text FROM contacts"))
    assert teams == ["Área", f"AREA ({twin})"]
    second = companies[1]
    assert [tuple(r) for r in names] == [
        ("Logística Sur", "logistica sur"),
        (f"LOGISTICA SUR ({second})", f"logistica sur ({second})"),
    ]
    assert kept[0] == "Élite"
    assert kept[1].startswith("elite (")
    assert [tuple(r) for r in emails] == [("Ana@X.com", "ana@x.com"), ("Otra@X.com", "otra@x.com")]
    assert searched == f"ana paz |  | logistica sur ({second}) | ana@x.com"
