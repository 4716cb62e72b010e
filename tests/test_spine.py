"""The fixed cost of a request (issue 24, point 5): who is asking comes from the process's
principal cache, and an operation that needs no SQL checks out no connection."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text

from db.engine import create_engine
from db.models import Role
from schema.node import to_global_id
from services import principal as principal_module
from services.principal import PrincipalCache
from tests.conftest import POSTGRES_URL, GraphQLClient, Server, StatementCounter, running
from tests.factories import Factory, audit_count

TYPENAME = "{ __typename }"
ME = "{ me { id } }"
DEACTIVATE = "mutation($id: ID!) { deactivateUser(id: $id) { userErrors { code } } }"
ADD_MEMBER = "mutation($t: ID!, $u: ID!) { addTeamMember(teamId: $t, userId: $u) { userErrors { code } } }"
CREATE_TEAM = 'mutation($p: ID) { createTeam(input: {name: "Sub", parentId: $p}) { team { id } userErrors { code } } }'
TEAMS = "{ teams { totalCount } }"


class Checkouts:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_: Any) -> None:
        self.count += 1


@pytest.fixture
def checkouts(server: Server) -> Iterator[Checkouts]:
    counter = Checkouts()
    event.listen(server.engine.sync_engine, "checkout", counter)
    yield counter
    event.remove(server.engine.sync_engine, "checkout", counter)


def principals(server: Server) -> PrincipalCache:
    cache: PrincipalCache = server.app.state.cartera.principals
    return cache


class TestNoDatabase:
    @pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
    async def test_typename_runs_no_sql_and_checks_out_no_connection(
        self,
        client: GraphQLClient,
        factory: Factory,
        count_sql: StatementCounter,
        checkouts: Checkouts,
        signed_in: bool,
    ) -> None:
        token = factory.token(await factory.user(Role.AGENT)) if signed_in else None
        # The first operation signed in loads the principal; the ones after it do not.
        assert await client.data(TYPENAME, token=token) == {"__typename": "Query"}
        count_sql.statements.clear()
        checkouts.count = 0
        for _ in range(3):
            assert await client.data(TYPENAME, token=token) == {"__typename": "Query"}
        assert (count_sql.count, checkouts.count) == (0, 0)

    async def test_me_reads_only_its_user_row(
        self, client: GraphQLClient, factory: Factory, count_sql: StatementCounter, server: Server
    ) -> None:
        user = await factory.user(Role.AGENT)
        token = factory.token(user)
        assert await client.data(ME, token=token) == {"me": {"id": to_global_id("User", user.id)}}
        loads = principals(server).loads
        count_sql.statements.clear()
        assert await client.data(ME, token=token) == {"me": {"id": to_global_id("User", user.id)}}
        # The user row `me` answers from (User.from_row); the principal is not read again.
        assert count_sql.count == 1
        assert principals(server).loads == loads

    async def test_a_refused_token_is_refused_from_the_cache(
        self, client: GraphQLClient, factory: Factory, count_sql: StatementCounter
    ) -> None:
        token = factory.token(await factory.user(Role.AGENT, active=False))
        for _ in range(2):
            body = await client.gql(ME, token=token)
            assert body["data"] == {"me": None}
            assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        count_sql.statements.clear()
        await client.gql(ME, token=token)
        assert count_sql.count == 0


class TestInvalidation:
    async def test_deactivated_on_this_process_is_refused_at_once(
        self, client: GraphQLClient, factory: Factory
    ) -> None:
        admin = factory.token(await factory.user(Role.ADMIN))
        agent = await factory.user(Role.AGENT)
        assert (await client.data(ME, token=factory.token(agent)))["me"] is not None
        data = await client.data(DEACTIVATE, {"id": to_global_id("User", agent.id)}, admin)
        assert data["deactivateUser"]["userErrors"] == []
        body = await client.gql(ME, token=factory.token(agent))
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    async def test_a_new_member_sees_its_team_at_once(self, client: GraphQLClient, factory: Factory) -> None:
        admin = factory.token(await factory.user(Role.ADMIN))
        team = await factory.team("North")
        agent = await factory.user(Role.AGENT)
        token = factory.token(agent)
        assert await client.data(TEAMS, token=token) == {"teams": {"totalCount": 0}}
        ids = {"t": to_global_id("Team", team.id), "u": to_global_id("User", agent.id)}
        assert (await client.data(ADD_MEMBER, ids, admin))["addTeamMember"]["userErrors"] == []
        assert await client.data(TEAMS, token=token) == {"teams": {"totalCount": 1}}

    async def test_a_supervisor_sees_a_team_created_under_its_subtree_at_once(
        self, client: GraphQLClient, factory: Factory
    ) -> None:
        admin = factory.token(await factory.user(Role.ADMIN))
        root = await factory.team("North")
        boss = factory.token(await factory.user(Role.SUPERVISOR, supervises=[root]))
        assert await client.data(TEAMS, token=boss) == {"teams": {"totalCount": 1}}
        created = await client.data(CREATE_TEAM, {"p": to_global_id("Team", root.id)}, admin)
        assert created["createTeam"]["userErrors"] == []
        assert await client.data(TEAMS, token=boss) == {"teams": {"totalCount": 2}}

    @pytest.mark.one_path("the user is forgotten between a request and its strawberry twin")
    async def test_another_process_forgets_through_its_feed(
        self, client: GraphQLClient, factory: Factory, database_url: str
    ) -> None:
        admin = factory.token(await factory.user(Role.ADMIN))
        agent = await factory.user(Role.AGENT)
        token = factory.token(agent)
        async with running(database_url, event_poll_seconds=0.05, relay_seconds=3600) as (other, other_client):
            assert (await other_client.data(ME, token=token))["me"] is not None
            loads = principals(other).loads
            # Cached over there: asking again reads nothing.
            assert (await other_client.data(ME, token=token))["me"] is not None
            assert principals(other).loads == loads
            await client.data(DEACTIVATE, {"id": to_global_id("User", agent.id)}, admin)
            async with asyncio.timeout(10):
                while True:
                    body = await other_client.gql(ME, token=token)
                    if body["data"] == {"me": None}:
                        break
                    await asyncio.sleep(0.02)
            assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


class TestCache:
    async def test_a_load_overtaken_by_a_change_is_not_kept(
        self, server: Server, factory: Factory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        user = await factory.user(Role.AGENT)
        cache = PrincipalCache(server.app.state.cartera.sessionmaker)
        read, release = asyncio.Event(), asyncio.Event()
        real = principal_module.load_principal

        async def slow(session: Any, user_id: int) -> Any:
            found = await real(session, user_id)
            read.set()
            await release.wait()
            return found

        monkeypatch.setattr(principal_module, "load_principal", slow)
        first = asyncio.create_task(cache.get(user.id))
        await read.wait()
        # The change commits and is forgotten while the load above holds what it read before.
        cache.forget([user.id])
        release.set()
        assert (await first) is not None
        monkeypatch.setattr(principal_module, "load_principal", real)
        await cache.get(user.id)
        assert cache.loads == 2
        # Stored this time: no change came while it ran.
        await cache.get(user.id)
        assert cache.loads == 2

    async def test_the_least_recent_user_goes_past_the_bound(self, server: Server, factory: Factory) -> None:
        users = [await factory.user(Role.AGENT) for _ in range(3)]
        cache = PrincipalCache(server.app.state.cartera.sessionmaker, maxsize=2)
        for user in users:
            await cache.get(user.id)
        await cache.get(users[1].id)
        await cache.get(users[2].id)
        assert cache.loads == 3
        await cache.get(users[0].id)
        assert cache.loads == 4

    async def test_forget_everyone(self, server: Server, factory: Factory) -> None:
        user = await factory.user(Role.AGENT)
        cache = PrincipalCache(server.app.state.cartera.sessionmaker)
        await cache.get(user.id)
        cache.forget(None)
        await cache.get(user.id)
        assert cache.loads == 2


STRAWBERRY = {"x-cartera-read": "strawberry"}
TERMINATE = text(
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)
RENAME = 'mutation($id: ID!) { updateUser(id: $id, input: {name: "Renamed"}) { userErrors { code } } }'


@pytest.mark.skipif(POSTGRES_URL is None, reason="PostgreSQL terminates backends; SQLite has none")
class TestDroppedConnections:
    """No pre-ping: a connection the server dropped is found dead by the statement that uses it."""

    async def terminate(self, database_url: str, server: Server) -> None:
        # From outside the app, so that every one of its pooled connections is dead.
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                assert (await conn.execute(TERMINATE)).scalar_one() >= 1
        finally:
            await engine.dispose()

    async def warm(self, client: GraphQLClient, token: str) -> None:
        # Several connections in the pool, all of which the termination kills.
        await asyncio.gather(*(self.me(client, token) for _ in range(4)))

    async def me(self, client: GraphQLClient, token: str) -> dict[str, Any]:
        # Through strawberry and SQLAlchemy's pool: the compiled reads have a pool of their own
        # (resolvers.compiled), with their own retry.
        response = await client.post(ME, token=token, headers=STRAWBERRY)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    @pytest.mark.parametrize("cached", [True, False], ids=["principal-cached", "principal-loaded"])
    async def test_a_query_gets_its_answer(
        self, client: GraphQLClient, factory: Factory, server: Server, database_url: str, cached: bool
    ) -> None:
        user = await factory.user(Role.AGENT)
        token = factory.token(user)
        await self.warm(client, token)
        await self.terminate(database_url, server)
        if not cached:
            principals(server).forget(None)
        body = await self.me(client, token)
        assert body == {"data": {"me": {"id": to_global_id("User", user.id)}}, "extensions": body.get("extensions")}
        # And the ones after it, on fresh connections.
        assert (await self.me(client, token))["data"]["me"]["id"] == to_global_id("User", user.id)

    async def test_a_mutation_fails_cleanly_and_is_not_run_twice(
        self, client: GraphQLClient, factory: Factory, server: Server, database_url: str
    ) -> None:
        admin = await factory.user(Role.ADMIN)
        token = factory.token(admin)
        await self.warm(client, token)
        audits = await audit_count(factory)
        await self.terminate(database_url, server)
        body = await client.gql(RENAME, {"id": to_global_id("User", admin.id)}, token)
        if "errors" in body:
            assert body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
            assert await audit_count(factory) == audits
        else:
            assert body["data"]["updateUser"]["userErrors"] == []
            assert await audit_count(factory) == audits + 1
        # The next one works, on a fresh connection.
        assert (await self.me(client, token))["data"]["me"]["id"] == to_global_id("User", admin.id)


DEEP = "{ me { " + "teams { nodes { members { nodes { " * 3 + "id" + " } } } }" * 3 + " } }"
UNKNOWN = "{ me { id nope } }"
OTHER_UNKNOWN = "{ me { id alsoNope } }"
TWO_OPERATIONS = "query A { __typename } query B { __typename }"


class TestDocumentCache:
    """Parse and validation are cached by document: a refusal is the same each time, and it is
    that document's own."""

    @pytest.mark.parametrize("document", [DEEP, UNKNOWN, TWO_OPERATIONS, "{ me { id "], ids=str)
    async def test_a_refused_document_is_refused_again_identically(
        self, client: GraphQLClient, factory: Factory, document: str
    ) -> None:
        token = factory.token(await factory.user(Role.AGENT))
        first = await client.post(document, token=token)
        assert "errors" in first.json()
        for _ in range(2):
            again = await client.post(document, token=token)
            assert (again.status_code, again.json()) == (first.status_code, first.json())

    async def test_errors_belong_to_their_document(self, client: GraphQLClient, factory: Factory) -> None:
        token = factory.token(await factory.user(Role.AGENT))
        for _ in range(2):
            one = (await client.gql(UNKNOWN, token=token))["errors"]
            other = (await client.gql(OTHER_UNKNOWN, token=token))["errors"]
            assert [e["message"].split(".")[0] for e in one] == ["Cannot query field 'nope' on type 'User'"]
            assert [e["message"].split(".")[0] for e in other] == ["Cannot query field 'alsoNope' on type 'User'"]
            assert await client.data(ME, token=token)
