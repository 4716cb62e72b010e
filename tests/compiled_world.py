"""The account the differential tests ask about (tests/test_compiled_differential.py): a tree
of teams, one user of each role, about sixty contacts with everything a contact can hold, and
the portfolios, gestiones and audit trail around them.

Built through the API where a service derives something (search columns, audit rows, a bulk
call's batch event) and through tests/factories.py where a row is plain. Names carry accents,
quotes, backslashes, emoji and characters next to the control range, so both read paths must
escape the same way; numbers in custom fields and audit changes carry fractions and large
exponents, so both must print them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from db.models import (
    AuditEvent,
    Campaign,
    Contact,
    ContactAddress,
    ContactChannel,
    ConversationStatus,
    CustomFieldDefinition,
    DocumentType,
    Role,
    Team,
    Typology,
    TypologyResult,
    User,
)
from schema.node import to_global_id
from tests.factories import Factory, doc_type, gid, mutate

if TYPE_CHECKING:
    from tests.conftest import GraphQLClient

# Text that escapes differently in careless hands: quotes, a backslash, a tab's neighbours
# (DEL, NEL, U+2028), non-breaking and zero-width spaces, a BOM, emoji with a joiner and a
# skin tone, combining accents, right-to-left text.
AWKWARD = [
    'O\'Brien "el Toro"',
    "Back\\slash \\n not a newline",
    "Ñandú Pérez-Güemes",
    "Zoë Ångström",
    "Emoji 🎉 👩🏽‍💻",
    "del\x7f nel\x85 ls\u2028 ps\u2029",
    "nbsp\u00a0zw\u200bbom\ufeff",
    "Combining e\u0301 a\u0300",
    "עברית عربى",
    "</script><b>&amp;</b>",
    "Tab\tInside",
    "Ünïcödé \U0001d518\U0001d52b\U0001d526",  # astral-plane letters (mathematical Fraktur)
]
FIRST = ["Ana", "Bruno", "Carla", "Dámaso", "Élodie", "Fermín", "Gülşen", "Héctor", "Íñigo", "Jürgen"]
LAST = ["Pérez", "Gómez", "D'Alessandro", "Núñez", "Øster", "Łukasiewicz", "Ōtani", "Çelik", "Ávila", "Zúñiga"]
KINDS = ["EMAIL", "PHONE", "WHATSAPP", "MESSENGER", "INSTAGRAM"]
CUSTOM_FIELDS = """
mutation {
  text: createCustomField(input: {key: "nota", label: "Nota \\"libre\\" \\\\ ✎", type: TEXT, position: 1}) {
    customField { id } userErrors { code }
  }
  number: createCustomField(input: {key: "saldo", label: "Saldo", type: NUMBER, position: 2}) {
    customField { id } userErrors { code }
  }
  date: createCustomField(input: {key: "alta", label: "Alta", type: DATE, position: 3}) {
    customField { id } userErrors { code }
  }
  boolean: createCustomField(input: {key: "moroso", label: "Moroso", type: BOOLEAN, position: 4}) {
    customField { id } userErrors { code }
  }
  choice: createCustomField(
    input: {key: "segmento", label: "Segmento", type: CHOICE, options: ["Oro", "Plata", "Ñ \\"B\\""], position: 5}
  ) { customField { id } userErrors { code } }
  retired: createCustomField(input: {key: "viejo", label: "Viejo", type: TEXT, position: 6}) {
    customField { id } userErrors { code }
  }
}
"""
RETIRE_FIELD = """
mutation ($id: ID!) { updateCustomField(id: $id, input: {active: false}) { customField { id } userErrors { code } } }
"""
CREATE_COMPANY = (
    "mutation ($input: CompanyInput!) { createCompany(input: $input) { company { id } userErrors { code } } }"
)
CREATE_CONTACTS = """
mutation ($input: [CreateContactInput!]!) {
  createContacts(input: $input) {
    createdCount
    results { contact { id } userErrors { field code message } }
    userErrors { field code message }
  }
}
"""
ARCHIVE = "mutation ($id: ID!) { archiveContact(id: $id) { contact { id } userErrors { code } } }"
ASSIGN = """
mutation ($portfolio: ID!, $ids: [ID!]!) {
  assignContactsToPortfolio(portfolioId: $portfolio, contacts: {ids: $ids}) { userErrors { code } }
}
"""
NUMBERS = [0, 1, -1, 0.1, 1.5, 125000.5, 1e21, 1e-7, 2**53, 3.14159265358979, -0.0, 10]


@dataclass
class CompiledWorld:
    root: Team  # Casa Central: Norte and Sur under it
    norte: Team  # the supervisor's: Córdoba under it
    cordoba: Team
    sur: Team
    aparte: Team  # a tree of its own
    admin: User
    supervisor: User  # of Norte (so Córdoba too)
    agent: User  # of Norte, owns a portfolio, operates the campaign
    other_agent: User  # of Sur
    tokens: dict[str, str]  # by role name, and "inactive" for a deactivated agent
    contacts: list[Contact]
    # Global ids of rows of every Node type, by type name.
    ids: dict[str, list[str]] = field(default_factory=dict)

    def every_id(self) -> list[str]:
        return [i for ids in self.ids.values() for i in ids]


def _custom_values(n: int, choice_options: list[str]) -> list[dict[str, Any]]:
    values: list[dict[str, Any]] = []
    if n % 2 == 0:
        values.append({"key": "nota", "value": AWKWARD[n % len(AWKWARD)]})
    if n % 3 != 1:
        values.append({"key": "saldo", "value": NUMBERS[(n // 3) % len(NUMBERS)]})
    if n % 4 == 0:
        values.append({"key": "alta", "value": f"20{10 + n % 15}-0{1 + n % 9}-1{n % 10}"})
    if n % 5 != 2:
        values.append({"key": "moroso", "value": n % 2 == 1})
    if n % 3 == 0:
        values.append({"key": "segmento", "value": choice_options[(n // 3) % len(choice_options)]})
    return values


def _contact_input(n: int, team: Team, companies: list[str], dni: str) -> dict[str, Any]:
    first = AWKWARD[n % len(AWKWARD)] if n % 5 == 0 else FIRST[n % len(FIRST)]
    last = LAST[(n * 7) % len(LAST)] if n % 6 else AWKWARD[(n // 6) % len(AWKWARD)]
    channels = [
        {
            "kind": KINDS[(n + i) % len(KINDS)],
            "value": f"c{n}.{i}@example.com"
            if KINDS[(n + i) % len(KINDS)] == "EMAIL"
            else f"+54 9 11 {4000 + n:04d}-{1000 + i:04d}"
            if KINDS[(n + i) % len(KINDS)] in ("PHONE", "WHATSAPP")
            else f"handle.{n}.{i}",
        }
        for i in range(n % 4)
    ]
    addresses = [
        {
            "street": AWKWARD[(n + i) % len(AWKWARD)] if i else "Av. Corrientes",
            "number": str(100 + n),
            "city": "San Martín de los Andes" if i else "Buenos Aires",
            "country": ["AR", "UY", "CL"][i % 3],
            "label": None if i else "Casa \U0001f3e0",
            "isPrimary": i == n % 3 - 1 if n % 3 else False,
        }
        for i in range(n % 3)
    ]
    contact: dict[str, Any] = {
        "firstNames": first,
        "lastNames": last,
        "teamId": gid(team),
        "isVip": n % 7 == 0,
        "channels": channels,
        "addresses": addresses,
        "customFields": _custom_values(n, ["Oro", "Plata", 'Ñ "B"']),
    }
    if n % 4 == 1:
        contact["document"] = {"typeId": dni, "number": f"{20_000_000 + n * 7919}"}
    if n % 3 == 2:
        contact["companyId"] = companies[n % len(companies)]
    return contact


async def build(client: GraphQLClient, factory: Factory, contacts: int = 60) -> CompiledWorld:
    root = await factory.team("Casa Central")
    norte = await factory.team("Norte «N»", parent=root)
    cordoba = await factory.team('Córdoba "Capital"', parent=norte)
    sur = await factory.team("Sur \\ Patagonia 🐧", parent=root)
    aparte = await factory.team("Aparte", parent=None)
    admin = await factory.user(Role.ADMIN, name='Ada "Admin" O\'Neil')
    supervisor = await factory.user(Role.SUPERVISOR, name="Sofía Süpervisor", supervises=[norte])
    agent = await factory.user(Role.AGENT, name="Ágata 🎧 Agent", teams=[norte])
    other_agent = await factory.user(Role.AGENT, name="Bruno \\ Sur", teams=[sur, aparte])
    inactive = await factory.user(Role.AGENT, name="Ida Inactiva", teams=[cordoba], active=False)
    token = factory.token(admin)

    fields = await client.data(CUSTOM_FIELDS, token=token)
    assert all(f["userErrors"] == [] for f in fields.values()), fields
    await mutate(client, token, RETIRE_FIELD, {"id": fields["retired"]["customField"]["id"]})
    companies = []
    for n, name in enumerate(["Acme S.A.", "Ñandú & Cía", 'Los "Tres" \\ Hermanos', "Café ☕ SRL"]):
        company: dict[str, Any] = {"name": name}
        if n % 2 == 0:
            company |= {"taxId": f"30-7{n}123456-{n}", "industry": AWKWARD[n], "website": "https://example.com/ñ"}
        companies.append((await mutate(client, token, CREATE_COMPANY, {"input": company}))["company"]["id"])
    dni = await doc_type(client, token, "DNI")

    teams = [root, norte, cordoba, sur, aparte]
    inputs = [_contact_input(n, teams[n % len(teams)], companies, dni) for n in range(contacts)]
    created = await mutate(client, token, CREATE_CONTACTS, {"input": inputs})
    problems = [r["userErrors"] for r in created["results"] if r["userErrors"]]
    assert not problems, problems
    contact_ids = [r["contact"]["id"] for r in created["results"]]
    for archived in contact_ids[3::11]:
        await mutate(client, token, ARCHIVE, {"id": archived})

    async with factory.sessionmaker() as session:
        rows = list(await session.scalars(select(Contact).order_by(Contact.id)))
    by_team: dict[int, list[Contact]] = {}
    for row in rows:
        by_team.setdefault(row.team_id, []).append(row)

    # Badges: one portfolio owned by the agent, one by a team, an inactive one, and one filled
    # through the API (its audit event is a batch, with entries).
    mine = await factory.portfolio("Cartera de Ágata", team=norte, agent=agent, contacts=by_team[norte.id][:5])
    teams_own = await factory.portfolio('Sur "general"', team=sur, contacts=by_team[sur.id][:6])
    await factory.portfolio("Córdoba 🐄", team=cordoba, contacts=by_team[cordoba.id][:3])
    filled = await factory.portfolio("Casa \\ Central", team=root)
    await mutate(client, token, ASSIGN, {"portfolio": gid(filled), "ids": [gid(c) for c in by_team[root.id][:7]]})

    campaign = await factory.campaign("Cobranza «Q4»", norte, operators=[agent])
    other = await factory.campaign("Sur 2026", sur, operators=[other_agent])
    gestiones = await factory.gestiones(campaign, by_team[norte.id][:4], operator=agent)
    gestiones += await factory.gestiones(campaign, by_team[cordoba.id][:3])
    gestiones += await factory.gestiones(other, by_team[sur.id][:3], operator=other_agent, priority=2)
    conversations = [
        await factory.conversation(
            by_team[norte.id][0], status=ConversationStatus.OPEN, agent=agent, messages=["Hola 👋", 'Dice "sí" \\ ok']
        ),
        await factory.conversation(by_team[sur.id][0], messages=["Buenas"]),
    ]

    moment = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for n, team in enumerate([norte, cordoba, sur, aparte]):
        event = await factory.audit_event(
            occurred_at=moment.replace(day=1 + n),
            actor=[admin, supervisor, None, agent][n],
            resource_name=AWKWARD[n],
            changes={"saldo": {"from": NUMBERS[n + 3], "to": NUMBERS[n + 6]}, "nota": {"from": None, "to": AWKWARD[n]}},
        )
        await factory.tag_event(event, team, *([sur] if n == 0 else []))

    world = CompiledWorld(
        root=root,
        norte=norte,
        cordoba=cordoba,
        sur=sur,
        aparte=aparte,
        admin=admin,
        supervisor=supervisor,
        agent=agent,
        other_agent=other_agent,
        tokens={
            "ADMIN": token,
            "SUPERVISOR": factory.token(supervisor),
            "AGENT": factory.token(agent),
            "inactive": factory.token(inactive),
        },
        contacts=rows,
    )
    for row in [*teams, admin, supervisor, agent, other_agent, inactive, *rows, mine, teams_own, filled]:
        world.ids.setdefault(type(row).__name__, []).append(gid(row))
    world.ids["Campaign"] = [gid(campaign), gid(other)]
    world.ids["Gestion"] = [gid(g) for g in gestiones]
    world.ids["Conversation"] = [gid(c) for c in conversations]
    world.ids["Company"] = companies
    async with factory.sessionmaker() as session:
        for model in (
            AuditEvent,
            ContactChannel,
            ContactAddress,
            CustomFieldDefinition,
            DocumentType,
            Typology,
            TypologyResult,
        ):
            pks = (await session.scalars(select(model.id).order_by(model.id).limit(6))).all()
            world.ids[model.__name__] = [to_global_id(model.__name__, pk) for pk in pks]
    assert Campaign.__name__ in world.ids
    return world
