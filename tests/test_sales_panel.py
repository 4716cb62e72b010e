"""The sales panel (S1-S3, C8): every filter and period preset in the account's time zone, who
reads which rows, orders and pages, the client read live, and a constant number of statements."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from db.models import Contact, ConversationStatus, Role, SalesAttention, SalesAttentionStatus, Team, User
from schema.node import from_global_id
from services import sales_attentions
from tests.conftest import GraphQLClient, Server, StatementCounter, running
from tests.factories import Factory, gid, mutate
from tests.sales_world import SalesWorld, build

BA = ZoneInfo("America/Argentina/Buenos_Aires")


def local(*parts: int) -> datetime:
    """An instant by its wall-clock time in Buenos Aires (UTC-3, no daylight saving)."""
    return datetime(*parts, tzinfo=BA)  # type: ignore[misc]


# Thursday 12 March 2026, 15:00 in Buenos Aires: "now" for every test here.
NOW = local(2026, 3, 12, 15, 0)
# One client per moment, named after it, whose attention was created then.
MOMENTS = {
    "A today 00:00": local(2026, 3, 12, 0, 0),
    "B yesterday 23:59:59.999999": local(2026, 3, 11, 23, 59, 59, 999999),
    "C friday 6th 00:00": local(2026, 3, 6, 0, 0),
    "D thursday 5th 23:59": local(2026, 3, 5, 23, 59, 59),
    "E 28 february": local(2026, 2, 28, 12, 0),
    "F 10 february": local(2026, 2, 10, 12, 0),
    "G new year 00:30": local(2026, 1, 1, 0, 30),
    # 02:30 UTC on 1 January: 2026 in UTC, still 2025 in Buenos Aires.
    "H new year's eve 23:30": local(2025, 12, 31, 23, 30),
}
A, B, C, D, E, F, G, H = MOMENTS
PRESETS = {
    "TODAY": {A},
    "YESTERDAY": {B},
    "LAST_7_DAYS": {A, B, C},
    "LAST_30_DAYS": {A, B, C, D, E},
    "THIS_WEEK": {A, B},
    "THIS_MONTH": {A, B, C, D},
    "LAST_MONTH": {E, F},
    "THIS_YEAR": {A, B, C, D, E, F, G},
}

PANEL = """
query($f: SalesAttentionFilter, $o: SalesAttentionOrder, $first: Int, $after: String, $last: Int, $before: String) {
  salesAttentions(filter: $f, orderBy: $o, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor startCursor }
    nodes { id fullName }
  }
}
"""
EVERYTHING = """
query($first: Int) {
  salesAttentions(first: $first) {
    totalCount
    nodes {
      id status pendingSince createdAt closedAt updatedAt fullName phone email
      contact { id fullName }
      interest { name } origin { name } closeReason { name }
      agent { name } team { name }
      conversations(first: 5) { totalCount nodes { id status } }
    }
  }
}
"""
CREATE_CONTACT = """
mutation($input: CreateContactInput!) { createContact(input: $input) { contact { id } userErrors { field } } }
"""
EDIT_CONTACT = """
mutation($id: ID!, $input: UpdateContactInput!) { updateContact(id: $id, input: $input) { userErrors { field } } }
"""
NODE = "query($id: ID!) { node(id: $id) { id } }"
LIVE = "query($id: ID!) { node(id: $id) { ... on SalesAttention { fullName phone email contact { fullName } } } }"
MARK = """
mutation($i: MarkConversationCommercialInput!) { markConversationCommercial(input: $i) { userErrors { field } } }
"""


@pytest.fixture(scope="module")
async def account(database_url: str) -> AsyncIterator[tuple[Server, GraphQLClient]]:
    """The app with the account's time zone in Buenos Aires (CARTERA_TIMEZONE)."""
    async with running(database_url, timezone=BA.key, relay_seconds=3600) as pair:
        yield pair


@pytest.fixture
def api(account: tuple[Server, GraphQLClient]) -> GraphQLClient:
    return account[1]


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The presets' "now"."""
    monkeypatch.setattr(sales_attentions, "utcnow", lambda: NOW.astimezone(UTC))


@pytest.fixture
async def world(factory: Factory) -> SalesWorld:
    return await build(factory)


async def names(client: GraphQLClient, token: str, flt: dict[str, Any] | None = None, **kw: Any) -> list[str]:
    data = await client.data(PANEL, {"f": flt, **kw}, token)
    return [n["fullName"] for n in data["salesAttentions"]["nodes"]]


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    """The one error of a refused root field, whose data is null."""
    assert body["data"] == {"salesAttentions": None}, body
    (error,) = body["errors"]
    extensions: dict[str, Any] = error["extensions"]
    return extensions


async def people(factory: Factory, team: Team, *names: str) -> list[Contact]:
    return await factory.contacts(team, *names)


class TestPeriods:
    @pytest.fixture
    async def calendar(self, factory: Factory, world: SalesWorld) -> None:
        for name, moment in MOMENTS.items():
            (contact,) = await factory.contacts(world.norte, f"{name[0]} Moment")
            await factory.sales_attention(contact, created_at=moment)

    @pytest.mark.usefixtures("calendar")
    @pytest.mark.parametrize("period", list(PRESETS))
    async def test_each_preset_is_whole_local_days(
        self, api: GraphQLClient, factory: Factory, world: SalesWorld, period: str
    ) -> None:
        found = await names(api, factory.token(world.ada), {"period": period})
        assert {n[0] for n in found} == {m[0] for m in PRESETS[period]}

    @pytest.mark.usefixtures("calendar")
    async def test_the_last_seven_days_are_the_default_newest_first(
        self, api: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        assert await names(api, factory.token(world.ada)) == ["A Moment", "B Moment", "C Moment"]

    @pytest.mark.usefixtures("calendar")
    async def test_the_same_rows_fall_on_other_days_in_utc(
        self, client: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        # The suite's own server keeps the default zone, UTC: there 02:30 UTC on 1 January is 2026.
        found = await names(client, factory.token(world.ada), {"period": "THIS_YEAR"})
        assert {n[0] for n in found} == {m[0] for m in MOMENTS}

    @pytest.mark.usefixtures("calendar")
    async def test_a_custom_range_includes_both_ends(
        self, api: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        flt = {"from": local(2026, 3, 6).isoformat(), "to": MOMENTS[B].isoformat()}
        assert await names(api, factory.token(world.ada), flt) == ["B Moment", "C Moment"]
        since = {"from": MOMENTS[A].isoformat()}
        assert await names(api, factory.token(world.ada), since) == ["A Moment"]

    @pytest.mark.parametrize(
        ("flt", "code", "where"),
        [
            ({"from": "2026-03-12T00:00:00-03:00", "to": "2026-03-11T23:59:59-03:00"}, "INVALID", "filter.from"),
            ({"period": "TODAY", "from": "2026-03-12T00:00:00-03:00"}, "INVALID", "filter.period"),
            ({"to": "2026-03-12T00:00:00-03:00"}, "REQUIRED", "filter.from"),
            ({"from": "2025-03-12T00:00:00-03:00", "to": "2026-03-13T00:00:01-03:00"}, "LIMIT_EXCEEDED", "filter.to"),
            ({"text": "x" * 5000}, "INVALID", "filter.text"),
            ({"teamId": "bm90LW91cnM"}, "NOT_FOUND", "filter.teamId"),
            ({"agentIds": ["bm90LW91cnM"]}, "NOT_FOUND", "filter.agentIds.0"),
        ],
    )
    async def test_a_bad_filter_is_a_typed_error(
        self, api: GraphQLClient, factory: Factory, world: SalesWorld, flt: dict[str, Any], code: str, where: str | None
    ) -> None:
        body = await api.gql(PANEL, {"f": flt}, factory.token(world.ada))
        found = refusal(body)
        assert found["code"] == code
        assert found.get("field") == where


class TestFilters:
    async def test_text_finds_the_name_a_phone_however_typed_and_an_email(
        self, api: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        token = factory.token(world.ada)
        clients = [
            ("José", "Núñez", [{"kind": "PHONE", "value": "(011) 4555-1234"}]),
            ("Ana", "Pérez", [{"kind": "EMAIL", "value": "Ana.Perez@Example.com"}]),
            ("Joseph", "Smith", [{"kind": "WHATSAPP", "value": "011 15-4444-0000"}]),
        ]
        for first, last, channels in clients:
            made = await mutate(
                api,
                token,
                CREATE_CONTACT,
                {"input": {"firstNames": first, "lastNames": last, "teamId": gid(world.norte), "channels": channels}},
            )
            async with factory.sessionmaker() as session:
                contact = await session.get_one(Contact, int(_pk(made["contact"]["id"])))
            await factory.sales_attention(contact, created_at=NOW - timedelta(hours=1))
        assert await names(api, token, {"text": "jose"}) == ["Joseph Smith", "José Núñez"]
        assert await names(api, token, {"text": "NUNEZ jose"}) == ["José Núñez"]
        for typed in ("011 4555-1234", "+54 11 4555 1234", "45551234"):
            assert await names(api, token, {"text": typed}) == ["José Núñez"], typed
        assert await names(api, token, {"text": "15 4444 0000"}) == ["Joseph Smith"]
        assert await names(api, token, {"text": "ana.perez@example"}) == ["Ana Pérez"]
        assert await names(api, token, {"text": "nadie"}) == []
        assert await names(api, token, {"text": "a\x00"}) == []

    async def test_the_group_defaults_to_what_you_reach_and_takes_its_subgroups(
        self, api: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        at = NOW - timedelta(hours=1)
        await factory.sales_attention(world.juan, created_at=at)  # Norte
        await factory.sales_attention(world.maria, created_at=at - timedelta(minutes=1))  # Sur
        await factory.sales_attention(world.zoe, created_at=at - timedelta(minutes=2))  # Otros
        everyone = ["Juan Pérez", "María Gómez", "Zoe Díaz"]
        assert await names(api, factory.token(world.ada)) == everyone
        assert await names(api, factory.token(world.sofia)) == everyone[:2]
        assert await names(api, factory.token(world.nora)) == everyone[:1]
        sofia = factory.token(world.sofia)
        assert await names(api, sofia, {"teamId": gid(world.ventas)}) == everyone[:2]
        assert await names(api, sofia, {"teamId": gid(world.sur)}) == ["María Gómez"]
        # A group outside your sight selects nothing, as a missing one does.
        assert await names(api, sofia, {"teamId": gid(world.otros)}) == []
        assert await names(api, factory.token(world.nora), {"teamId": gid(world.ventas)}) == ["Juan Pérez"]

    async def test_users_some_all_or_unassigned_and_the_other_fields(
        self, api: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        at = NOW - timedelta(hours=1)
        clients = await people(factory, world.norte, "Uno A", "Dos B", "Tres C", "Cuatro D")
        await factory.sales_attention(clients[0], agent=world.ana, interest=world.auto, origin=world.web, created_at=at)
        await factory.sales_attention(
            clients[1], team=world.sur, agent=world.beto, interest=world.moto, created_at=at - timedelta(minutes=1)
        )
        await factory.sales_attention(
            clients[2],
            status=SalesAttentionStatus.CLOSED,
            close_reason=world.sold,
            origin=world.whatsapp,
            created_at=at - timedelta(minutes=2),
        )
        await factory.sales_attention(
            clients[3], status=SalesAttentionStatus.PENDING, created_at=at - timedelta(minutes=3)
        )
        token = factory.token(world.ada)
        cases: list[tuple[dict[str, Any], list[str]]] = [
            ({}, ["Uno A", "Dos B", "Tres C", "Cuatro D"]),
            ({"agentIds": [gid(world.ana)]}, ["Uno A"]),
            ({"agentIds": [gid(world.ana), gid(world.beto)]}, ["Uno A", "Dos B"]),
            ({"unassigned": True}, ["Tres C", "Cuatro D"]),
            ({"agentIds": [gid(world.beto)], "unassigned": True}, ["Dos B", "Tres C", "Cuatro D"]),
            ({"statuses": ["PENDING", "CLOSED"]}, ["Tres C", "Cuatro D"]),
            ({"interestIds": [gid(world.moto)]}, ["Dos B"]),
            ({"originIds": [gid(world.web), gid(world.whatsapp)]}, ["Uno A", "Tres C"]),
            ({"closeReasonIds": [gid(world.sold)]}, ["Tres C"]),
            ({"statuses": ["OPEN"], "agentIds": [gid(world.beto)], "teamId": gid(world.sur)}, ["Dos B"]),
        ]
        for flt, expected in cases:
            assert await names(api, token, flt) == expected, flt

    async def test_a_contact_custom_field(self, api: GraphQLClient, factory: Factory, world: SalesWorld) -> None:
        at = NOW - timedelta(hours=1)
        async with factory.writing() as session:
            contact = await session.get_one(Contact, world.juan.id)
            contact.custom_fields = {"segmento": "Oro"}
            await session.commit()
        await factory.sales_attention(world.juan, created_at=at)
        await factory.sales_attention(world.maria, created_at=at)
        token = factory.token(world.ada)
        assert await names(api, token, {"customFields": [{"key": "segmento", "value": "Oro"}]}) == ["Juan Pérez"]
        assert await names(api, token, {"customFields": [{"key": "segmento", "value": "Plata"}]}) == []


class TestAccess:
    async def test_agents_are_forbidden_and_read_no_attention_anywhere(
        self, api: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        row = await factory.sales_attention(world.juan, agent=world.ana, created_at=NOW - timedelta(hours=1))
        token = factory.token(world.ana)
        assert refusal(await api.gql(PANEL, {}, token))["code"] == "FORBIDDEN"
        assert (await api.data(NODE, {"id": gid(row)}, token))["node"] is None
        # The contact and the conversation she works expose no attention at all.
        for type_name in ("Contact", "Conversation", "User", "Team"):
            fields = await api.data(f'{{ __type(name: "{type_name}") {{ fields {{ name }} }} }}', token=token)
            assert not [f for f in fields["__type"]["fields"] if "ttention" in f["name"]], type_name
        # A supervisor outside its group does not see it either; one over it does.
        assert (await api.data(NODE, {"id": gid(row)}, factory.token(await _stranger(factory))))["node"] is None
        assert (await api.data(NODE, {"id": gid(row)}, factory.token(world.nora)))["node"] == {"id": gid(row)}

    async def test_orders_and_pages_walk_every_row_once(
        self, api: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        clients = await people(factory, world.norte, *(f"Cliente {i:02d}" for i in range(7)))
        rows: list[SalesAttention] = []
        for i, person in enumerate(clients):
            status = SalesAttentionStatus.PENDING if i % 2 else SalesAttentionStatus.OPEN
            rows.append(await factory.sales_attention(person, status=status, created_at=NOW - timedelta(hours=i + 1)))
        token = factory.token(world.ada)
        newest = [f"Cliente {i:02d}" for i in range(7)]
        for order, expected in [
            ({"field": "CREATED_AT"}, newest),
            ({"field": "CREATED_AT", "direction": "ASC"}, newest[::-1]),
            ({"field": "UPDATED_AT"}, newest),
            # Rows never pending go last either way, by id among them.
            ({"field": "PENDING_SINCE"}, newest[1::2] + newest[0::2][::-1]),
            ({"field": "PENDING_SINCE", "direction": "ASC"}, newest[1::2][::-1] + newest[0::2]),
            ({"field": "CLOSED_AT"}, newest[::-1]),
        ]:
            seen: list[str] = []
            after = None
            while True:
                data = (await api.data(PANEL, {"o": order, "first": 3, "after": after}, token))["salesAttentions"]
                seen += [n["fullName"] for n in data["nodes"]]
                assert data["totalCount"] == 7
                if not data["pageInfo"]["hasNextPage"]:
                    break
                after = data["pageInfo"]["endCursor"]
            assert seen == expected, order
            back = (await api.data(PANEL, {"o": order, "last": 3}, token))["salesAttentions"]
            assert [n["fullName"] for n in back["nodes"]] == expected[-3:]
            before = await api.data(PANEL, {"o": order, "last": 2, "before": back["pageInfo"]["startCursor"]}, token)
            assert [n["fullName"] for n in before["salesAttentions"]["nodes"]] == expected[-5:-3]


async def _stranger(factory: Factory) -> User:
    elsewhere = await factory.team("Elsewhere")
    return await factory.user(Role.SUPERVISOR, supervises=[elsewhere])


def _pk(global_id: str) -> int:
    return from_global_id(global_id)[1]


class TestLiveClient:
    async def test_an_edit_of_the_contact_shows_at_once(
        self, api: GraphQLClient, factory: Factory, world: SalesWorld
    ) -> None:
        """C8: name, phone and e-mail are the contact's, read when the panel is."""
        row = await factory.sales_attention(world.juan, created_at=NOW - timedelta(hours=1))
        await factory.channel(world.juan, "EMAIL", "juan@example.com")
        await factory.channel(world.juan, "WHATSAPP", "+5491145550000")
        await factory.channel(world.juan, "PHONE", "+541145551111")
        token = factory.token(world.sofia)
        found = (await api.data(LIVE, {"id": gid(row)}, token))["node"]
        assert found == {
            "fullName": "Juan Pérez",
            "phone": "+5491145550000",
            "email": "juan@example.com",
            "contact": {"fullName": "Juan Pérez"},
        }
        await mutate(
            api, factory.token(world.ada), EDIT_CONTACT, {"id": gid(world.juan), "input": {"firstNames": "Juan Carlos"}}
        )
        found = (await api.data(LIVE, {"id": gid(row)}, token))["node"]
        assert (found["fullName"], found["contact"]["fullName"]) == ("Juan Carlos Pérez", "Juan Carlos Pérez")
        assert await names(api, token, {"text": "juan carlos"}) == ["Juan Carlos Pérez"]


class TestStatements:
    @pytest.fixture
    def statements(self, account: tuple[Server, GraphQLClient]) -> Iterator[StatementCounter]:
        engine = account[0].engine.sync_engine
        counter = StatementCounter()
        event.listen(engine, "before_cursor_execute", counter)
        yield counter
        event.remove(engine, "before_cursor_execute", counter)

    async def test_a_page_costs_the_same_statements_for_5_rows_and_for_50(
        self, api: GraphQLClient, factory: Factory, world: SalesWorld, statements: StatementCounter
    ) -> None:
        teams = [world.norte, world.sur]
        agents = {world.norte.id: world.ana, world.sur.id: world.beto}
        clients = await people(factory, world.norte, *(f"Cliente {i:02d}" for i in range(50)))
        for i, person in enumerate(clients):
            team = teams[i % 2]
            closed = i % 3 == 0
            await factory.sales_attention(
                person,
                team=team,
                agent=agents[team.id],
                status=SalesAttentionStatus.CLOSED if closed else SalesAttentionStatus.OPEN,
                close_reason=world.sold if closed else None,
                interest=[world.auto, world.moto][i % 2],
                origin=world.web,
                created_at=NOW - timedelta(minutes=i + 1),
            )
            await factory.channel(person, "PHONE")
            chat = await factory.conversation(person, status=ConversationStatus.OPEN, agent=agents[team.id], team=team)
            if not closed:
                await mutate(api, factory.token(world.ada), MARK, {"i": {"conversationId": gid(chat)}})
        counts = []
        for first in (5, 50):
            for user in (world.ada, world.sofia):
                statements.statements.clear()
                data = (await api.data(EVERYTHING, {"first": first}, factory.token(user)))["salesAttentions"]
                assert len(data["nodes"]) == first
                assert all(n["phone"] and n["agent"] and n["team"] for n in data["nodes"])
                counts.append(statements.count)
        assert len(set(counts)) == 1, counts
