"""`cartera seed-demo`: a usable demo base whose search columns match what the service writes."""

import asyncio
import sqlite3
from pathlib import Path

from db.engine import create_engine, create_sessionmaker
from db.models import CheckDigit
from services.auth import authenticate
from services.contacts import search_name, search_text, sort_name
from services.validation import check_document
from tests.test_cli import run


def test_seed_demo_fills_an_empty_database_once(tmp_path: Path) -> None:
    result = run(tmp_path, "seed-demo", "--contacts", "300")
    assert result.returncode == 0, result.stderr
    assert "300/300 contacts" in result.stderr
    assert "the password of all of them is demo-cartera-2026" in result.stdout
    assert "admin@cartera.demo" in result.stdout

    db = sqlite3.connect(tmp_path / "cartera.db")
    count = lambda table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: E731
    assert count("contacts") == 300
    assert count("companies") == 7
    assert count("contact_channels") >= 300
    assert count("users") >= 10
    rows = db.execute(
        "SELECT c.id, c.first_names, c.last_names, c.document_number, d.code, d.format_regex, d.check_digit, "
        "co.name, c.search_text, c.search_name, c.sort_name "
        "FROM contacts c JOIN document_types d ON d.id = c.document_type_id "
        "LEFT JOIN companies co ON co.id = c.company_id"
    ).fetchall()
    for contact_id, first, last, number, code, regex, rule, company, text, name, sort in rows:
        channels = db.execute(
            "SELECT kind, normalized FROM contact_channels WHERE contact_id = ? ORDER BY id", (contact_id,)
        ).fetchall()
        expected = search_text(first_names=first, last_names=last, document=number, company=company, channels=channels)
        assert text == expected
        assert name == search_name(first, last)
        assert sort == sort_name(first, last)
        check_document(number, type_code=code, regex=regex, rule=CheckDigit(rule), field="document")
    (batch,) = db.execute("SELECT action, resource_type FROM audit_events").fetchall()
    assert batch == ("BULK_CREATED", "BATCH")

    again = run(tmp_path, "seed-demo", "--contacts", "10")
    assert again.returncode == 2
    assert "already has contacts" in again.stderr


def test_demo_credentials_sign_in(tmp_path: Path) -> None:
    assert run(tmp_path, "seed-demo", "--contacts", "20").returncode == 0
    token = run(tmp_path, "token", "admin@cartera.demo")
    assert token.returncode == 0

    async def sign_in() -> int:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'cartera.db'}")
        async with create_sessionmaker(engine)() as session:
            user = await authenticate(session, email="agente1@cartera.demo", password="demo-cartera-2026")
        await engine.dispose()
        return user.id

    assert asyncio.run(sign_in()) > 0
