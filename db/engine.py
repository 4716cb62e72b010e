"""Engine and session factory for both backends."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

# Execution option that asks SQLite for a write lock at BEGIN (see on_begin below).
SQLITE_WRITE = "cartera_sqlite_write"
# Session.info key of a query operation's session, which runs without a transaction.
READ_ONLY = "cartera_read_only"


# Every PostgreSQL connection's settings (see create_engine).
SERVER_SETTINGS = {"jit": "off"}


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        # Connections beyond pool_size are closed when returned: with more requests in flight
        # than the pool holds, every extra one opens a connection (TLS negotiation included)
        # and closes it again, which took more CPU than a compiled page (bench/reads.py at 16
        # clients: 261 pages a second with 10 kept, 573 with 30). CARTERA_DB_POOL_SIZE sets it.
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        # No pre-ping: it cost a round trip on every checkout. A connection found dead by a
        # statement is invalidated with every older one in the pool (SQLAlchemy's "optimistic"
        # disconnect handling, `lost_connection` below), and an HTTP read runs once more on a
        # fresh one (cartera.http); a mutation fails cleanly and never runs twice.
        # The planner's JIT compiles every statement it costs high, and the ones here that it
        # does (a bulk call's selection, a preview) scan once: compiling took 50-75 ms of a
        # 600 ms statement and saved nothing (EXPLAIN ANALYZE on 1,000,000 contacts).
        kwargs.setdefault("connect_args", {"server_settings": dict(SERVER_SETTINGS)})
        return create_async_engine(url, **kwargs)

    engine = create_async_engine(url, connect_args={"timeout": 30, "factory": RollbackOnClose}, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin, so
        # that BEGIN IMMEDIATE below is honoured (SQLAlchemy's documented pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Connection) -> None:
        # A deferred transaction that reads and then writes fails at once with
        # SQLITE_BUSY when another writer holds the lock; IMMEDIATE waits for it instead.
        if conn.get_execution_options().get(SQLITE_WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


class RollbackOnClose(sqlite3.Connection):
    """An sqlite3 connection that rolls back before it closes.

    A task cancelled while SQLAlchemy awaits a statement leaves that statement stepped but
    unfinished, its cursor held by the CancelledError's traceback; SQLAlchemy then closes the
    connection, and sqlite3_close_v2 keeps a connection with a pending statement open until the
    statement is finalized, its transaction and write lock with it, for as long as the
    garbage collector takes to free that cursor (minutes, with frozen generations). A rollback
    first ends the transaction and aborts the statement, so the lock goes with the close.
    """

    def close(self) -> None:
        if self.in_transaction:
            # If even the rollback fails, closing still ends the transaction once the statement is freed.
            with contextlib.suppress(sqlite3.Error):
                self.rollback()
        super().close()


# What asyncpg raises, through compiled reads (which call it directly), on a connection the server dropped.
_ASYNCPG_LOST = (asyncpg.PostgresConnectionError, asyncpg.AdminShutdownError, ConnectionError)


def lost_connection(error: BaseException | None) -> bool:
    """Whether a statement failed because its connection had died (the server restarted, a
    backend was terminated). Through SQLAlchemy: it then invalidated that connection, and the
    pool the ones older than it, so the next checkout connects afresh. Through the compiled
    reads' asyncpg pool: a closed connection is replaced when it is next acquired."""
    if isinstance(error, DBAPIError):
        return error.connection_invalidated
    return isinstance(error, _ASYNCPG_LOST)


def unless_cancelled() -> None:
    """For a loop that logs an error and retries: stop it when the error stands in for a cancellation.

    SQLAlchemy finishes closing a cancelled session before it re-raises the CancelledError, and
    if that close fails, its error is raised instead (ext.asyncio.base._run_to_completion): the
    loop would take it for a failed step and go on, and whoever cancelled it would wait forever.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class SerialSession(AsyncSession):
    """An AsyncSession that the tasks of one GraphQL operation can share: statements take turns.

    graphql-core resolves sibling fields concurrently and every dataloader dispatches its
    batch in a task of its own, but an AsyncSession must never run two statements at once
    (SQLAlchemy raises IllegalStateChangeError). The lock is re-entrant per task, because
    AsyncSession.scalars calls execute.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turn = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None
        # Whether anything asked for the database: a session never used needs no close.
        self.used = False
        self._retired = False

    async def retire(self) -> None:
        """End the operation's use of this session: close it, and refuse any later statement.

        A dataloader's batch runs in a task of its own, which outlives an operation cancelled
        while the batch was queued: on a closed session it would check out a connection that
        nobody returns (the garbage collector finds it, and SQLAlchemy warns).
        """
        used = self.used or self.in_transaction()
        self._retired = True
        if used:
            async with self._exclusive(retiring=True):
                await super().close()

    @asynccontextmanager
    async def _exclusive(self, *, retiring: bool = False) -> AsyncIterator[None]:
        if self._retired and not retiring:
            raise RuntimeError("this operation is over: its session takes no more statements")
        self.used = True
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            yield
            return
        async with self._turn:
            self._holder = task
            try:
                yield
            finally:
                self._holder = None

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        async with self._exclusive():
            return await super().execute(*args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        async with self._exclusive():
            return await super().scalar(*args, **kwargs)

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        async with self._exclusive():
            return await super().get(*args, **kwargs)

    async def refresh(self, *args: Any, **kwargs: Any) -> None:
        async with self._exclusive():
            await super().refresh(*args, **kwargs)

    async def flush(self, *args: Any, **kwargs: Any) -> None:
        async with self._exclusive():
            await super().flush(*args, **kwargs)

    async def connection(self, *args: Any, **kwargs: Any) -> Any:
        async with self._exclusive():
            return await super().connection(*args, **kwargs)

    async def commit(self) -> None:
        async with self._exclusive():
            await super().commit()

    async def rollback(self) -> None:
        async with self._exclusive():
            await super().rollback()

    async def close(self) -> None:
        async with self._exclusive(retiring=True):
            await super().close()


_AFTER_COMMIT = "cartera_after_commit"


def after_commit(session: AsyncSession, hook: Callable[[], Awaitable[None]]) -> None:
    """Run `hook` once the session's transaction has committed; dropped if it rolls back.

    The unit of work that commits runs them (resolvers.uow), so a service can ask for work
    that must only follow a committed change without knowing who commits.
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(hook)


def take_after_commit(session: AsyncSession) -> list[Callable[[], Awaitable[None]]]:
    hooks: list[Callable[[], Awaitable[None]]] = session.info.pop(_AFTER_COMMIT, [])
    return hooks


async def refresh_statistics(engine: AsyncEngine, table: str) -> None:
    """Have PostgreSQL's planner look again at a table a bulk call just changed a lot.

    Autovacuum would, within a minute or so; until then the planner believes the old row
    counts and picks plans such as sorting a whole portfolio to show its first page.
    """
    if engine.dialect.name != "postgresql":
        return
    # Outside any transaction: the statistics of an ANALYZE that then rolls back are lost.
    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.exec_driver_sql(f"ANALYZE {table}")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=SerialSession, expire_on_commit=False, autoflush=False)
