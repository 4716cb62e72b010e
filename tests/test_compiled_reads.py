"""Compiled reads (resolvers/compiled.py): one statement builds the answer, byte for byte
strawberry's (PostgreSQL; the embedded SQLite default never compiles)."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from db.base import utcnow
from db.models import Contact, ConversationStatus, Role, SalesAttentionStatus
from resolvers.compiled import fallbacks
from resolvers.root import build_schema
from schema.node import to_global_id
from tests import sales_world
from tests.conftest import GraphQLClient, StatementCounter, auth, make_settings, running
from tests.factories import Factory

PAGE = """
query Page($first: Int, $after: String, $last: Int, $before: String) {
  contacts(first: $first, after: $after, last: $last, before: $before) {
    __typename
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges {
      cursor
      node {
        __typename id firstNames lastNames fullName initials isVip createdAt updatedAt archivedAt
        company { id name taxId industry website address phone createdAt }
        team { id name depth parent { name } }
        channels { id kind value normalized }
        channelKinds channelsByKind { kind channels { value } }
        addresses { id label street number unit city region postalCode country isPrimary }
        primaryAddress { street isPrimary }
        document { number type { code name active checkDigit } }
        badge { portfolioId portfolioName ownerName ownerKind active }
      }
    }
    nodes { id  alias: fullName }
  }
}
"""


async def both(client: GraphQLClient, query: str, variables: dict[str, Any] | None, token: str) -> tuple[Any, Any]:
    """The compiled answer and strawberry's, as raw responses."""
    compiled = await client.post(query, variables, token)
    plain = await client.http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={**auth(token), "x-cartera-read": "strawberry"},
    )
    return compiled, plain


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    """Where two decoded answers first differ, for a readable failure."""
    if type(a) is not type(b):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)} != {list(b)}"
        for key in a:
            found = _first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return ""
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}: {a!r} != {b!r}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return ""
    return "" if a == b else f"{path}: {a!r} != {b!r}"


async def _world(client: GraphQLClient, factory: Factory) -> tuple[str, str, str]:
    top = await factory.team("Ventas")
    sub = await factory.team("Ventas Norte", parent=top)
    other = await factory.team("Cobranzas")
    admin = await factory.user(Role.ADMIN, name="Ada")
    supervisor = await factory.user(Role.SUPERVISOR, name="Sofía", supervises=[sub])
    agent = await factory.user(Role.AGENT, name="Agustín", teams=[sub])
    token = factory.token(admin)
    names = [("José", "Pérez"), ('Ana "la" O\'Neil', "Gómez\\Ruiz"), ("Émile", "Zola 🦊"), ("ñandú", "ßtraße")]
    for i, (first, last) in enumerate(names * 3):
        team = [top, sub, other][i % 3]
        body = await client.data(
            """mutation($input: CreateContactInput!) { createContact(input: $input) {
                 contact { id } userErrors { code message } } }""",
            {
                "input": {
                    "firstNames": first,
                    "lastNames": f"{last} {i}",
                    "teamId": to_global_id("Team", team.id),
                    "isVip": i % 2 == 0,
                    "company": {"name": f"Acme {i}", "taxId": f"30-{i}"} if i % 3 else None,
                    "channels": [
                        {"kind": "WHATSAPP", "value": f"+54 9 341 555 {1000 + i}"},
                        {"kind": "EMAIL", "value": f"c{i}@example.com"},
                        {"kind": "WHATSAPP", "value": f"+54 9 341 556 {1000 + i}"},
                    ][: 1 + i % 3],
                    "addresses": [
                        {"street": "Córdoba", "city": "Rosario", "country": "AR", "number": str(i)},
                        {"street": "San Martín", "city": "Rosario", "country": "AR", "isPrimary": True},
                    ][: i % 3],
                },
            },
            token,
        )
        assert not body["createContact"]["userErrors"], body
    async with factory.sessionmaker() as session:
        rows = list((await session.scalars(select(Contact).order_by(Contact.id))).all())
    await factory.portfolio("Cartera Norte", agent=agent, contacts=rows[0:3])
    await factory.portfolio("Cartera del equipo", team=sub, contacts=rows[4:8])
    return token, factory.token(supervisor), factory.token(agent)


@pytest.mark.usefixtures("database_url")
async def test_a_page_of_contacts_is_one_statement_and_strawberry_s_bytes(
    backend_name: str, client: GraphQLClient, factory: Factory, count_sql: StatementCounter
) -> None:
    tokens = await _world(client, factory)
    for token in tokens:
        for variables in ({"first": 5}, {"first": 0}, {"last": 4}, {}):
            compiled, plain = await both(client, PAGE, variables, token)
            assert compiled.status_code == plain.status_code == 200
            assert compiled.content == plain.content, (variables, compiled.text, plain.text)
            assert compiled.headers.get("x-cartera-read") == ("compiled" if backend_name == "postgresql" else None)
        # Walk forwards then backwards by cursor.
        cursor: str | None = None
        for _ in range(4):
            compiled, plain = await both(client, PAGE, {"first": 3, "after": cursor}, token)
            assert compiled.content == plain.content
            page = compiled.json()["data"]["contacts"]["pageInfo"]
            if not page["hasNextPage"]:
                break
            cursor = page["endCursor"]
        compiled, plain = await both(client, PAGE, {"last": 2, "before": cursor}, token)
        assert compiled.content == plain.content
    if backend_name == "postgresql":
        count_sql.statements.clear()
        response = await client.post(PAGE, {"first": 10}, tokens[0])
        assert response.headers["x-cartera-read"] == "compiled"
        assert count_sql.count == 1, count_sql.statements


@pytest.mark.usefixtures("database_url")
async def test_me_companies_and_typename(
    backend_name: str, client: GraphQLClient, factory: Factory, count_sql: StatementCounter
) -> None:
    tokens = await _world(client, factory)
    queries = [
        "{ me { id email name role active createdAt updatedAt __typename } }",
        "query { a: me { id } b: me { name } __typename }",
        "{ companies(first: 2) { edges { cursor node { id name } } pageInfo { hasNextPage endCursor } } }",
        '{ companies(search: "acme") { totalCount nodes { name taxId } } }',
        "{ __typename }",
        "{ users(first: 3) { totalCount edges { cursor node { id name email role active presence { status changedAt }"
        " teams { totalCount nodes { id name depth } }"
        " supervisedTeams(first: 1) { pageInfo { hasNextPage } nodes { name } } } } } }",
        "{ users(filter: {roles: [AGENT, SUPERVISOR]}, orderBy: {field: EMAIL, direction: DESC}, last: 2)"
        " { nodes { email } pageInfo { hasPreviousPage startCursor } } }",
        "{ teams { edges { cursor node { id name depth parent { name } children { nodes { name } }"
        " members(first: 2) { nodes { name } pageInfo { endCursor } } supervisors { totalCount } } } } }",
        "{ teams(filter: {roots: true}) { nodes { name } } }",
        "{ portfolios { totalCount edges { cursor node { id name active createdAt updatedAt contactCount"
        " team { name } agent { name } badge { portfolioName ownerKind ownerName }"
        " contacts(first: 2) { totalCount nodes { fullName portfolio { name } }"
        " pageInfo { hasNextPage endCursor } } } } } }",
        "{ portfolios(orderBy: {field: CREATED_AT, direction: DESC}, last: 1) { nodes { name"
        " contacts(filter: {isVip: true}, orderBy: {field: CREATED_AT, direction: DESC}) { nodes { fullName } } } } }",
        "query ($id: ID!) { node(id: $id) { __typename id ... on Contact { fullName team { name } } } }",
        "query ($ids: [ID!]!) { nodes(ids: $ids) { id ... on Team { name } ... on User { email } ...C } }"
        " fragment C on Contact { initials channels { kind } }",
        "query ($skip: Boolean!) { me { id name @skip(if: $skip) ... on User { email } ...F } }"
        " fragment F on User { role }",
    ]
    async with factory.sessionmaker() as session:
        contact_ids = list((await session.scalars(select(Contact.id).order_by(Contact.id))).all())
    ids = [to_global_id("Contact", i) for i in contact_ids[:6]] + [
        to_global_id("Team", 1),
        to_global_id("User", 1),
        to_global_id("Contact", 999999),
        to_global_id("Nothing", 1),
        to_global_id("Portfolio", 1),
        to_global_id("Portfolio", 2),
        to_global_id("Campaign", 1),
    ]
    for token, query in [(t, q) for t in tokens for q in queries]:
        variables: dict[str, Any] | None = {"skip": True} if "$skip" in query else None
        if "$ids" in query:
            variables = {"ids": ids}
        if "$id:" in query:
            for global_id in ids:
                compiled, plain = await both(client, query, {"id": global_id}, token)
                assert compiled.content == plain.content, (global_id, compiled.text, plain.text)
            continue
        compiled, plain = await both(client, query, variables, token)
        assert compiled.content == plain.content, (query, _first_difference(compiled.json(), plain.json()))
        if "$ids" not in query:  # a Campaign among them: not mapped yet
            assert compiled.headers.get("x-cartera-read") == ("compiled" if backend_name == "postgresql" else None)
    if backend_name == "postgresql":
        count_sql.statements.clear()
        await client.post("{ __typename }", None, tokens[0])
        assert count_sql.count == 0


@pytest.mark.usefixtures("database_url")
async def test_what_is_not_compiled_runs_through_strawberry(
    backend_name: str, client: GraphQLClient, factory: Factory
) -> None:
    token, *_ = await _world(client, factory)
    queries = [
        # A search is ranked tier by tier: several statements.
        '{ contacts(filter: {search: "perez"}) { nodes { fullName } } }',
        # A field without a mapping.
        "{ contacts { nodes { history { totalCount } } } }",
        # Refused arguments and documents: strawberry's errors, as they are.
        '{ contacts(after: "nonsense") { nodes { id } } }',
        "{ contacts(first: 1000) { nodes { id } } }",
        "{ contacts { nodes { nope } } }",
        "mutation { logout }",
    ]
    for query in queries:
        compiled, plain = await both(client, query, None, token)
        assert compiled.content == plain.content, (query, _first_difference(compiled.json(), plain.json()))
        assert "x-cartera-read" not in compiled.headers
    signed_out = await client.post("{ me { id } }")
    assert "x-cartera-read" not in signed_out.headers


def test_the_fields_that_fall_back_to_strawberry_are_the_listed_ones(repo_root: Path) -> None:
    """Adding a field without a SQL mapping (schema/sql_map.py), or mapping one, changes this
    list: update tests/compiled_fallbacks.txt in the same change (CONTRIBUTING.md)."""
    schema = build_schema(make_settings("sqlite://"))
    listed = (repo_root / "tests" / "compiled_fallbacks.txt").read_text().split()
    assert fallbacks(schema._schema) == listed


GESTIONES = """
query ($order: GestionOrder, $first: Int, $after: String) {
  gestiones(orderBy: $order, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        id status priority attempts claimedAt finishedAt createdAt updatedAt phones
        campaign { id name status startsOn endsOn team { name } }
        contact { fullName channels { kind } }
        badge { portfolioName ownerKind }
        operator { name }
        result { code label finishes requiresComment position active }
      }
    }
  }
}
"""


@pytest.mark.usefixtures("database_url")
async def test_the_gestiones_panel(backend_name: str, client: GraphQLClient, factory: Factory) -> None:
    top = await factory.team("Cobranzas")
    other = await factory.team("Ventas")
    admin = await factory.user(Role.ADMIN)
    supervisor = await factory.user(Role.SUPERVISOR, supervises=[top])
    agent = await factory.user(Role.AGENT, teams=[top])
    mine = await factory.contacts(top, "Ana Pérez", "Beto Gómez", "Ceci Ruiz")
    theirs = await factory.contacts(other, "Dora Díaz")
    for contact in mine + theirs:
        await factory.channel(contact, "WHATSAPP")
        await factory.channel(contact, "PHONE")
    # One number on two channels: one phone.
    await factory.channel(mine[0], "PHONE", normalized="+5493415550000")
    await factory.channel(mine[0], "WHATSAPP", normalized="+5493415550000")
    await factory.portfolio("Morosos", team=top, contacts=mine[:1])
    campaign = await factory.campaign("Mora 30", top, operators=[agent])
    elsewhere = await factory.campaign("Ventas", other)
    await factory.gestiones(campaign, mine[:2], operator=agent, priority=2)
    await factory.gestiones(campaign, mine[2:] + theirs)
    await factory.gestiones(elsewhere, theirs)
    for user in (admin, supervisor, agent):
        token = factory.token(user)
        for variables in ({}, {"first": 2}, {"order": {"field": "CREATED_AT", "direction": "DESC"}, "first": 3}):
            compiled, plain = await both(client, GESTIONES, variables, token)
            assert compiled.content == plain.content, _first_difference(compiled.json(), plain.json())
            assert compiled.headers.get("x-cartera-read") == ("compiled" if backend_name == "postgresql" else None)
        # By the client's name the page is keyed on a joined column: strawberry's.
        compiled, plain = await both(client, GESTIONES, {"order": {"field": "NAME"}}, token)
        assert compiled.content == plain.content
        assert "x-cartera-read" not in compiled.headers


AUDIT = """
query ($filter: AuditEventFilter, $last: Int) {
  auditEvents(filter: $filter, last: $last) {
    totalCount
    pageInfo { hasPreviousPage startCursor }
    edges {
      cursor
      node {
        id occurredAt actorName action resourceType resourceId resourceName requestId
        actor { name }
        batch { id }
        entries(first: 2) { totalCount nodes { resourceId } }
      }
    }
  }
}
"""


@pytest.mark.usefixtures("database_url")
async def test_the_audit_trail(backend_name: str, client: GraphQLClient, factory: Factory) -> None:
    tokens = await _world(client, factory)
    for token in tokens:
        for variables in ({}, {"last": 3}, {"filter": {"period": "TODAY"}}, {"filter": {"resourceTypes": ["COMPANY"]}}):
            compiled, plain = await both(client, AUDIT, variables, token)
            assert compiled.content == plain.content, _first_difference(compiled.json(), plain.json())
            agent = token == tokens[2]
            expected = "compiled" if backend_name == "postgresql" and not agent else None
            assert compiled.headers.get("x-cartera-read") == expected
    # What changed is presented in Python (schema.types.audit_changes): strawberry's.
    compiled, plain = await both(client, "{ auditEvents { nodes { changes { field } } } }", None, tokens[0])
    assert compiled.content == plain.content
    assert "x-cartera-read" not in compiled.headers


PANEL = """
query ($filter: SalesAttentionFilter, $order: SalesAttentionOrder, $first: Int) {
  salesAttentions(filter: $filter, orderBy: $order, first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        id status pendingSince createdAt closedAt updatedAt fullName phone email
        interest { id kind name position active createdAt } origin { name } closeReason { name }
        agent { name } team { name } contact { id fullName }
      }
    }
  }
}
"""


@pytest.mark.usefixtures("database_url")
async def test_the_sales_panel(backend_name: str, client: GraphQLClient, factory: Factory) -> None:
    world = await sales_world.build(factory)
    await factory.channel(world.juan, "EMAIL", normalized="juan@example.com")
    await factory.channel(world.juan, "WHATSAPP")
    await factory.sales_attention(world.juan, agent=world.ana, interest=world.auto, origin=world.web)
    await factory.sales_attention(
        world.maria, status=SalesAttentionStatus.PENDING, interest=world.moto, created_at=utcnow() - timedelta(days=2)
    )
    await factory.sales_attention(
        world.zoe, status=SalesAttentionStatus.CLOSED, close_reason=world.sold, created_at=utcnow() - timedelta(days=20)
    )
    variables_list: list[dict[str, Any]] = [
        {},
        {"first": 1},
        {"filter": {"period": "LAST_30_DAYS"}, "order": {"field": "UPDATED_AT", "direction": "ASC"}},
        {"filter": {"text": "perez"}},
    ]
    for user in (world.ada, world.sofia, world.nora):
        token = factory.token(user)
        for variables in variables_list:
            compiled, plain = await both(client, PANEL, variables, token)
            assert compiled.content == plain.content, _first_difference(compiled.json(), plain.json())
            assert compiled.headers.get("x-cartera-read") == ("compiled" if backend_name == "postgresql" else None)
        # Ordered on a nullable column: keyed on an expression, strawberry's.
        compiled, plain = await both(client, PANEL, {"order": {"field": "PENDING_SINCE"}}, token)
        assert compiled.content == plain.content
        assert "x-cartera-read" not in compiled.headers
    # An agent is refused, in strawberry's words.
    compiled, plain = await both(client, PANEL, {}, factory.token(world.ana))
    assert compiled.content == plain.content
    assert "FORBIDDEN" in compiled.text


@pytest.mark.one_path("reads the pool's one connection's prepared statements between requests")
async def test_a_text_filtered_read_is_planned_with_its_values(
    backend_name: str, database_url: str, factory: Factory
) -> None:
    """A statement asyncpg keeps prepared may get a generic plan after five runs, which PostgreSQL
    then uses whatever the values: the plan chosen while the panel's text read "gonzalez" took
    52-80 ms for "0341 15" (bench/sales.py). A text-filtered read is sent unprepared, so nothing of
    it stays on the connection; a read without a text keeps its prepared statement."""
    if backend_name != "postgresql":
        pytest.skip("SQLite has no compiled reads")
    world = await sales_world.build(factory)
    await factory.sales_attention(world.juan, agent=world.ana, interest=world.auto, origin=world.web)
    token = factory.token(world.ada)
    kept = (
        "SELECT count(*) FROM pg_prepared_statements"
        " WHERE statement LIKE '%sales_attentions%' AND statement NOT LIKE '%pg_prepared_statements%'"
    )
    async with running(database_url, db_pool_size=1) as (server, client):
        engine = server.app.state.engine

        async def prepared() -> int:
            async with engine.connect() as conn:
                return int((await conn.execute(text(kept))).scalar_one())

        for search in ("perez", "0341 15", "juan", "x", "perez", "juan", "0341 15"):
            response = await client.post(PANEL, {"filter": {"text": search}}, token)
            assert response.headers.get("x-cartera-read") == "compiled"
            assert "errors" not in response.json()
        assert await prepared() == 0
        response = await client.post(PANEL, {"first": 3}, token)
        assert response.headers.get("x-cartera-read") == "compiled"
        assert await prepared() == 1


@pytest.mark.usefixtures("database_url")
async def test_a_compiled_read_survives_its_connections_being_terminated(
    backend_name: str, client: GraphQLClient, factory: Factory, database_url: str
) -> None:
    if backend_name != "postgresql":
        pytest.skip("terminating backends is PostgreSQL's")
    token, *_ = await _world(client, factory)
    query = "{ contacts(first: 3) { nodes { fullName } } }"
    before = await client.post(query, None, token)
    assert before.headers["x-cartera-read"] == "compiled"
    # Idle connections in the pool, more than a read tries: each would be found dead in turn
    # unless the first one found takes the older ones with it (it took one alone: a 500).
    engine = factory.sessionmaker.kw["bind"]
    async with contextlib.AsyncExitStack() as held:
        for _ in range(6):
            conn = await held.enter_async_context(engine.connect())
            await conn.execute(text("SELECT 1"))
    # Every other backend of this database: the app's pools, the compiled reads' among them.
    async with factory.sessionmaker() as session:
        await session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    after = await client.post(query, None, token)
    assert after.status_code == 200
    assert after.content == before.content
    assert after.headers["x-cartera-read"] == "compiled"


CONVERSATIONS = """
query ($filter: ConversationFilter, $last: Int) {
  conversations(filter: $filter, last: $last) {
    totalCount
    pageInfo { hasPreviousPage startCursor }
    nodes {
      id status channelKind channelAddress createdAt assignedAt firstReplyAt resolvedAt lastMessageAt updatedAt
      contact { fullName } channel { kind normalized } agent { name } team { name }
      lastMessage { text direction author { name } }
      messages(first: 2) {
        totalCount
        edges { cursor node { id direction authorName text sentAt externalId durationSeconds createdAt } }
      }
    }
  }
}
"""


@pytest.mark.usefixtures("database_url")
async def test_conversations(backend_name: str, client: GraphQLClient, factory: Factory) -> None:
    ventas = await factory.team("Ventas")
    otros = await factory.team("Otros")
    admin = await factory.user(Role.ADMIN)
    supervisor = await factory.user(Role.SUPERVISOR, supervises=[ventas])
    agent = await factory.user(Role.AGENT, name="Ana", teams=[ventas])
    ana, beto = await factory.contacts(ventas, "Ana Pérez", "Beto Gómez")
    (zoe,) = await factory.contacts(otros, "Zoe Díaz")
    await factory.conversation(ana, messages=["hola", "¿hay stock?", 'dice "sí"'])
    await factory.conversation(beto, status=ConversationStatus.OPEN, agent=agent, messages=["buenas"])
    await factory.conversation(zoe, messages=["hello"])
    for user in (admin, supervisor, agent):
        token = factory.token(user)
        for variables in ({}, {"last": 1}, {"filter": {"statuses": ["OPEN"]}}):
            compiled, plain = await both(client, CONVERSATIONS, variables, token)
            assert compiled.content == plain.content, _first_difference(compiled.json(), plain.json())
            assert compiled.headers.get("x-cartera-read") == ("compiled" if backend_name == "postgresql" else None)


@pytest.mark.usefixtures("database_url")
async def test_an_empty_page_whose_fields_are_all_skipped(client: GraphQLClient, factory: Factory) -> None:
    """Found by the generated documents: no rows and no aggregate selected still answer `{}`."""
    token, *_ = await _world(client, factory)
    query = '{ contacts(filter: {documentNumber: "nadie"}) { pageInfo { endCursor @include(if: false) } } }'
    compiled, plain = await both(client, query, None, token)
    assert compiled.content == plain.content
    assert compiled.json()["data"]["contacts"] == {"pageInfo": {}}


@pytest.mark.usefixtures("database_url")
async def test_a_nested_page_asked_for_through_a_named_fragment(client: GraphQLClient, factory: Factory) -> None:
    """Found by the generated documents: strawberry's nested lists took a named fragment for a
    field of another name, read no rows and answered hasPreviousPage false after a cursor."""
    team = await factory.team("Norte")
    admin = await factory.user(Role.ADMIN, teams=[team])
    after = "WyJub3J0ZSIsMV0"  # ["norte",1]
    query = (
        "query ($after: String) { me { teams(after: $after) { ...Page } } }"
        " fragment Page on TeamConnection { pageInfo { hasPreviousPage } }"
    )
    compiled, plain = await both(client, query, {"after": after}, factory.token(admin))
    assert plain.json()["data"]["me"]["teams"] == {"pageInfo": {"hasPreviousPage": True}}
    assert compiled.content == plain.content


CUSTOM_FIELDS = """
query ($first: Int) {
  contacts(first: $first) {
    nodes {
      id
      customFields {
        __typename value
        definition { id key label type options required position active }
      }
    }
  }
}
"""


@pytest.mark.usefixtures("database_url")
async def test_custom_fields_read_alike_with_awkward_numbers_and_text(
    backend_name: str, client: GraphQLClient, factory: Factory
) -> None:
    """The values as the client wrote them (1e-07, 1e+21, -0.0, 2**53, quotes, accents, an inactive
    definition's values), through the `json` column's text, agree byte for byte."""
    from tests import compiled_world

    world = await compiled_world.build(client, factory)
    for token in (world.tokens["ADMIN"], world.tokens["AGENT"]):
        compiled, plain = await both(client, CUSTOM_FIELDS, {"first": 60}, token)
        assert compiled.content == plain.content, _first_difference(compiled.json(), plain.json())
        assert compiled.headers.get("x-cartera-read") == ("compiled" if backend_name == "postgresql" else None)
    values = [v["value"] for c in plain.json()["data"]["contacts"]["nodes"] for v in c["customFields"]]
    assert {1e-07, 1e21, 'Ñ "B"'} <= set(values), values
    assert b"1e-07" in plain.content
    assert b"1e+21" in plain.content
