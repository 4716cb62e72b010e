"""folded names: every text filter and name order reads a folded column (Folded), on both backends

Users get search_text (name | email) and sort_name, teams sort_name, typologies search_name,
audit events search_text (actor | resource); companies', portfolios' and campaigns' existing
search_name compare bytewise on PostgreSQL too, and their name indexes move onto it. Backfilled
set-based (db.migrations.backfill: each distinct name folded once). On PostgreSQL the columns
are added nullable and made NOT NULL once filled; SQLite adds them NOT NULL with DEFAULT ''
(it cannot drop that default without rebuilding tables that others reference, with foreign
keys on); every writer fills them (db.models.Folded).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.migrations.backfill import fold_columns

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

KEY = sa.String(401).with_variant(sa.String(401, collation="C"), "postgresql")
SHORT_KEY = sa.String(200).with_variant(sa.String(200, collation="C"), "postgresql")
ADDED: list[tuple[str, str, sa.types.TypeEngine[str], tuple[str, ...]]] = [
    ("users", "search_text", sa.Text(), ("name", "email")),
    ("users", "sort_name", KEY, ("name",)),
    ("teams", "sort_name", KEY, ("name",)),
    ("typologies", "search_name", SHORT_KEY, ("name",)),
    ("audit_events", "search_text", sa.Text(), ("actor_name", "resource_name")),
]
# Name indexes on (name, id) that move onto the folded column: (table, old, new or None, columns).
MOVED: list[tuple[str, str, str | None, Sequence[str]]] = [
    ("users", "ix_users_name_id", "ix_users_sort_name_id", ("sort_name", "id")),
    ("teams", "ix_teams_name_id", "ix_teams_sort_name_id", ("sort_name", "id")),
    # Migration 0014 makes ix_companies_search_name unique, which then serves the order too.
    ("companies", "ix_companies_name_id", None, ()),
    ("portfolios", "ix_portfolios_name_id", "ix_portfolios_search_name_id", ("search_name", "id")),
    ("campaigns", "ix_campaigns_name_id", "ix_campaigns_search_name_id", ("search_name", "id")),
]


def upgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    for table, column, type_, sources in ADDED:
        if postgresql:
            op.add_column(table, sa.Column(column, type_, nullable=True))
        else:
            op.add_column(table, sa.Column(column, type_, nullable=False, server_default=""))
        fold_columns(bind, table, column, sources)
        if postgresql:
            op.alter_column(table, column, nullable=False)
    if postgresql:
        # As contacts' keys (0003): a prefix is an index range and the order is the same as on
        # SQLite only where strings compare bytewise. The indexes on these columns are rebuilt.
        for table in ("companies", "portfolios", "campaigns"):
            op.execute(f'ALTER TABLE {table} ALTER COLUMN search_name TYPE varchar(200) COLLATE "C"')
    for table, old, new, columns in MOVED:
        op.drop_index(old, table_name=table)
        if new is not None:
            op.create_index(new, table, list(columns))


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, old, new, _ in MOVED:
        if new is not None:
            op.drop_index(new, table_name=table)
        op.create_index(old, table, ["name", "id"])
    if postgresql:
        for table in ("companies", "portfolios", "campaigns"):
            op.execute(f'ALTER TABLE {table} ALTER COLUMN search_name TYPE varchar(200) COLLATE "default"')
    for table, column, _, _ in reversed(ADDED):
        # Not in batch mode: rebuilding users or teams on SQLite, with foreign keys on, would
        # cascade to their memberships; SQLite drops a column in place since 3.35.
        op.drop_column(table, column)
