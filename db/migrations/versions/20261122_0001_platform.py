"""platform: users, teams, memberships, supervisors, audit trail

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("parent_id", BigId, nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        # NO ACTION, not RESTRICT: SQLite checks RESTRICT row by row, so one statement
        # deleting or re-pointing a parent together with its children would fail halfway.
        sa.ForeignKeyConstraint(["parent_id"], ["teams.id"], name="fk_teams_parent_id_teams"),
        sa.PrimaryKeyConstraint("id", name="pk_teams"),
    )
    op.create_index("ix_teams_name_id", "teams", ["name", "id"])
    op.create_index("ix_teams_parent_id", "teams", ["parent_id"])
    # text_pattern_ops lets PostgreSQL use the index for the subtree prefix LIKE.
    op.create_index("ix_teams_path", "teams", ["path"], postgresql_ops={"path": "text_pattern_ops"})
    op.create_index(
        "uq_teams_sibling_name",
        "teams",
        [sa.text("coalesce(parent_id, 0)"), sa.text("lower(name)")],
        unique=True,
    )

    op.create_table(
        "users",
        sa.Column("id", BigId, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.CheckConstraint("role IN ('ADMIN', 'SUPERVISOR', 'AGENT')", name="ck_users_role"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
    )
    op.create_index("ix_users_name_id", "users", ["name", "id"])
    op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True)

    for table in ("team_members", "team_supervisors"):
        op.create_table(
            table,
            sa.Column("team_id", BigId, nullable=False),
            sa.Column("user_id", BigId, nullable=False),
            sa.Column("created_at", Stamp, nullable=False),
            sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=f"fk_{table}_team_id_teams", ondelete="CASCADE"),
            sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=f"fk_{table}_user_id_users", ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("team_id", "user_id", name=f"pk_{table}"),
        )
        op.create_index(f"ix_{table}_user_id", table, ["user_id"])

    op.create_table(
        "audit_events",
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
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name="fk_audit_events_actor_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_index("ix_audit_events_actor_id", "audit_events", ["actor_id"])
    op.create_index("ix_audit_events_occurred_at", "audit_events", ["occurred_at"])
    op.create_index("ix_audit_events_resource", "audit_events", ["resource_type", "resource_id", "id"])

    op.create_table(
        "audit_event_teams",
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("team_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["audit_events.id"],
            name="fk_audit_event_teams_event_id_audit_events",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", "team_id", name="pk_audit_event_teams"),
    )
    op.create_index("ix_audit_event_teams_team_id", "audit_event_teams", ["team_id"])


def downgrade() -> None:
    op.drop_table("audit_event_teams")
    op.drop_table("audit_events")
    op.drop_table("team_supervisors")
    op.drop_table("team_members")
    op.drop_table("users")
    op.drop_table("teams")
