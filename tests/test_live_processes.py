"""Live events across API processes (RT2, RT4): real `cartera serve` processes, PostgreSQL and Redis.

Needs CARTERA_TEST_POSTGRES_URL (the processes share the run's database) and a `redis-server`
binary: each test starts its own Redis on a free port, so it can stop and restart it. Without
them the tests skip, unless CARTERA_TEST_REQUIRE_ALL=1 (CI's PostgreSQL + Redis run) makes that a failure.
The processes never poll the event log here: only the Redis doorbell, or the catch-up after
reconnecting to Redis, makes them read it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from db.models import Role
from schema.node import to_global_id
from services import events
from tests.conftest import POSTGRES_URL, SECRET, GraphQLClient
from tests.factories import Factory, gid
from tests.ws import listening

_NEEDS = {"CARTERA_TEST_POSTGRES_URL": bool(POSTGRES_URL), "a redis-server binary": bool(shutil.which("redis-server"))}
MISSING = [what for what, there in _NEEDS.items() if not there]
if MISSING and os.environ.get("CARTERA_TEST_REQUIRE_ALL") == "1":
    # CI's PostgreSQL + Redis run asks for every test: a skip there would pass unnoticed.
    pytest.fail(f"CARTERA_TEST_REQUIRE_ALL=1 but this run lacks {' and '.join(MISSING)}", pytrace=False)
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"needs {' and '.join(MISSING)}")

ASSIGN = """
mutation($p: ID!, $ids: [ID!]!) {
  assignContactsToPortfolio(portfolioId: $p, contacts: {ids: $ids}) { assignedCount userErrors { code } }
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for(check: Any, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.TransportError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} did not come up")


class RedisProcess:
    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def answers() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True

        _wait_for(answers, "redis-server")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


class ServeProcess:
    """`cartera serve` in a process of its own."""

    def __init__(self, database_url: str, redis_url: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/graphql"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CARTERA_SECRET_KEY": SECRET,
            "CARTERA_EVENT_POLL_SECONDS": "3600",
            "CARTERA_LOG_LEVEL": "WARNING",
        }
        cartera = Path(sys.executable).with_name("cartera")
        self.proc = subprocess.Popen([str(cartera), "serve", "--port", str(self.port)], env=env)
        _wait_for(lambda: httpx.get(f"{self.url}/healthz").status_code == 200, "cartera serve")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


@pytest.fixture
def redis() -> Iterator[RedisProcess]:
    process = RedisProcess()
    process.start()
    yield process
    process.stop()


@pytest.fixture
def two_servers(database_url: str, redis: RedisProcess) -> Iterator[tuple[ServeProcess, ServeProcess]]:
    first, second = ServeProcess(database_url, redis.url), ServeProcess(database_url, redis.url)
    yield first, second
    first.stop()
    second.stop()


async def newest_event(factory: Factory) -> str:
    """The id to subscribe after, so the replay covers whatever commits before the inbox registers.

    Each test starts from an empty log; then an event no inbox shows is logged to subscribe after.
    """
    async with factory.sessionmaker() as session:
        newest = await events.last_id(session)
        if not newest:
            events.emit(session, events.EventKind.ACCESS_CHANGED, {"userIds": []})
            (logged,) = await events.write_pending(session)
            await session.commit()
            newest = logged.id
    return to_global_id("Event", newest)


@asynccontextmanager
async def writing_to(process: ServeProcess) -> AsyncIterator[GraphQLClient]:
    client = GraphQLClient(process)  # type: ignore[arg-type]  (it only needs the url)
    try:
        yield client
    finally:
        await client.http.aclose()


async def test_a_change_made_through_one_process_reaches_a_subscriber_of_another(
    factory: Factory, two_servers: tuple[ServeProcess, ServeProcess]
) -> None:
    writer, reader = two_servers
    team = await factory.team("Norte")
    admin = await factory.user(Role.ADMIN)
    ana = await factory.user(Role.AGENT, teams=[team])
    people = await factory.contacts(team, "Juan Pérez")
    mine = await factory.portfolio("De Ana", agent=ana)
    async with listening(reader, factory.token(ana), after=await newest_event(factory)) as inbox:
        async with writing_to(writer) as client:
            data = await client.data(ASSIGN, {"p": gid(mine), "ids": [gid(people[0])]}, factory.token(admin))
            assert data["assignContactsToPortfolio"]["assignedCount"] == 1
        event = await inbox.next()
        assert event["payload"]["contactIds"] == [gid(people[0])]
        await inbox.quiet()


async def test_after_redis_restarts_everything_committed_meanwhile_arrives_once(
    factory: Factory, redis: RedisProcess, two_servers: tuple[ServeProcess, ServeProcess]
) -> None:
    writer, reader = two_servers
    team = await factory.team("Norte")
    admin = await factory.user(Role.ADMIN)
    ana = await factory.user(Role.AGENT, teams=[team])
    people = await factory.contacts(team, *(f"Cliente {i}" for i in range(5)))
    mine = await factory.portfolio("De Ana", agent=ana)
    async with (
        listening(reader, factory.token(ana), after=await newest_event(factory)) as inbox,
        writing_to(writer) as client,
    ):
        token = factory.token(admin)
        await client.data(ASSIGN, {"p": gid(mine), "ids": [gid(people[0])]}, token)
        assert (await inbox.next())["payload"]["contactIds"] == [gid(people[0])]

        redis.stop()
        # Committed while Redis is away: the writer cannot ring; the reader does not know.
        for person in people[1:4]:
            data = await client.data(ASSIGN, {"p": gid(mine), "ids": [gid(person)]}, token)
            assert data["assignContactsToPortfolio"]["assignedCount"] == 1
        await inbox.quiet(1.5)

        redis.start()
        missed = [await inbox.next(wait=20) for _ in range(3)]
        assert [e["payload"]["contactIds"] for e in missed] == [[gid(p)] for p in people[1:4]]
        # Live again, and nothing twice (the writer's relay rings for the unannounced ones too).
        await client.data(ASSIGN, {"p": gid(mine), "ids": [gid(people[4])]}, token)
        assert (await inbox.next(wait=20))["payload"]["contactIds"] == [gid(people[4])]
        await inbox.quiet(2)
