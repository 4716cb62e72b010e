"""The sales panel's one query (S2, S3): which commercial attentions a filter selects for a viewer.

`matching` is the definition every reader of the panel uses: the page (services.sales_attentions),
the bulk close and transfer "on everything matching the current filters" (S5), and the export
(S5), which runs this very statement with the view's columns added. Nothing else writes a
WHERE clause over sales_attentions.

A filter as a saved view keeps it (S4) is `SalesFilter.to_stored()`; a period stays a preset, so
"last 7 days" in a view is always the last seven days. An export or a bulk call by filter fixes
`now` when it is asked, so a job run later selects what the requester saw.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import scopes
from db.models import (
    Contact,
    Role,
    SalesAttention,
    SalesAttentionStatus,
    SalesCatalogEntry,
    SalesCatalogKind,
    Team,
    TeamMember,
    User,
)
from db.search import bounded, search_terms, storable
from db.sets import in_ids, json_member_text
from services.audit import Period
from services.errors import ErrorCode, fail, forbidden, not_found
from services.monitoring import Window, window
from services.principal import Principal

# Filters one view may hold at once (S4): a 13th is refused.
MAX_FILTERS = 12
# Contact custom fields (C7) a filter or a view's columns name are "customField:<key>".
CUSTOM_FIELD_PREFIX = "customField:"


class Column(enum.StrEnum):
    """What a view shows (S4) and an export writes, in the view's order."""

    FULL_NAME = "FULL_NAME"
    PHONE = "PHONE"
    EMAIL = "EMAIL"
    INTEREST = "INTEREST"
    ORIGIN = "ORIGIN"
    AGENT = "AGENT"
    GROUP = "GROUP"
    STATUS = "STATUS"
    CLOSE_REASON = "CLOSE_REASON"
    PENDING_SINCE = "PENDING_SINCE"
    CREATED_AT = "CREATED_AT"
    CLOSED_AT = "CLOSED_AT"
    UPDATED_AT = "UPDATED_AT"
    COMPANY = "COMPANY"
    DOCUMENT_NUMBER = "DOCUMENT_NUMBER"
    VIP = "VIP"


# The seed's default set, in its order.
DEFAULT_COLUMNS: tuple[Column, ...] = (
    Column.FULL_NAME,
    Column.INTEREST,
    Column.ORIGIN,
    Column.AGENT,
    Column.STATUS,
    Column.CLOSE_REASON,
    Column.PENDING_SINCE,
    Column.CREATED_AT,
)


@dataclass(frozen=True)
class SalesFilter:
    """The panel's filters (S3). Empty tuples mean "any"; `period` None with no range is the
    default LAST_7_DAYS; `team_id` None is the highest group the viewer can access."""

    text: str | None = None
    period: Period | None = None
    since: datetime | None = None
    until: datetime | None = None
    # A group and its whole subtree.
    team_id: int | None = None
    # Some users' attentions; with `unassigned`, also those nobody has; `unassigned` alone: only those.
    agent_ids: tuple[int, ...] = ()
    unassigned: bool = False
    statuses: tuple[SalesAttentionStatus, ...] = ()
    interest_ids: tuple[int, ...] = ()
    origin_ids: tuple[int, ...] = ()
    close_reason_ids: tuple[int, ...] = ()
    # Contact custom fields (C7): (key, value) pairs the contact's value must equal, one filter each.
    custom_fields: tuple[tuple[str, str], ...] = ()
    # Exactly these attentions (a selection by ids, as bulk calls take it); the rest still applies.
    ids: tuple[int, ...] | None = field(default=None)

    def count(self) -> int:
        """How many filters are set, as a view counts them against MAX_FILTERS: each field one,
        a period or a range one, the users one, each custom field one."""
        set_fields = [
            self.text,
            self.period is not None or self.since is not None or self.until is not None,
            self.team_id is not None,
            self.agent_ids or self.unassigned,
            self.statuses,
            self.interest_ids,
            self.origin_ids,
            self.close_reason_ids,
        ]
        return sum(1 for value in set_fields if value) + len(self.custom_fields)

    def to_stored(self) -> dict[str, Any]:
        """JSON for a view's `filters` or a job's payload (ids as ints, instants as ISO text)."""
        stored: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value == () or value is False:
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, tuple):
                value = [
                    list(v) if isinstance(v, tuple) else (v.value if isinstance(v, enum.Enum) else v) for v in value
                ]
            stored[f.name] = value
        return stored

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> SalesFilter:
        def instant(name: str) -> datetime | None:
            value = stored.get(name)
            return datetime.fromisoformat(value) if value else None

        return cls(
            text=stored.get("text"),
            period=Period(stored["period"]) if stored.get("period") else None,
            since=instant("since"),
            until=instant("until"),
            team_id=stored.get("team_id"),
            agent_ids=tuple(stored.get("agent_ids", ())),
            unassigned=bool(stored.get("unassigned", False)),
            statuses=tuple(SalesAttentionStatus(s) for s in stored.get("statuses", ())),
            interest_ids=tuple(stored.get("interest_ids", ())),
            origin_ids=tuple(stored.get("origin_ids", ())),
            close_reason_ids=tuple(stored.get("close_reason_ids", ())),
            custom_fields=tuple((k, v) for k, v in stored.get("custom_fields", ())),
            ids=tuple(stored["ids"]) if stored.get("ids") is not None else None,
        )

    def with_ids(self, ids: tuple[int, ...]) -> SalesFilter:
        return replace(self, ids=ids)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value.value if isinstance(value, enum.Enum) else value


def require_panel(viewer: Principal) -> None:
    """The panel is for admins and supervisors (S2): an agent is refused before anything is read."""
    if viewer.role is Role.AGENT:
        raise forbidden("The sales panel is for admins and supervisors")


def period_of(flt: SalesFilter, *, zone: ZoneInfo, now: datetime) -> Window:
    """The filter's window of `created_at`: its preset or range, LAST_7_DAYS by default."""
    return window(flt.period, flt.since, flt.until, zone=zone, now=now, default=Period.LAST_7_DAYS)


def matching(viewer: Principal, flt: SalesFilter, *, zone: ZoneInfo, now: datetime, dialect: str) -> Select[Any]:
    """SELECT SalesAttention rows the viewer may see that match `flt` (unordered; callers add
    their keyset order or columns). Refuses agents (S2); a bad period is a typed error on
    `filter.period` / `filter.from` / `filter.to`, a text too long on `filter.text`."""
    require_panel(viewer)
    stmt = scopes.sales_attentions(select(SalesAttention), viewer)
    # Rows picked by id are what was picked: only a period given with them narrows them.
    if flt.ids is None or flt.period is not None or flt.since is not None or flt.until is not None:
        span = period_of(flt, zone=zone, now=now)
        stmt = stmt.where(SalesAttention.created_at >= span.start, SalesAttention.created_at < span.end)
    if flt.team_id is not None:
        # The group and its subgroups; a group outside the viewer's sight selects nothing (the
        # scope above), as a missing one does.
        root = select(Team.path).where(Team.id == flt.team_id).scalar_subquery()
        subtree = select(Team.id).where(Team.path.startswith(root))
        stmt = stmt.where(SalesAttention.team_id.in_(subtree))
    if flt.agent_ids or flt.unassigned:
        who = []
        if flt.agent_ids:
            who.append(SalesAttention.agent_id.in_(flt.agent_ids))
        if flt.unassigned:
            who.append(SalesAttention.agent_id.is_(None))
        stmt = stmt.where(or_(*who))
    if flt.statuses:
        stmt = stmt.where(SalesAttention.status.in_([s.value for s in flt.statuses]))
    if flt.interest_ids:
        stmt = stmt.where(SalesAttention.interest_id.in_(flt.interest_ids))
    if flt.origin_ids:
        stmt = stmt.where(SalesAttention.origin_id.in_(flt.origin_ids))
    if flt.close_reason_ids:
        stmt = stmt.where(SalesAttention.close_reason_id.in_(flt.close_reason_ids))
    contact = _contact_conditions(flt, dialect)
    if contact is not None:
        stmt = stmt.where(SalesAttention.contact_id.in_(select(Contact.id).where(contact)))
    if flt.ids is not None:
        stmt = stmt.where(in_ids(SalesAttention.id, flt.ids, dialect))
    return stmt


def _contact_conditions(flt: SalesFilter, dialect: str) -> Any:
    """What the contact must be: the text over its name, phones (however typed) and e-mails,
    matched as the contacts search matches (db.search.search_terms over contacts.search_text,
    trigram-indexed on PostgreSQL); its custom field values."""
    conditions: list[Any] = []
    if flt.text:
        try:
            text = bounded(flt.text)
        except ValueError as error:
            raise fail(ErrorCode.INVALID, str(error), "filter.text") from None
        if not storable(text):
            return false()
        conditions += [Contact.search_text.contains(term, autoescape=True) for term in search_terms(text)]
    for key, value in flt.custom_fields:
        if not (storable(key) and storable(value)):
            return false()
        conditions.append(json_member_text(Contact.custom_fields, key, dialect) == value)
    return and_(*conditions) if conditions else None


async def check_group(
    session: AsyncSession, viewer: Principal, *, team_id: int, agent_id: int | None, field: str = ""
) -> None:
    """Where an attention may go (S1, S5): a group the viewer sees (else NOT_FOUND on `teamId`),
    and, when an agent is named, an active member of that very group (else INVALID on `agentId`).
    `field` prefixes both names ("input." for a call's input object)."""
    seen = await session.scalar(scopes.teams(select(Team.id).where(Team.id == team_id), viewer))
    if seen is None:
        raise not_found("Team", f"{field}teamId")
    if agent_id is None:
        return
    member = await session.scalar(
        select(TeamMember.user_id)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id == team_id, TeamMember.user_id == agent_id, User.is_active.is_(True))
    )
    if member is None:
        raise fail(ErrorCode.INVALID, "The agent must be an active member of the group", f"{field}agentId")


async def require_entry(
    session: AsyncSession, entry_id: int, kind: SalesCatalogKind, field: str, *, allow_inactive: bool = False
) -> SalesCatalogEntry:
    """A catalogue entry of this kind (an origin given as a close reason is NOT_FOUND), active
    unless `allow_inactive` (an attention keeps an entry retired after it was chosen)."""
    label = kind.value.replace("_", " ").lower()
    entry = await session.get(SalesCatalogEntry, entry_id)
    if entry is None or entry.kind != kind.value:
        raise not_found(label.capitalize(), field)
    if not entry.active and not allow_inactive:
        raise fail(ErrorCode.INVALID, f"This {label} is no longer in use", field)
    return entry
