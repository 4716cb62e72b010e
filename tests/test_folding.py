"""Same rule, same answer on both backends (issue 21, point 15): every text filter and name order
folds accents and case as contact search does, and a custom field filter reads a value alike."""

from __future__ import annotations

from typing import Any

import pytest

from db.models import Role, Team, User
from db.search import fold
from tests.conftest import GraphQLClient
from tests.factories import Factory, gid, person

CREATE_FIELD = """
mutation($input: CreateCustomFieldInput!) {
  createCustomField(input: $input) { customField { id } userErrors { field code } }
}
"""
CREATE_CONTACTS = """
mutation($input: [CreateContactInput!]!) { createContacts(input: $input) { createdCount } }
"""
CONTACTS = "query($filter: ContactFilter) { contacts(filter: $filter) { nodes { fullName } } }"
USERS = """
query($filter: UserFilter, $order: UserOrder) { users(filter: $filter, orderBy: $order) { nodes { name } } }
"""
TEAMS = "query($filter: TeamFilter) { teams(filter: $filter) { nodes { name } } }"
MEMBERS = "query($id: ID!) { node(id: $id) { ... on Team { members { nodes { name } } } } }"
COMPANIES = "query($search: String) { companies(search: $search) { nodes { name } } }"
CREATE_COMPANY = "mutation($input: CompanyInput!) { createCompany(input: $input) { userErrors { code } } }"
PORTFOLIOS = "query($filter: PortfolioFilter) { portfolios(filter: $filter) { nodes { name } } }"
CAMPAIGNS = "query($filter: CampaignFilter) { campaigns(filter: $filter) { nodes { name } } }"
TYPOLOGIES = "{ typologies { name } }"
CREATE_TYPOLOGY = """
mutation($input: CreateTypologyInput!) { createTypology(input: $input) { userErrors { code field } } }
"""
CREATE_TEAM = "mutation($name: String!) { createTeam(input: {name: $name}) { team { id } userErrors { code } } }"
AUDIT = "query($text: String) { auditEvents(filter: {text: $text}) { nodes { actorName resourceName } } }"
ASSIGN = """
mutation($p: ID!, $ids: [ID!]!) { assignContactsToPortfolio(portfolioId: $p, contacts: {ids: $ids}) { assignedCount } }
"""


@pytest.fixture
async def admin(factory: Factory) -> User:
    return await factory.user(Role.ADMIN, name="Gastón Escobar")


def names(data: dict[str, Any], field: str) -> list[str]:
    return [node["name"] for node in data[field]["nodes"]]


async def test_boolean_and_number_custom_fields_filter_alike(
    client: GraphQLClient, factory: Factory, admin: User, team: Team
) -> None:
    """SQLite's json_extract gives true as 1 and 10 as an integer: "true" and "10" found nothing there."""
    token = factory.token(admin)
    for key, kind in (("moroso", "BOOLEAN"), ("cuotas", "NUMBER")):
        field = await client.data(CREATE_FIELD, {"input": {"key": key, "label": key, "type": kind}}, token)
        assert field["createCustomField"]["userErrors"] == []
    people = [
        ("Ana", [{"key": "moroso", "value": True}, {"key": "cuotas", "value": 3}]),
        ("Berta", [{"key": "moroso", "value": False}, {"key": "cuotas", "value": 10}]),
        ("Carla", [{"key": "cuotas", "value": 2.5}]),
    ]
    made = [person(team, firstNames=n, lastNames="Ríos", customFields=f) for n, f in people]
    assert (await client.data(CREATE_CONTACTS, {"input": made}, token))["createContacts"]["createdCount"] == 3
    cases = {
        ("moroso", "true"): ["Ana Ríos"],
        ("moroso", "false"): ["Berta Ríos"],
        ("cuotas", "10"): ["Berta Ríos"],
        ("cuotas", "2.5"): ["Carla Ríos"],
        ("cuotas", "1"): [],
        # A key no custom field can have matches nothing (SQLite would not parse it as a path).
        ('cuotas" OR 1', "10"): [],
    }
    for (key, value), expected in cases.items():
        found = await client.data(CONTACTS, {"filter": {"customField": {"key": key, "value": value}}}, token)
        assert [n["fullName"] for n in found["contacts"]["nodes"]] == expected, (key, value)


async def test_users_search_and_name_order_fold_accents_and_case(
    client: GraphQLClient, factory: Factory, admin: User, team: Team
) -> None:
    for name in ("Valentina Sosa", "Ángela Ruiz", "angela Díaz", "ÓSCAR Núñez"):
        await factory.user(name=name, teams=[team])
    token = factory.token(admin)
    ordered = await client.data(USERS, {"order": {"field": "NAME"}}, token)
    assert names(ordered, "users") == ["angela Díaz", "Ángela Ruiz", "Gastón Escobar", "ÓSCAR Núñez", "Valentina Sosa"]
    for typed in ("angela", "ÁNGELA", "Ángela"):
        found = await client.data(USERS, {"filter": {"search": typed}}, token)
        assert names(found, "users") == ["angela Díaz", "Ángela Ruiz"], typed
    assert names(await client.data(USERS, {"filter": {"search": "oscar nuñez"}}, token), "users") == ["ÓSCAR Núñez"]
    members = await client.data(MEMBERS, {"id": gid(team)}, token)
    assert [m["name"] for m in members["node"]["members"]["nodes"]] == [
        "angela Díaz",
        "Ángela Ruiz",
        "ÓSCAR Núñez",
        "Valentina Sosa",
    ]


async def test_teams_companies_portfolios_campaigns_typologies_fold(
    client: GraphQLClient, factory: Factory, admin: User, team: Team
) -> None:
    token = factory.token(admin)
    for name in ("Área Norte", "ZONA SUR"):
        await factory.team(name)
    assert names(await client.data(TEAMS, {}, token), "teams") == ["Área Norte", "Cobranzas", "ZONA SUR"]
    assert names(await client.data(TEAMS, {"filter": {"search": "AREA"}}, token), "teams") == ["Área Norte"]

    for name in ("Bodega Andina", "Ángulo Recto S.A.", "Logística Sur"):
        created = await client.data(CREATE_COMPANY, {"input": {"name": name}}, token)
        assert created["createCompany"]["userErrors"] == []
    assert names(await client.data(COMPANIES, {}, token), "companies") == [
        "Ángulo Recto S.A.",
        "Bodega Andina",
        "Logística Sur",
    ]
    assert names(await client.data(COMPANIES, {"search": "LOGISTICA"}, token), "companies") == ["Logística Sur"]

    for name in ("Morosos", "Élite", "atrasados"):
        await factory.portfolio(name, team=team)
    assert names(await client.data(PORTFOLIOS, {}, token), "portfolios") == ["atrasados", "Élite", "Morosos"]
    assert names(await client.data(PORTFOLIOS, {"filter": {"search": "elite"}}, token), "portfolios") == ["Élite"]

    for name in ("Recupero", "Álamo", "cobranza"):
        await factory.campaign(name, team)
    assert names(await client.data(CAMPAIGNS, {}, token), "campaigns") == ["Álamo", "cobranza", "Recupero"]
    assert names(await client.data(CAMPAIGNS, {"filter": {"search": "ALAMO"}}, token), "campaigns") == ["Álamo"]

    shipped = [t["name"] for t in (await client.data(TYPOLOGIES, token=token))["typologies"]]
    created = await client.data(CREATE_TYPOLOGY, {"input": {"code": "AGIL", "name": "Ágil", "planFields": []}}, token)
    assert created["createTypology"]["userErrors"] == []
    listed = [t["name"] for t in (await client.data(TYPOLOGIES, token=token))["typologies"]]
    assert listed == sorted([*shipped, "Ágil"], key=fold)
    # Compared as stored, "Á" sorts after every unaccented capital.
    assert listed.index("Ágil") < len(listed) - 1


async def test_audit_text_filter_folds_accents_and_case(
    client: GraphQLClient, factory: Factory, admin: User, team: Team
) -> None:
    """ "gaston" found none of Gastón's events; on SQLite not even "Gastón" did (lower() is ASCII there)."""
    token = factory.token(admin)
    created = await client.data(CREATE_TEAM, {"name": "Área López"}, token)
    assert created["createTeam"]["userErrors"] == []
    # A bulk call's entries (audit.record_entries) carry the folded names too.
    clients = await factory.contacts(team, "Inés Peña")
    portfolio = await factory.portfolio("Cartera", team=team)
    assigned = await client.data(ASSIGN, {"p": gid(portfolio), "ids": [gid(c) for c in clients]}, token)
    assert assigned["assignContactsToPortfolio"]["assignedCount"] == 1
    for typed, resource in [
        ("gaston", "Área López"),
        ("GASTÓN area", "Área López"),
        ("Gastón Escobar", "Área López"),
        ("lopez", "Área López"),
        ("inés pena", "Inés Peña"),
        ("INES", "Inés Peña"),
    ]:
        found = await client.data(AUDIT, {"text": typed}, token)
        assert resource in [n["resourceName"] for n in found["auditEvents"]["nodes"]], typed
        assert {n["actorName"] for n in found["auditEvents"]["nodes"]} == {"Gastón Escobar"}, typed
    assert (await client.data(AUDIT, {"text": "perez"}, token))["auditEvents"]["nodes"] == []
