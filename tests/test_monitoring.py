"""The monitoring table (A4) and the conversation reports (P9): periods in the account's time zone,
who sees which agents and portfolios, one statement per page, and the live "open now"."""

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from db.models import Contact, ConversationStatus, Portfolio, PresenceStatus, Role, Team, User
from services import monitoring
from tests.conftest import GraphQLClient, Server, StatementCounter, running
from tests.factories import Factory, agent_load, gid, load_moved, presence
from tests.ws import listening

BA = ZoneInfo("America/Argentina/Buenos_Aires")


def local(*parts: int) -> datetime:
    """An instant by its wall-clock time in Buenos Aires (UTC-3, no daylight saving)."""
    return datetime(*parts, tzinfo=BA)  # type: ignore[misc]


# Thursday 12 March 2026, 15:00 in Buenos Aires: "now" for every test here.
NOW = local(2026, 3, 12, 15, 0)
# Long before any preset: the assignment of conversations only their resolution should count.
LONG_AGO = local(2025, 6, 1, 12, 0)

# One agent per moment, named after it: each received a conversation then and resolved another.
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
# Each preset's bounds (local midnights) and the moments inside them.
PRESETS = {
    "TODAY": (local(2026, 3, 12), local(2026, 3, 13), {A}),
    "YESTERDAY": (local(2026, 3, 11), local(2026, 3, 12), {B}),
    "LAST_7_DAYS": (local(2026, 3, 6), local(2026, 3, 13), {A, B, C}),
    "LAST_30_DAYS": (local(2026, 2, 11), local(2026, 3, 13), {A, B, C, D, E}),
    "THIS_WEEK": (local(2026, 3, 9), local(2026, 3, 16), {A, B}),
    "THIS_MONTH": (local(2026, 3, 1), local(2026, 4, 1), {A, B, C, D}),
    "LAST_MONTH": (local(2026, 2, 1), local(2026, 3, 1), {E, F}),
    "THIS_YEAR": (local(2026, 1, 1), local(2027, 1, 1), {A, B, C, D, E, F, G}),
}

MONITORING = """
query($filter: AgentActivityFilter, $first: Int, $after: String) {
  agentMonitoring(filter: $filter, first: $first, after: $after) {
    window { period start end }
    pageInfo { hasNextPage endCursor }
    nodes { agent { id name } presence presenceSince received openNow resolved capacity atCapacity }
  }
}
"""
MONITORING_TOTALS = """
query($filter: AgentActivityFilter) {
  agentMonitoring(filter: $filter) { totalCount totals { received openNow resolved } }
}
"""
PER_AGENT = """
query($filter: AgentActivityFilter, $first: Int, $after: String) {
  conversationsPerAgent(filter: $filter, first: $first, after: $after) {
    totalCount
    window { period start end }
    totals { received openNow resolved }
    pageInfo { hasNextPage endCursor }
    nodes { agent { name active } received openNow resolved }
  }
}
"""
PER_PORTFOLIO = """
query($filter: PortfolioActivityFilter, $first: Int, $after: String) {
  conversationsPerPortfolio(filter: $filter, first: $first, after: $after) {
    totalCount
    window { period start end }
    totals { received openNow resolved }
    pageInfo { hasNextPage endCursor }
    nodes { portfolio { name } received openNow resolved }
  }
}
"""
FIELDS = {
    field: f"query($f: {kind}) {{ {field}(filter: $f) {{ window {{ start }} }} }}"
    for field, kind in (
        ("agentMonitoring", "AgentActivityFilter"),
        ("conversationsPerAgent", "AgentActivityFilter"),
        ("conversationsPerPortfolio", "PortfolioActivityFilter"),
    )
}


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
    monkeypatch.setattr(monitoring, "utcnow", lambda: NOW.astimezone(UTC))


@pytest.fixture
def statements(account: tuple[Server, GraphQLClient]) -> Iterator[StatementCounter]:
    """Statements the Buenos Aires app sends (count_sql counts the suite's shared server's)."""
    engine = account[0].engine.sync_engine
    counter = StatementCounter()
    event.listen(engine, "before_cursor_execute", counter)
    yield counter
    event.remove(engine, "before_cursor_execute", counter)


@dataclass
class World:
    admin: User
    norte: Team
    sur: Team
    sol: User  # supervises Norte
    silvio: User  # supervises Sur
    ana: User  # an agent of Norte
    bruno: User  # an agent of Norte
    carla: User  # an agent of Sur
    client_norte: Contact
    client_sur: Contact


@pytest.fixture
async def world(factory: Factory) -> World:
    norte, sur = await factory.team("Norte"), await factory.team("Sur")
    (client_norte,) = await factory.contacts(norte, "Juan Pérez")
    (client_sur,) = await factory.contacts(sur, "Luz Díaz")
    return World(
        admin=await factory.user(Role.ADMIN, name="Ada Admin"),
        norte=norte,
        sur=sur,
        sol=await factory.user(Role.SUPERVISOR, name="Sol Supervisora", supervises=[norte]),
        silvio=await factory.user(Role.SUPERVISOR, name="Silvio Supervisor", supervises=[sur]),
        ana=await factory.user(Role.AGENT, name="Ana", teams=[norte]),
        bruno=await factory.user(Role.AGENT, name="Bruno", teams=[norte]),
        carla=await factory.user(Role.AGENT, name="Carla", teams=[sur]),
        client_norte=client_norte,
        client_sur=client_sur,
    )


async def received(factory: Factory, who: Contact, agent: User, at: datetime, **kw: Any) -> None:
    """A conversation given to `agent` at `at`, OPEN unless said otherwise."""
    kw.setdefault("status", ConversationStatus.OPEN)
    await factory.conversation(who, created_at=kw.pop("created_at", at), agent=agent, assigned_at=at, **kw)


async def resolved(factory: Factory, who: Contact, agent: User, at: datetime, **kw: Any) -> None:
    """A conversation `agent` was given long ago and resolved at `at`."""
    status = ConversationStatus.RESOLVED
    await factory.conversation(who, created_at=LONG_AGO, agent=agent, assigned_at=LONG_AGO, resolved_at=at,
                       status=status, **kw)  # fmt: skip


async def table(client: GraphQLClient, token: str, flt: dict[str, Any] | None = None) -> dict[str, Any]:
    data = await client.data(MONITORING, {"filter": flt, "first": 100}, token)
    result: dict[str, Any] = data["agentMonitoring"]
    return result


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["agent"]["name"]: n for n in report["nodes"]}


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    """The one error of a refused root field, whose data is null."""
    assert all(value is None for value in body["data"].values()), body
    (error,) = body["errors"]
    extensions: dict[str, Any] = error["extensions"]
    return extensions


# --- periods --------------------------------------------------------------------------------------


@pytest.fixture
async def calendar(factory: Factory, world: World) -> dict[str, User]:
    """An agent of Norte per moment: it received one conversation then, and resolved another then."""
    agents = {}
    for name, moment in MOMENTS.items():
        agent = await factory.user(Role.AGENT, name=name, teams=[world.norte])
        await received(factory, world.client_norte, agent, moment)
        await resolved(factory, world.client_norte, agent, moment)
        agents[name] = agent
    return agents


class TestPeriods:
    @pytest.mark.usefixtures("calendar")
    @pytest.mark.parametrize("period", list(PRESETS))
    async def test_each_preset_counts_the_local_days_it_names(
        self, api: GraphQLClient, factory: Factory, world: World, period: str
    ) -> None:
        start, end, inside = PRESETS[period]
        report = await table(api, factory.token(world.sol), {"period": period, "teamIds": [gid(world.norte)]})
        assert report["window"]["period"] == period
        assert (instant(report["window"]["start"]), instant(report["window"]["end"])) == (start, end)
        rows = by_name(report)
        assert {name for name in MOMENTS if rows[name]["received"]} == inside
        assert {name for name in MOMENTS if rows[name]["resolved"]} == inside
        assert {(r["received"], r["resolved"]) for r in rows.values()} <= {(0, 0), (1, 1)}

    @pytest.mark.usefixtures("calendar")
    async def test_the_same_rows_fall_on_other_days_in_utc(
        self, client: GraphQLClient, factory: Factory, world: World
    ) -> None:
        # The suite's own server keeps the default zone, UTC: there 02:30 UTC on 1 January is 2026.
        report = await table(client, factory.token(world.sol), {"period": "THIS_YEAR"})
        assert {name for name, row in by_name(report).items() if row["received"]} == set(MOMENTS)
        assert instant(report["window"]["start"]) == datetime(2026, 1, 1, tzinfo=UTC)

    @pytest.mark.usefixtures("calendar")
    async def test_today_is_the_default(self, api: GraphQLClient, factory: Factory, world: World) -> None:
        report = await table(api, factory.token(world.sol))
        assert report["window"]["period"] == "TODAY"
        assert {name for name, row in by_name(report).items() if row["received"]} == {A}

    @pytest.mark.usefixtures("calendar")
    async def test_a_custom_range_includes_both_ends(self, api: GraphQLClient, factory: Factory, world: World) -> None:
        flt = {"from": local(2026, 3, 6).isoformat(), "to": MOMENTS[B].isoformat()}
        report = await table(api, factory.token(world.sol), flt)
        assert report["window"]["period"] is None
        assert instant(report["window"]["start"]) == local(2026, 3, 6)
        assert instant(report["window"]["end"]) == local(2026, 3, 12)  # the first instant after `to`
        assert {name for name, row in by_name(report).items() if row["received"]} == {B, C}

    @pytest.mark.usefixtures("calendar")
    async def test_a_range_without_its_end_runs_until_now(
        self, api: GraphQLClient, factory: Factory, world: World
    ) -> None:
        report = await table(api, factory.token(world.sol), {"from": MOMENTS[A].isoformat()})
        assert instant(report["window"]["end"]) == NOW + timedelta(microseconds=1)
        assert {name for name, row in by_name(report).items() if row["received"]} == {A}

    async def test_a_range_of_366_days_is_accepted(self, api: GraphQLClient, factory: Factory, world: World) -> None:
        flt = {"from": local(2025, 3, 12).isoformat(), "to": local(2026, 3, 13).isoformat()}
        report = await table(api, factory.token(world.admin), flt)
        assert instant(report["window"]["start"]) == local(2025, 3, 12)

    async def test_days_are_local_days_where_the_clocks_change(
        self, database_url: str, factory: Factory, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Madrid moves to summer time on Sunday 29 March 2026: that week is an hour short.
        madrid = ZoneInfo("Europe/Madrid")
        monkeypatch.setattr(monitoring, "utcnow", lambda: datetime(2026, 3, 31, 12, 0, tzinfo=madrid))
        async with running(database_url, timezone=madrid.key) as (_, client):
            report = await table(client, factory.token(world.admin), {"period": "LAST_7_DAYS"})
        start, end = instant(report["window"]["start"]), instant(report["window"]["end"])
        assert (start, end) == (datetime(2026, 3, 25, tzinfo=madrid), datetime(2026, 4, 1, tzinfo=madrid))
        assert end - start == timedelta(days=7, hours=-1)

    async def test_the_audit_trail_takes_the_same_presets(
        self, api: GraphQLClient, factory: Factory, world: World, audit_clock: Callable[[datetime], None]
    ) -> None:
        audit_clock(NOW.astimezone(UTC))
        for name, moment in MOMENTS.items():
            await factory.audit_event(occurred_at=moment, resource_name=name)
        query = "query($f: AuditEventFilter) { auditEvents(filter: $f) { nodes { resourceName } } }"
        for period, (_, _, inside) in PRESETS.items():
            data = await api.data(query, {"f": {"period": period}}, factory.token(world.admin))
            assert {n["resourceName"] for n in data["auditEvents"]["nodes"]} == inside, period

    @pytest.mark.parametrize("field", list(FIELDS))
    @pytest.mark.parametrize(
        ("flt", "code", "where"),
        [
            ({"from": "2026-03-12T00:00:00-03:00", "to": "2026-03-11T23:59:59-03:00"}, "INVALID", "filter.from"),
            ({"period": "TODAY", "from": "2026-03-12T00:00:00-03:00"}, "INVALID", "filter.period"),
            ({"period": "TODAY", "to": "2026-03-12T00:00:00-03:00"}, "INVALID", "filter.period"),
            ({"to": "2026-03-12T00:00:00-03:00"}, "REQUIRED", "filter.from"),
            ({"from": "2025-03-12T00:00:00-03:00", "to": "2026-03-13T00:00:01-03:00"}, "LIMIT_EXCEEDED", "filter.to"),
        ],
    )
    async def test_a_bad_range_is_a_typed_error(
        self, api: GraphQLClient, factory: Factory, world: World, field: str, flt: dict[str, str], code: str, where: str
    ) -> None:
        body = await api.gql(FIELDS[field], {"f": flt}, factory.token(world.admin))
        assert refusal(body) == {"code": code, "field": where, "path": where.split(".")}


# --- the table ------------------------------------------------------------------------------------


class TestTable:
    async def test_presence_load_and_capacity(self, api: GraphQLClient, factory: Factory, world: World) -> None:
        since = local(2026, 3, 12, 8, 30)
        await presence(factory, world.ana, PresenceStatus.ONLINE, since=since)
        await presence(factory, world.bruno, PresenceStatus.AWAY, since=local(2026, 3, 12, 9, 0))
        await agent_load(factory, world.ana, 3)
        await agent_load(factory, world.bruno, 2)
        token = factory.token(world.sol)

        rows = by_name(await table(api, token))
        assert rows["Ana"]["presence"] == "ONLINE"
        assert instant(rows["Ana"]["presenceSince"]) == since
        # No capacity: nobody is at it.
        assert [(r["openNow"], r["capacity"], r["atCapacity"]) for r in rows.values()] == [
            (3, None, False),
            (2, None, False),
        ]

        await factory.routing_capacity(3)
        rows = by_name(await table(api, token))
        assert (rows["Ana"]["openNow"], rows["Ana"]["capacity"], rows["Ana"]["atCapacity"]) == (3, 3, True)
        assert (rows["Bruno"]["openNow"], rows["Bruno"]["atCapacity"], rows["Bruno"]["presence"]) == (2, False, "AWAY")

    async def test_an_agent_never_seen_is_offline_with_nothing(
        self, api: GraphQLClient, factory: Factory, world: World
    ) -> None:
        await factory.routing_capacity(1)
        row = by_name(await table(api, factory.token(world.sol)))["Bruno"]
        assert {k: row[k] for k in ("presence", "presenceSince", "received", "openNow", "resolved", "atCapacity")} == {
            "presence": "OFFLINE",
            "presenceSince": None,
            "received": 0,
            "openNow": 0,
            "resolved": 0,
            "atCapacity": False,
        }

    async def test_received_is_by_the_agent_that_holds_it_and_reopened_is_not_resolved(
        self, api: GraphQLClient, factory: Factory, world: World
    ) -> None:
        today = local(2026, 3, 12, 10, 0)
        # Routed to Bruno yesterday, transferred to Ana today: Ana's now, received today.
        await received(factory, world.client_norte, world.ana, today, created_at=local(2026, 3, 11, 18, 0))
        # Resolved by Ana this morning, then reopened: OPEN again, not resolved.
        await factory.conversation(world.client_norte, created_at=LONG_AGO, status=ConversationStatus.OPEN,
                           agent=world.ana, assigned_at=LONG_AGO, resolved_at=today)  # fmt: skip
        # Resolved today: counted for the agent it was resolved by, here Bruno.
        await resolved(factory, world.client_norte, world.bruno, today)
        # Waiting in the queue: nobody's.
        await factory.conversation(world.client_norte, created_at=today)
        rows = by_name(await table(api, factory.token(world.sol)))
        assert [(n, r["received"], r["resolved"]) for n, r in rows.items()] == [("Ana", 1, 0), ("Bruno", 0, 1)]

    async def test_only_active_agents(self, api: GraphQLClient, factory: Factory, world: World) -> None:
        await factory.user(Role.AGENT, name="Dora Deactivated", teams=[world.norte], active=False)
        await factory.user(Role.SUPERVISOR, name="Sergio Member", teams=[world.norte])
        await factory.user(Role.AGENT, name="Teo Teamless")
        assert list(by_name(await table(api, factory.token(world.sol)))) == ["Ana", "Bruno"]
        # Admins see every agent, one in no team too.
        assert list(by_name(await table(api, factory.token(world.admin)))) == ["Ana", "Bruno", "Carla", "Teo Teamless"]

    async def test_pages_by_name_then_id(self, api: GraphQLClient, factory: Factory, world: World) -> None:
        twin = await factory.user(Role.AGENT, name="Ana", teams=[world.norte])
        alvaro = await factory.user(Role.AGENT, name="Álvaro", teams=[world.norte])  # sorts as "alvaro"
        token = factory.token(world.sol)
        seen: list[tuple[str, str]] = []
        after = None
        while True:
            data = await api.data(MONITORING, {"first": 2, "after": after}, token)
            report = data["agentMonitoring"]
            seen += [(n["agent"]["name"], n["agent"]["id"]) for n in report["nodes"]]
            if not report["pageInfo"]["hasNextPage"]:
                break
            after = report["pageInfo"]["endCursor"]
        assert seen == [(a.name, gid(a)) for a in (alvaro, world.ana, twin, world.bruno)]

    async def test_agent_ids_narrow_to_rows_to_read_again(
        self, api: GraphQLClient, factory: Factory, world: World
    ) -> None:
        rows = by_name(await table(api, factory.token(world.sol), {"agentIds": [gid(world.bruno), gid(world.carla)]}))
        assert list(rows) == ["Bruno"]  # Carla is not Sol's to see

    async def test_totals_and_count_cover_every_page(self, api: GraphQLClient, factory: Factory, world: World) -> None:
        today = local(2026, 3, 12, 10, 0)
        await received(factory, world.client_norte, world.ana, today)
        await received(factory, world.client_norte, world.bruno, today)
        await resolved(factory, world.client_norte, world.bruno, today)
        await agent_load(factory, world.ana, 4)
        await received(factory, world.client_sur, world.carla, today)  # not Sol's
        data = await api.data(MONITORING_TOTALS, {}, factory.token(world.sol))
        # Open now: Ana's 4 as set, and Bruno's one OPEN conversation.
        assert data["agentMonitoring"] == {"totalCount": 2, "totals": {"received": 2, "openNow": 5, "resolved": 1}}

    async def test_one_statement_per_page_whatever_its_size(
        self, api: GraphQLClient, factory: Factory, world: World, statements: StatementCounter
    ) -> None:
        today = local(2026, 3, 12, 10, 0)
        token = factory.token(world.sol)

        async def page_cost() -> int:
            statements.statements.clear()
            await table(api, token)
            return statements.count

        small = await page_cost()
        for n in range(6):
            agent = await factory.user(Role.AGENT, name=f"Agente {n}", teams=[world.norte])
            await received(factory, world.client_norte, agent, today)
            await resolved(factory, world.client_norte, agent, today)
            await presence(factory, agent, PresenceStatus.ONLINE, since=today)
            await agent_load(factory, agent, 1)
        assert await page_cost() == small
        # The page: rows, presence, load and counts at once.
        assert small == 1
        (page,) = [s for s in statements.statements if "conversations" in s]
        assert "agent_loads" in page
        assert "presences" in page


# --- who sees what --------------------------------------------------------------------------------


class TestPermissions:
    @pytest.mark.parametrize("field", list(FIELDS))
    async def test_an_agent_is_refused(self, api: GraphQLClient, factory: Factory, world: World, field: str) -> None:
        body = await api.gql(FIELDS[field], {"f": None}, factory.token(world.ana))
        assert refusal(body)["code"] == "FORBIDDEN"

    async def test_a_supervisor_sees_its_teams_agents_only(
        self, api: GraphQLClient, factory: Factory, world: World
    ) -> None:
        assert list(by_name(await table(api, factory.token(world.silvio)))) == ["Carla"]
        # Another supervisor's team narrows to nothing, as a missing one would.
        assert by_name(await table(api, factory.token(world.silvio), {"teamIds": [gid(world.norte)]})) == {}

    async def test_a_team_stands_for_its_subtree(self, api: GraphQLClient, factory: Factory, world: World) -> None:
        oeste = await factory.team("Oeste", parent=world.norte)
        await factory.user(Role.AGENT, name="Olga", teams=[oeste])
        assert list(by_name(await table(api, factory.token(world.sol)))) == ["Ana", "Bruno", "Olga"]
        only = {"teamIds": [gid(world.norte)]}
        assert list(by_name(await table(api, factory.token(world.admin), only))) == ["Ana", "Bruno", "Olga"]
        assert list(by_name(await table(api, factory.token(world.sol), {"teamIds": [gid(oeste)]}))) == ["Olga"]

    async def test_an_unknown_team_id_is_named(self, api: GraphQLClient, factory: Factory, world: World) -> None:
        body = await api.gql(FIELDS["agentMonitoring"], {"f": {"teamIds": ["nonsense"]}}, factory.token(world.sol))
        assert refusal(body) == {"code": "NOT_FOUND", "field": "filter.teamIds.0", "path": ["filter", "teamIds", "0"]}


# --- live -----------------------------------------------------------------------------------------


class TestLive:
    async def test_a_supervisor_hears_its_agents_load_and_another_does_not(
        self, account: tuple[Server, GraphQLClient], factory: Factory, world: World
    ) -> None:
        server, api = account
        hub = server.app.state.hub
        async with (
            listening(server, factory.token(world.sol)) as sol,
            listening(server, factory.token(world.silvio)) as silvio,
        ):
            await load_moved(factory, hub, before=None, after=world.ana, teams=[world.norte])
            heard = await sol.next()
            assert heard["payload"] == {
                "__typename": "AgentLoadChanged",
                "userId": gid(world.ana),
                "openConversations": 1,
            }
            await silvio.quiet()
        # What the event said is what the table reads.
        assert by_name(await table(api, factory.token(world.sol)))["Ana"]["openNow"] == 1


# --- reports (P9) ---------------------------------------------------------------------------------


class TestPerAgent:
    async def test_most_received_first_with_totals_and_the_deactivated_who_worked(
        self, api: GraphQLClient, factory: Factory, world: World
    ) -> None:
        today = local(2026, 3, 12, 10, 0)
        for _ in range(2):
            await received(factory, world.client_norte, world.bruno, today)
        await received(factory, world.client_norte, world.ana, today)
        await resolved(factory, world.client_norte, world.ana, today)
        gone = await factory.user(Role.AGENT, name="Dora", teams=[world.norte], active=False)
        await resolved(factory, world.client_norte, gone, today)
        await factory.user(Role.AGENT, name="Eva", teams=[world.norte], active=False)  # did nothing: not listed
        await received(factory, world.client_norte, world.ana, local(2026, 3, 11, 10, 0))  # yesterday

        data = await api.data(PER_AGENT, {"filter": {"period": "TODAY"}}, factory.token(world.sol))
        report = data["conversationsPerAgent"]
        assert [(n["agent"]["name"], n["agent"]["active"], n["received"], n["openNow"], n["resolved"])
                for n in report["nodes"]] == [
            ("Bruno", True, 2, 2, 0),
            ("Ana", True, 1, 2, 1),  # open now: today's and yesterday's
            ("Dora", False, 0, 0, 1),
        ]  # fmt: skip
        assert report["totals"] == {"received": 3, "openNow": 4, "resolved": 2}
        assert report["totalCount"] == 3

    async def test_pages_keep_the_order(self, api: GraphQLClient, factory: Factory, world: World) -> None:
        today = local(2026, 3, 12, 10, 0)
        for agent, count in ((world.ana, 1), (world.bruno, 3)):
            for _ in range(count):
                await received(factory, world.client_norte, agent, today)
        token = factory.token(world.sol)
        first = (await api.data(PER_AGENT, {"first": 1}, token))["conversationsPerAgent"]
        second = (await api.data(PER_AGENT, {"first": 1, "after": first["pageInfo"]["endCursor"]}, token))[
            "conversationsPerAgent"
        ]
        assert [n["agent"]["name"] for n in first["nodes"] + second["nodes"]] == ["Bruno", "Ana"]
        assert second["pageInfo"]["hasNextPage"] is False
        # Totals are the report's, not the page's.
        assert first["totals"] == second["totals"] == {"received": 4, "openNow": 4, "resolved": 0}

    async def test_a_supervisor_reads_its_agents_only_in_three_statements(
        self, api: GraphQLClient, factory: Factory, world: World, statements: StatementCounter
    ) -> None:
        today = local(2026, 3, 12, 10, 0)
        await received(factory, world.client_sur, world.carla, today)
        statements.statements.clear()
        data = await api.data(PER_AGENT, {}, factory.token(world.sol))
        assert [n["agent"]["name"] for n in data["conversationsPerAgent"]["nodes"]] == ["Ana", "Bruno"]
        assert data["conversationsPerAgent"]["totals"]["received"] == 0
        # The page, its count and its totals.
        assert statements.count == 3


class TestPerPortfolio:
    async def test_counts_what_came_in_through_each_portfolio_it_sees(
        self, api: GraphQLClient, factory: Factory, world: World, statements: StatementCounter
    ) -> None:
        today, yesterday = local(2026, 3, 12, 10, 0), local(2026, 3, 11, 23, 59)
        norte = await factory.portfolio("Cartera Norte", team=world.norte)
        anas = await factory.portfolio("Cartera de Ana", agent=world.ana)
        sur = await factory.portfolio("Cartera Sur", team=world.sur)
        await factory.portfolio("Vacía", team=world.norte)

        async def through(p: Portfolio, at: datetime, status: ConversationStatus, **kw: Any) -> None:
            await factory.conversation(world.client_norte, created_at=at, status=status, portfolio=p, **kw)

        open_ = ConversationStatus.OPEN
        await through(norte, today, ConversationStatus.UNASSIGNED)  # came in today, in the queue
        await through(norte, today, open_, agent=world.bruno, assigned_at=today)
        await through(norte, yesterday, open_, agent=world.bruno, assigned_at=yesterday)  # open, not received today
        await through(norte, LONG_AGO, ConversationStatus.RESOLVED, agent=world.ana, assigned_at=LONG_AGO,
                      resolved_at=today)  # fmt: skip
        await through(anas, today, open_, agent=world.ana, assigned_at=today)
        await through(sur, today, open_, agent=world.carla, assigned_at=today)
        await received(factory, world.client_norte, world.ana, today)  # no portfolio routed it

        statements.statements.clear()
        data = await api.data(PER_PORTFOLIO, {}, factory.token(world.sol))
        report = data["conversationsPerPortfolio"]
        rows = [(n["portfolio"]["name"], n["received"], n["openNow"], n["resolved"]) for n in report["nodes"]]
        assert rows == [
            ("Cartera Norte", 2, 2, 1),
            ("Cartera de Ana", 1, 1, 0),  # an agent-owned one whose agent works in Sol's team
            ("Vacía", 0, 0, 0),
        ]
        assert report["totals"] == {"received": 3, "openNow": 3, "resolved": 1}
        assert report["totalCount"] == 3
        # The page, its count, its totals.
        assert statements.count == 3

        admin = await api.data(PER_PORTFOLIO, {"filter": {"period": "YESTERDAY"}}, factory.token(world.admin))
        rows = [(n["portfolio"]["name"], n["received"]) for n in admin["conversationsPerPortfolio"]["nodes"]]
        assert rows[0] == ("Cartera Norte", 1)
        assert sorted(name for name, _ in rows) == ["Cartera Norte", "Cartera Sur", "Cartera de Ana", "Vacía"]

    async def test_a_supervisor_of_another_team_sees_its_own_portfolios(
        self, api: GraphQLClient, factory: Factory, world: World
    ) -> None:
        norte = await factory.portfolio("Cartera Norte", team=world.norte)
        await factory.portfolio("Cartera Sur", team=world.sur)
        today = local(2026, 3, 12, 10, 0)
        await factory.conversation(world.client_norte, created_at=today, portfolio=norte)
        data = await api.data(PER_PORTFOLIO, {}, factory.token(world.silvio))
        report = data["conversationsPerPortfolio"]
        assert [(n["portfolio"]["name"], n["received"]) for n in report["nodes"]] == [("Cartera Sur", 0)]
        assert report["totals"] == {"received": 0, "openNow": 0, "resolved": 0}

    async def test_the_portfolio_filter_narrows(self, api: GraphQLClient, factory: Factory, world: World) -> None:
        await factory.portfolio("Cartera Norte", team=world.norte)
        await factory.portfolio("Cartera de Ana", agent=world.ana)
        flt = {"portfolios": {"agentIds": [gid(world.ana)]}}
        data = await api.data(PER_PORTFOLIO, {"filter": flt}, factory.token(world.admin))
        assert [n["portfolio"]["name"] for n in data["conversationsPerPortfolio"]["nodes"]] == ["Cartera de Ana"]
