"""What an audit event's `changes` hold (point 21 of issue 21, AU1): one shape for every resource.

Field names are the API's (camelCase); a reference (`…Id`, a list under `…Ids`) is the global id
`node` takes; lists are lists. Events are made through the API by every kind of producer (single
rows, set-based rows, a bulk call's entries) and read back through `auditEvents`.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from db.models import Role, Team, User
from schema.node import from_global_id, to_global_id
from tests.conftest import GraphQLClient
from tests.factories import PLAN, Factory, doc_type, gid, mutate, person

EVENT = "id action resourceType resourceName changes { field before after }"
EVENTS = f"""
query($after: String) {{
  auditEvents(first: 50, after: $after) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ {EVENT} entries(first: 100) {{ nodes {{ {EVENT} }} }} }}
  }}
}}
"""
NODE = "query($id: ID!) { node(id: $id) { __typename id } }"
TYPOLOGIES = "{ typologies { id code } }"

CREATE_TEAM = "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } userErrors { field } } }"
DELETE_TEAM = "mutation($id: ID!) { deleteTeam(id: $id) { userErrors { field } } }"
ADD_MEMBER = "mutation($t: ID!, $u: ID!) { addTeamMember(teamId: $t, userId: $u) { userErrors { field } } }"
REMOVE_MEMBER = "mutation($t: ID!, $u: ID!) { removeTeamMember(teamId: $t, userId: $u) { userErrors { field } } }"
ADD_SUPERVISOR = "mutation($t: ID!, $u: ID!) { addTeamSupervisor(teamId: $t, userId: $u) { userErrors { field } } }"
CREATE_CONTACT = """
mutation($input: CreateContactInput!) {
  createContact(input: $input) { contact { id company { id } } userErrors { field message } }
}
"""
UPDATE_CONTACT = (
    "mutation($id: ID!, $input: UpdateContactInput!) { updateContact(id: $id, input: $input) { userErrors { field } } }"
)
ADD_CHANNEL = """
mutation($id: ID!, $input: ChannelInput!) { addContactChannel(contactId: $id, input: $input) { userErrors { field } } }
"""
UPDATE_COMPANY = """
mutation($id: ID!, $input: UpdateCompanyInput!) { updateCompany(id: $id, input: $input) { userErrors { field } } }
"""
CREATE_PORTFOLIO = """
mutation($input: CreatePortfolioInput!) { createPortfolio(input: $input) { portfolio { id } userErrors { field } } }
"""
ASSIGN = """
mutation($p: ID!, $ids: [ID!]!) {
  assignContactsToPortfolio(portfolioId: $p, contacts: {ids: $ids}, onConflict: MOVE) { userErrors { field } }
}
"""
CREATE_CAMPAIGN = """
mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { campaign { id } userErrors { field } } }
"""
ADD_OPERATORS = """
mutation($c: ID!, $ops: [ID!]!) { addCampaignOperators(campaignId: $c, operatorIds: $ops) { userErrors { field } } }
"""
REMOVE_OPERATORS = """
mutation($c: ID!, $ops: [ID!]!) { removeCampaignOperators(campaignId: $c, operatorIds: $ops) { userErrors { field } } }
"""
ADD_GESTIONES = """
mutation($input: AddGestionesInput!) {
  addGestiones(input: $input) { results(first: 10) { nodes { gestion { id } } } userErrors { field message } }
}
"""
DISTRIBUTE = """
mutation($c: ID!, $ops: [ID!]!) { distributeGestiones(campaignId: $c, operatorIds: $ops) { userErrors { field } } }
"""
TRANSFER = """
mutation($ids: [ID!]!, $op: ID) { transferGestiones(gestionIds: $ids, operatorId: $op) { userErrors { field } } }
"""
CREATE_RESULT = """
mutation($input: CreateTypologyResultInput!) {
  createTypologyResult(input: $input) { result { id } userErrors { field } }
}
"""
UPDATE_RESULT = """
mutation($id: ID!, $input: UpdateTypologyResultInput!) {
  updateTypologyResult(id: $id, input: $input) { userErrors { field } }
}
"""

CAMEL_CASE = re.compile(r"[a-z][A-Za-z0-9]*")
# What each reference field names, as a client would expect it (independent of the services' table).
REFERENCE_TYPES = {
    "agentId": "User",
    "companyId": "Company",
    "documentTypeId": "DocumentType",
    "memberId": "User",
    "memberIds": "User",
    "operatorId": "User",
    "operatorIds": "User",
    "parentId": "Team",
    "portfolioId": "Portfolio",
    "supervisorId": "User",
    "supervisorIds": "User",
    "teamId": "Team",
    "typologyId": "Typology",
}


@dataclass
class World:
    factory: Factory
    admin: User
    ventas: Team
    ana: User
    beto: User
    sofia: User


@pytest.fixture
async def world(factory: Factory, admin: User) -> World:
    ventas = await factory.team("Ventas")
    return World(
        factory,
        admin,
        ventas,
        await factory.user(Role.AGENT, name="Ana Agente", teams=[ventas]),
        await factory.user(Role.AGENT, name="Beto Agente", teams=[ventas]),
        await factory.user(Role.SUPERVISOR, name="Sofía Supervisora"),
    )


async def events(client: GraphQLClient, token: str) -> list[dict[str, Any]]:
    """Every event the admin reads, and every entry of the bulk ones, through the API."""
    found: dict[str, dict[str, Any]] = {}
    after = None
    while True:
        page = (await client.data(EVENTS, {"after": after}, token))["auditEvents"]
        for node in page["nodes"]:
            for event in [node, *node.pop("entries")["nodes"]]:
                found.setdefault(event["id"], event)
        if not page["pageInfo"]["hasNextPage"]:
            return list(found.values())
        after = page["pageInfo"]["endCursor"]


def by_field(event: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {c["field"]: (c["before"], c["after"]) for c in event["changes"]}


def references(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


async def make_every_kind_of_event(client: GraphQLClient, w: World) -> dict[str, str]:
    """One event of each producer, through the API; the global ids they should name."""
    token = w.factory.token(w.admin)
    dni = await doc_type(client, token, "DNI")
    typology = next(t for t in (await client.data(TYPOLOGIES, token=token))["typologies"] if t["code"] == "COLLECTIONS")
    sur_input = {"name": "Sur", "parentId": gid(w.ventas)}
    sur = (await mutate(client, token, CREATE_TEAM, {"input": sur_input}))["team"]["id"]
    for document, user in [
        (ADD_MEMBER, w.ana),
        (REMOVE_MEMBER, w.ana),
        (ADD_SUPERVISOR, w.sofia),
        (ADD_MEMBER, w.beto),
    ]:
        await mutate(client, token, document, {"t": sur, "u": gid(user)})
    await mutate(client, token, DELETE_TEAM, {"id": sur})
    contact_input = person(
        w.ventas,
        document={"typeId": dni, "number": "30123456"},
        company={"name": "Acme SA", "taxId": "30-71234567-1"},
        channels=[{"kind": "EMAIL", "value": "jose@example.com"}],
        addresses=[{"street": "Av. Corrientes", "number": "1234", "city": "Buenos Aires", "country": "AR"}],
    )
    contact = (await mutate(client, token, CREATE_CONTACT, {"input": contact_input}))["contact"]
    second = {**contact_input, "firstNames": "Ana", "document": None, "company": None, "channels": [], "addresses": []}
    other = (await mutate(client, token, CREATE_CONTACT, {"input": second}))["contact"]
    await mutate(client, token, UPDATE_COMPANY, {"id": contact["company"]["id"], "input": {"taxId": "30-71234568-9"}})
    phone = {"kind": "PHONE", "value": "011 4555-1234"}
    await mutate(client, token, ADD_CHANNEL, {"id": contact["id"], "input": phone})
    origen, destino = [
        (await mutate(client, token, CREATE_PORTFOLIO, {"input": {"name": name, "teamId": gid(w.ventas), **owner}}))[
            "portfolio"
        ]["id"]
        for name, owner in [("Origen", {"agentId": gid(w.ana)}), ("Destino", {})]
    ]
    await mutate(client, token, ASSIGN, {"p": origen, "ids": [contact["id"]]})
    await mutate(client, token, ASSIGN, {"p": destino, "ids": [contact["id"]]})  # a MOVE
    await mutate(client, token, ASSIGN, {"p": destino, "ids": [contact["id"], other["id"]]})  # one already in it
    campaign_input = {"name": "Mora", "typologyId": typology["id"], "teamId": gid(w.ventas)}
    campaign = (await mutate(client, token, CREATE_CAMPAIGN, {"input": campaign_input}))["campaign"]["id"]
    await mutate(client, token, ADD_OPERATORS, {"c": campaign, "ops": [gid(w.ana), gid(w.beto)]})
    added = await mutate(
        client,
        token,
        ADD_GESTIONES,
        {"input": {"campaignId": campaign, "contacts": {"ids": [contact["id"]]}, "plan": PLAN}},
    )
    gestion = added["results"]["nodes"][0]["gestion"]["id"]
    await mutate(client, token, DISTRIBUTE, {"c": campaign, "ops": [gid(w.ana)]})
    await mutate(client, token, TRANSFER, {"ids": [gestion], "op": gid(w.beto)})
    await mutate(client, token, REMOVE_OPERATORS, {"c": campaign, "ops": [gid(w.ana)]})
    result_input = {
        "typologyId": typology["id"],
        "code": "LEFT_VOICEMAIL",
        "label": "Volver a llamar",
        "finishes": False,
    }
    result = (await mutate(client, token, CREATE_RESULT, {"input": result_input}))["result"]["id"]
    await mutate(client, token, UPDATE_RESULT, {"id": result, "input": {"label": "Llamar luego"}})
    return {"sur": sur, "origen": origen, "destino": destino, "company": contact["company"]["id"], "dni": dni}


class TestOneShape:
    async def test_every_event_names_fields_in_camel_case_and_references_by_global_id(
        self, client: GraphQLClient, world: World
    ) -> None:
        await make_every_kind_of_event(client, world)
        token = world.factory.token(world.admin)
        seen: set[str] = set()
        for event in await events(client, token):
            for change in event["changes"]:
                name = change["field"]
                assert CAMEL_CASE.fullmatch(name), (event["action"], name)
                seen.add(name)
                expected = REFERENCE_TYPES.get(name)
                if expected is None:
                    # A company's tax number is no reference.
                    assert name == "taxId" or not name.endswith(("Id", "Ids")), f"{name}: a reference left as it is?"
                    continue
                for side in (change["before"], change["after"]):
                    if name.endswith("Ids"):
                        assert side is None or isinstance(side, list), (name, side)
                    for value in references(side):
                        assert isinstance(value, str), (event["action"], name, value)
                        assert from_global_id(value)[0] == expected, (name, value)
        # The scenario reached every kind of reference, a count by outcome and each list.
        assert set(REFERENCE_TYPES) <= seen
        assert {"alreadyInPortfolio", "taxId", "channels", "addresses", "results", "operators"} <= seen

    async def test_references_are_the_ids_node_takes(self, client: GraphQLClient, world: World) -> None:
        ids = await make_every_kind_of_event(client, world)
        token = world.factory.token(world.admin)
        everything = await events(client, token)
        (moved,) = [e for e in everything if e["action"] == "MOVED" and "portfolioId" in by_field(e)]
        assert by_field(moved)["portfolioId"] == (ids["origen"], ids["destino"])
        assert by_field(moved)["portfolio"] == ("Origen", "Destino")
        node = await client.data(NODE, {"id": ids["destino"]}, token)
        assert node["node"] == {"__typename": "Portfolio", "id": ids["destino"]}
        (created,) = [
            e
            for e in everything
            if (e["action"], e["resourceType"], e["resourceName"]) == ("CREATED", "CONTACT", "José Pérez")
        ]
        fields = by_field(created)
        assert fields["companyId"] == (None, ids["company"])
        assert fields["documentTypeId"] == (None, ids["dni"])
        assert fields["teamId"] == (None, gid(world.ventas))
        (team,) = [e for e in everything if e["action"] == "CREATED" and e["resourceType"] == "TEAM"]
        assert by_field(team)["parentId"] == (None, gid(world.ventas))
        (deleted,) = [e for e in everything if e["action"] == "DELETED" and e["resourceType"] == "TEAM"]
        assert by_field(deleted)["memberIds"] == ([gid(world.beto)], [])
        assert by_field(deleted)["supervisorIds"] == ([gid(world.sofia)], [])
        links = [
            (e["action"], by_field(e)) for e in reversed(everything) if e["action"].startswith(("MEMBER", "SUPER"))
        ]
        assert links == [
            ("MEMBER_ADDED", {"memberId": (None, gid(world.ana)), "member": (None, "Ana Agente")}),
            ("MEMBER_REMOVED", {"memberId": (gid(world.ana), None), "member": ("Ana Agente", None)}),
            ("SUPERVISOR_ADDED", {"supervisorId": (None, gid(world.sofia)), "supervisor": (None, "Sofía Supervisora")}),
            ("MEMBER_ADDED", {"memberId": (None, gid(world.beto)), "member": (None, "Beto Agente")}),
        ]
        (transferred,) = [e for e in everything if e["action"] == "TRANSFERRED" and e["resourceType"] == "GESTION"]
        assert by_field(transferred)["operatorId"] == (gid(world.ana), gid(world.beto))
        (operators,) = [e for e in everything if e["action"] == "OPERATOR_ADDED"]
        assert by_field(operators) == {
            "operatorIds": (None, [gid(world.ana), gid(world.beto)]),
            "operators": (None, ["Ana Agente", "Beto Agente"]),
        }

    async def test_lists_are_lists(self, client: GraphQLClient, world: World) -> None:
        await make_every_kind_of_event(client, world)
        everything = await events(client, world.factory.token(world.admin))
        (created,) = [
            e
            for e in everything
            if (e["action"], e["resourceType"], e["resourceName"]) == ("CREATED", "CONTACT", "José Pérez")
        ]
        fields = by_field(created)
        assert fields["channels"] == (None, ["EMAIL:jose@example.com"])
        (address,) = fields["addresses"][1]
        assert address == {
            "label": None,
            "street": "Av. Corrientes",
            "number": "1234",
            "unit": None,
            "city": "Buenos Aires",
            "region": None,
            "postalCode": None,
            "country": "AR",
            "isPrimary": True,
        }
        channel_added = next(e for e in everything if "channels" in by_field(e) and e["action"] == "UPDATED")
        assert by_field(channel_added)["channels"] == (
            ["EMAIL:jose@example.com"],
            ["EMAIL:jose@example.com", "PHONE:+541145551234"],
        )
        results = [by_field(e)["results"] for e in everything if "results" in by_field(e)]
        renamed, added = results  # newest first
        assert [r["code"] for r in added[1]] == [*(r["code"] for r in added[0]), "LEFT_VOICEMAIL"]
        assert [r["label"] for r in renamed[1] if r["code"] == "LEFT_VOICEMAIL"] == ["Llamar luego"]


class TestStoredBefore:
    async def test_rows_written_before_the_shape_read_in_it(self, client: GraphQLClient, world: World) -> None:
        """Older rows keep what they hold; the API shows them in the one shape as far as it can."""
        at = datetime(2026, 11, 1, tzinfo=UTC)
        legacy = {
            "tax_id": {"before": None, "after": "30712345671"},
            "portfolioId": {"before": 2, "after": 1},
            "member": {"before": None, "after": {"id": world.ana.id, "name": "Ana Agente"}},
            "operators": {"before": [{"id": world.beto.id, "name": "Beto Agente"}], "after": None},
            "already_in_portfolio": {"before": None, "after": 3},
        }
        await world.factory.audit_event(occurred_at=at, actor=world.admin, changes=legacy)
        (event,) = await events(client, world.factory.token(world.admin))
        assert by_field(event) == {
            "taxId": (None, "30712345671"),
            "portfolioId": (to_global_id("Portfolio", 2), to_global_id("Portfolio", 1)),
            "memberId": (None, gid(world.ana)),
            "member": (None, "Ana Agente"),
            "operatorIds": ([gid(world.beto)], None),
            "operators": (["Beto Agente"], None),
            "alreadyInPortfolio": (None, 3),
        }
