"""The audit trail (AU1, AU2): who sees it, its filters and presets, and that failures leave nothing."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from db.models import Role, Team, User
from schema.node import to_global_id
from tests.conftest import GraphQLClient, running
from tests.factories import Factory, gid

AUDIT = """
query Audit($filter: AuditEventFilter, $first: Int, $after: String) {
  auditEvents(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id action resourceType resourceId resourceName actorName actor { id } occurredAt
            changes { field before after } }
  }
}
"""

CREATE_TEAM = """
mutation($name: String!) { createTeam(input: {name: $name}) { team { id } userErrors { field code } } }
"""

MUTATION_FIELDS = '{ __type(name: "Mutation") { fields { name } } }'

# Wednesday 18 November 2026, 15:00 UTC: "now" for the preset tests.
NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


async def names(client: GraphQLClient, token: str, flt: dict[str, Any] | None = None) -> list[str]:
    data = await client.data(AUDIT, {"filter": flt or {}, "first": 100}, token)
    return [n["resourceName"] for n in data["auditEvents"]["nodes"]]


@pytest.fixture
async def calendar(factory: Factory, admin: User) -> None:
    """One event per boundary the presets care about, named after when it happened."""
    moments = {
        "today": datetime(2026, 11, 18, 10, 0, tzinfo=UTC),
        "monday": datetime(2026, 11, 16, 9, 0, tzinfo=UTC),
        "last sunday": datetime(2026, 11, 15, 23, 0, tzinfo=UTC),
        "early november": datetime(2026, 11, 2, 12, 0, tzinfo=UTC),
        "march": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        "new year utc": datetime(2026, 1, 1, 1, 0, tzinfo=UTC),
        "last year": datetime(2025, 12, 31, 12, 0, tzinfo=UTC),
    }
    for name, moment in moments.items():
        await factory.audit_event(occurred_at=moment, actor=admin, resource_name=name)


class TestPresets:
    @pytest.mark.usefixtures("calendar")
    @pytest.mark.parametrize(
        ("period", "expected"),
        [
            ("TODAY", ["today"]),
            ("THIS_WEEK", ["today", "monday"]),
            ("THIS_MONTH", ["today", "monday", "last sunday", "early november"]),
            ("THIS_YEAR", ["today", "monday", "last sunday", "early november", "march", "new year utc"]),
        ],
    )
    async def test_period_presets_in_utc(
        self,
        client: GraphQLClient,
        factory: Factory,
        admin: User,
        audit_clock: Callable[[datetime], None],
        period: str,
        expected: list[str],
    ) -> None:
        audit_clock(NOW)
        assert await names(client, factory.token(admin), {"period": period}) == expected

    @pytest.mark.usefixtures("calendar")
    async def test_presets_follow_the_account_time_zone(
        self, database_url: str, factory: Factory, admin: User, audit_clock: Callable[[datetime], None]
    ) -> None:
        audit_clock(NOW)
        # Buenos Aires is UTC-3: 01:00 UTC on 1 January is still 2025 there.
        async with running(database_url, timezone="America/Argentina/Buenos_Aires") as (_, client):
            year = await names(client, factory.token(admin), {"period": "THIS_YEAR"})
            assert "new year utc" not in year
            assert "march" in year

    @pytest.mark.usefixtures("calendar")
    async def test_custom_range_is_inclusive(self, client: GraphQLClient, factory: Factory, admin: User) -> None:
        flt = {"from": "2026-11-02T12:00:00+00:00", "to": "2026-11-16T09:00:00+00:00"}
        assert await names(client, factory.token(admin), flt) == ["monday", "last sunday", "early november"]

    async def test_range_backwards_is_refused(self, client: GraphQLClient, factory: Factory, admin: User) -> None:
        body = await client.gql(
            AUDIT, {"filter": {"from": "2026-11-10T00:00:00Z", "to": "2026-11-01T00:00:00Z"}}, factory.token(admin)
        )
        assert body["errors"][0]["extensions"] == {
            "code": "INVALID",
            "field": "filter.from",
            "path": ["filter", "from"],
        }


class TestFilters:
    async def test_text_matches_actor_or_resource_name(
        self, client: GraphQLClient, factory: Factory, admin: User
    ) -> None:
        other = await factory.user(Role.ADMIN, name="Bruno Díaz")
        await factory.audit_event(occurred_at=NOW, actor=admin, resource_name="Cobranzas Norte")
        await factory.audit_event(occurred_at=NOW, actor=other, resource_name="Ventas")
        token = factory.token(admin)
        assert await names(client, token, {"text": "cobranzas"}) == ["Cobranzas Norte"]
        assert await names(client, token, {"text": "BRUNO"}) == ["Ventas"]
        assert await names(client, token, {"text": "100%_"}) == []

    async def test_actions_and_resource_types(self, client: GraphQLClient, factory: Factory, admin: User) -> None:
        await factory.audit_event(occurred_at=NOW, action="CREATED", resource_type="TEAM", resource_name="a")
        await factory.audit_event(occurred_at=NOW, action="DEACTIVATED", resource_type="USER", resource_name="b")
        await factory.audit_event(occurred_at=NOW, action="CREATED", resource_type="USER", resource_name="c")
        token = factory.token(admin)
        assert sorted(await names(client, token, {"actions": ["CREATED"]})) == ["a", "c"]
        assert await names(client, token, {"actions": ["CREATED"], "resourceTypes": ["TEAM"]}) == ["a"]
        assert sorted(await names(client, token, {"actions": ["CREATED", "DEACTIVATED"]})) == ["a", "b", "c"]


class TestTrail:
    async def test_mutations_are_recorded_with_actor_and_changes(
        self, client: GraphQLClient, factory: Factory, admin: User
    ) -> None:
        token = factory.token(admin)
        created = await client.data(CREATE_TEAM, {"name": "Cobranzas"}, token)
        data = await client.data(AUDIT, {}, token)
        (event,) = data["auditEvents"]["nodes"]
        assert event["action"] == "CREATED"
        assert event["resourceType"] == "TEAM"
        assert event["resourceId"] == created["createTeam"]["team"]["id"]
        assert event["actorName"] == "Ada Admin"
        assert event["actor"] == {"id": gid(admin)}
        assert {"field": "name", "before": None, "after": "Cobranzas"} in event["changes"]

    async def test_a_refused_mutation_leaves_no_audit_row(
        self, client: GraphQLClient, factory: Factory, admin: User
    ) -> None:
        data = await client.data(CREATE_TEAM, {"name": "   "}, factory.token(admin))
        assert data["createTeam"]["userErrors"] == [{"field": "input.name", "code": "REQUIRED"}]
        assert await factory.audit_rows() == []

    async def test_pages_newest_first(self, client: GraphQLClient, factory: Factory, admin: User) -> None:
        for day in range(1, 6):
            await factory.audit_event(occurred_at=datetime(2026, 11, day, tzinfo=UTC), resource_name=f"d{day}")
        token = factory.token(admin)
        first = await client.data(AUDIT, {"first": 3}, token)
        assert [n["resourceName"] for n in first["auditEvents"]["nodes"]] == ["d5", "d4", "d3"]
        assert first["auditEvents"]["totalCount"] == 5
        cursor = first["auditEvents"]["pageInfo"]["endCursor"]
        rest = await client.data(AUDIT, {"first": 3, "after": cursor}, token)
        assert [n["resourceName"] for n in rest["auditEvents"]["nodes"]] == ["d2", "d1"]
        assert rest["auditEvents"]["pageInfo"]["hasNextPage"] is False

    async def test_no_mutation_edits_or_deletes_audit_events(self, client: GraphQLClient) -> None:
        data = await client.data(MUTATION_FIELDS)
        assert not [f["name"] for f in data["__type"]["fields"] if "audit" in f["name"].lower()]


class TestVisibility:
    @pytest.fixture
    async def tree(self, factory: Factory) -> dict[str, Team]:
        north = await factory.team("Norte")
        north_sales = await factory.team("Ventas Norte", parent=north)
        south = await factory.team("Sur")
        return {"north": north, "north_sales": north_sales, "south": south}

    async def test_supervisor_sees_events_of_its_subtrees_only(
        self, client: GraphQLClient, factory: Factory, tree: dict[str, Team]
    ) -> None:
        supervisor = await factory.user(Role.SUPERVISOR, supervises=[tree["north"]])
        for key in ("north", "north_sales", "south"):
            event = await factory.audit_event(occurred_at=NOW, resource_type="TEAM", resource_name=key)
            await factory.tag_event(event, tree[key])
        # Seen by several teams (links, not the row's one team): in scope if one of them is.
        both = await factory.audit_event(occurred_at=NOW, resource_name="south and north_sales")
        await factory.tag_event(both, tree["south"], tree["north_sales"])
        elsewhere = await factory.audit_event(occurred_at=NOW, resource_name="south twice")
        await factory.tag_event(elsewhere, tree["south"], await factory.team("Oeste"))
        await factory.audit_event(occurred_at=NOW, resource_name="untagged")
        seen = sorted(await names(client, factory.token(supervisor)))
        assert seen == ["north", "north_sales", "south and north_sales"]
        assert await names(client, factory.token(supervisor), {"text": "south"}) == ["south and north_sales"]

    async def test_agents_cannot_read_the_trail(self, client: GraphQLClient, factory: Factory) -> None:
        agent = await factory.user(Role.AGENT)
        body = await client.gql(AUDIT, {}, factory.token(agent))
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert body["data"] == {"auditEvents": None}

    async def test_node_hides_events_outside_the_scope(
        self, client: GraphQLClient, factory: Factory, tree: dict[str, Team]
    ) -> None:
        supervisor = await factory.user(Role.SUPERVISOR, supervises=[tree["north"]])
        event = await factory.audit_event(occurred_at=NOW, resource_name="south")
        await factory.tag_event(event, tree["south"])
        query = "query($id: ID!) { node(id: $id) { id } }"
        event_id = gid_event(event.id)
        assert (await client.data(query, {"id": event_id}, factory.token(supervisor)))["node"] is None
        admin = await factory.user(Role.ADMIN)
        assert (await client.data(query, {"id": event_id}, factory.token(admin)))["node"] == {"id": event_id}


def gid_event(pk: int) -> str:
    return to_global_id("AuditEvent", pk)
