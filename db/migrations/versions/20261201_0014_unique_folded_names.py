"""one of each: e-mail channels by lower-cased address, company names, portfolio names per owner,
team names per parent, all compared folded (C1, C3, P1, R2), kept by unique indexes

Existing duplicates are resolved, not refused, so that a database that has them can upgrade:
  - a contact's e-mail channels that differ only in case: the oldest stays, the others are
    deleted (they reached the same mailbox), and every e-mail's normalized value is lower-cased
    (services.validation.normalise_channel);
  - companies named alike but for accents and case, portfolios of one owner, and sibling teams:
    the oldest keeps its name, each other one is renamed "<name> (<id>)", which an admin can
    change; a renamed company's contacts' search text follows.
Nothing of this is written to the audit trail. Each rename is a few rows; the e-mails are
lower-cased set-based (db.migrations.backfill).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.migrations.backfill import MAPPED, mapped
from db.search import fold

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

EMAILS = "SELECT normalized AS v FROM contact_channels WHERE kind = 'EMAIL'"
# The same (folded) name as an older row: (table, folded column, the rest of the key).
DUPLICATE_NAMES = [
    ("companies", "search_name", "TRUE"),
    ("portfolios", "search_name", "b.team_id = a.team_id"),
    ("portfolios", "search_name", "a.team_id IS NULL AND b.team_id IS NULL AND b.agent_id = a.agent_id"),
    ("teams", "sort_name", "coalesce(b.parent_id, 0) = coalesce(a.parent_id, 0)"),
]
NAME_LENGTH = 200


def _lower_emails(bind: sa.Connection) -> None:
    def lowered(value: str) -> str | None:
        return value.lower() if value.lower() != value else None

    with mapped(bind, EMAILS, lowered) as count:
        if not count:
            return
        # An address is the same channel as an older one of its contact once both are lower-cased.
        key = f"coalesce((SELECT m.result FROM {MAPPED} AS m WHERE m.value = {{t}}.normalized), {{t}}.normalized)"
        op.execute(
            f"""
            DELETE FROM contact_channels WHERE id IN (
                SELECT a.id FROM contact_channels AS a
                WHERE a.kind = 'EMAIL'
                  AND a.contact_id IN (
                      SELECT c.contact_id FROM contact_channels AS c JOIN {MAPPED} AS m ON m.value = c.normalized
                      WHERE c.kind = 'EMAIL'
                  )
                  AND EXISTS (
                      SELECT 1 FROM contact_channels AS b
                      WHERE b.contact_id = a.contact_id AND b.kind = 'EMAIL' AND b.id < a.id
                        AND {key.format(t="b")} = {key.format(t="a")}
                  )
            )
            """
        )
        op.execute(
            f"UPDATE contact_channels SET normalized = m.result FROM {MAPPED} AS m"
            " WHERE contact_channels.kind = 'EMAIL' AND contact_channels.normalized = m.value"
        )


def _rename_duplicates(bind: sa.Connection, table: str, folded: str, same_owner: str) -> None:
    found = bind.execute(
        sa.text(
            f"SELECT a.id, a.name, a.{folded} FROM {table} AS a WHERE EXISTS ("
            f"SELECT 1 FROM {table} AS b WHERE b.{folded} = a.{folded} AND b.id < a.id AND {same_owner})"
        )
    ).all()
    renamed = []
    for row_id, name, old_key in found:
        suffix = f" ({row_id})"
        new_name = f"{name[: NAME_LENGTH - len(suffix)].rstrip()}{suffix}"
        renamed.append({"id": row_id, "name": new_name, "key": fold(new_name), "old": old_key})
    if not renamed:
        return
    bind.execute(sa.text(f"UPDATE {table} SET name = :name, {folded} = :key WHERE id = :id"), renamed)
    if table == "companies":
        # The company section of its contacts' search text (services.contacts.search_text).
        bind.execute(
            sa.text(
                "UPDATE contacts SET search_text = replace(search_text, ' | ' || :old || ' | ', ' | ' || :key || ' | ')"
                " WHERE company_id = :id"
            ),
            renamed,
        )


def upgrade() -> None:
    bind = op.get_bind()
    _lower_emails(bind)
    for table, folded, same_owner in DUPLICATE_NAMES:
        _rename_duplicates(bind, table, folded, same_owner)
    op.drop_index("ix_companies_search_name", table_name="companies")
    op.create_index("uq_companies_search_name", "companies", ["search_name"], unique=True)
    for name, owner, where in (
        ("uq_portfolios_team_name", "team_id", "team_id IS NOT NULL"),
        ("uq_portfolios_agent_name", "agent_id", "team_id IS NULL"),
    ):
        op.create_index(
            name,
            "portfolios",
            [owner, "search_name"],
            unique=True,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )
    op.drop_index("uq_teams_sibling_name", table_name="teams")
    op.create_index(
        "uq_teams_sibling_name", "teams", [sa.text("coalesce(parent_id, 0)"), sa.text("sort_name")], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_teams_sibling_name", table_name="teams")
    op.create_index(
        "uq_teams_sibling_name", "teams", [sa.text("coalesce(parent_id, 0)"), sa.text("lower(name)")], unique=True
    )
    op.drop_index("uq_portfolios_agent_name", table_name="portfolios")
    op.drop_index("uq_portfolios_team_name", table_name="portfolios")
    op.drop_index("uq_companies_search_name", table_name="companies")
    op.create_index("ix_companies_search_name", "companies", ["search_name"])
