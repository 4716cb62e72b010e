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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from db.engine import create_engine, create_sessionmaker
from db.models import ChannelKind, CheckDigit, Role
from services import demo, validation
from services.auth import authenticate
from services.contacts import search_name, search_text, sort_name
from tests.conftest import POSTGRES_URL, SECRET, drop_postgres_database, fresh_postgres_database
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
