"""conversations: conversations and their messages, the routing settings, turns and agent loads (A1-A5)

The one routing_settings row is written here (ROUND_ROBIN, no capacity, a day's reopen window);
admins change it through the API.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)
KINDS = "kind IN ('EMAIL', 'PHONE', 'WHATSAPP', 'MESSENGER', 'INSTAGRAM')"
METHODS = "method IN ('ROUND_ROBIN', 'LOAD_BALANCED', 'LAST_RESPONSIBLE', 'DEFAULT_GROUP', 'BY_CHANNEL')"


def _partial(name: str, table: str, columns: list[str], where: str, *, unique: bool = False) -> None:
    op.create_index(name, table, columns, unique=unique, sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def upgrade() -> None:
    settings = op.create_table(
        "routing_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(24), nullable=False),
        sa.Column("default_team_id", BigId, nullable=True),
        sa.Column("intake_team_id", BigId, nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("reopen_window_minutes", sa.Integer(), nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_routing_settings_one_row"),
        sa.CheckConstraint(METHODS, name="ck_routing_settings_method"),
        sa.CheckConstraint("capacity IS NULL OR capacity > 0", name="ck_routing_settings_capacity"),
        sa.CheckConstraint("reopen_window_minutes >= 0", name="ck_routing_settings_reopen_window"),
        sa.ForeignKeyConstraint(
            ["default_team_id"], ["teams.id"], name="fk_routing_settings_default_team_id_teams", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["intake_team_id"], ["teams.id"], name="fk_routing_settings_intake_team_id_teams", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_routing_settings"),
    )
    op.bulk_insert(
        settings,
        [{"id": 1, "method": "ROUND_ROBIN", "reopen_window_minutes": 1440, "updated_at": datetime.now(UTC)}],
    )

    op.create_table(
        "routing_channel_agents",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.CheckConstraint(KINDS, name="ck_routing_channel_agents_kind"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_routing_channel_agents_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("kind", "user_id", name="pk_routing_channel_agents"),
    )

    op.create_table(
        "routing_turns",
        sa.Column("ring", sa.String(64), nullable=False),
        sa.Column("last_user_id", BigId, nullable=True),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("ring", name="pk_routing_turns"),
    )

    op.create_table(
        "agent_loads",
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("open_conversations", sa.Integer(), nullable=False),
        sa.Column("last_assigned_at", Stamp, nullable=True),
        sa.CheckConstraint("open_conversations >= 0", name="ck_agent_loads_open_conversations"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_agent_loads_user_id_users", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name="pk_agent_loads"),
    )

    op.create_table(
        "conversations",
        sa.Column("id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("channel_id", BigId, nullable=True),
        sa.Column("channel_kind", sa.String(16), nullable=False),
        sa.Column("channel_address", sa.String(320), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("agent_id", BigId, nullable=True),
        sa.Column("team_id", BigId, nullable=False),
        sa.Column("portfolio_id", BigId, nullable=True),
        sa.Column("routing", sa.JSON(), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("assigned_at", Stamp, nullable=True),
        sa.Column("first_reply_at", Stamp, nullable=True),
        sa.Column("resolved_at", Stamp, nullable=True),
        sa.Column("last_message_at", Stamp, nullable=True),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.CheckConstraint("status IN ('UNASSIGNED', 'OPEN', 'RESOLVED')", name="ck_conversations_status"),
        sa.CheckConstraint(
            "channel_kind IN ('EMAIL', 'PHONE', 'WHATSAPP', 'MESSENGER', 'INSTAGRAM')", name="ck_conversations_kind"
        ),
        sa.CheckConstraint("status <> 'OPEN' OR agent_id IS NOT NULL", name="ck_conversations_open_has_agent"),
        sa.CheckConstraint("status <> 'UNASSIGNED' OR agent_id IS NULL", name="ck_conversations_unassigned_has_none"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name="fk_conversations_contact_id_contacts"),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["contact_channels.id"],
            name="fk_conversations_channel_id_contact_channels",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["agent_id"], ["users.id"], name="fk_conversations_agent_id_users"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name="fk_conversations_team_id_teams"),
        sa.ForeignKeyConstraint(
            ["portfolio_id"], ["portfolios.id"], name="fk_conversations_portfolio_id_portfolios", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
    )
    _partial(
        "uq_conversations_open_address",
        "conversations",
        ["contact_id", "channel_kind", "channel_address"],
        "status <> 'RESOLVED'",
        unique=True,
    )
    _partial("ix_conversations_queue", "conversations", ["team_id", "created_at", "id"], "status = 'UNASSIGNED'")
    op.create_index("ix_conversations_contact_created", "conversations", ["contact_id", "created_at", "id"])
    op.create_index("ix_conversations_agent_assigned", "conversations", ["agent_id", "assigned_at"])
    op.create_index("ix_conversations_team_created", "conversations", ["team_id", "created_at", "id"])
    op.create_index("ix_conversations_created", "conversations", ["created_at", "id"])
    op.create_index("ix_conversations_portfolio_id", "conversations", ["portfolio_id"])

    op.create_table(
        "conversation_messages",
        sa.Column("id", BigId, nullable=False),
        sa.Column("conversation_id", BigId, nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("author_id", BigId, nullable=True),
        sa.Column("author_name", sa.String(200), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sent_at", Stamp, nullable=False),
        sa.Column("external_id", sa.String(200), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.CheckConstraint("direction IN ('IN', 'OUT', 'NOTE')", name="ck_conversation_messages_direction"),
        sa.CheckConstraint(
            "duration_seconds IS NULL OR duration_seconds >= 0", name="ck_conversation_messages_duration"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_conversation_messages_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name="fk_conversation_messages_author_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_conversation_messages"),
    )
    op.create_index("ix_conversation_messages_timeline", "conversation_messages", ["conversation_id", "sent_at", "id"])
    _partial(
        "uq_conversation_messages_external_id",
        "conversation_messages",
        ["external_id"],
        "external_id IS NOT NULL",
        unique=True,
    )


def downgrade() -> None:
    op.drop_table("conversation_messages")
    op.drop_table("conversations")
    op.drop_table("agent_loads")
    op.drop_table("routing_turns")
    op.drop_table("routing_channel_agents")
    op.drop_table("routing_settings")
