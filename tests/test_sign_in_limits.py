"""Sign-in limits (X6): one `login` per request, failed sign-ins limited per account and per client address.

Addresses are told apart with X-Forwarded-For, which uvicorn takes from a proxy on 127.0.0.1
(its default), as it would from a reverse proxy in front of Cartera.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from websockets.asyncio.client import connect

import services.auth
from db.models import Role, User
from services.sign_in_limits import SignInLimits
from tests.conftest import REDIS_URL, GraphQLClient, Server, StatementCounter, running
from tests.factories import PASSWORD, Factory
from tests.ws import TRANSPORT_WS, execute, init

LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    __typename
    ... on LoginSuccess { user { email } }
    ... on LoginThrottled { message retryAt retryAfterSeconds }
    ... on UserError { code }
  }
}
"""
ALIASED_LOGINS = """
mutation Guess($email: String!) {
  a: login(email: $email, password: "guess one") { __typename }
  b: login(email: $email, password: "guess two") { __typename }
}
"""
LOGIN_IN_A_FRAGMENT = """
mutation Guess($email: String!) {
  ...Guess
  other: login(email: $email, password: "guess two") { __typename }
}
fragment Guess on Mutation { login(email: $email, password: "guess one") { __typename } }
"""
PER_ACCOUNT, PER_ADDRESS, WINDOW = 3, 5, 900
LIMITS = {
    "sign_in_failures_per_account": PER_ACCOUNT,
    "sign_in_failures_per_address": PER_ADDRESS,
    "sign_in_window_seconds": WINDOW,
}


@pytest.fixture
def password_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords the server verified, in order."""
    checked: list[str] = []
    verify = services.auth._verify

    def counting(password_hash: str, password: str) -> bool:
        checked.append(password)
        return verify(password_hash, password)

    monkeypatch.setattr(services.auth, "_verify", counting)
    return checked


@pytest.fixture
async def limited(database_url: str) -> AsyncIterator[tuple[Server, GraphQLClient]]:
    async with running(database_url, **LIMITS) as (server, client):
        # With Redis the counts outlive a server: start from none (only this database's keys go).
        await server.app.state.cartera.sign_ins.storage.reset()
        yield server, client


def login_from(address: str) -> Callable[[GraphQLClient, str, str], Any]:
    async def login(client: GraphQLClient, email: str, password: str) -> dict[str, Any]:
        response = await client.post(
            LOGIN, {"email": email, "password": password}, headers={"x-forwarded-for": address}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        result: dict[str, Any] = body["data"]["login"]
        return result

    return login


OFFICE, HOME = login_from("198.51.100.7"), login_from("203.0.113.9")


async def users(factory: Factory, *emails: str) -> list[User]:
    return [await factory.user(Role.AGENT, email=email) for email in emails]


async def fail_from_the_office(client: GraphQLClient, attempts: list[tuple[str, str]]) -> None:
    """Sign in with each (email, wrong password) from the office's address; each must be refused as wrong."""
    for email, password in attempts:
        assert (await OFFICE(client, email, password))["code"] == "INVALID_CREDENTIALS"


def wrong(email: str, times: int) -> list[tuple[str, str]]:
    return [(email, f"wrong {n}") for n in range(times)]


def assert_throttled(result: dict[str, Any], seconds: int = WINDOW) -> None:
    assert result["__typename"] == "LoginThrottled", result
    assert 0 < result["retryAfterSeconds"] <= seconds
    now = datetime.now(UTC)
    assert now < datetime.fromisoformat(result["retryAt"]) <= now + timedelta(seconds=seconds + 1)
    assert result["message"] == f"Too many failed sign-ins; try again in {result['retryAfterSeconds']} s"


class TestOneSignInPerRequest:
    @pytest.mark.parametrize("document", [ALIASED_LOGINS, LOGIN_IN_A_FRAGMENT], ids=["aliases", "fragment"])
    async def test_a_second_login_is_refused_before_any_password_is_checked(
        self,
        client: GraphQLClient,
        factory: Factory,
        count_sql: StatementCounter,
        password_checks: list[str],
        document: str,
    ) -> None:
        await users(factory, "ana@example.com")
        count_sql.statements.clear()
        body = await client.gql(document, {"email": "ana@example.com"})
        assert "data" not in body
        assert [e["message"] for e in body["errors"]] == ["Sign in with one `login` per request"]
        assert password_checks == []
        assert count_sql.count == 0


class TestPerAccount:
    async def test_after_the_limit_even_the_right_password_is_refused_unchecked_with_when_to_retry(
        self, limited: tuple[Server, GraphQLClient], factory: Factory, password_checks: list[str]
    ) -> None:
        _, client = limited
        await users(factory, "ana@example.com")
        await fail_from_the_office(client, wrong("ana@example.com", PER_ACCOUNT))
        # Another address does not help: the account is what is being guessed.
        assert_throttled(await HOME(client, "ANA@example.com ", PASSWORD))
        assert_throttled(await OFFICE(client, "ana@example.com", PASSWORD))
        assert password_checks == [f"wrong {n}" for n in range(PER_ACCOUNT)]
        assert await factory.audit_rows() == []

    async def test_another_account_signs_in_from_the_same_and_from_another_address(
        self, limited: tuple[Server, GraphQLClient], factory: Factory
    ) -> None:
        _, client = limited
        await users(factory, "ana@example.com", "bea@example.com")
        await fail_from_the_office(client, wrong("ana@example.com", PER_ACCOUNT))
        assert_throttled(await OFFICE(client, "ana@example.com", PASSWORD))
        assert (await OFFICE(client, "bea@example.com", PASSWORD))["__typename"] == "LoginSuccess"
        assert (await HOME(client, "bea@example.com", PASSWORD))["__typename"] == "LoginSuccess"

    async def test_a_success_gives_the_account_its_count_back(
        self, limited: tuple[Server, GraphQLClient], factory: Factory
    ) -> None:
        _, client = limited
        await users(factory, "ana@example.com")
        # Without the success between them, the second round's failures would pass the account's limit.
        for _ in range(2):
            await fail_from_the_office(client, wrong("ana@example.com", PER_ACCOUNT - 1))
            assert (await OFFICE(client, "ana@example.com", PASSWORD))["__typename"] == "LoginSuccess"

    async def test_unknown_emails_are_counted_as_accounts_too(
        self, limited: tuple[Server, GraphQLClient], password_checks: list[str]
    ) -> None:
        _, client = limited
        await fail_from_the_office(client, wrong("nobody@example.com", PER_ACCOUNT))
        assert_throttled(await OFFICE(client, "nobody@example.com", "again"))
        assert len(password_checks) == PER_ACCOUNT


class TestPerAddress:
    async def test_failures_over_many_accounts_limit_that_address_only(
        self, limited: tuple[Server, GraphQLClient], factory: Factory, password_checks: list[str]
    ) -> None:
        _, client = limited
        await users(factory, "ana@example.com")
        await fail_from_the_office(client, [(f"guess{n}@example.com", "wrong") for n in range(PER_ADDRESS)])
        assert_throttled(await OFFICE(client, "ana@example.com", PASSWORD))
        assert (await HOME(client, "ana@example.com", PASSWORD))["__typename"] == "LoginSuccess"
        assert len(password_checks) == PER_ADDRESS + 1

    async def test_a_shift_signing_in_through_one_address_is_not_limited_by_its_successes(
        self, limited: tuple[Server, GraphQLClient], factory: Factory
    ) -> None:
        _, client = limited
        agents = [f"agent{n}@example.com" for n in range(PER_ADDRESS * 2)]
        await users(factory, *agents)
        for email in agents:
            assert (await OFFICE(client, email, PASSWORD))["__typename"] == "LoginSuccess"
        # Their typos still count, and up to the limit pass.
        await fail_from_the_office(client, [(email, "typo") for email in agents[: PER_ADDRESS - 1]])
        assert (await OFFICE(client, agents[-1], PASSWORD))["__typename"] == "LoginSuccess"

    async def test_over_a_websocket_the_sockets_address_counts(
        self, limited: tuple[Server, GraphQLClient], factory: Factory
    ) -> None:
        server, client = limited
        [ana] = await users(factory, "ana@example.com")
        headers = {"x-forwarded-for": "198.51.100.7"}
        async with connect(server.ws_url, subprotocols=[TRANSPORT_WS], additional_headers=headers) as ws:
            await init(ws, factory.token(ana))
            for n in range(PER_ADDRESS):
                variables = {"email": f"guess{n}@example.com", "password": "wrong"}
                result = await execute(ws, str(n), LOGIN, variables)
                assert result["data"]["login"]["code"] == "INVALID_CREDENTIALS"
            throttled = await execute(ws, "last", LOGIN, {"email": "ana@example.com", "password": PASSWORD})
            assert_throttled(throttled["data"]["login"])
        # The same address over HTTP; not another one.
        assert_throttled(await OFFICE(client, "ana@example.com", PASSWORD))
        assert (await HOME(client, "ana@example.com", PASSWORD))["__typename"] == "LoginSuccess"


@pytest.mark.skipif(not REDIS_URL, reason="needs CARTERA_TEST_REDIS_URL")
async def test_with_redis_two_processes_share_the_count(database_url: str, factory: Factory) -> None:
    await users(factory, "ana@example.com")
    async with running(database_url, **LIMITS) as (one, first), running(database_url, **LIMITS) as (_, second):
        await one.app.state.cartera.sign_ins.storage.reset()
        attempts = [first, second, first]
        for n, client in enumerate(attempts):
            assert (await OFFICE(client, "ana@example.com", f"wrong {n}"))["code"] == "INVALID_CREDENTIALS"
        assert_throttled(await HOME(second, "ana@example.com", PASSWORD))
        assert_throttled(await HOME(first, "ana@example.com", PASSWORD))


async def test_with_the_shared_store_unreachable_each_process_still_limits(
    limited: tuple[Server, GraphQLClient], factory: Factory, refusing_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis down: sign-in still answers (no masked error) and failures are still limited, in the process."""
    server, client = limited
    await users(factory, "ana@example.com", "bruno@example.com")
    state = server.app.state.cartera
    unreachable = f"redis://127.0.0.1:{refusing_port}/0"
    down = SignInLimits.from_settings(dataclasses.replace(state.settings, redis_url=unreachable))
    shared = state.sign_ins
    # AppState is frozen; the endpoint reads its sign_ins on every login.
    object.__setattr__(state, "sign_ins", down)
    try:
        await fail_from_the_office(client, wrong("ana@example.com", PER_ACCOUNT))
        assert_throttled(await HOME(client, "ana@example.com", PASSWORD))
        assert (await HOME(client, "bruno@example.com", PASSWORD))["__typename"] == "LoginSuccess"
    finally:
        object.__setattr__(state, "sign_ins", shared)
        await down.close()
    assert [r.message for r in caplog.records if r.name == "cartera.sign_in" and r.levelname == "WARNING"] == [
        "sign-in limits: shared store unreachable, counting in this process"
    ]
