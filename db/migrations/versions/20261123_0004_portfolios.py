"""portfolios: portfolios, exclusive membership, audit entries grouped by their bulk call

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "portfolios",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("search_name", sa.String(200), nullable=False),
        sa.Column("team_id", BigId, nullable=True),
        sa.Column("agent_id", BigId, nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.CheckConstraint("team_id IS NOT NULL OR agent_id IS NOT NULL", name="ck_portfolios_owner"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name="fk_portfolios_team_id_teams"),
        sa.ForeignKeyConstraint(["agent_id"], ["users.id"], name="fk_portfolios_agent_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_portfolios"),
    )
    op.create_index("ix_portfolios_name_id", "portfolios", ["name", "id"])
    op.create_index("ix_portfolios_team_id", "portfolios", ["team_id"])
    op.create_index("ix_portfolios_agent_id", "portfolios", ["agent_id"])

    op.create_table(
        "portfolio_members",
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("portfolio_id", BigId, nullable=False),
        sa.Column("assigned_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_portfolio_members_contact_id_contacts", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["portfolio_id"], ["portfolios.id"], name="fk_portfolio_members_portfolio_id_portfolios"
        ),
        # The contact alone is the key: the database keeps a contact in one portfolio at most (P4).
        sa.PrimaryKeyConstraint("contact_id", name="pk_portfolio_members"),
    )
    op.create_index("ix_portfolio_members_portfolio_id", "portfolio_members", ["portfolio_id", "contact_id"])

    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("batch_id", BigId, nullable=True))
    op.create_index("ix_audit_events_batch_id", "audit_events", ["batch_id", "id"])
    # Bulk calls write an entry per contact: indexes no query uses only slow them down.
    op.drop_index("ix_audit_events_action", table_name="audit_events")
    op.drop_index("ix_audit_events_actor_id", table_name="audit_events")
    # Events are never deleted; checking each of a bulk call's links against entries written in
    # the same transaction ran as a scan per row (the planner's statistics predate them).
    with op.batch_alter_table("audit_event_teams", copy_from=_audit_event_teams()) as batch:
        batch.drop_constraint("fk_audit_event_teams_event_id_audit_events", type_="foreignkey")


def _audit_event_teams(*, with_foreign_key: bool = True) -> sa.Table:
    """The table before this change (or after, without the key): SQLite's rebuild copies this instead
    of reflecting the database, which walks the foreign keys to users and warns on lower(email)."""
    key = sa.ForeignKeyConstraint(
        ["event_id"], ["audit_events.id"], name="fk_audit_event_teams_event_id_audit_events", ondelete="CASCADE"
    )
    return sa.Table(
        "audit_event_teams",
        sa.MetaData(),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("team_id", BigId, nullable=False),
        *([key] if with_foreign_key else []),
        sa.PrimaryKeyConstraint("event_id", "team_id", name="pk_audit_event_teams"),
        sa.Index("ix_audit_event_teams_team_id", "team_id"),
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_event_teams", copy_from=_audit_event_teams(with_foreign_key=False)) as batch:
        batch.create_foreign_key(
            "fk_audit_event_teams_event_id_audit_events", "audit_events", ["event_id"], ["id"], ondelete="CASCADE"
        )
    op.create_index("ix_audit_events_actor_id", "audit_events", ["actor_id"])
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.drop_index("ix_audit_events_batch_id", table_name="audit_events")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("batch_id")
    op.drop_table("portfolio_members")
    op.drop_table("portfolios")
