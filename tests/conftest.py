"""Test harness: a migrated database per run, the real app served by uvicorn, HTTP and WebSocket clients.

Backends come from the environment, as in CI:
  CARTERA_TEST_POSTGRES_URL  run against PostgreSQL (a fresh database per run, dropped after)
  CARTERA_TEST_REDIS_URL     broadcast through Redis instead of memory
Unset, the suite runs on an SQLite file in a temporary directory with in-memory broadcast.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import uvicorn
from sqlalchemy import delete, event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cartera.app import create_app
from db import migrate
from db.base import Base, utcnow
from db.engine import create_engine
from db.models import DocumentType, Role, RoutingSettings, Team, Typology, TypologyResult, User
from services import audit
from services.principal import PRINCIPAL_LOAD
from services.settings import Settings, normalise_database_url
from tests import differential
from tests.factories import Factory

POSTGRES_URL = os.environ.get("CARTERA_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("CARTERA_TEST_REDIS_URL")
SECRET = "test-secret-key-" + "x" * 32


async def fresh_postgres_database() -> tuple[str, str]:
    """Create an empty database for this run; return (its URL, its name)."""
    assert POSTGRES_URL
    admin_url = normalise_database_url(POSTGRES_URL)
    name = f"cartera_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), name


async def drop_postgres_database(name: str) -> None:
    assert POSTGRES_URL
    admin = create_async_engine(normalise_database_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(scope="session")
def backend_name() -> str:
    return "postgresql" if POSTGRES_URL else "sqlite"


@asynccontextmanager
async def blank_database(directory: Path) -> AsyncIterator[str]:
    """A database of its own with no migration run: a fresh one on PostgreSQL (dropped after),
    else a SQLite file in `directory`."""
    if not POSTGRES_URL:
        yield f"sqlite+aiosqlite:///{directory / 'cartera.db'}"
        return
    url, name = await fresh_postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(name)


@pytest.fixture
async def blank_database_url(tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own, with no migration run yet: for tests of the migrations themselves."""
    async with blank_database(tmp_path) as url:
        yield url


@pytest.fixture
async def blank_engine(blank_database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on blank_database_url, disposed after the test."""
    engine = create_engine(blank_database_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with blank_database(tmp_path_factory.mktemp("db")) as url:
        engine = create_engine(url)
        await migrate.upgrade(engine)
        await engine.dispose()
        yield url


# One files directory for every server of a run (they share the database, so the files its rows
# name), never the working directory a PostgreSQL run would otherwise write exports into.
FILES_DIR = tempfile.mkdtemp(prefix="cartera-test-files-")


def make_settings(database_url: str, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": SECRET,
        "redis_url": REDIS_URL,
        "ws_init_timeout_seconds": 10,
        "attachments_dir": FILES_DIR,
    }
    base.update(overrides)
    return Settings(**base)


class Server:
    """The real app under uvicorn on an ephemeral port, in the test's event loop."""

    # Every started one, whose principal caches the factory's writes must reach.
    running: ClassVar[set[Server]] = set()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/graphql"
        config = uvicorn.Config(differential.marking(self.app), log_config=None, ws="websockets-sansio", lifespan="on")
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    @property
    def engine(self) -> AsyncEngine:
        engine: AsyncEngine = self.app.state.engine
        return engine

    @property
    def compiles(self) -> bool:
        """Whether this server has the compiled read path (PostgreSQL, CARTERA_COMPILED_READS on)."""
        return self.app.state.endpoint.compiler is not None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        while not self.server.started:  # noqa: ASYNC110  (uvicorn offers no startup event)
            await asyncio.sleep(0.01)
        Server.running.add(self)

    async def stop(self) -> None:
        Server.running.discard(self)
        self.server.should_exit = True
        if self.task:
            await self.task
        self.sock.close()


@pytest.fixture(scope="session")
async def server(database_url: str) -> AsyncIterator[Server]:
    # Its relay (unannounced events, presence timers, heartbeats, pruning) never runs during a
    # run: it would act on every test's rows, doing the work a test credits to the server it
    # started itself (`running(..., relay_seconds=...)`).
    # Likewise its job workers never poll: they run the jobs its own requests queue (woken on
    # commit), not those a test left queued on purpose through another server.
    srv = Server(make_settings(database_url, relay_seconds=3600, job_poll_seconds=3600))
    await srv.start()
    yield srv
    await srv.stop()


def _migration(pattern: str) -> Any:
    """A migration module, to read the reference rows it ships."""
    path = next((Path(migrate.MIGRATIONS) / "versions").glob(pattern))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shipped_document_types() -> list[dict[str, Any]]:
    """The reference rows migration 0002 ships, read from the migration itself."""
    module = _migration("*_0002_contacts.py")
    now = utcnow()
    return [
        {
            "code": c,
            "name": n,
            "format_regex": r,
            "check_digit": d,
            "active": True,
            "created_at": now,
            "updated_at": now,
        }
        for c, n, r, d in module.DOCUMENT_TYPES
    ]


SHIPPED_DOCUMENT_TYPES = _shipped_document_types()
# The one routing settings row migration 0015 writes (A2).
SHIPPED_ROUTING_SETTINGS = {"id": 1, "method": "ROUND_ROBIN", "reopen_window_minutes": 1440}
# The typologies and result catalogues migration 0006 ships (G1).
_SHIPPED_TYPOLOGIES = _migration("*_0006_gestiones.py").shipped


async def _ship_typologies(conn: Any) -> None:
    for typology, results in _SHIPPED_TYPOLOGIES(utcnow()):
        typology_id = await conn.scalar(insert(Typology).values(**typology).returning(Typology.id))
        await conn.execute(insert(TypologyResult), [{**r, "typology_id": typology_id} for r in results])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "one_path(reason): send this test's queries once, not through both read paths (tests/differential.py)",
    )


@pytest.fixture(autouse=True)
def _both_paths(request: pytest.FixtureRequest) -> Iterator[None]:
    """Queries go through both read paths unless the test is marked one_path; what the second
    (shadow) request logs is not in the test's caplog."""
    differential.enabled = request.node.get_closest_marker("one_path") is None
    if "caplog" in request.fixturenames:
        caplog: pytest.LogCaptureFixture = request.getfixturevalue("caplog")
        caplog.handler.addFilter(lambda record: not differential.in_shadow())
    yield
    differential.enabled = True


@pytest.fixture(autouse=True)
async def _clean_database(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Every test starts from the freshly migrated state: empty tables but the shipped reference rows."""
    yield
    if "database_url" not in request.fixturenames:
        return
    url = request.getfixturevalue("database_url")
    # Ids start again at 1: the next test's user 1 is someone else.
    for running_server in Server.running:
        running_server.app.state.cartera.principals.forget(None)
    engine = create_engine(url)
    async with engine.begin() as conn:
        # The event log keeps counting across tests, as it does in production: a running feed
        # has read up to some id and only reads what comes after it.
        # DELETE, children first, not TRUNCATE: a TRUNCATE of every table gives each table and
        # index a new file, 190 ms a test against 12 ms (five minutes of a PostgreSQL run).
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(delete(table))
        if conn.dialect.name == "postgresql":
            # What RESTART IDENTITY did: ids start at 1 again (tests read them in messages).
            restarted = [t.name for t in Base.metadata.sorted_tables if "id" in t.c and t.name != "events"]
            restart = "SELECT setval(pg_get_serial_sequence(t, 'id'), 1, false) FROM unnest(CAST(:tables AS text[])) t"
            await conn.execute(text(restart), {"tables": restarted})
        await conn.execute(insert(DocumentType), SHIPPED_DOCUMENT_TYPES)
        await _ship_typologies(conn)
        await conn.execute(insert(RoutingSettings).values(**SHIPPED_ROUTING_SETTINGS, updated_at=utcnow()))
    await engine.dispose()


@pytest.fixture
async def factory(server: Server) -> Factory:
    def access_changed() -> None:
        for running_server in Server.running:
            running_server.app.state.cartera.principals.forget(None)

    return Factory(server.app.state.cartera.sessionmaker, SECRET, access_changed)


JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
MEDIA_TYPES = [JSON, GRAPHQL_RESPONSE]
# The status of a request error (a request that executes nothing), per response media type.
REQUEST_ERROR_STATUS = {JSON: 200, GRAPHQL_RESPONSE: 400}


def auth(token: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"} if token else {}


async def post_body(
    http: httpx.AsyncClient,
    content: bytes | str,
    *,
    accept: str = JSON,
    content_type: str = JSON,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A POST to /graphql of this body as it is (malformed or hostile ones included)."""
    merged = {"content-type": content_type, "accept": accept, **auth(token), **(headers or {})}
    return await http.post("/graphql", content=content, headers=merged)


async def post_query(
    http: httpx.AsyncClient,
    query: str,
    *,
    variables: dict[str, Any] | None = None,
    accept: str = JSON,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A POST to /graphql of a JSON body with `query` (and `variables` unless None)."""
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    # ensure_ascii: a lone surrogate travels as the \u escape any client's JSON encoder writes.
    return await post_body(http, json.dumps(body), accept=accept, token=token, headers=headers)


class GraphQLClient:
    """A client of a test server; every query it sends goes through both read paths (tests/differential.py)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.http: httpx.AsyncClient = differential.BothPaths(lambda: server.compiles, base_url=server.url, timeout=30)

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None, **kw: Any
    ) -> httpx.Response:
        headers = auth(token)
        headers.update(kw.pop("headers", {}))
        return await self.http.post("/graphql", json={"query": query, "variables": variables}, headers=headers, **kw)

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """Execute and return the whole response body; the HTTP status must be 200."""
        response = await self.post(query, variables, token)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """Execute and return `data`, failing on any GraphQL error."""
        body = await self.gql(query, variables, token)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data


async def eventually(check: Callable[[], bool], what: str, seconds: float = 5) -> None:
    """Wait until `check()` holds, at most `seconds`: for state the app offers no event for."""
    try:
        async with asyncio.timeout(seconds):
            while not check():  # noqa: ASYNC110  (nothing to wait on but the state itself)
                await asyncio.sleep(0.005)
    except TimeoutError:
        pytest.fail(f"{what} within {seconds} s")


@asynccontextmanager
async def running(database_url: str, **overrides: Any) -> AsyncIterator[tuple[Server, GraphQLClient]]:
    """Another server on the test's database with other settings, and a client for it."""
    server = Server(make_settings(database_url, **overrides))
    await server.start()
    client = GraphQLClient(server)
    try:
        yield server, client
    finally:
        await client.http.aclose()
        await server.stop()


@pytest.fixture
async def team(factory: Factory) -> Team:
    return await factory.team("Cobranzas")


@pytest.fixture
async def admin(factory: Factory) -> User:
    return await factory.user(Role.ADMIN, name="Ada Admin")


@pytest.fixture
async def client(server: Server) -> AsyncIterator[GraphQLClient]:
    c = GraphQLClient(server)
    yield c
    await c.http.aclose()


class StatementCounter:
    """Counts SQL statements the app sends (transaction control excluded: backends differ there;
    a shadow request's too: the test sent one request).

    The principal cache's loads are left out (counted in `principal_loads`): whether a request
    loads its principal depends on what the process met before, not on the operation.
    """

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.principal_loads: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, *args: Any) -> None:
        if differential.in_shadow():
            return
        head = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        if head in {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}:
            return
        if context is not None and context.execution_options.get(PRINCIPAL_LOAD):
            self.principal_loads.append(statement)
        else:
            self.statements.append(statement)

    def count_one(self, statement: str) -> None:
        self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_sql(server: Server) -> Iterator[StatementCounter]:
    with counting_sql(server) as counter:
        yield counter


@contextmanager
def counting_sql(server: Server) -> Iterator[StatementCounter]:
    """The statements a server sends, through SQLAlchemy and, for compiled reads, on their own
    asyncpg pool (resolvers/compiled.py)."""
    counter = StatementCounter()
    event.listen(server.engine.sync_engine, "before_cursor_execute", counter)
    compiler = server.app.state.endpoint.compiler
    if compiler is not None:
        compiler.listeners.append(counter.count_one)
    try:
        yield counter
    finally:
        if compiler is not None:
            compiler.listeners.remove(counter.count_one)
        event.remove(server.engine.sync_engine, "before_cursor_execute", counter)


@pytest.fixture
def audit_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Set the time services.audit reads: when audit rows are written, and the presets' "now"."""

    def set_to(moment: datetime) -> None:
        monkeypatch.setattr(audit, "utcnow", lambda: moment)

    return set_to


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A local port bound but not listening: every connection to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
