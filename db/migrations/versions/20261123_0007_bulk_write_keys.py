"""bulk writes: no per-row foreign-key check from memberships to contacts, nor from audit rows to users

A 100,000-contact assignment spent more time in these two checks than in writing its rows
(measured on PostgreSQL 15 with 1,000,000 contacts: 2.7 s of a 4.0 s membership INSERT went
to the check on contacts, which share-locks, and so rewrites, every contact row it names;
0.37 s of a 0.97 s insert of 50,000 audit entries to the check on users). What they guarded
cannot happen: contacts and users are archived or deactivated, never deleted, and every row
written names one read from them in the same transaction. The membership's other key, to
portfolios (which are deleted), stays.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("portfolio_members", copy_from=_portfolio_members()) as batch:
        batch.drop_constraint("fk_portfolio_members_contact_id_contacts", type_="foreignkey")
    with op.batch_alter_table("audit_events", copy_from=_audit_events()) as batch:
        batch.drop_constraint("fk_audit_events_actor_id_users", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("audit_events", copy_from=_audit_events(with_foreign_key=False)) as batch:
        batch.create_foreign_key("fk_audit_events_actor_id_users", "users", ["actor_id"], ["id"])
    with op.batch_alter_table("portfolio_members", copy_from=_portfolio_members(with_foreign_key=False)) as batch:
        batch.create_foreign_key(
            "fk_portfolio_members_contact_id_contacts", "contacts", ["contact_id"], ["id"], ondelete="CASCADE"
        )


# SQLite rebuilds a table to drop a key; it copies these definitions (the tables before the
# change, or after it) instead of reflecting the database, which would also reflect the tables
# the keys point to and warn on users' lower(email) index.


def _portfolio_members(*, with_foreign_key: bool = True) -> sa.Table:
    keys = [
        sa.ForeignKeyConstraint(
            ["portfolio_id"], ["portfolios.id"], name="fk_portfolio_members_portfolio_id_portfolios"
        )
    ]
    if with_foreign_key:
        keys.append(
            sa.ForeignKeyConstraint(
                ["contact_id"], ["contacts.id"], name="fk_portfolio_members_contact_id_contacts", ondelete="CASCADE"
            )
        )
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


def _audit_events(*, with_foreign_key: bool = True) -> sa.Table:
    key = sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name="fk_audit_events_actor_id_users")
    keys = [key] if with_foreign_key else []
    return sa.Table(
        "audit_events",
        sa.MetaData(),
        sa.Column("id", BigId, nullable=False),
        sa.Column("occurred_at", Stamp, nullable=False),
        sa.Column("actor_id", BigId, nullable=True),
        sa.Column("actor_name", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("resource_type", sa.String(32), nullable=False),
        sa.Column("resource_id", BigId, nullable=False),
        sa.Column("resource_name", sa.String(400), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("batch_id", BigId, nullable=True),
        *keys,
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
        sa.Index("ix_audit_events_occurred_at", "occurred_at"),
        sa.Index("ix_audit_events_resource", "resource_type", "resource_id", "id"),
        sa.Index("ix_audit_events_batch_id", "batch_id", "id"),
    )
