"""`cartera seed-demo` as a newcomer runs it: an empty directory, then GraphiQL with the printed users.

The seeded rows must be exactly what the contact services would have written: the search
columns, valid documents, channels that pass the channel validator already normalised, custom
field values their definitions accept.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from db.engine import create_engine, create_sessionmaker
from db.models import Campaign, ChannelKind, CheckDigit, Gestion, Role, Typology
from services import demo, demo_activity, validation
from services import typologies as typologies_service
from services.auth import authenticate, issue_token
from services.contacts import search_name, search_text, sort_name
from tests.conftest import POSTGRES_URL, SECRET, GraphQLClient, drop_postgres_database, fresh_postgres_database
from tests.test_cli import run


def _credentials(stdout: str) -> tuple[str, list[tuple[str, str]]]:
    """(the shared password, [(role, email)]) from seed-demo's output."""
    password = re.search(r"the password of all of them is (\S+)", stdout)
    assert password, stdout
    users = re.findall(r"^  (ADMIN|SUPERVISOR|AGENT)\s+(\S+@\S+)", stdout, re.MULTILINE)
    return password.group(1), users


def _check_rows(db: sqlite3.Connection, contacts: int) -> None:
    """Every contact as the services would have written it."""
    count = lambda table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: E731
    assert count("contacts") == contacts
    assert count("companies") == max(1, contacts // 40)
    rows = db.execute(
        "SELECT c.id, c.first_names, c.last_names, c.document_number, d.code, d.format_regex, d.check_digit, "
        "co.name, c.search_text, c.search_name, c.sort_name, c.custom_fields, c.team_id "
        "FROM contacts c JOIN document_types d ON d.id = c.document_type_id "
        "LEFT JOIN companies co ON co.id = c.company_id ORDER BY c.id"
    ).fetchall()
    assert len(rows) == contacts, "every demo contact has a document"
    channels: dict[int, list[tuple[str, str, str]]] = {}
    for contact_id, kind, value, normalized in db.execute(
        "SELECT contact_id, kind, value, normalized FROM contact_channels ORDER BY id"
    ):
        channels.setdefault(contact_id, []).append((kind, value, normalized))
    leaves = {
        t
        for (t,) in db.execute(
            "SELECT id FROM teams t WHERE NOT EXISTS (SELECT 1 FROM teams c WHERE c.parent_id = t.id)"
        )
    }
    definitions = db.execute(
        "SELECT key, label, type, options, required, active FROM custom_field_definitions"
    ).fetchall()
    assert {d[0] for d in definitions} == {"segmento", "saldo_deuda", "fecha_ultimo_pago", "acepta_promociones"}
    documents = Counter()
    for contact_id, first, last, number, code, regex, rule, company, stored, name, sort, custom, team_id in rows:
        mine = channels.get(contact_id, [])
        assert 1 <= len(mine) <= 3
        assert stored == search_text(
            first_names=first, last_names=last, document=number, company=company, channels=[(k, n) for k, _, n in mine]
        )
        assert name == search_name(first, last)
        assert sort == sort_name(first, last)
        assert code in {"DNI", "CUIT"}
        assert team_id in leaves
        documents[number] += 1
        validation.check_document(number, type_code=code, regex=regex, rule=CheckDigit(rule), field="document")
        for kind, value, normalized in mine:
            assert (
                validation.normalise_channel(ChannelKind(kind), value, default_region="AR", field="value") == normalized
            ), (kind, value)
        values = json.loads(custom)
        cleaned = validation.validate_custom_fields(values, [_Definition(*d) for d in definitions], require_all=True)
        assert cleaned == values
    assert max(documents.values()) == 1, "document numbers are unique"
    vip = db.execute("SELECT count(*) FROM contacts WHERE is_vip").fetchone()[0]
    assert 0 < vip < contacts * 0.15
    with_company = db.execute("SELECT count(*) FROM contacts WHERE company_id IS NOT NULL").fetchone()[0]
    assert contacts * 0.4 < with_company < contacts * 0.8
    addresses = db.execute(
        "SELECT count(*), count(DISTINCT contact_id), sum(is_primary), sum(country = 'AR') FROM contact_addresses"
    ).fetchone()
    assert addresses[0] == addresses[1] == addresses[2] == addresses[3]
    assert contacts * 0.3 < addresses[0] < contacts * 0.7
    for tax_id, phone in db.execute("SELECT tax_id, phone FROM companies"):
        validation.check_document(tax_id, type_code="CUIT", regex=r"\d{11}", rule=CheckDigit.CUIT, field="taxId")
        assert validation.normalise_phone(phone, default_region="AR", field="phone") == phone


class _Definition:
    def __init__(self, key: str, label: str, type: str, options: str, required: int, active: int) -> None:
        self.key, self.label, self.type = key, label, type
        self.options: list[str] = json.loads(options)
        self.required, self.active = bool(required), bool(active)


async def _sign_in(url: str, users: list[tuple[str, str]], password: str) -> dict[str, str]:
    engine = create_engine(url)
    roles: dict[str, str] = {}
    try:
        async with create_sessionmaker(engine)() as session:
            for _, email in users:
                user = await authenticate(session, email=email, password=password)
                roles[email] = user.role
    finally:
        await engine.dispose()
    return roles


def test_seed_demo_fills_an_empty_database_once(tmp_path: Path) -> None:
    result = run(tmp_path, "seed-demo", "--contacts", "300")
    assert result.returncode == 0, result.stderr
    assert "300/300 contacts" in result.stderr
    # Not a terminal: one plain line per part, no bar redrawn with carriage returns.
    assert "\r" not in result.stderr
    for line in ("75/75 portfolio contacts", "75/75 gestiones", "30/30 conversations", "15/15 sales clients"):
        assert line in result.stderr.splitlines()
    assert re.search(r"5 campaigns with 75 gestiones, 30 conversations \(\d+ messages\)", result.stdout)
    assert "Traceback" not in result.stderr
    password, users = _credentials(result.stdout)
    assert password == "demo-cartera-2026"

    db = sqlite3.connect(tmp_path / "cartera.db")
    _check_rows(db, 300)
    count = lambda table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: E731
    assert count("users") == len(users)
    roles = Counter(role for role, _ in users)
    assert roles["ADMIN"] == 1
    assert roles["SUPERVISOR"] == 3
    assert 5 * 3 <= roles["AGENT"] <= 5 * 5
    teams = dict(db.execute("SELECT name, path FROM teams").fetchall())
    assert set(teams) == {
        "Cobranzas",
        "Cobranzas Norte",
        "Cobranzas Sur",
        "Ventas",
        "Ventas Mayoristas",
        "Ventas Minoristas",
        "Atención al Cliente",
    }
    assert teams["Cobranzas Norte"].startswith(teams["Cobranzas"])
    assert count("team_supervisors") == 3
    assert count("team_members") == roles["AGENT"]

    (event,) = db.execute(
        "SELECT id, action, resource_type, resource_id, actor_id, changes FROM audit_events"
    ).fetchall()
    assert event[1:5] == ("BULK_CREATED", "BATCH", event[0], None)
    assert json.loads(event[5])["contacts"] == {"before": None, "after": 300}

    signed_in = asyncio.run(_sign_in(f"sqlite+aiosqlite:///{tmp_path / 'cartera.db'}", users, password))
    assert signed_in == {email: role for role, email in users}
    assert signed_in["admin@cartera.demo"] == Role.ADMIN

    again = run(tmp_path, "seed-demo", "--contacts", "10")
    assert again.returncode == 2
    assert "already has contacts" in again.stderr
    assert "Traceback" not in again.stderr
    assert count("contacts") == 300
    assert count("gestiones") == 75
    assert count("audit_events") == 1


def _content(path: Path) -> list[Any]:
    db = sqlite3.connect(path)
    try:
        return [
            *db.execute(
                "SELECT id, first_names, last_names, is_vip, document_number, company_id, team_id, custom_fields, "
                "search_text FROM contacts ORDER BY id"
            ),
            *db.execute("SELECT contact_id, kind, value FROM contact_channels ORDER BY id"),
            *db.execute(
                "SELECT contact_id, street, number, unit, city, postal_code FROM contact_addresses ORDER BY id"
            ),
            *db.execute("SELECT name, tax_id, phone FROM companies ORDER BY id"),
            *db.execute("SELECT email, name FROM users ORDER BY id"),
            *db.execute("SELECT name, team_id, agent_id FROM portfolios ORDER BY id"),
            *db.execute("SELECT contact_id, portfolio_id FROM portfolio_members ORDER BY contact_id"),
            *db.execute("SELECT name, typology_id, team_id, status FROM campaigns ORDER BY id"),
            *db.execute(
                "SELECT campaign_id, contact_id, operator_id, status, result_id, priority, plan, attempts "
                "FROM gestiones ORDER BY id"
            ),
            *db.execute("SELECT gestion_id, author_id, body FROM gestion_comments ORDER BY id"),
            *db.execute(
                "SELECT contact_id, channel_id, status, agent_id, team_id, portfolio_id FROM conversations ORDER BY id"
            ),
            *db.execute(
                "SELECT conversation_id, direction, author_id, text, duration_seconds FROM conversation_messages "
                "ORDER BY id"
            ),
            *db.execute("SELECT user_id, open_conversations FROM agent_loads ORDER BY user_id"),
            *db.execute(
                "SELECT contact_id, interest_id, origin_id, agent_id, team_id, status, close_reason_id "
                "FROM sales_attentions ORDER BY id"
            ),
            *db.execute("SELECT conversation_id, attention_id FROM sales_attention_conversations ORDER BY 1"),
        ]
    finally:
        db.close()


def test_the_same_seed_gives_the_same_data(tmp_path: Path) -> None:
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        (tmp_path / name).mkdir()
        assert run(tmp_path / name, "seed-demo", "--contacts", "120", "--seed", seed).returncode == 0
    assert _content(tmp_path / "a" / "cartera.db") == _content(tmp_path / "b" / "cartera.db")
    assert _content(tmp_path / "a" / "cartera.db") != _content(tmp_path / "c" / "cartera.db")


def test_refuses_a_database_with_demo_teams(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    db = sqlite3.connect(tmp_path / "cartera.db")
    db.execute(
        "INSERT INTO teams (name, path, created_at, updated_at) VALUES ('VENTAS', '/1/', '2026-01-01', '2026-01-01')"
    )
    db.commit()
    db.close()
    result = run(tmp_path, "seed-demo", "--contacts", "10")
    assert result.returncode == 2
    assert "already has demo teams or users (VENTAS)" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("count", ["0", "-5", "many"])
def test_refuses_a_count_that_is_not_positive(tmp_path: Path, count: str) -> None:
    result = run(tmp_path, "seed-demo", "--contacts", count)
    assert result.returncode == 2
    assert "--contacts" in result.stderr
    assert not (tmp_path / "cartera.db").exists()


@pytest.mark.skipif(not POSTGRES_URL, reason="needs CARTERA_TEST_POSTGRES_URL")
def test_postgres_load_restores_indexes_keys_and_sequences(tmp_path: Path) -> None:
    """The COPY path drops the contact tables' indexes and foreign keys for the load: all come back."""
    url, name = asyncio.run(fresh_postgres_database())
    try:
        env = {"DATABASE_URL": url.replace("+asyncpg", ""), "CARTERA_SECRET_KEY": SECRET}
        assert run(tmp_path, "migrate", env=env).returncode == 0
        catalog = (
            "SELECT (SELECT array_agg(indexdef ORDER BY indexname) FROM pg_indexes WHERE tablename LIKE 'contact%'), "
            "(SELECT array_agg(pg_get_constraintdef(oid) ORDER BY conname) FROM pg_constraint "
            "WHERE conrelid::regclass::text LIKE 'contact%')"
        )
        before = asyncio.run(_fetch(url, catalog))
        # As if contacts 1 to 41 had existed and been deleted: the audit trail still names those ids.
        asyncio.run(_fetch(url, "SELECT setval(pg_get_serial_sequence('contacts', 'id'), 41)"))
        result = run(tmp_path, "seed-demo", "--contacts", "300", env=env)
        assert result.returncode == 0, result.stderr
        assert asyncio.run(_fetch(url, catalog)) == before
        contacts, first_id, last_id, next_id, events = asyncio.run(
            _fetch(
                url,
                "SELECT (SELECT count(*) FROM contacts), (SELECT min(id) FROM contacts), "
                "(SELECT max(id) FROM contacts), "
                "nextval(pg_get_serial_sequence('contacts', 'id')), (SELECT count(*) FROM audit_events)",
            )
        )
        assert (contacts, events) == (300, 1)
        assert (first_id, last_id) == (42, 341)
        assert next_id == 342
        password, users = _credentials(result.stdout)
        assert len(asyncio.run(_sign_in(url, users, password))) == len(users)
        again = run(tmp_path, "seed-demo", "--contacts", "10", env=env)
        assert again.returncode == 2
        assert "already has contacts" in again.stderr
    finally:
        asyncio.run(drop_postgres_database(name))


async def _fetch(url: str, sql: str) -> tuple[Any, ...]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return tuple((await conn.execute(text(sql))).one())
    finally:
        await engine.dispose()


def test_every_generated_channel_passes_the_validator() -> None:
    """Thousands of contacts, every city's area code: each phone, email and handle as the API would store it."""
    refs = demo._Refs(
        users=[],
        teams=1,
        leaves=[1],
        companies=[1],
        company_names={1: "Distribuidora del Sur S.A."},
        types={"DNI": 1, "CUIT": 2},
        fields=[],
    )
    seen: Counter[str] = Counter()
    now = datetime(2026, 11, 22, tzinfo=UTC)
    for _, channels, _ in demo._contacts(random.Random(11), 1, 5_000, refs, now, json_text=True):
        for _, kind, value, normalized, _ in channels:
            assert validation.normalise_channel(ChannelKind(kind), value, default_region="AR", field="v") == normalized
            seen[kind] += 1
    assert set(seen) == {"PHONE", "WHATSAPP", "EMAIL", "INSTAGRAM"}


# --- what the demo's people work on (services.demo_activity) -----------------------------------

WORK = """
query($from: DateTime!, $to: DateTime!, $statuses: [ConversationStatus!]) {
  gestiones(first: 3) { totalCount nodes { status campaign { name } contact { fullName } } }
  conversations(first: 3, filter: {statuses: $statuses}) {
    totalCount nodes { status agent { id } messages(first: 10) { totalCount } }
  }
  portfolios(first: 1) { totalCount }
  salesAttentions(first: 3, filter: {from: $from, to: $to}) { totalCount nodes { status } }
}
"""
NO_SALES = """
query {
  gestiones(first: 3) { totalCount }
  conversations(first: 3) { totalCount nodes { status agent { id } messages(first: 10) { totalCount } } }
  portfolios(first: 1) { totalCount }
}
"""
SALES = """
query($from: DateTime!, $to: DateTime!) { salesAttentions(first: 1, filter: {from: $from, to: $to}) { totalCount } }
"""
CONTACTS = 400


async def _rows(engine: Any, sql: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(row) for row in await conn.execute(text(sql))]


async def _one(engine: Any, sql: str) -> Any:
    (row,) = await _rows(engine, sql)
    return row[0] if len(row) == 1 else row


async def test_every_resource_is_filled_in_proportion_and_keeps_its_invariants(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        result = await demo.seed(engine, contacts=CONTACTS, seed_value=31)
        scale = demo_activity.Scale.of(CONTACTS)
        count = lambda table: _one(engine, f"SELECT count(*) FROM {table}")  # noqa: E731
        # The counts follow the seed's parameters: every sampled contact got its row.
        assert await count("portfolio_members") == scale.portfolio_members == 100
        assert await count("gestiones") == scale.gestiones == 100
        assert await count("conversations") == scale.conversations == 40
        assert await _one(engine, "SELECT count(DISTINCT contact_id) FROM sales_attentions") == scale.attentions == 20
        agents = await _one(engine, "SELECT count(*) FROM users WHERE role = 'AGENT'")
        assert await count("portfolios") == 5 + agents  # a general one per leaf team, one per agent
        assert await count("campaigns") == 5
        assert await count("campaign_operators") == agents
        activity = result.activity
        assert (activity.gestiones, activity.conversations, activity.sales_clients) == (100, 40, 20)
        assert await count("conversation_messages") == activity.messages
        assert await count("sales_attentions") == activity.attentions
        # Some of every status.
        assert {s for (s,) in await _rows(engine, "SELECT DISTINCT status FROM gestiones")} == {
            "PENDING",
            "IN_PROGRESS",
            "FINISHED",
        }
        assert {s for (s,) in await _rows(engine, "SELECT DISTINCT status FROM conversations")} == {
            "UNASSIGNED",
            "OPEN",
            "RESOLVED",
        }
        assert {s for (s,) in await _rows(engine, "SELECT DISTINCT status FROM sales_attentions")} == {
            "OPEN",
            "PENDING",
            "CLOSED",
        }
        assert {s for (s,) in await _rows(engine, "SELECT DISTINCT kind FROM sales_catalog_entries")} == {
            "INTEREST",
            "ORIGIN",
            "CLOSE_REASON",
        }

        # agent_loads counts exactly each agent's OPEN conversations (no row: none ever given).
        assert (
            await _rows(
                engine,
                "SELECT u.id, coalesce(l.open_conversations, 0), "
                "(SELECT count(*) FROM conversations c WHERE c.agent_id = u.id AND c.status = 'OPEN') "
                "FROM users u LEFT JOIN agent_loads l ON l.user_id = u.id "
                "WHERE coalesce(l.open_conversations, 0) <> "
                "(SELECT count(*) FROM conversations c WHERE c.agent_id = u.id AND c.status = 'OPEN')",
            )
            == []
        )
        assert await _one(engine, "SELECT count(*) FROM agent_loads WHERE open_conversations > 0") > 0
        # An agent works only its own team's conversations, attentions and campaigns.
        for sql in (
            "SELECT id FROM conversations c WHERE agent_id IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM team_members m WHERE m.user_id = c.agent_id AND m.team_id = c.team_id)",
            "SELECT id FROM sales_attentions a WHERE agent_id IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM team_members m WHERE m.user_id = a.agent_id AND m.team_id = a.team_id)",
            "SELECT g.id FROM gestiones g WHERE operator_id IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM campaign_operators o WHERE o.user_id = g.operator_id AND o.campaign_id = g.campaign_id)",
            # A contact's portfolio, conversation and attention are its own team's.
            "SELECT m.contact_id FROM portfolio_members m JOIN portfolios p ON p.id = m.portfolio_id "
            "JOIN contacts c ON c.id = m.contact_id WHERE p.team_id <> c.team_id",
            "SELECT v.id FROM conversations v JOIN contacts c ON c.id = v.contact_id WHERE v.team_id <> c.team_id",
            # P7: a contact in an agent's portfolio talks to that agent.
            "SELECT v.id FROM conversations v JOIN portfolio_members m ON m.contact_id = v.contact_id "
            "JOIN portfolios p ON p.id = m.portfolio_id WHERE p.agent_id IS NOT NULL "
            "AND (v.agent_id IS NULL OR v.agent_id <> p.agent_id OR v.portfolio_id <> p.id)",
            # At most one attention not CLOSED per contact; CLOSED ones have a reason of their kind.
            "SELECT contact_id FROM sales_attentions WHERE status <> 'CLOSED' GROUP BY contact_id HAVING count(*) > 1",
            "SELECT a.id FROM sales_attentions a LEFT JOIN sales_catalog_entries e ON e.id = a.close_reason_id "
            "WHERE a.status = 'CLOSED' AND (e.kind IS NULL OR e.kind <> 'CLOSE_REASON')",
            # A conversation's channel is its contact's, as the conversation keeps it.
            "SELECT v.id FROM conversations v JOIN contact_channels ch ON ch.id = v.channel_id "
            "WHERE ch.contact_id <> v.contact_id OR ch.kind <> v.channel_kind OR ch.normalized <> v.channel_address",
            # Its first reply and last message are its timeline's.
            "SELECT v.id FROM conversations v WHERE v.first_reply_at IS DISTINCT FROM "
            "(SELECT min(sent_at) FROM conversation_messages m WHERE m.conversation_id = v.id AND direction = 'OUT') "
            "OR v.last_message_at IS DISTINCT FROM (SELECT max(sent_at) FROM conversation_messages m "
            "WHERE m.conversation_id = v.id AND direction <> 'NOTE')",
            "SELECT v.id FROM conversations v WHERE status = 'UNASSIGNED' AND EXISTS "
            "(SELECT 1 FROM conversation_messages m WHERE m.conversation_id = v.id AND direction <> 'IN')",
            # Finished with a result that finishes; a result that asks for a comment has one.
            "SELECT g.id FROM gestiones g JOIN typology_results r ON r.id = g.result_id "
            "JOIN campaigns c ON c.id = g.campaign_id WHERE r.typology_id <> c.typology_id "
            "OR (g.status = 'FINISHED') <> r.finishes "
            "OR (r.requires_comment AND NOT EXISTS (SELECT 1 FROM gestion_comments k WHERE k.gestion_id = g.id))",
            "SELECT id FROM gestiones "
            "WHERE (status = 'FINISHED') <> (result_id IS NOT NULL AND finished_at IS NOT NULL) "
            "OR (status = 'IN_PROGRESS') <> (claimed_at IS NOT NULL)",
            "SELECT operator_id FROM gestiones WHERE status = 'IN_PROGRESS' GROUP BY operator_id HAVING count(*) > 1",
        ):
            assert await _rows(engine, sql) == [], sql
        # Every plan passes its typology's fields, as the API would have checked it.
        async with create_sessionmaker(engine)() as session:
            typologies = {t.id: t for t in (await session.scalars(select(Typology))).all()}
            for plan, typology_id in (
                await session.execute(select(Gestion.plan, Campaign.typology_id).join(Campaign))
            ).all():
                assert typologies_service.validate_plan(typologies[typology_id], plan) == plan
        # One audit entry for the whole load, counting the rest too; no event for any inbox.
        (changes,) = (await _rows(engine, "SELECT changes FROM audit_events"))[0]
        changes = json.loads(changes) if isinstance(changes, str) else changes
        assert {k: changes[k]["after"] for k in ("gestiones", "conversations", "salesAttentions")} == {
            "gestiones": 100,
            "conversations": 40,
            "salesAttentions": activity.attentions,
        }
        assert await count("events") == 0
    finally:
        await engine.dispose()


async def test_the_api_shows_the_seeded_work_to_admins_supervisors_and_agents(
    database_url: str, client: GraphQLClient
) -> None:
    engine = create_engine(database_url)
    try:
        await demo.seed(engine, contacts=CONTACTS, seed_value=31)
        ids = dict(await _rows(engine, "SELECT email, id FROM users"))
        token = lambda email: issue_token(secret_key=SECRET, user_id=ids[email], ttl_seconds=600)  # noqa: E731
        now = datetime.now(UTC)
        window = {"from": (now - timedelta(days=120)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}

        admin = await client.data(WORK, window, token("admin@cartera.demo"))
        assert admin["gestiones"]["totalCount"] == 100
        assert admin["conversations"]["totalCount"] == 40
        assert admin["salesAttentions"]["totalCount"] == await _one(engine, "SELECT count(*) FROM sales_attentions")
        assert admin["portfolios"]["totalCount"] == await _one(engine, "SELECT count(*) FROM portfolios")
        assert all(node["campaign"]["name"] and node["contact"]["fullName"] for node in admin["gestiones"]["nodes"])

        # The supervisor of Ventas sees its subtree's attentions.
        ventas = await client.data(SALES, window, token("supervisor.ventas@cartera.demo"))
        assert ventas["salesAttentions"]["totalCount"] == await _one(
            engine,
            "SELECT count(*) FROM sales_attentions a JOIN teams t ON t.id = a.team_id "
            "WHERE t.path LIKE (SELECT path FROM teams WHERE name = 'Ventas') || '%'",
        )
        assert ventas["salesAttentions"]["totalCount"] > 0

        # The agent with the most open conversations: its own and its teams' queue, its gestiones
        # and its campaigns' pool, its portfolios and its team's general one.
        agent_id, email = (
            await _rows(
                engine,
                "SELECT u.id, u.email FROM users u JOIN agent_loads l ON l.user_id = u.id "
                "ORDER BY l.open_conversations DESC, u.id LIMIT 1",
            )
        )[0]
        mine = await client.data(NO_SALES, None, token(email))
        assert mine["conversations"]["totalCount"] == await _one(
            engine,
            f"SELECT count(*) FROM conversations WHERE agent_id = {agent_id} OR (status = 'UNASSIGNED' AND team_id IN "
            f"(SELECT team_id FROM team_members WHERE user_id = {agent_id}))",
        )
        assert mine["gestiones"]["totalCount"] == await _one(
            engine,
            f"SELECT count(*) FROM gestiones WHERE operator_id = {agent_id} OR (operator_id IS NULL AND campaign_id IN "
            f"(SELECT campaign_id FROM campaign_operators WHERE user_id = {agent_id}))",
        )
        assert mine["gestiones"]["totalCount"] > 0
        assert mine["portfolios"]["totalCount"] == 2
        for node in mine["conversations"]["nodes"]:
            assert node["messages"]["totalCount"] >= 1
            assert node["status"] == "UNASSIGNED" or node["agent"]["id"]
        # The sales panel is not an agent's (S2), seeded or not.
        refused = await client.gql(SALES, window, token(email))
        assert refused["data"] is None or refused["data"].get("salesAttentions") is None
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    finally:
        await engine.dispose()


async def test_the_benchmarks_seed_contacts_alone(database_url: str) -> None:
    """bench/common.py seeds with activity=False: each bench adds its own work, measured on contacts only."""
    engine = create_engine(database_url)
    try:
        result = await demo.seed(engine, contacts=50, seed_value=31, activity=False)
        for table in ("portfolios", "campaigns", "gestiones", "conversations", "agent_loads", "sales_attentions"):
            assert await _one(engine, f"SELECT count(*) FROM {table}") == 0, table
        assert await _one(engine, "SELECT count(*) FROM contacts") == 50
        assert result.activity.as_changes()["gestiones"] == 0
    finally:
        await engine.dispose()
