"""Concurrent mutations: every request gets an outcome, and uniqueness holds in the database."""

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from db.engine import SQLITE_WRITE, create_engine
from db.models import Role, Team, User
from tests.conftest import GraphQLClient, Server
from tests.factories import Factory

CREATE_TEAM = """
mutation($name: String!) { createTeam(input: {name: $name}) { team { id } userErrors { code field } } }
"""
CREATE_USER = """
mutation($email: String!) {
  createUser(input: {email: $email, name: "Agente", role: AGENT, password: "secret123"}) {
    user { id } userErrors { code field }
  }
}
"""


async def test_concurrent_writers_all_get_an_answer(client: GraphQLClient, factory: Factory) -> None:
    admin = await factory.user(Role.ADMIN)
    token = factory.token(admin)
    results = await asyncio.gather(*(client.data(CREATE_TEAM, {"name": f"Equipo {i}"}, token) for i in range(12)))
    assert all(r["createTeam"]["userErrors"] == [] for r in results)
    assert await factory.count(Team) == 12


async def test_same_name_raced_yields_one_team(client: GraphQLClient, factory: Factory) -> None:
    admin = await factory.user(Role.ADMIN)
    token = factory.token(admin)
    results = await asyncio.gather(*(client.data(CREATE_TEAM, {"name": "Cobranzas"}, token) for _ in range(8)))
    outcomes = sorted(
        "ok" if not r["createTeam"]["userErrors"] else r["createTeam"]["userErrors"][0]["code"] for r in results
    )
    assert outcomes == ["ALREADY_EXISTS"] * 7 + ["ok"]
    assert await factory.count(Team) == 1
    assert len(await factory.audit_rows()) == 1


async def test_same_email_raced_in_different_case_yields_one_user(client: GraphQLClient, factory: Factory) -> None:
    admin = await factory.user(Role.ADMIN)
    token = factory.token(admin)
    emails = ["ana@example.com", "ANA@example.com", "Ana@Example.com", "ana@EXAMPLE.com"]
    results = await asyncio.gather(*(client.data(CREATE_USER, {"email": e}, token) for e in emails))
    created = [r for r in results if not r["createUser"]["userErrors"]]
    refused = [r["createUser"]["userErrors"] for r in results if r["createUser"]["userErrors"]]
    assert len(created) == 1
    assert refused == [[{"code": "ALREADY_EXISTS", "field": "input.email"}]] * 3
    assert await factory.count(User) == 2


async def test_sqlite_writes_take_the_lock_up_front(server: Server, client: GraphQLClient, factory: Factory) -> None:
    """On SQLite a mutation's transaction begins IMMEDIATE, so a concurrent writer waits instead of failing."""
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.startswith("BEGIN"):
            seen.append(statement)

    event.listen(server.engine.sync_engine, "before_cursor_execute", record)
    try:
        admin = await factory.user(Role.ADMIN)
        await client.data(CREATE_TEAM, {"name": "Uno"}, factory.token(admin))
    finally:
        event.remove(server.engine.sync_engine, "before_cursor_execute", record)
    if server.engine.dialect.name == "sqlite":
        assert "BEGIN IMMEDIATE" in seen
    else:
        assert seen == []


async def test_a_connection_closed_mid_statement_lets_go_of_the_sqlite_write_lock(tmp_path: Path) -> None:
    """What a task cancelled inside a write leaves: SQLAlchemy closes its connection mid-statement.

    The statement's cursor outlives the close (the CancelledError's traceback holds it), and
    the next writer must not wait on that transaction until the garbage collector frees it.
    """
    path = tmp_path / "cut.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            await conn.exec_driver_sql("INSERT INTO t VALUES (1), (2), (3)")
        conn = await (await engine.connect()).execution_options(**{SQLITE_WRITE: True})
        await conn.begin()
        await conn.exec_driver_sql("UPDATE t SET x = x + 1")
        raw = await conn.get_raw_connection()
        pending = await raw.driver_connection.execute("SELECT x FROM t")
        assert await pending.fetchone() is not None
        # As on cancellation: SQLAlchemy invalidates the connection, which closes it.
        await conn.invalidate()
        await conn.close()
        other = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")  # 'database is locked' while that transaction lingers
            assert other.execute("SELECT x FROM t ORDER BY x").fetchall() == [(1,), (2,), (3,)]
            other.execute("ROLLBACK")
        finally:
            other.close()
        del pending
    finally:
        await engine.dispose()


async def test_a_factory_block_that_reads_then_writes_holds_the_lock_from_its_start(
    client: GraphQLClient, factory: Factory, backend_name: str
) -> None:
    """What made test_conversation_start flaky on SQLite: a factory block read a row, the server
    committed a write, and the block's own write then failed at once with "database is locked"
    (WAL refuses to turn a read transaction the server has written past into a write one, and
    busy_timeout does not apply). Factory.writing() takes the lock first: the server waits."""
    admin = await factory.user(Role.ADMIN)
    token = factory.token(admin)
    if backend_name == "sqlite":
        async with factory.sessionmaker() as session:
            row = await session.get_one(User, admin.id)
            assert (await client.data(CREATE_TEAM, {"name": "Antes"}, token))["createTeam"]["userErrors"] == []
            row.name = "Renombrada"
            with pytest.raises(OperationalError, match="database is locked"):
                await session.commit()
    async with factory.writing() as session:
        row = await session.get_one(User, admin.id)
        server = asyncio.create_task(client.data(CREATE_TEAM, {"name": "Durante"}, token))
        row.name = "Renombrada"
        await session.commit()
    assert (await server)["createTeam"]["userErrors"] == []
    async with factory.sessionmaker() as session:
        assert (await session.get_one(User, admin.id)).name == "Renombrada"
    assert await factory.count(Team) == (2 if backend_name == "sqlite" else 1)
