"""What intake writes for one message, as statements built once with bound parameters.

PostgreSQL writes each message in one statement: the conversation (inserted, appended to or
reopened), its message, the ring's turn, the agent's load and the audit row, as CTEs of one
INSERT … RETURNING; a new sender's contact, channel and audit row in another. The turn's lock
is held from the router's read until COMMIT, so every round trip saved there is one the next
conversation of the ring does not wait for. SQLite (one writer, no data-modifying CTEs) runs
the same parts one statement each.

Parameter names: `c_<column>` the conversation's, `m_<column>` the message's, `a_<column>` the
audit row's, and those of routing_rings.advance_params (the turn) and agent_loads.gain (the load).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from sqlalchemy import Insert, Select, Table, bindparam, case, insert, null, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import AuditEvent, Contact, ContactChannel, Conversation, ConversationMessage, ConversationStatus
from services import agent_loads, routing_rings
from services.errors import ConcurrentChange

CONVERSATIONS = cast(Table, Conversation.__table__)
MESSAGES = cast(Table, ConversationMessage.__table__)
_AUDIT = cast(Table, AuditEvent.__table__)
_CONTACTS = cast(Table, Contact.__table__)
_CHANNELS = cast(Table, ContactChannel.__table__)

# Every column but the id, which the sequence gives.
CONVERSATION_COLUMNS = [c.name for c in CONVERSATIONS.c if c.name != "id"]
MESSAGE_COLUMNS = [c.name for c in MESSAGES.c if c.name not in ("id", "conversation_id")]
AUDIT_COLUMNS = [
    "occurred_at",
    "actor_id",
    "actor_name",
    "action",
    "resource_type",
    "request_id",
    "resource_name",
    "changes",
    "search_text",
    "team_id",
]
CONTACT_COLUMNS = [c.name for c in _CONTACTS.c if c.name not in ("id", "archived_at")]
CHANNEL_COLUMNS = ["kind", "value", "normalized", "created_at"]
_RESOLVED = ConversationStatus.RESOLVED.value


class Change(enum.StrEnum):
    OPEN = "OPEN"  # a new conversation
    APPEND = "APPEND"  # a message more on one not RESOLVED
    REOPEN = "REOPEN"  # a RESOLVED one, routed again


@dataclass(frozen=True)
class Written:
    conversation: Conversation
    message: ConversationMessage
    # The agent's new open count (agent_loads.gain), when the write counted one.
    load: int | None


def _binds(table: Table, columns: list[str], prefix: str) -> dict[str, Any]:
    return {name: bindparam(f"{prefix}{name}", type_=table.c[name].type) for name in columns}


@cache
def _conversation(change: Change) -> Any:
    """The conversation's own statement, RETURNING the whole row; an UPDATE finds nothing when
    the conversation changed status meanwhile (the caller's ConcurrentChange)."""
    c = CONVERSATIONS.c
    if change is Change.OPEN:
        return insert(CONVERSATIONS).values(_binds(CONVERSATIONS, CONVERSATION_COLUMNS, "c_")).returning(*c)
    if change is Change.APPEND:
        sent = bindparam("c_last_message_at", type_=c.last_message_at.type)
        later = case((c.last_message_at.is_(None) | (c.last_message_at < sent), sent), else_=c.last_message_at)
        return (
            update(CONVERSATIONS)
            .where(c.id == bindparam("c_id"), c.status != _RESOLVED)
            .values(last_message_at=later, updated_at=bindparam("c_updated_at", type_=c.updated_at.type))
            .returning(*c)
        )
    routed = ["status", "agent_id", "team_id", "portfolio_id", "routing", "assigned_at"]
    routed += ["last_message_at", "updated_at"]
    return (
        update(CONVERSATIONS)
        .where(c.id == bindparam("c_id"), c.status == _RESOLVED)
        .values(resolved_at=None, **_binds(CONVERSATIONS, routed, "c_"))
        .returning(*c)
    )


def _audit_from(source: Any, prefix: str) -> Insert:
    """The audit row of what `source` (a CTE) inserted: its id is the event's resource id."""
    binds = _binds(_AUDIT, AUDIT_COLUMNS, prefix)
    return insert(_AUDIT).from_select([*AUDIT_COLUMNS, "resource_id"], select(*binds.values(), source.c.id))


@cache
def _combined(change: Change, *, turn: bool, load: bool, capped: bool, audit: bool) -> Select[Any]:
    """PostgreSQL: every part of one message's write as one statement."""
    c = _conversation(change).cte("c")
    message_binds = _binds(MESSAGES, MESSAGE_COLUMNS, "m_")
    m = (
        insert(MESSAGES)
        .from_select(["conversation_id", *MESSAGE_COLUMNS], select(c.c.id, *message_binds.values()))
        .returning(*MESSAGES.c)
        .cte("m")
    )
    counted = agent_loads.gain("postgresql", capped=capped).cte("l") if load else None
    load_column = select(counted.c.open_conversations).scalar_subquery() if counted is not None else null()
    stmt = (
        select(
            *(c.c[k.name].label(f"c_{k.name}") for k in CONVERSATIONS.c),
            *(m.c[k.name].label(f"m_{k.name}") for k in MESSAGES.c),
            load_column.label("load"),
        )
        .select_from(c)
        .join(m, true())
    )
    # Data-modifying CTEs nothing reads run all the same, once each (PostgreSQL).
    if turn:
        stmt = stmt.add_cte(routing_rings.advance_statement().cte("t"))
    if audit:
        stmt = stmt.add_cte(_audit_from(c, "a_").cte("a"))
    return stmt


async def write(
    conn: AsyncConnection, change: Change, params: dict[str, Any], *, turn: bool, load: bool, capped: bool, audit: bool
) -> Written:
    """Write one message's parts (params: every part's values, by the names above)."""
    if conn.dialect.name == "postgresql":
        row = (await conn.execute(_combined(change, turn=turn, load=load, capped=capped, audit=audit), params)).first()
        if row is None:
            raise ConcurrentChange("the conversation changed meanwhile")
        conversation = Conversation(**{k.name: getattr(row, f"c_{k.name}") for k in CONVERSATIONS.c})
        message = ConversationMessage(**{k.name: getattr(row, f"m_{k.name}") for k in MESSAGES.c})
        return Written(conversation, message, row.load)
    if turn:
        await conn.execute(routing_rings.advance_statement(), params)
    found = (await conn.execute(_conversation(change), params)).first()
    if found is None:
        raise ConcurrentChange("the conversation changed meanwhile")
    conversation = Conversation(**dict(found._mapping))
    values = {"conversation_id": conversation.id, **{k: params[f"m_{k}"] for k in MESSAGE_COLUMNS}}
    message = ConversationMessage(**dict((await conn.execute(_message_insert(), values)).one()._mapping))
    count = (await conn.execute(agent_loads.gain("sqlite", capped=capped), params)).scalar() if load else None
    if audit:
        await conn.execute(_audit_insert(), {**params, "resource_id": conversation.id})
    return Written(conversation, message, count)


@cache
def _message_insert() -> Insert:
    return insert(MESSAGES).returning(*MESSAGES.c)


@cache
def _audit_insert() -> Insert:
    return insert(_AUDIT).values(resource_id=bindparam("resource_id"), **_binds(_AUDIT, AUDIT_COLUMNS, "a_"))


def audit_params(row: dict[str, Any], team_id: int | None, prefix: str = "a_") -> dict[str, Any]:
    """services.audit.event_row's columns (and the team) as this module's parameters."""
    return {f"{prefix}{k}": v for k, v in {**row, "team_id": team_id}.items()}


@cache
def _contact_statement() -> Select[Any]:
    """PostgreSQL: a new sender's contact, its channel and its audit row, in one statement."""
    k = insert(_CONTACTS).values(_binds(_CONTACTS, CONTACT_COLUMNS, "k_")).returning(_CONTACTS.c.id).cte("k")
    channel = _binds(_CHANNELS, CHANNEL_COLUMNS, "ch_")
    ch = (
        insert(_CHANNELS)
        .from_select(["contact_id", *CHANNEL_COLUMNS], select(k.c.id, *channel.values()))
        .returning(_CHANNELS.c.id)
        .cte("ch")
    )
    stmt = select(k.c.id.label("contact_id"), ch.c.id.label("channel_id")).select_from(k).join(ch, true())
    return stmt.add_cte(_audit_from(k, "ka_").cte("ka"))


async def insert_contact(conn: AsyncConnection, params: dict[str, Any]) -> tuple[int, int]:
    """PostgreSQL only: the contact's and its channel's ids (params k_*, ch_*, ka_*)."""
    row = (await conn.execute(_contact_statement(), params)).one()
    return int(row.contact_id), int(row.channel_id)
