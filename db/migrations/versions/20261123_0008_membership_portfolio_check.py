"""memberships check their portfolio once per statement, not once per row

The foreign key from portfolio_members to portfolios ran its check for every row written:
500 ms of a 700 ms INSERT of 50,000 memberships on PostgreSQL 15 (EXPLAIN ANALYZE, "Trigger
for constraint"), and as much again for each UPDATE that moves 50,000. Triggers now do what it
did, per statement on PostgreSQL (a transition table: one lookup of the few portfolios named,
16 ms for those 50,000 rows) and per row on SQLite, where a row costs little:
  - a membership written names a portfolio that exists; on PostgreSQL it is locked FOR KEY
    SHARE first, as the key did, so a portfolio being deleted is waited for, then seen gone;
  - a portfolio deleted has no memberships left (checked after the DELETE, with a snapshot
    that sees what writers locking it committed before it).
Both fail with the foreign-key violation the key raised.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)
KEY = "fk_portfolio_members_portfolio_id_portfolios"

POSTGRESQL = [
    """
    CREATE FUNCTION portfolio_members_check_portfolio() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        missing bigint;
    BEGIN
        PERFORM 1 FROM portfolios WHERE id IN (SELECT DISTINCT portfolio_id FROM written) FOR KEY SHARE;
        SELECT w.portfolio_id INTO missing FROM written w
        WHERE NOT EXISTS (SELECT 1 FROM portfolios p WHERE p.id = w.portfolio_id) LIMIT 1;
        IF FOUND THEN
            RAISE foreign_key_violation USING
                MESSAGE = format('portfolio %s does not exist', missing),
                TABLE = 'portfolio_members', CONSTRAINT = 'fk_portfolio_members_portfolio_id_portfolios';
        END IF;
        RETURN NULL;
    END $$
    """,
    # Transition tables take one event per trigger: one for INSERT, one for UPDATE.
    """
    CREATE TRIGGER portfolio_members_portfolio_on_insert AFTER INSERT ON portfolio_members
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION portfolio_members_check_portfolio()
    """,
    """
    CREATE TRIGGER portfolio_members_portfolio_on_update AFTER UPDATE ON portfolio_members
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION portfolio_members_check_portfolio()
    """,
    """
    CREATE FUNCTION portfolios_check_no_members() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM portfolio_members m JOIN gone g ON g.id = m.portfolio_id) THEN
            RAISE foreign_key_violation USING
                MESSAGE = 'a deleted portfolio still has members',
                TABLE = 'portfolio_members', CONSTRAINT = 'fk_portfolio_members_portfolio_id_portfolios';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER portfolios_no_members_on_delete AFTER DELETE ON portfolios
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION portfolios_check_no_members()
    """,
]
POSTGRESQL_DOWN = [
    "DROP TRIGGER portfolios_no_members_on_delete ON portfolios",
    "DROP FUNCTION portfolios_check_no_members()",
    "DROP TRIGGER portfolio_members_portfolio_on_update ON portfolio_members",
    "DROP TRIGGER portfolio_members_portfolio_on_insert ON portfolio_members",
    "DROP FUNCTION portfolio_members_check_portfolio()",
]
# SQLite's own message for a broken key, so callers see the same error either way.
SQLITE = [
    """
    CREATE TRIGGER portfolio_members_portfolio_on_insert BEFORE INSERT ON portfolio_members
    WHEN NOT EXISTS (SELECT 1 FROM portfolios WHERE id = NEW.portfolio_id)
    BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END
    """,
    """
    CREATE TRIGGER portfolio_members_portfolio_on_update BEFORE UPDATE OF portfolio_id ON portfolio_members
    WHEN NOT EXISTS (SELECT 1 FROM portfolios WHERE id = NEW.portfolio_id)
    BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END
    """,
    """
    CREATE TRIGGER portfolios_no_members_on_delete BEFORE DELETE ON portfolios
    WHEN EXISTS (SELECT 1 FROM portfolio_members WHERE portfolio_id = OLD.id)
    BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END
    """,
]
SQLITE_DOWN = [
    "DROP TRIGGER portfolios_no_members_on_delete",
    "DROP TRIGGER portfolio_members_portfolio_on_update",
    "DROP TRIGGER portfolio_members_portfolio_on_insert",
]


def upgrade() -> None:
    with op.batch_alter_table("portfolio_members", copy_from=_portfolio_members(with_foreign_key=True)) as batch:
        batch.drop_constraint(KEY, type_="foreignkey")
    for statement in POSTGRESQL if op.get_bind().dialect.name == "postgresql" else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    for statement in POSTGRESQL_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN:
        op.execute(statement)
    with op.batch_alter_table("portfolio_members", copy_from=_portfolio_members(with_foreign_key=False)) as batch:
        batch.create_foreign_key(KEY, "portfolios", ["portfolio_id"], ["id"])


# SQLite rebuilds a table to drop a key; it copies this definition (the table before the change,
# or after it) instead of reflecting the database (see 0007).


def _portfolio_members(*, with_foreign_key: bool) -> sa.Table:
    keys = [sa.ForeignKeyConstraint(["portfolio_id"], ["portfolios.id"], name=KEY)] if with_foreign_key else []
    return sa.Table(
        "portfolio_members",
        sa.MetaData(),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("portfolio_id", BigId, nullable=False),
        sa.Column("assigned_at", Stamp, nullable=False),
        *keys,
        sa.PrimaryKeyConstraint("contact_id", name="pk_portfolio_members"),
        sa.Index("ix_portfolio_members_portfolio_id", "portfolio_id", "contact_id"),
    )
