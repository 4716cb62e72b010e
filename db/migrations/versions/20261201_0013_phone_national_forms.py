"""contact search: each phone also by the digits of its national dialling form (C5)

Appends, after the channels of each contact's search_text, the national form's digits of each
of its phones where they are not inside the E.164 digits already (db.search.national_phone_digits):
"011 15 4555 1234", "15 4555 1234" and "(011) 4555-1234" then find the numbers they dial, as
services.contacts.search_text writes them from now on. Each distinct number is formatted once
(phonenumbers), and one UPDATE appends them (db.migrations.backfill).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from db.migrations.backfill import MAPPED, mapped
from db.search import national_phone_digits

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

PHONE_CHANNELS = "SELECT * FROM contact_channels WHERE kind IN ('PHONE', 'WHATSAPP')"
PHONES = f"SELECT normalized AS v FROM ({PHONE_CHANNELS}) AS c"


def upgrade() -> None:
    bind = op.get_bind()
    joined = (
        "string_agg(m.result, ' ' ORDER BY c.id)"
        if bind.dialect.name == "postgresql"
        else "group_concat(m.result, ' ')"
    )
    with mapped(bind, PHONES, national_phone_digits) as count:
        if not count:
            return
        op.execute(
            f"""
            UPDATE contacts SET search_text = search_text || ' ' || forms.digits
            FROM (
                SELECT c.contact_id, {joined} AS digits
                FROM ({PHONE_CHANNELS} ORDER BY contact_id, id) AS c
                JOIN {MAPPED} AS m ON m.value = c.normalized
                GROUP BY c.contact_id
            ) AS forms
            WHERE contacts.id = forms.contact_id
            """
        )


def downgrade() -> None:
    # The appended digits only make more searches find their number; the code before this
    # revision reads search_text the same way, and rewrites a contact's on its next change.
    pass
