"""Who wrote (A1): the one lookup intake decides on, and filing a sender nobody knows yet.

The lookup reads, in one statement, the routing settings, a message already received with
the externalId, the contact on the address, its portfolio, and its conversations there. A
sender nobody knows becomes a contact of the intake team, its row, channel and CREATED audit
row as createContact writes them (services.contacts.insert_prepared on SQLite, one statement on
PostgreSQL); two first messages of one sender at once meet at an advisory lock on its address,
the second finds the first's contact (SQLite has one writer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import BindParameter, Integer, Select, and_, bindparam, func, literal, select, true
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.base import utcnow
from db.models import (
    ChannelKind,
    Contact,
    ContactChannel,
    ConversationStatus,
    Portfolio,
    PortfolioMember,
    Role,
    RoutingSettings,
    Team,
    User,
)
from services import audit, contacts, intake_writes
from services.audit import AuditAction, ResourceType
from services.common import clean_name
from services.errors import ErrorCode, fail
from services.principal import Principal
from services.routing_settings import SETTINGS_ID

# The advisory locks of senders' addresses: (this class, hashtext("KIND:address")). Two-key
# locks never meet the events' one-key lock (services.events).
_ADDRESS_LOCKS = 4_237


@dataclass(frozen=True)
class Checked:
    """An incoming message, validated (services.intake.check)."""

    kind: ChannelKind
    value: str  # as the integrator sent it, which a new contact's channel keeps
    address: str
    text: str
    external_id: str
    sent_at: datetime
    first_names: str
    last_names: str
    duration_seconds: int | None


def split_name(name: str | None, address: str) -> tuple[str, str]:
    """A sender's display name as (first names, last names): its first word, then the rest. With
    no name, the address stands for it until someone edits the contact."""
    if name is None or not name.strip():
        return address, ""
    cleaned = clean_name(name, "contactName")
    first, _, last = cleaned.partition(" ")
    return first, last


# --- the lookup -----------------------------------------------------------------------------------

_K: BindParameter[str] = bindparam("kind")
_A: BindParameter[str] = bindparam("address")
_X: BindParameter[str] = bindparam("external_id")
_CONVERSATION = intake_writes.CONVERSATIONS


def _lookup() -> Select[Any]:
    """Everything intake decides on, in one statement: the settings, a message already received
    with this externalId, the contact on this address (the oldest one not archived, where
    several share it), its portfolio and owner, its conversation there not RESOLVED, and its
    last RESOLVED one."""
    sender = (
        select(
            ContactChannel.contact_id,
            ContactChannel.id.label("channel_id"),
            Contact.team_id,
            Contact.first_names,
            Contact.last_names,
        )
        .join(Contact, Contact.id == ContactChannel.contact_id)
        .where(ContactChannel.kind == _K, ContactChannel.normalized == _A)
        .order_by(Contact.archived_at.is_not(None), ContactChannel.contact_id)
        .limit(1)
        .subquery("sender")
    )
    c = _CONVERSATION.c
    on_address = and_(c.contact_id == sender.c.contact_id, c.channel_kind == _K, c.channel_address == _A)
    current = _CONVERSATION.alias("current")
    resolved = _CONVERSATION.alias("resolved")
    last_resolved = (
        select(c.id)
        .where(on_address, c.status == ConversationStatus.RESOLVED.value)
        .order_by(c.resolved_at.desc(), c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    owner = User.__table__.alias("owner")
    root_team = select(Team.id).where(Team.parent_id.is_(None)).order_by(Team.id).limit(1).scalar_subquery()
    known = intake_writes.MESSAGES.alias("known")
    return (
        select(
            RoutingSettings.method,
            RoutingSettings.default_team_id,
            RoutingSettings.intake_team_id,
            RoutingSettings.capacity,
            RoutingSettings.reopen_window_minutes,
            root_team.label("root_team_id"),
            known.c.id.label("known_id"),
            sender.c.contact_id,
            sender.c.channel_id,
            sender.c.team_id,
            sender.c.first_names,
            sender.c.last_names,
            Portfolio.id.label("portfolio_id"),
            Portfolio.active.label("portfolio_active"),
            Portfolio.team_id.label("portfolio_team_id"),
            Portfolio.agent_id.label("portfolio_agent_id"),
            owner.c.name.label("owner_name"),
            and_(owner.c.is_active, owner.c.role == Role.AGENT.value).label("owner_usable"),
            current.c.id.label("current_id"),
            resolved.c.id.label("resolved_id"),
            resolved.c.resolved_at.label("resolved_at"),
            resolved.c.agent_id.label("resolved_agent_id"),
            resolved.c.team_id.label("resolved_team_id"),
        )
        .select_from(RoutingSettings)
        .outerjoin(known, known.c.external_id == _X)
        .outerjoin(sender, true())
        .outerjoin(PortfolioMember, PortfolioMember.contact_id == sender.c.contact_id)
        .outerjoin(Portfolio, Portfolio.id == PortfolioMember.portfolio_id)
        .outerjoin(owner, owner.c.id == Portfolio.agent_id)
        .outerjoin(
            current,
            and_(
                current.c.contact_id == sender.c.contact_id,
                current.c.channel_kind == _K,
                current.c.channel_address == _A,
                current.c.status != ConversationStatus.RESOLVED.value,
            ),
        )
        .outerjoin(resolved, resolved.c.id == last_resolved)
        .where(RoutingSettings.id == SETTINGS_ID)
    )


_LOOKUP = _lookup()
_ADDRESS_LOCK = select(func.pg_advisory_xact_lock(literal(_ADDRESS_LOCKS, Integer), func.hashtext(bindparam("key"))))


async def look_up(conn: AsyncConnection, checked: Checked) -> Any:
    params = {"kind": checked.kind.value, "address": checked.address, "external_id": checked.external_id}
    return (await conn.execute(_LOOKUP, params)).one()


async def file_new(session: AsyncSession, conn: AsyncConnection, actor: Principal, checked: Checked, found: Any) -> Any:
    """File an unknown sender as a contact of the intake team, audited as createContact audits
    one, unless a concurrent intake of the same sender did first: then the lookup again, with it."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        await conn.execute(_ADDRESS_LOCK, {"key": f"{checked.kind.value}:{checked.address}"})
        found = await look_up(conn, checked)
        if found.contact_id is not None or found.known_id is not None:
            return found
    team_id = found.intake_team_id or found.root_team_id
    if team_id is None:
        raise fail(ErrorCode.CONFLICT, "There is no team to file a new contact in: create one first", "channel")
    now = utcnow()
    first, last = checked.first_names, checked.last_names
    contact = {
        "first_names": first,
        "last_names": last,
        "is_vip": False,
        "document_type_id": None,
        "document_number": None,
        "company_id": None,
        "team_id": team_id,
        "custom_fields": {},
    }
    channel = {"kind": checked.kind.value, "value": checked.value, "normalized": checked.address}
    if postgres:
        contact_id, channel_id = await _insert_contact(conn, actor, contact, channel, now)
    else:
        prepared = contacts.Prepared(contact=contact, channels=[channel], addresses=[])
        (contact_id,) = await contacts.insert_prepared(session, actor, [prepared])
        params = {"contact_id": contact_id, "kind": checked.kind.value, "address": checked.address}
        channel_id = (await conn.execute(_CHANNEL_OF, params)).scalar_one()
    # What the lookup would now read, without reading it: a new contact has nothing else yet.
    return SimpleNamespace(
        **{
            **found._mapping,
            "contact_id": contact_id,
            "channel_id": channel_id,
            "team_id": team_id,
            "first_names": first,
            "last_names": last,
        }
    )


async def _insert_contact(
    conn: AsyncConnection, actor: Principal, contact: dict[str, Any], channel: dict[str, Any], now: datetime
) -> tuple[int, int]:
    """The contact row, channel and CREATED audit row contacts.insert_prepared writes, in one
    statement (PostgreSQL; the same columns and the same audit shape)."""
    first, last = contact["first_names"], contact["last_names"]
    columns = {
        **contact,
        "search_name": contacts.search_name(first, last),
        "sort_name": contacts.sort_name(first, last),
        "search_text": contacts.search_text(
            first_names=first,
            last_names=last,
            document=None,
            company=None,
            channels=[(channel["kind"], channel["normalized"])],
        ),
        "created_at": now,
        "updated_at": now,
    }
    created = {
        **contacts.snapshot(Contact(**contact)),
        "channels": [contacts.audited_channel(channel["kind"], channel["normalized"])],
        "addresses": [],
    }
    event = audit.event_row(
        actor=actor,
        action=AuditAction.CREATED,
        resource_type=ResourceType.CONTACT,
        resource_name=f"{first} {last}",
        changed=audit.changes({}, created),
    )
    params = {
        **{f"k_{k}": v for k, v in columns.items()},
        **{f"ch_{k}": v for k, v in {**channel, "created_at": now}.items()},
        **intake_writes.audit_params(event, contact["team_id"], "ka_"),
    }
    return await intake_writes.insert_contact(conn, params)


_CHANNEL_OF = select(ContactChannel.id).where(
    ContactChannel.contact_id == bindparam("contact_id"), ContactChannel.kind == _K, ContactChannel.normalized == _A
)
