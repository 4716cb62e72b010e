"""events and presence: the event log behind live pushes, presence and live connections

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", BigId, nullable=False),
        sa.Column("occurred_at", Stamp, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("user_ids", sa.JSON(), nullable=False),
        sa.Column("team_ids", sa.JSON(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("published_at", Stamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        # SQLite would otherwise reuse the ids of pruned events.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_occurred_at", "events", ["occurred_at"])
    op.create_index(
        "ix_events_unpublished",
        "events",
        ["id"],
        sqlite_where=sa.text("published_at IS NULL"),
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "event_log_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pruned_through", BigId, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_event_log_state"),
    )
    op.execute("INSERT INTO event_log_state (id, pruned_through) VALUES (1, 0)")

    op.create_table(
        "presences",
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("changed_at", Stamp, nullable=False),
        sa.Column("offline_due_at", Stamp, nullable=True),
        sa.CheckConstraint("status IN ('ONLINE', 'AWAY', 'OFFLINE')", name="ck_presences_status"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_presences_user_id_users", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name="pk_presences"),
    )
    op.create_table(
        "live_connections",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("process_id", sa.String(36), nullable=False),
        sa.Column("opened_at", Stamp, nullable=False),
        sa.Column("heartbeat_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_live_connections_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_live_connections"),
    )
    op.create_index("ix_live_connections_user_id", "live_connections", ["user_id"])
    op.create_index("ix_live_connections_process_id", "live_connections", ["process_id"])


def downgrade() -> None:
    op.drop_table("live_connections")
    op.drop_table("presences")
    op.drop_table("event_log_state")
    op.drop_table("events")
