"""Portfolios through the GraphQL endpoint (P1-P6, P8, P9, AU1, AU2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db.engine import refresh_statistics
from db.models import AuditEventTeam, Contact, Portfolio, PortfolioMember, Role, Team, User
from services import portfolios as services_portfolios
from services.errors import ConcurrentChange
from tests.conftest import GraphQLClient, StatementCounter
from tests.factories import Factory, audit_count, gid, problems

PORTFOLIO_FIELDS = "id name active contactCount team { name } agent { name } badge { ownerName ownerKind }"
CREATE = f"""
mutation($input: CreatePortfolioInput!) {{
  createPortfolio(input: $input) {{ portfolio {{ {PORTFOLIO_FIELDS} }} userErrors {{ field code message }} }}
}}
"""
UPDATE = f"""
mutation($id: ID!, $input: UpdatePortfolioInput!) {{
  updatePortfolio(id: $id, input: $input) {{ portfolio {{ {PORTFOLIO_FIELDS} }} userErrors {{ field code }} }}
}}
"""
ACTIVATE = "mutation($id: ID!) { activatePortfolio(id: $id) { portfolio { active } userErrors { field code } } }"
DEACTIVATE = "mutation($id: ID!) { deactivatePortfolio(id: $id) { portfolio { active } userErrors { field code } } }"
DELETE = """
mutation($id: ID!) { deletePortfolio(id: $id) { deletedPortfolioId releasedContactCount userErrors { field code } } }
"""
BULK_FIELDS = """
  portfolio { id name }
  assignedCount movedCount keptCount alreadyInPortfolioCount removedCount notInPortfolioCount rejectedCount
  results(first: 100) {
    totalCount
    nodes { contactId outcome rejection contact { fullName } otherPortfolio { portfolioName ownerName } }
  }
  auditEvent { id action resourceName entries(first: 100) { totalCount nodes { action resourceName } } }
  userErrors { field code message }
"""
ASSIGN = f"""
mutation($portfolio: ID!, $contacts: ContactSelection!, $onConflict: ConflictPolicy!) {{
  assignContactsToPortfolio(portfolioId: $portfolio, contacts: $contacts, onConflict: $onConflict) {{ {BULK_FIELDS} }}
}}
"""
REMOVE = f"""
mutation($portfolio: ID!, $contacts: ContactSelection!) {{
  removeContactsFromPortfolio(portfolioId: $portfolio, contacts: $contacts) {{ {BULK_FIELDS} }}
}}
"""
PREVIEW = """
query($portfolio: ID!, $contacts: ContactSelection!) {
  portfolioAssignmentPreview(portfolioId: $portfolio, contacts: $contacts) {
    portfolio { name }
    selectedCount freeCount alreadyInPortfolioCount conflictCount movableConflictCount
    rejected { contactId outcome rejection }
    free(first: 50) { totalCount nodes { fullName } }
    alreadyInPortfolio(first: 50) { totalCount nodes { fullName } }
    conflicts(first: 50) {
      totalCount
      nodes {
        contactCount movable
        badge { portfolioName ownerName ownerKind }
        portfolio { name }
        contacts(first: 50) { totalCount nodes { fullName } }
      }
    }
  }
}
"""
LIST = """
query($filter: PortfolioFilter, $orderBy: PortfolioOrder) {
  portfolios(filter: $filter, orderBy: $orderBy, first: 50) { totalCount nodes { name } }
}
"""
CONTACTS = """
query($filter: ContactFilter) {
  contacts(filter: $filter, first: 100) {
    totalCount nodes { fullName badge { portfolioName ownerName ownerKind active } portfolio { name } }
  }
}
"""
NODE = "query($id: ID!) { node(id: $id) { id ... on Portfolio { name } } }"
AUDIT_CONTACTS = "{ auditEvents(filter: {resourceTypes: [CONTACT]}) { nodes { resourceName } } }"


@dataclass
class World:
    """Cobranzas (supervised by Sofía) with its subteam Norte (agents Ana and Beto); Ventas (Víctor, agent Carla)."""

    admin: User
    sofia: User
    victor: User
    ana: User
    beto: User
    carla: User
    cobranzas: Team
    norte: Team
    ventas: Team


@pytest.fixture
async def world(factory: Factory) -> World:
    cobranzas = await factory.team("Cobranzas")
    norte = await factory.team("Cobranzas Norte", parent=cobranzas)
    ventas = await factory.team("Ventas")
    return World(
        admin=await factory.user(Role.ADMIN, name="Ada Admin"),
        sofia=await factory.user(Role.SUPERVISOR, name="Sofía Supervisora", supervises=[cobranzas]),
        victor=await factory.user(Role.SUPERVISOR, name="Víctor Ventas", supervises=[ventas]),
        ana=await factory.user(Role.AGENT, name="Ana Agente", teams=[norte]),
        beto=await factory.user(Role.AGENT, name="Beto Agente", teams=[norte]),
        carla=await factory.user(Role.AGENT, name="Carla Agente", teams=[ventas]),
        cobranzas=cobranzas,
        norte=norte,
        ventas=ventas,
    )


async def snapshot(factory: Factory) -> tuple[Any, ...]:
    """Everything a portfolio call may write: portfolios, memberships, audit rows."""
    async with factory.sessionmaker() as session:
        portfolios = (await session.execute(select(Portfolio.id, Portfolio.name, Portfolio.active))).all()
        members = (await session.execute(select(PortfolioMember.contact_id, PortfolioMember.portfolio_id))).all()
    return sorted(portfolios), sorted(members), await audit_count(factory)


def ids(*contacts: Contact) -> dict[str, list[str]]:
    return {"ids": [gid(c) for c in contacts]}


async def assign(
    client: GraphQLClient, token: str, portfolio: Portfolio | str, contacts: dict[str, Any], on_conflict: str = "KEEP"
) -> dict[str, Any]:
    target = portfolio if isinstance(portfolio, str) else gid(portfolio)
    variables = {"portfolio": target, "contacts": contacts, "onConflict": on_conflict}
    data = await client.data(ASSIGN, variables, token)
    result: dict[str, Any] = data["assignContactsToPortfolio"]
    return result


def outcomes(payload: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """fullName (or the given id, for contacts not shown) -> (outcome, rejection)."""
    return {
        (n["contact"] or {}).get("fullName") or n["contactId"]: (n["outcome"], n["rejection"])
        for n in payload["results"]["nodes"]
    }


class TestCreateAndEdit:
    async def test_admin_creates_with_team_agent_or_both(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        token = factory.token(world.admin)
        made = {}
        for name, owners in [
            ("Equipo Norte", {"teamId": gid(world.norte)}),
            ("Clientes de Ana", {"agentId": gid(world.ana)}),
            ("VIP - Beto", {"teamId": gid(world.norte), "agentId": gid(world.beto)}),
        ]:
            data = await client.data(CREATE, {"input": {"name": name, **owners}}, token)
            payload = data["createPortfolio"]
            assert payload["userErrors"] == []
            made[name] = payload["portfolio"]
        assert made["Equipo Norte"]["badge"] == {"ownerName": "Cobranzas Norte", "ownerKind": "TEAM"}
        assert made["Clientes de Ana"]["badge"] == {"ownerName": "Ana Agente", "ownerKind": "AGENT"}
        assert made["VIP - Beto"]["team"] == {"name": "Cobranzas Norte"}
        assert made["VIP - Beto"]["agent"] == {"name": "Beto Agente"}
        assert all(p["active"] and p["contactCount"] == 0 for p in made.values())
        events = [r for r in await factory.audit_rows() if r.resource_type == "PORTFOLIO"]
        assert [e.action for e in events] == ["CREATED"] * 3
        assert events[2].changes["agentId"] == {"before": None, "after": world.beto.id}

    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ({"name": "  "}, ("REQUIRED", "input.name")),
            ({"name": "Sin dueño"}, ("REQUIRED", "input.teamId")),
            ({"name": "X", "teamId": "VGVhbTo5OTk5"}, ("NOT_FOUND", "input.teamId")),
            ({"name": "X", "teamId": "not-an-id"}, ("NOT_FOUND", "input.teamId")),
            ({"name": "X", "agentId": "supervisor"}, ("INVALID", "input.agentId")),
            ({"name": "X", "teamId": "ventas", "agentId": "ana"}, ("INVALID", "input.agentId")),
            ({"name": "x" * 201, "teamId": "ventas"}, ("TOO_LONG", "input.name")),
        ],
    )
    async def test_refused_input_writes_nothing(
        self,
        client: GraphQLClient,
        factory: Factory,
        world: World,
        given: dict[str, str],
        expected: tuple[str, str],
    ) -> None:
        aliases = {"supervisor": gid(world.sofia), "ventas": gid(world.ventas), "ana": gid(world.ana)}
        variables = {k: aliases.get(v, v) for k, v in given.items()}
        before = await snapshot(factory)
        data = await client.data(CREATE, {"input": variables}, factory.token(world.admin))
        assert problems(data["createPortfolio"]) == [expected]
        assert data["createPortfolio"]["portfolio"] is None
        assert await snapshot(factory) == before

    async def test_supervisor_creates_within_its_subtrees_only(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        token = factory.token(world.sofia)
        ok = await client.data(CREATE, {"input": {"name": "Norte", "agentId": gid(world.ana)}}, token)
        assert ok["createPortfolio"]["userErrors"] == []
        before = await snapshot(factory)
        for owners, field in [({"teamId": gid(world.ventas)}, "teamId"), ({"agentId": gid(world.carla)}, "agentId")]:
            refused = await client.data(CREATE, {"input": {"name": "Ajena", **owners}}, token)
            assert problems(refused["createPortfolio"]) == [("NOT_FOUND", f"input.{field}")]
        assert await snapshot(factory) == before

    async def test_agents_create_and_delete_none(self, client: GraphQLClient, factory: Factory, world: World) -> None:
        own = await factory.portfolio("De Ana", agent=world.ana)
        token = factory.token(world.ana)
        before = await snapshot(factory)
        created = await client.data(CREATE, {"input": {"name": "Mía", "agentId": gid(world.ana)}}, token)
        assert problems(created["createPortfolio"]) == [("FORBIDDEN", None)]
        deleted = await client.data(DELETE, {"id": gid(own)}, token)
        assert problems(deleted["deletePortfolio"]) == [("FORBIDDEN", None)]
        assert await snapshot(factory) == before

    async def test_partial_update_and_agent_rename(self, client: GraphQLClient, factory: Factory, world: World) -> None:
        portfolio = await factory.portfolio("Vieja", team=world.norte, agent=world.ana)
        renamed = await client.data(
            UPDATE, {"id": gid(portfolio), "input": {"name": "Nueva"}}, factory.token(world.ana)
        )
        assert renamed["updatePortfolio"]["portfolio"]["name"] == "Nueva"
        assert renamed["updatePortfolio"]["portfolio"]["agent"] == {"name": "Ana Agente"}
        (event,) = [r for r in await factory.audit_rows() if r.action == "UPDATED"]
        assert event.changes == {"name": {"before": "Vieja", "after": "Nueva"}}

        before = await snapshot(factory)
        for given, field in [({"agentId": gid(world.beto)}, "agentId"), ({"teamId": None}, "teamId")]:
            refused = await client.data(UPDATE, {"id": gid(portfolio), "input": given}, factory.token(world.ana))
            assert problems(refused["updatePortfolio"]) == [("FORBIDDEN", f"input.{field}")]
        # Beto cannot see Ana's portfolio at all: it reads as missing (R3).
        hidden = await client.data(UPDATE, {"id": gid(portfolio), "input": {"name": "Z"}}, factory.token(world.beto))
        assert problems(hidden["updatePortfolio"]) == [("NOT_FOUND", "id")]
        null_name = await client.data(UPDATE, {"id": gid(portfolio), "input": {"name": None}}, factory.token(world.ana))
        assert problems(null_name["updatePortfolio"]) == [("REQUIRED", "input.name")]
        assert await snapshot(factory) == before

    async def test_owner_changes_keep_one_owner_and_the_agent_in_the_team(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        portfolio = await factory.portfolio("Norte", team=world.norte)
        token = factory.token(world.admin)
        moved = await client.data(UPDATE, {"id": gid(portfolio), "input": {"agentId": gid(world.ana)}}, token)
        assert moved["updatePortfolio"]["portfolio"]["badge"] == {"ownerName": "Ana Agente", "ownerKind": "AGENT"}
        before = await snapshot(factory)
        both_gone = await client.data(UPDATE, {"id": gid(portfolio), "input": {"teamId": None, "agentId": None}}, token)
        assert problems(both_gone["updatePortfolio"]) == [("REQUIRED", "input.teamId")]
        wrong_team = await client.data(UPDATE, {"id": gid(portfolio), "input": {"teamId": gid(world.ventas)}}, token)
        assert problems(wrong_team["updatePortfolio"]) == [("INVALID", "input.agentId")]
        assert await snapshot(factory) == before

    async def test_activate_and_deactivate(self, client: GraphQLClient, factory: Factory, world: World) -> None:
        portfolio = await factory.portfolio("Norte", team=world.norte)
        token = factory.token(world.sofia)
        off = await client.data(DEACTIVATE, {"id": gid(portfolio)}, token)
        assert off["deactivatePortfolio"]["portfolio"] == {"active": False}
        again = await client.data(DEACTIVATE, {"id": gid(portfolio)}, token)
        assert again["deactivatePortfolio"]["portfolio"] == {"active": False}
        on = await client.data(ACTIVATE, {"id": gid(portfolio)}, token)
        assert on["activatePortfolio"]["portfolio"] == {"active": True}
        actions = [r.action for r in await factory.audit_rows()]
        assert actions == ["DEACTIVATED", "ACTIVATED"]  # the repeated call changed nothing
        hidden = await client.data(DEACTIVATE, {"id": gid(portfolio)}, factory.token(world.victor))
        assert problems(hidden["deactivatePortfolio"]) == [("NOT_FOUND", "id")]

    async def test_delete_releases_its_contacts_with_history(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        people = await factory.contacts(world.norte, "Juan Pérez", "Luz Díaz")
        other = await factory.contacts(world.norte, "Otro Cliente")
        portfolio = await factory.portfolio("Norte", team=world.norte, contacts=people)
        keep = await factory.portfolio("Otra", team=world.norte, contacts=other)
        data = await client.data(DELETE, {"id": gid(portfolio)}, factory.token(world.sofia))
        assert data["deletePortfolio"] == {
            "deletedPortfolioId": gid(portfolio),
            "releasedContactCount": 2,
            "userErrors": [],
        }
        assert await factory.memberships() == {other[0].id: keep.id}
        rows = await factory.audit_rows()
        (deleted,) = [r for r in rows if r.action == "DELETED"]
        assert deleted.changes["releasedContacts"] == {"before": 2, "after": 0}
        entries = sorted((r.resource_name, r.batch_id) for r in rows if r.action == "REMOVED")
        assert entries == [("Juan Pérez", deleted.id), ("Luz Díaz", deleted.id)]
        assert [r.changes for r in rows if r.action == "REMOVED"] == [
            {"portfolio": {"before": "Norte", "after": None}, "portfolioId": {"before": portfolio.id, "after": None}}
        ] * 2
        assert (await client.data(NODE, {"id": gid(portfolio)}, factory.token(world.admin)))["node"] is None


class TestVisibility:
    async def test_each_role_lists_what_it_manages(self, client: GraphQLClient, factory: Factory, world: World) -> None:
        await factory.portfolio("Ana sola", agent=world.ana)
        await factory.portfolio("Beto en Norte", team=world.norte, agent=world.beto)
        await factory.portfolio("Norte sin agente", team=world.norte)
        await factory.portfolio("Cobranzas", team=world.cobranzas)
        await factory.portfolio("Carla", agent=world.carla)
        await factory.portfolio("Ventas", team=world.ventas)
        seen = {}
        for who in ("admin", "sofia", "victor", "ana", "beto", "carla"):
            data = await client.data(LIST, {}, factory.token(getattr(world, who)))
            seen[who] = [n["name"] for n in data["portfolios"]["nodes"]]
        assert len(seen["admin"]) == 6
        assert seen["sofia"] == ["Ana sola", "Beto en Norte", "Cobranzas", "Norte sin agente"]
        assert seen["victor"] == ["Carla", "Ventas"]
        assert seen["ana"] == ["Ana sola", "Norte sin agente"]
        assert seen["beto"] == ["Beto en Norte", "Norte sin agente"]
        assert seen["carla"] == ["Carla", "Ventas"]

    async def test_node_of_a_hidden_portfolio_is_null(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        portfolio = await factory.portfolio("Beto", agent=world.beto)
        assert (await client.data(NODE, {"id": gid(portfolio)}, factory.token(world.ana)))["node"] is None
        assert (await client.data(NODE, {"id": gid(portfolio)}, factory.token(world.sofia)))["node"] == {
            "id": gid(portfolio),
            "name": "Beto",
        }

    async def test_filters_and_order(self, client: GraphQLClient, factory: Factory, world: World) -> None:
        await factory.portfolio("Recuperación Julio", team=world.norte, agent=world.ana)
        await factory.portfolio("Clientes VIP", team=world.ventas)
        off = await factory.portfolio("Recupero viejo", team=world.norte)
        await client.data(DEACTIVATE, {"id": gid(off)}, factory.token(world.admin))
        token = factory.token(world.admin)

        async def names(flt: dict[str, Any], order: dict[str, str] | None = None) -> list[str]:
            data = await client.data(LIST, {"filter": flt, "orderBy": order}, token)
            return [n["name"] for n in data["portfolios"]["nodes"]]

        assert await names({"search": "RECUPERACION"}) == ["Recuperación Julio"]
        assert await names({"teamIds": [gid(world.norte)]}) == ["Recuperación Julio", "Recupero viejo"]
        assert await names({"agentIds": [gid(world.ana)]}) == ["Recuperación Julio"]
        assert await names({"active": False}) == ["Recupero viejo"]
        assert await names({}, {"field": "NAME", "direction": "DESC"}) == [
            "Recupero viejo",
            "Recuperación Julio",
            "Clientes VIP",
        ]

    async def test_agents_see_the_contacts_of_their_own_portfolios(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        (outsider,) = await factory.contacts(world.ventas, "Cliente Ventas")
        await factory.contacts(world.norte, "Cliente Norte")
        await factory.portfolio("De Ana", agent=world.ana, contacts=[outsider])
        ana = await client.data(CONTACTS, {}, factory.token(world.ana))
        assert sorted(n["fullName"] for n in ana["contacts"]["nodes"]) == ["Cliente Norte", "Cliente Ventas"]
        beto = await client.data(CONTACTS, {}, factory.token(world.beto))
        assert [n["fullName"] for n in beto["contacts"]["nodes"]] == ["Cliente Norte"]


class TestPreview:
    async def test_free_here_and_elsewhere_grouped(self, client: GraphQLClient, factory: Factory, world: World) -> None:
        free = await factory.contacts(world.norte, "Libre Uno", "Libre Dos")
        here = await factory.contacts(world.norte, "Ya Está")
        in_beto = await factory.contacts(world.norte, "De Beto")
        in_team = await factory.contacts(world.norte, "Del Equipo", "Del Equipo Dos")
        destination = await factory.portfolio("De Ana", agent=world.ana, contacts=here)
        await factory.portfolio("Beto", agent=world.beto, contacts=in_beto)
        await factory.portfolio("Norte", team=world.norte, contacts=in_team)
        everyone = [*free, *here, *in_beto, *in_team]
        (hidden,) = await factory.contacts(world.ventas, "Oculto")
        variables = {"portfolio": gid(destination), "contacts": ids(*everyone, hidden)}
        preview = (await client.data(PREVIEW, variables, factory.token(world.ana)))["portfolioAssignmentPreview"]
        assert (preview["selectedCount"], preview["freeCount"], preview["alreadyInPortfolioCount"]) == (6, 2, 1)
        assert (preview["conflictCount"], preview["movableConflictCount"]) == (3, 2)
        assert preview["rejected"] == [{"contactId": gid(hidden), "outcome": "REJECTED", "rejection": "NOT_VISIBLE"}]
        assert [n["fullName"] for n in preview["free"]["nodes"]] == ["Libre Dos", "Libre Uno"]
        assert [n["fullName"] for n in preview["alreadyInPortfolio"]["nodes"]] == ["Ya Está"]
        groups = preview["conflicts"]["nodes"]
        assert [(g["badge"]["portfolioName"], g["contactCount"], g["movable"]) for g in groups] == [
            ("Norte", 2, True),
            ("Beto", 1, False),
        ]
        # Ana cannot see Beto's portfolio, only the badge its contacts carry (P8).
        assert groups[1]["portfolio"] is None
        assert groups[1]["badge"] == {"portfolioName": "Beto", "ownerName": "Beto Agente", "ownerKind": "AGENT"}
        assert [n["fullName"] for n in groups[0]["contacts"]["nodes"]] == ["Del Equipo", "Del Equipo Dos"]

    async def test_by_filter_is_the_contacts_filter(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        await factory.contacts(world.norte, "José Pérez", "Josefina Paz", "Pedro Gómez")
        destination = await factory.portfolio("Norte", team=world.norte)
        variables = {"portfolio": gid(destination), "contacts": {"filter": {"search": "jose"}}}
        preview = (await client.data(PREVIEW, variables, factory.token(world.admin)))["portfolioAssignmentPreview"]
        listed = await client.data(CONTACTS, {"filter": {"search": "jose"}}, factory.token(world.admin))
        assert preview["selectedCount"] == listed["contacts"]["totalCount"] == 2
        assert [n["fullName"] for n in preview["free"]["nodes"]] == ["José Pérez", "Josefina Paz"]

    async def test_inactive_destination_is_refused(self, client: GraphQLClient, factory: Factory, world: World) -> None:
        people = await factory.contacts(world.norte, "Juan Pérez")
        portfolio = await factory.portfolio("Norte", team=world.norte)
        await client.data(DEACTIVATE, {"id": gid(portfolio)}, factory.token(world.admin))
        body = await client.gql(
            PREVIEW, {"portfolio": gid(portfolio), "contacts": ids(*people)}, factory.token(world.admin)
        )
        assert body["errors"][0]["extensions"] == {"code": "INACTIVE", "field": "portfolioId", "path": ["portfolioId"]}


class TestAssign:
    async def test_keep_assigns_the_free_and_leaves_the_rest(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        free = await factory.contacts(world.norte, "Libre Uno", "Libre Dos")
        taken = await factory.contacts(world.norte, "En Otra")
        destination = await factory.portfolio("Destino", team=world.norte, agent=world.ana)
        other = await factory.portfolio("Otra", team=world.norte, contacts=taken)
        payload = await assign(client, factory.token(world.sofia), destination, ids(*free, *taken), "KEEP")
        assert payload["userErrors"] == []
        assert (payload["assignedCount"], payload["keptCount"], payload["movedCount"]) == (2, 1, 0)
        assert outcomes(payload) == {
            "Libre Uno": ("ASSIGNED", None),
            "Libre Dos": ("ASSIGNED", None),
            "En Otra": ("KEPT", None),
        }
        kept = next(n for n in payload["results"]["nodes"] if n["outcome"] == "KEPT")
        assert kept["otherPortfolio"] == {"portfolioName": "Otra", "ownerName": "Cobranzas Norte"}
        assert await factory.memberships() == {
            free[0].id: destination.id,
            free[1].id: destination.id,
            taken[0].id: other.id,
        }
        event = payload["auditEvent"]
        assert (event["action"], event["resourceName"]) == ("ASSIGNED", "Destino")
        assert sorted((e["action"], e["resourceName"]) for e in event["entries"]["nodes"]) == [
            ("ASSIGNED", "Libre Dos"),
            ("ASSIGNED", "Libre Uno"),
        ]
        assigned = [
            r.changes for r in await factory.audit_rows() if (r.resource_type, r.action) == ("CONTACT", "ASSIGNED")
        ]
        assert (
            assigned
            == [
                {
                    "portfolio": {"before": None, "after": "Destino"},
                    "portfolioId": {"before": None, "after": destination.id},
                }
            ]
            * 2
        )

    async def test_move_takes_them_from_their_portfolio(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        taken = await factory.contacts(world.norte, "Juan Pérez", "Luz Díaz")
        source = await factory.portfolio("Origen", team=world.norte, contacts=taken)
        destination = await factory.portfolio("Destino", team=world.norte)
        payload = await assign(client, factory.token(world.admin), destination, ids(*taken), "MOVE")
        assert (payload["movedCount"], payload["assignedCount"]) == (2, 0)
        assert {n["otherPortfolio"]["portfolioName"] for n in payload["results"]["nodes"]} == {"Origen"}
        assert set((await factory.memberships()).values()) == {destination.id}
        rows = await factory.audit_rows()
        entries = [r for r in rows if r.resource_type == "CONTACT"]
        assert {r.action for r in entries} == {"MOVED"}
        assert entries[0].changes["portfolio"] == {"before": "Origen", "after": "Destino"}
        assert entries[0].changes["portfolioId"] == {"before": source.id, "after": destination.id}
        (left,) = [r for r in rows if r.resource_type == "PORTFOLIO" and r.action == "MOVED"]
        assert (left.resource_id, left.changes["contactsMovedOut"]["after"]) == (source.id, 2)
        # The contacts show the new badge at once.
        listed = await client.data(CONTACTS, {}, factory.token(world.admin))
        assert {n["badge"]["portfolioName"] for n in listed["contacts"]["nodes"]} == {"Destino"}

    async def test_already_in_it_changes_nothing(self, client: GraphQLClient, factory: Factory, world: World) -> None:
        people = await factory.contacts(world.norte, "Juan Pérez")
        portfolio = await factory.portfolio("Norte", team=world.norte, contacts=people)
        before = await snapshot(factory)
        payload = await assign(client, factory.token(world.admin), portfolio, ids(*people), "MOVE")
        assert outcomes(payload) == {"Juan Pérez": ("ALREADY_IN_PORTFOLIO", None)}
        assert payload["auditEvent"] is None
        assert await snapshot(factory) == before

    async def test_inactive_destination_refuses_and_changes_nothing(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        people = await factory.contacts(world.norte, "Juan Pérez")
        portfolio = await factory.portfolio("Norte", team=world.norte)
        await client.data(DEACTIVATE, {"id": gid(portfolio)}, factory.token(world.admin))
        before = await snapshot(factory)
        payload = await assign(client, factory.token(world.admin), portfolio, ids(*people))
        assert problems(payload) == [("INACTIVE", "portfolioId")]
        assert payload["portfolio"] is None
        assert await snapshot(factory) == before

    async def test_by_ids_and_by_filter_do_the_same(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        matching = await factory.contacts(world.norte, "José Pérez", "Josefa Ruiz", "Ana José")
        await factory.contacts(world.norte, "Pedro Gómez")
        taken = [matching[2]]
        other = await factory.portfolio("Otra", team=world.norte, contacts=taken)
        destination = await factory.portfolio("Destino", team=world.norte)
        token = factory.token(world.admin)
        results = []
        for selection in (ids(*matching), {"filter": {"search": "jose"}}):
            payload = await assign(client, token, destination, selection, "MOVE")
            results.append((outcomes(payload), await factory.memberships()))
            undo = await client.data(REMOVE, {"portfolio": gid(destination), "contacts": ids(*matching)}, token)
            assert undo["removeContactsFromPortfolio"]["removedCount"] == 3
            await assign(client, token, other, ids(*taken))
        assert results[0] == results[1]
        assert results[0][0] == {
            "José Pérez": ("ASSIGNED", None),
            "Josefa Ruiz": ("ASSIGNED", None),
            "Ana José": ("MOVED", None),
        }

    async def test_an_agent_cannot_take_a_contact_from_another_agents_portfolio(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        (bettos,) = await factory.contacts(world.norte, "Cliente de Beto")
        (free,) = await factory.contacts(world.norte, "Cliente Libre")
        (hidden,) = await factory.contacts(world.ventas, "Cliente de Ventas")
        beto_portfolio = await factory.portfolio("Beto", agent=world.beto, contacts=[bettos])
        mine = await factory.portfolio("Ana", agent=world.ana)
        before_members = await factory.memberships()
        payload = await assign(client, factory.token(world.ana), mine, ids(bettos, free, hidden), "MOVE")
        assert payload["userErrors"] == []
        assert outcomes(payload) == {
            gid(hidden): ("REJECTED", "NOT_VISIBLE"),
            "Cliente de Beto": ("REJECTED", "NOT_ALLOWED_TO_MOVE"),
            "Cliente Libre": ("ASSIGNED", None),
        }
        refused = next(n for n in payload["results"]["nodes"] if n["rejection"] == "NOT_ALLOWED_TO_MOVE")
        assert refused["otherPortfolio"]["portfolioName"] == "Beto"
        assert (payload["rejectedCount"], payload["assignedCount"]) == (2, 1)
        assert await factory.memberships() == {**before_members, free.id: mine.id}
        assert before_members == {bettos.id: beto_portfolio.id}

    async def test_an_agent_assigns_only_into_its_own_portfolios(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        people = await factory.contacts(world.norte, "Juan Pérez")
        bettos = await factory.portfolio("Beto", agent=world.beto)
        before = await snapshot(factory)
        payload = await assign(client, factory.token(world.ana), bettos, ids(*people))
        assert problems(payload) == [("NOT_FOUND", "portfolioId")]
        assert await snapshot(factory) == before

    async def test_supervisors_move_only_from_their_subtrees(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        (shared,) = await factory.contacts(world.norte, "Cliente Compartido")
        await factory.portfolio("De Ventas", team=world.ventas, contacts=[shared])
        destination = await factory.portfolio("Norte", team=world.norte)
        payload = await assign(client, factory.token(world.sofia), destination, ids(shared), "MOVE")
        assert outcomes(payload) == {"Cliente Compartido": ("REJECTED", "NOT_ALLOWED_TO_MOVE")}
        assert payload["auditEvent"] is None

    async def test_too_many_ids_is_refused(self, client: GraphQLClient, factory: Factory, world: World) -> None:
        portfolio = await factory.portfolio("Norte", team=world.norte)
        too_many = {"ids": [gid(Contact(id=i)) for i in range(1, 10_002)]}
        payload = await assign(client, factory.token(world.admin), portfolio, too_many)
        assert problems(payload) == [("LIMIT_EXCEEDED", "contacts.ids")]
        assert await audit_count(factory) == 0

    async def test_unreadable_ids_are_reported_not_fatal(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        people = await factory.contacts(world.norte, "Juan Pérez")
        portfolio = await factory.portfolio("Norte", team=world.norte)
        payload = await assign(client, factory.token(world.admin), portfolio, {"ids": ["garbage", gid(people[0])]})
        assert outcomes(payload) == {"garbage": ("REJECTED", "NOT_VISIBLE"), "Juan Pérez": ("ASSIGNED", None)}

    async def test_one_of_selection_is_enforced(self, client: GraphQLClient, factory: Factory, world: World) -> None:
        portfolio = await factory.portfolio("Norte", team=world.norte)
        variables = {"portfolio": gid(portfolio), "contacts": {"ids": [], "filter": {}}, "onConflict": "KEEP"}
        body = await client.gql(ASSIGN, variables, factory.token(world.admin))
        assert "exactly one" in body["errors"][0]["message"]

    async def test_results_page_and_narrow_by_outcome(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        people = await factory.contacts(world.norte, *(f"Cliente N{i:02d}" for i in range(12)))
        await factory.portfolio("Otra", team=world.norte, contacts=people[:4])
        destination = await factory.portfolio("Destino", team=world.norte)
        query = """
        mutation($p: ID!, $c: ContactSelection!) {
          assignContactsToPortfolio(portfolioId: $p, contacts: $c) {
            kept: results(outcomes: [KEPT], first: 3) {
              totalCount pageInfo { hasNextPage endCursor } nodes { outcome }
            }
            all: results(first: 5) { totalCount nodes { outcome } }
          }
        }
        """
        data = await client.data(query, {"p": gid(destination), "c": ids(*people)}, factory.token(world.admin))
        payload = data["assignContactsToPortfolio"]
        assert payload["kept"]["totalCount"] == 4
        assert [n["outcome"] for n in payload["kept"]["nodes"]] == ["KEPT"] * 3
        assert payload["kept"]["pageInfo"]["hasNextPage"] is True
        assert payload["all"]["totalCount"] == 12
        assert len(payload["all"]["nodes"]) == 5


class TestRemove:
    async def test_removes_members_and_reports_the_rest(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        members = await factory.contacts(world.norte, "Juan Pérez", "Luz Díaz")
        outside = await factory.contacts(world.norte, "Sin Cartera")
        portfolio = await factory.portfolio("Norte", team=world.norte, contacts=members)
        variables = {"portfolio": gid(portfolio), "contacts": ids(members[0], *outside)}
        data = await client.data(REMOVE, variables, factory.token(world.sofia))
        payload = data["removeContactsFromPortfolio"]
        assert outcomes(payload) == {"Juan Pérez": ("REMOVED", None), "Sin Cartera": ("NOT_IN_PORTFOLIO", None)}
        assert await factory.memberships() == {members[1].id: portfolio.id}
        assert [e["action"] for e in payload["auditEvent"]["entries"]["nodes"]] == ["REMOVED"]

    async def test_an_agent_cannot_empty_someone_elses_portfolio(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        members = await factory.contacts(world.norte, "Juan Pérez")
        bettos = await factory.portfolio("Beto", agent=world.beto, contacts=members)
        before = await snapshot(factory)
        variables = {"portfolio": gid(bettos), "contacts": ids(*members)}
        data = await client.data(REMOVE, variables, factory.token(world.ana))
        assert problems(data["removeContactsFromPortfolio"]) == [("NOT_FOUND", "portfolioId")]
        assert await snapshot(factory) == before


class TestBulkWrites:
    async def test_memberships_are_moved_and_removed_without_reading_them_back(
        self, client: GraphQLClient, factory: Factory, world: World, count_sql: StatementCounter
    ) -> None:
        # An ORM UPDATE or DELETE syncs the session by fetching every row it wrote (RETURNING):
        # 0.4 s of a 100,000-contact MOVE went to reading back ids nobody used.
        people = await factory.contacts(world.norte, "Juan Pérez", "Luz Díaz", "Ana Gómez")
        await factory.portfolio("Origen", team=world.norte, contacts=people)
        destination = await factory.portfolio("Destino", team=world.norte)
        token = factory.token(world.admin)
        count_sql.statements.clear()
        assert (await assign(client, token, destination, ids(*people), "MOVE"))["movedCount"] == 3
        data = await client.data(REMOVE, {"portfolio": gid(destination), "contacts": ids(*people[:2])}, token)
        assert data["removeContactsFromPortfolio"]["removedCount"] == 2
        deleted = await client.data(DELETE, {"id": gid(destination)}, token)
        assert deleted["deletePortfolio"]["releasedContactCount"] == 1
        writes = [
            " ".join(s.split()).upper()
            for s in count_sql.statements
            if s.lstrip().upper().startswith(("UPDATE PORTFOLIO_MEMBERS", "DELETE FROM PORTFOLIO_MEMBERS"))
        ]
        assert len(writes) == 3
        assert [w for w in writes if "RETURNING" in w] == []
        assert await factory.memberships() == {}

    async def test_each_history_entry_carries_its_contacts_team_without_a_link_row(
        self, client: GraphQLClient, factory: Factory, world: World, count_sql: StatementCounter
    ) -> None:
        # Linking each of a bulk call's entries to its team in a second table took 0.33 s of 50,000.
        norte = await factory.contacts(world.norte, "Juan Pérez", "Luz Díaz")
        ventas = await factory.contacts(world.ventas, "Ana Gómez")
        await factory.portfolio("Origen", team=world.norte, contacts=norte[:1])
        destination = await factory.portfolio("Destino", team=world.cobranzas)
        links_before = await factory.count(AuditEventTeam)
        count_sql.statements.clear()
        payload = await assign(client, factory.token(world.admin), destination, ids(*norte, *ventas), "MOVE")
        assert (payload["assignedCount"], payload["movedCount"]) == (2, 1)
        entries = [e for e in await factory.audit_rows() if e.resource_type == "CONTACT"]
        assert sorted((e.resource_name, e.action, e.team_id) for e in entries) == [
            ("Ana Gómez", "ASSIGNED", world.ventas.id),
            ("Juan Pérez", "MOVED", world.norte.id),
            ("Luz Díaz", "ASSIGNED", world.norte.id),
        ]
        assert await factory.count(AuditEventTeam) == links_before
        # A moved contact's entry names the portfolio it left; an assigned one's, none.
        assert sorted((e.resource_name, e.changes["portfolio"]["before"]) for e in entries) == [
            ("Ana Gómez", None),
            ("Juan Pérez", "Origen"),
            ("Luz Díaz", None),
        ]
        assert {e.changes["portfolioId"]["after"] for e in entries} == {destination.id}
        entry_writes = [s for s in count_sql.statements if s.lstrip().upper().startswith("INSERT INTO AUDIT_EVENTS")]
        # The call's own event, every entry (moved and assigned in one statement), the source's event.
        assert len(entry_writes) == 3
        # Víctor supervises Ventas: of the entries, he sees Ana Gómez's alone.
        seen = await client.data(AUDIT_CONTACTS, {}, factory.token(world.victor))
        assert [n["resourceName"] for n in seen["auditEvents"]["nodes"]] == ["Ana Gómez"]

    async def test_a_keep_reads_the_memberships_in_its_selection(
        self, client: GraphQLClient, factory: Factory, world: World, count_sql: StatementCounter
    ) -> None:
        # One statement fewer: the memberships are joined to the selection, not read again by id.
        people = await factory.contacts(world.norte, "Juan Pérez", "Luz Díaz", "Ana Gómez")
        await factory.portfolio("Origen", team=world.norte, contacts=people[:1])
        destination = await factory.portfolio("Destino", team=world.norte)
        count_sql.statements.clear()
        payload = await assign(client, factory.token(world.admin), destination, ids(*people), "KEEP")
        assert (payload["assignedCount"], payload["keptCount"]) == (2, 1)
        reads = [
            s.upper()
            for s in count_sql.statements
            if s.lstrip().upper().startswith("SELECT") and "portfolio_members" in s
        ]
        assert len(reads) == 1
        assert "FROM CONTACTS" in " ".join(reads[0].split())


class TestBadge:
    async def test_contacts_filter_by_portfolio(self, client: GraphQLClient, factory: Factory, world: World) -> None:
        inside = await factory.contacts(world.norte, "Dentro Uno")
        await factory.contacts(world.norte, "Fuera Uno")
        portfolio = await factory.portfolio("Norte", team=world.norte, contacts=inside)
        token = factory.token(world.admin)

        async def names(flt: dict[str, Any]) -> list[str]:
            return [n["fullName"] for n in (await client.data(CONTACTS, {"filter": flt}, token))["contacts"]["nodes"]]

        assert await names({"portfolioIds": [gid(portfolio)]}) == ["Dentro Uno"]
        assert await names({"inPortfolio": True}) == ["Dentro Uno"]
        assert await names({"inPortfolio": False}) == ["Fuera Uno"]

    async def test_badge_shows_where_the_portfolio_does_not(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        people = await factory.contacts(world.norte, "Juan Pérez")
        await factory.portfolio("Beto", agent=world.beto, contacts=people)
        data = await client.data(CONTACTS, {}, factory.token(world.ana))
        (row,) = data["contacts"]["nodes"]
        assert row["badge"] == {
            "portfolioName": "Beto",
            "ownerName": "Beto Agente",
            "ownerKind": "AGENT",
            "active": True,
        }
        assert row["portfolio"] is None

    async def test_page_statements_do_not_grow_with_badges(
        self, client: GraphQLClient, factory: Factory, world: World, count_sql: StatementCounter
    ) -> None:
        token = factory.token(world.admin)
        counts = []
        for size in (2, 20):
            people = await factory.contacts(world.norte, *(f"N{size} C{i:02d}" for i in range(size)))
            half = len(people) // 2
            await factory.portfolio(f"A{size}", team=world.norte, contacts=people[:half])
            await factory.portfolio(f"B{size}", agent=world.ana, contacts=people[half:])
            count_sql.statements.clear()
            data = await client.data(CONTACTS, {}, token)
            assert all(n["badge"] for n in data["contacts"]["nodes"])
            counts.append(count_sql.count)
        assert counts[0] == counts[1]

    async def test_portfolio_contacts_are_searchable_and_batched(
        self, client: GraphQLClient, factory: Factory, world: World, count_sql: StatementCounter
    ) -> None:
        await factory.portfolio(
            "Uno", team=world.norte, contacts=await factory.contacts(world.norte, "José Pérez", "Ana Gómez")
        )
        await factory.portfolio("Dos", team=world.norte, contacts=await factory.contacts(world.norte, "Josefina Paz"))
        query = """
        { portfolios(first: 10) { nodes { name contactCount contacts(filter: {search: "jose"}, first: 5) {
            totalCount nodes { fullName } } } } }
        """
        count_sql.statements.clear()
        data = await client.data(query, token=factory.token(world.admin))
        nodes = {n["name"]: n for n in data["portfolios"]["nodes"]}
        assert [c["fullName"] for c in nodes["Uno"]["contacts"]["nodes"]] == ["José Pérez"]
        assert nodes["Uno"]["contactCount"] == 2
        assert nodes["Dos"]["contacts"]["totalCount"] == 1
        # Strawberry: portfolios, counts, contacts page, contacts count, one each, not one per
        # portfolio. Compiled (PostgreSQL): one.
        assert count_sql.count == (1 if client.server.compiles else 4)


class TestReports:
    async def test_contacts_per_portfolio_and_per_owner(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        await factory.portfolio("Ana 1", agent=world.ana, contacts=await factory.contacts(world.norte, "A B", "C D"))
        await factory.portfolio("Ana 2", agent=world.ana, contacts=await factory.contacts(world.norte, "E F"))
        await factory.portfolio("Norte", team=world.norte, contacts=await factory.contacts(world.norte, "G H"))
        await factory.portfolio("Vacía", team=world.norte)
        await factory.portfolio("Ventas", team=world.ventas, contacts=await factory.contacts(world.ventas, "I J"))
        query = """
        {
          contactsPerPortfolio(first: 10) { totalCount nodes { portfolio { name } contactCount } }
          contactsPerPortfolioOwner(first: 10) {
            nodes { ownerKind agent { name } team { name } portfolioCount contactCount }
          }
        }
        """
        data = await client.data(query, token=factory.token(world.sofia))
        per_portfolio = [(n["portfolio"]["name"], n["contactCount"]) for n in data["contactsPerPortfolio"]["nodes"]]
        assert per_portfolio == [("Ana 1", 2), ("Ana 2", 1), ("Norte", 1), ("Vacía", 0)]
        owners = [
            (n["ownerKind"], (n["agent"] or n["team"])["name"], n["portfolioCount"], n["contactCount"])
            for n in data["contactsPerPortfolioOwner"]["nodes"]
        ]
        assert owners == [("AGENT", "Ana Agente", 2, 3), ("TEAM", "Cobranzas Norte", 2, 1)]
        body = await client.gql(query, token=factory.token(world.ana))
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    async def test_report_pages_by_cursor(self, client: GraphQLClient, factory: Factory, world: World) -> None:
        for i in range(5):
            people = await factory.contacts(world.norte, *(f"P{i} C{j}" for j in range(i)))
            await factory.portfolio(f"Cartera {i}", team=world.norte, contacts=people)
        query = """
        query($after: String) { contactsPerPortfolio(first: 2, after: $after) {
          pageInfo { hasNextPage endCursor } nodes { contactCount } } }
        """
        token = factory.token(world.admin)
        seen, after = [], None
        while True:
            page = (await client.data(query, {"after": after}, token))["contactsPerPortfolio"]
            seen += [n["contactCount"] for n in page["nodes"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert seen == [4, 3, 2, 1, 0]


MOST_COMMON_PORTFOLIOS = """
SELECT most_common_vals::text FROM pg_stats WHERE tablename = 'portfolio_members' AND attname = 'portfolio_id'
"""


class TestStatistics:
    async def test_a_big_change_refreshes_the_planners_view_after_commit(
        self,
        client: GraphQLClient,
        factory: Factory,
        world: World,
        count_sql: StatementCounter,
        backend_name: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(services_portfolios, "STATISTICS_AFTER", 3)
        # Every refresh asked for, on both backends (on SQLite it then does nothing).
        refreshed: list[str] = []

        async def recording(engine: AsyncEngine, table: str) -> None:
            refreshed.append(table)
            await refresh_statistics(engine, table)

        monkeypatch.setattr(services_portfolios, "refresh_statistics", recording)
        # Fails the first transaction that asked for a refresh, as a lost race would: it is
        # rolled back and run again.
        ask = services_portfolios.refresh_statistics_after
        lose_a_race = False

        def asking(session: AsyncSession, changed: int) -> None:
            nonlocal lose_a_race
            ask(session, changed)
            if lose_a_race and changed >= services_portfolios.STATISTICS_AFTER:
                lose_a_race = False
                raise ConcurrentChange("lost a race after asking for a refresh")

        monkeypatch.setattr(services_portfolios, "refresh_statistics_after", asking)
        people = await factory.contacts(world.norte, "Uno Uno", "Dos Dos", "Tres Tres", "Cuatro C", "Cinco C")
        first = await factory.portfolio("Norte", team=world.norte)
        second = await factory.portfolio("Otra", team=world.norte)
        token = factory.token(world.admin)
        count_sql.statements.clear()
        await assign(client, token, first, ids(*people[:2]))  # two: under the threshold
        assert refreshed == []
        assert not [s for s in count_sql.statements if s.startswith("ANALYZE")]
        postgres = backend_name == "postgresql"
        if postgres:
            # Statistics that know only the first portfolio: what the planner has before a big call.
            async with factory.sessionmaker() as session:
                await session.execute(text("ANALYZE portfolio_members"))
                await session.commit()
            count_sql.statements.clear()
        await assign(client, token, second, ids(*people[2:]))  # three: enough
        assert refreshed == ["portfolio_members"]
        analyzed = [s for s in count_sql.statements if s.startswith("ANALYZE")]
        assert analyzed == (["ANALYZE portfolio_members"] if postgres else [])
        if postgres:
            # The new statistics name the second portfolio: the ANALYZE ran after commit, and kept.
            async with factory.sessionmaker() as session:
                common = await session.scalar(text(MOST_COMMON_PORTFOLIOS))
            assert sorted(common.strip("{}").split(",")) == sorted([str(first.id), str(second.id)])
        # A transaction that asked for a refresh and then rolled back asks for nothing: its
        # retry, which commits, is the only one refreshed.
        refreshed.clear()
        count_sql.statements.clear()
        lose_a_race = True
        removed = await client.data(REMOVE, {"portfolio": gid(second), "contacts": ids(*people[2:])}, token)
        assert removed["removeContactsFromPortfolio"]["userErrors"] == []
        assert removed["removeContactsFromPortfolio"]["removedCount"] == 3
        assert not lose_a_race  # the first attempt did reach the request, and lost
        assert refreshed == ["portfolio_members"]
        analyzed = [s for s in count_sql.statements if s.startswith("ANALYZE")]
        assert analyzed == (["ANALYZE portfolio_members"] if postgres else [])
