"""Portfolio events in the audit trail (AU1, AU2): across days, through every filter, per role."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from db.models import Role, Team, User
from tests.conftest import GraphQLClient
from tests.factories import Factory, gid, mutate

AUDIT = """
query($filter: AuditEventFilter, $first: Int, $after: String) {
  auditEvents(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { action resourceType resourceName actorName occurredAt changes { field before after } }
  }
}
"""
CREATE = """
mutation($name: String!, $team: ID!) {
  createPortfolio(input: {name: $name, teamId: $team}) { portfolio { id } userErrors { code } }
}
"""
RENAME = """
mutation($id: ID!, $name: String!) { updatePortfolio(id: $id, input: {name: $name}) { userErrors { code } } }
"""
DEACTIVATE = "mutation($id: ID!) { deactivatePortfolio(id: $id) { userErrors { code } } }"
ACTIVATE = "mutation($id: ID!) { activatePortfolio(id: $id) { userErrors { code } } }"
DELETE = "mutation($id: ID!) { deletePortfolio(id: $id) { userErrors { code } } }"
ASSIGN = """
mutation($p: ID!, $ids: [ID!]!, $policy: ConflictPolicy!) {
  assignContactsToPortfolio(portfolioId: $p, contacts: {ids: $ids}, onConflict: $policy) {
    auditEvent { id entries(first: 2) { totalCount pageInfo { hasNextPage endCursor } nodes { resourceName } } }
    userErrors { code }
  }
}
"""
REMOVE = """
mutation($p: ID!, $ids: [ID!]!) {
  removeContactsFromPortfolio(portfolioId: $p, contacts: {ids: $ids}) { userErrors { code } }
}
"""
ENTRIES = """
query($id: ID!, $after: String) {
  node(id: $id) { ... on AuditEvent { entries(first: 2, after: $after) {
    pageInfo { hasNextPage endCursor } nodes { resourceName action batch { id } } } } }
}
"""

# Wednesday 18 November 2026: the account's "now" for these tests.
DAYS = {
    "last year": datetime(2025, 12, 30, 12, 0, tzinfo=UTC),
    "march": datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
    "early november": datetime(2026, 11, 3, 12, 0, tzinfo=UTC),
    "monday": datetime(2026, 11, 16, 9, 0, tzinfo=UTC),
    "today": datetime(2026, 11, 18, 10, 0, tzinfo=UTC),
}
NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


@pytest.fixture
async def teams(factory: Factory) -> tuple[Team, Team]:
    return await factory.team("Cobranzas"), await factory.team("Ventas")


@pytest.fixture
async def history(
    client: GraphQLClient, factory: Factory, teams: tuple[Team, Team], audit_clock: Callable[[datetime], None]
) -> dict[str, User]:
    """A year of one portfolio's life, acted by Sofía, and one event on Ventas' portfolio by Ada."""
    cobranzas, ventas = teams
    ada = await factory.user(Role.ADMIN, name="Ada Admin")
    sofia = await factory.user(Role.SUPERVISOR, name="Sofía Supervisora", supervises=[cobranzas])
    people = await factory.contacts(cobranzas, "Juan Pérez", "Luz Díaz", "Eva Paz")
    token = factory.token(sofia)
    audit_clock(DAYS["last year"])
    created = await mutate(client, token, CREATE, {"name": "Recupero Julio", "team": gid(cobranzas)})
    portfolio = created["portfolio"]["id"]
    audit_clock(DAYS["march"])
    await mutate(client, token, RENAME, {"id": portfolio, "name": "Recupero Agosto"})
    audit_clock(DAYS["early november"])
    await mutate(client, token, DEACTIVATE, {"id": portfolio})
    audit_clock(DAYS["monday"])
    await mutate(client, token, ACTIVATE, {"id": portfolio})
    audit_clock(DAYS["today"])
    ids = [gid(p) for p in people]
    await mutate(client, token, ASSIGN, {"p": portfolio, "ids": ids, "policy": "KEEP"})
    await mutate(client, token, REMOVE, {"p": portfolio, "ids": ids[:1]})
    other = await mutate(client, factory.token(ada), CREATE, {"name": "Ventas Julio", "team": gid(ventas)})
    assert other["portfolio"]["id"]
    audit_clock(NOW)
    return {"ada": ada, "sofia": sofia}


async def events(client: GraphQLClient, token: str, flt: dict[str, Any]) -> list[tuple[str, str, str]]:
    data = await client.data(AUDIT, {"filter": flt, "first": 100}, token)
    return [(n["action"], n["resourceType"], n["resourceName"]) for n in data["auditEvents"]["nodes"]]


PORTFOLIOS = {"resourceTypes": ["PORTFOLIO"]}


class TestFilters:
    @pytest.mark.parametrize(
        ("period", "expected"),
        [
            ("TODAY", ["Ventas Julio", "REMOVED", "ASSIGNED"]),
            ("THIS_WEEK", ["Ventas Julio", "REMOVED", "ASSIGNED", "ACTIVATED"]),
            ("THIS_MONTH", ["Ventas Julio", "REMOVED", "ASSIGNED", "ACTIVATED", "DEACTIVATED"]),
            ("THIS_YEAR", ["Ventas Julio", "REMOVED", "ASSIGNED", "ACTIVATED", "DEACTIVATED", "UPDATED"]),
        ],
    )
    async def test_date_presets(
        self, client: GraphQLClient, factory: Factory, history: dict[str, User], period: str, expected: list[str]
    ) -> None:
        found = await events(client, factory.token(history["ada"]), {**PORTFOLIOS, "period": period})
        assert [name if name == "Ventas Julio" else action for action, _, name in found] == expected

    async def test_custom_range(self, client: GraphQLClient, factory: Factory, history: dict[str, User]) -> None:
        flt = {**PORTFOLIOS, "from": "2026-03-01T00:00:00Z", "to": "2026-11-16T09:00:00Z"}
        found = await events(client, factory.token(history["ada"]), flt)
        assert [a for a, _, _ in found] == ["ACTIVATED", "DEACTIVATED", "UPDATED"]

    async def test_event_types(self, client: GraphQLClient, factory: Factory, history: dict[str, User]) -> None:
        token = factory.token(history["ada"])
        found = await events(client, token, {**PORTFOLIOS, "actions": ["ACTIVATED", "DEACTIVATED"]})
        assert [a for a, _, _ in found] == ["ACTIVATED", "DEACTIVATED"]
        # Without a resource type, the contacts' own entries of the same calls show too.
        entries = await events(client, token, {"actions": ["ASSIGNED", "REMOVED"], "resourceTypes": ["CONTACT"]})
        assert sorted(entries) == [
            ("ASSIGNED", "CONTACT", "Eva Paz"),
            ("ASSIGNED", "CONTACT", "Juan Pérez"),
            ("ASSIGNED", "CONTACT", "Luz Díaz"),
            ("REMOVED", "CONTACT", "Juan Pérez"),
        ]

    async def test_text_on_user_or_resource_name(
        self, client: GraphQLClient, factory: Factory, history: dict[str, User]
    ) -> None:
        token = factory.token(history["ada"])
        # The portfolio was renamed: each event keeps the name it had then.
        assert [a for a, _, _ in await events(client, token, {**PORTFOLIOS, "text": "julio"})] == ["CREATED", "CREATED"]
        by_name = await events(client, token, {**PORTFOLIOS, "text": "agosto"})
        assert [a for a, _, _ in by_name] == ["REMOVED", "ASSIGNED", "ACTIVATED", "DEACTIVATED", "UPDATED"]
        by_actor = await events(client, token, {**PORTFOLIOS, "text": "SOFÍA"})
        assert len(by_actor) == 6
        assert await events(client, token, {**PORTFOLIOS, "text": "sofía", "period": "TODAY"}) == [
            ("REMOVED", "PORTFOLIO", "Recupero Agosto"),
            ("ASSIGNED", "PORTFOLIO", "Recupero Agosto"),
        ]

    async def test_a_clients_name_finds_who_moved_it_in_a_bulk_call(
        self, client: GraphQLClient, factory: Factory, teams: tuple[Team, Team]
    ) -> None:
        # Why each contact's entry of a bulk call is a full audit event, not a narrow history row
        # (README, the portfolio figures): the trail answers "who moved this client" by its name.
        admin = await factory.user(Role.ADMIN)
        sofia = await factory.user(Role.SUPERVISOR, name="Sofía Supervisora", supervises=[teams[0]])
        juan, luz = await factory.contacts(teams[0], "Juan Pérez", "Luz Díaz")
        await factory.portfolio("Recupero", team=teams[0], contacts=[juan])
        north = await factory.portfolio("Ventas Norte", team=teams[0])
        ids = [gid(juan), gid(luz)]
        await mutate(client, factory.token(sofia), ASSIGN, {"p": gid(north), "ids": ids, "policy": "MOVE"})
        data = await client.data(AUDIT, {"filter": {"text": "pérez"}, "first": 100}, factory.token(admin))
        (entry,) = data["auditEvents"]["nodes"]
        assert (entry["action"], entry["resourceType"], entry["resourceName"]) == ("MOVED", "CONTACT", "Juan Pérez")
        assert entry["actorName"] == "Sofía Supervisora"
        changed = {c["field"]: (c["before"], c["after"]) for c in entry["changes"]}
        assert changed["portfolio"] == ("Recupero", "Ventas Norte")


class TestWhoSees:
    async def test_supervisors_see_their_portfolios_events_agents_none(
        self, client: GraphQLClient, factory: Factory, history: dict[str, User], teams: tuple[Team, Team]
    ) -> None:
        seen = await events(client, factory.token(history["sofia"]), PORTFOLIOS)
        assert "Ventas Julio" not in {name for _, _, name in seen}
        assert len(seen) == 6
        agent = await factory.user(Role.AGENT, teams=[teams[0]])
        body = await client.gql(AUDIT, {"filter": PORTFOLIOS}, factory.token(agent))
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    async def test_each_contacts_entry_is_seen_by_the_supervisors_of_its_own_team(
        self, client: GraphQLClient, factory: Factory, teams: tuple[Team, Team]
    ) -> None:
        # One bulk call over contacts of two teams: each entry is linked to its contact's team,
        # not to the portfolio's nor to one team for the whole call.
        admin = await factory.user(Role.ADMIN)
        cobranzas = await factory.contacts(teams[0], "Ana Uno", "Ana Dos")
        ventas = await factory.contacts(teams[1], "Eva Tres")
        portfolio = await factory.portfolio("Mixta", team=teams[0])
        await mutate(
            client,
            factory.token(admin),
            ASSIGN,
            {"p": gid(portfolio), "ids": [gid(c) for c in cobranzas + ventas], "policy": "KEEP"},
        )
        contacts = {"resourceTypes": ["CONTACT"], "actions": ["ASSIGNED"]}
        for team, expected in ((teams[0], {"Ana Uno", "Ana Dos"}), (teams[1], {"Eva Tres"})):
            supervisor = await factory.user(Role.SUPERVISOR, supervises=[team])
            seen = await events(client, factory.token(supervisor), contacts)
            assert {name for _, _, name in seen} == expected


class TestBatches:
    async def test_a_bulk_event_lists_the_contacts_it_touched(
        self, client: GraphQLClient, factory: Factory, teams: tuple[Team, Team]
    ) -> None:
        admin = await factory.user(Role.ADMIN)
        token = factory.token(admin)
        people = await factory.contacts(teams[0], "Ana Uno", "Ana Dos", "Ana Tres")
        portfolio = await factory.portfolio("Cartera", team=teams[0])
        data = await client.data(
            ASSIGN, {"p": gid(portfolio), "ids": [gid(p) for p in people], "policy": "KEEP"}, token
        )
        event = data["assignContactsToPortfolio"]["auditEvent"]
        assert event["entries"]["totalCount"] == 3
        names = [n["resourceName"] for n in event["entries"]["nodes"]]
        rest = await client.data(
            ENTRIES, {"id": event["id"], "after": event["entries"]["pageInfo"]["endCursor"]}, token
        )
        names += [n["resourceName"] for n in rest["node"]["entries"]["nodes"]]
        assert sorted(names) == ["Ana Dos", "Ana Tres", "Ana Uno"]
        assert {n["batch"]["id"] for n in rest["node"]["entries"]["nodes"]} == {event["id"]}

    async def test_the_create_contacts_record_reads_through_the_api(
        self, client: GraphQLClient, factory: Factory, teams: tuple[Team, Team]
    ) -> None:
        # Its changes used to be bare numbers where every reader expects {before, after}: reading it was a 500.
        admin = await factory.user(Role.ADMIN)
        token = factory.token(admin)
        create = """
        mutation($input: [CreateContactInput!]!) { createContacts(input: $input) { createdCount } }
        """
        people = [{"firstNames": n, "lastNames": "Paz", "teamId": gid(teams[0])} for n in ("Ana", "Eva", " ")]
        await client.data(create, {"input": people}, token)
        query = """
        { auditEvents(filter: {actions: [BULK_CREATED]}) { nodes {
            resourceName changes { field before after } entries(first: 5) { nodes { resourceName } } } } }
        """
        (event,) = (await client.data(query, token=token))["auditEvents"]["nodes"]
        assert event["resourceName"] == "2 contacts created, 1 rejected"
        assert {c["field"]: c["after"] for c in event["changes"]} == {"created": 2, "rejected": 1}
        assert sorted(n["resourceName"] for n in event["entries"]["nodes"]) == ["Ana Paz", "Eva Paz"]

    async def test_deleting_a_portfolio_files_each_release_under_it(
        self, client: GraphQLClient, factory: Factory, teams: tuple[Team, Team]
    ) -> None:
        admin = await factory.user(Role.ADMIN)
        people = await factory.contacts(teams[0], "Ana Uno", "Ana Dos")
        portfolio = await factory.portfolio("Cartera", team=teams[0], contacts=people)
        await mutate(client, factory.token(admin), DELETE, {"id": gid(portfolio)})
        query = "{ auditEvents(filter: {actions: [DELETED]}) { nodes { entries { nodes { action resourceName } } } } }"
        (event,) = (await client.data(query, token=factory.token(admin)))["auditEvents"]["nodes"]
        assert sorted((n["action"], n["resourceName"]) for n in event["entries"]["nodes"]) == [
            ("REMOVED", "Ana Dos"),
            ("REMOVED", "Ana Uno"),
        ]
