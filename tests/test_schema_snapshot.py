"""The committed SDL is the contract other teams snapshot-test against (X4)."""

from pathlib import Path

import pytest

from cartera.cli import main
from resolvers.root import build_schema
from services.settings import Settings

SNAPSHOT = Path(__file__).resolve().parent.parent / "schema" / "schema.graphql"


def test_schema_matches_committed_snapshot() -> None:
    printed = build_schema(Settings(database_url="sqlite+aiosqlite://", secret_key="-" * 32)).as_str()
    assert printed.strip() == SNAPSHOT.read_text().strip(), (
        "The schema drifted from schema/schema.graphql. If the change is deliberate, run "
        "`cartera export-schema > schema/schema.graphql` and note any breaking change in the commit."
    )


def test_export_schema_prints_the_snapshot(capsys: pytest.CaptureFixture[str]) -> None:
    main(["export-schema"])
    out = capsys.readouterr().out
    assert out.strip() == SNAPSHOT.read_text().strip()
