"""Inputs and payloads of portfolios: filters, selections of contacts, previews and bulk results."""

import enum
from dataclasses import replace
from typing import Annotated

import strawberry

from db.keyset import PageRequest, paginate_sequence
from schema import docs
from schema.connection import Connection, connection
from schema.contact_inputs import ContactFilter
from schema.contact_types import Contact, PortfolioBadge
from schema.enums import OrderDirection
from schema.errors import UserError
from schema.ids import pks
from schema.node import to_global_id
from schema.portfolio_types import ContactAssignmentResult, Portfolio, contacts_of_portfolio
from schema.types import AuditEvent, CursorArg, Info, PageArg
from services import contacts
from services.portfolio_assignment import BulkResult, ConflictGroup, ContactOutcome, Outcome, Preview, Rejection
from services.portfolios import PortfolioFilter as PortfolioFilterData
from services.portfolios import PortfolioOrder as PortfolioOrderData


class PortfolioOrderField(enum.Enum):
    NAME = "NAME"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


docs.enum(
    PortfolioOrderField,
    name="PortfolioOrderField",
    description="What the portfolios list sorts by.",
    values={
        "NAME": "Name, case- and accent-insensitive.",
        "CREATED_AT": "When the portfolio was created.",
        "UPDATED_AT": "When the portfolio last changed.",
    },
)


@strawberry.input(description="Sort order of the portfolios list (default: by name, ascending).")
class PortfolioOrder:
    field: PortfolioOrderField = strawberry.field(default=PortfolioOrderField.NAME, description=docs.ORDER_FIELD)
    direction: OrderDirection = strawberry.field(default=OrderDirection.ASC, description=docs.ORDER_DIRECTION)

    def to_service(self) -> tuple[PortfolioOrderData, bool]:
        return PortfolioOrderData(self.field.value), self.direction is OrderDirection.DESC


@strawberry.input(description="Narrow the portfolios list; all given conditions must hold.")
class PortfolioFilter:
    search: str | None = strawberry.field(default=None, description="Part of the name; accents and case ignored.")
    team_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Owned by any of these teams.")
    agent_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Owned by any of these agents.")
    active: bool | None = strawberry.field(
        default=None, description="Only active (true) or only inactive (false) portfolios."
    )

    def to_service(self) -> PortfolioFilterData:
        return PortfolioFilterData(
            search=self.search,
            team_ids=pks(self.team_ids, "Team", "filter.teamIds"),
            agent_ids=pks(self.agent_ids, "User", "filter.agentIds"),
            active=self.active,
        )


@strawberry.input(
    one_of=True,
    description="Which contacts: these ids (from a list's selection), or every contact matching a filter.",
)
class ContactSelection:
    ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="Global ids of contacts; an id you cannot see is REJECTED as NOT_VISIBLE."
    )
    filter: ContactFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Every contact you see that matches this filter, read when the call runs."
    )


@strawberry.input(description="A new portfolio (P1): at least a team or an agent owns it.")
class CreatePortfolioInput:
    name: str = strawberry.field(description="Unique name (ALREADY_EXISTS).")
    team_id: strawberry.ID | None = strawberry.field(default=None, description="The owning team…")
    agent_id: strawberry.ID | None = strawberry.field(
        default=None, description="…and/or the owning agent (a member of that team when both are given)."
    )


@strawberry.input(description="Only the fields you give change; null clears teamId or agentId (one must remain).")
class UpdatePortfolioInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    team_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="New owning team; null removes it (the agent must remain)."
    )
    agent_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="New owning agent; null removes it (the team must remain)."
    )


@strawberry.type(
    description="Result of a portfolio mutation: the portfolio as it is now, or userErrors and nothing changed."
)
class PortfolioPayload:
    portfolio: Portfolio | None = strawberry.field(default=None, description="The portfolio; null when refused.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)


@strawberry.type(description="Result of deletePortfolio: its contacts are released, in no portfolio.")
class DeletePortfolioPayload:
    deleted_portfolio_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id the portfolio had; null when refused."
    )
    released_contact_count: int = strawberry.field(default=0, description="Contacts that left with it.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)


def result_of(outcome: ContactOutcome | str) -> ContactAssignmentResult:
    """A contact's outcome; a string is a given id that names no contact, reported as not visible (R3)."""
    if isinstance(outcome, str):
        return ContactAssignmentResult(
            contact_pk=0,
            other_pk=None,
            contact_id=strawberry.ID(outcome),
            outcome=Outcome.REJECTED,
            rejection=Rejection.NOT_VISIBLE,
        )
    return ContactAssignmentResult(
        contact_pk=outcome.contact_id,
        other_pk=outcome.other_portfolio_id,
        contact_id=to_global_id("Contact", outcome.contact_id),
        outcome=outcome.outcome,
        rejection=outcome.rejection,
    )


def _outcome_of(outcome: ContactOutcome | str) -> Outcome:
    """The outcome `result_of` reports, without building the result."""
    return Outcome.REJECTED if isinstance(outcome, str) else outcome.outcome


@strawberry.type(
    description="What an assignment or removal did (X2): counts, each contact's outcome, the audit record."
)
class PortfolioContactsPayload:
    done: strawberry.Private[BulkResult | None] = None
    # Given ids that are not contacts' ids: REJECTED as NOT_VISIBLE, before the others.
    unreadable: strawberry.Private[tuple[str, ...]] = ()
    portfolio: Portfolio | None = strawberry.field(
        default=None, description="The portfolio as it is after the call; null when refused."
    )
    assigned_count: int = strawberry.field(default=0, description="Free contacts assigned.")
    moved_count: int = strawberry.field(default=0, description="Contacts moved from other portfolios (MOVE).")
    kept_count: int = strawberry.field(default=0, description="Contacts left in their other portfolio (KEEP).")
    already_in_portfolio_count: int = strawberry.field(
        default=0, description="Contacts already in this portfolio, unchanged."
    )
    removed_count: int = strawberry.field(default=0, description="Contacts removed from the portfolio.")
    not_in_portfolio_count: int = strawberry.field(
        default=0, description="Selected contacts that were not in the portfolio."
    )
    rejected_count: int = strawberry.field(default=0, description="Contacts left alone, each with its rejection.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=docs.USER_ERRORS)

    @classmethod
    def of(cls, done: BulkResult, unreadable: list[str]) -> "PortfolioContactsPayload":
        counts = done.counts
        return cls(
            done=done,
            unreadable=tuple(unreadable),
            portfolio=Portfolio.from_row(done.portfolio),
            assigned_count=counts[Outcome.ASSIGNED],
            moved_count=counts[Outcome.MOVED],
            kept_count=counts[Outcome.KEPT],
            already_in_portfolio_count=counts[Outcome.ALREADY_IN_PORTFOLIO],
            removed_count=counts[Outcome.REMOVED],
            not_in_portfolio_count=counts[Outcome.NOT_IN_PORTFOLIO],
            rejected_count=counts[Outcome.REJECTED] + len(unreadable),
        )

    @strawberry.field(description="Each selected contact's outcome, in id order; narrow with `outcomes`.")
    def results(
        self,
        info: Info,
        outcomes: Annotated[list[Outcome] | None, strawberry.argument(description=docs.OUTCOMES)] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[ContactAssignmentResult]:
        everything: list[ContactOutcome | str] = [*self.unreadable, *(self.done.outcomes if self.done else [])]
        items = [o for o in everything if not outcomes or _outcome_of(o) in outcomes]
        request = PageRequest(first=first, after=after, last=last, before=before)
        page = paginate_sequence(items, request=request, max_page_size=info.context.settings.max_page_size)

        async def count() -> int:
            return len(items)

        return connection(page, result_of, count)

    @strawberry.field(
        description="The call's audit event on the portfolio; its entries are the affected contacts' history rows."
    )
    async def audit_event(self, info: Info) -> AuditEvent | None:
        if self.done is None or self.done.event_id is None:
            return None
        row = await info.context.loaders.audit_event_by_id.load(self.done.event_id)
        return AuditEvent.from_row(row) if row else None


@strawberry.type(description="Selected contacts that are in one other portfolio (P4).")
class PortfolioConflictGroup:
    group: strawberry.Private[ConflictGroup]
    selection: strawberry.Private[contacts.ContactFilter]
    contact_count: int = strawberry.field(description="Selected contacts in that portfolio.")
    movable: bool = strawberry.field(
        description="Whether you may take them out of that portfolio: MOVE moves them, else they are rejected."
    )

    @strawberry.field(description="The portfolio's badge, as anyone who sees these contacts sees it.")
    async def badge(self, info: Info) -> PortfolioBadge:
        row = await info.context.loaders.badge_by_portfolio.load(self.group.portfolio_id)
        assert row is not None
        return PortfolioBadge.from_row(row)

    @strawberry.field(description="The portfolio; null when you cannot see it (its badge still shows).")
    async def portfolio(self, info: Info) -> Portfolio | None:
        row = await info.context.loaders.portfolio_by_id.load(self.group.portfolio_id)
        return Portfolio.from_row(row) if row else None

    @strawberry.field(description="The selected contacts in that portfolio, by name.")
    async def contacts(
        self, info: Info, first: PageArg = None, after: CursorArg = None, last: PageArg = None, before: CursorArg = None
    ) -> Connection[Contact]:
        request = PageRequest(first=first, after=after, last=last, before=before)
        order = contacts.ContactOrder.NAME
        return await contacts_of_portfolio(info, self.group.portfolio_id, self.selection, order, False, request)


async def _contacts(info: Info, flt: contacts.ContactFilter, request: PageRequest) -> Connection[Contact]:
    page = await info.context.loaders.contact_pages.load((flt, request))
    counts = info.context.loaders.contact_counts
    return connection(page, Contact.from_row, lambda: counts.load(flt))


@strawberry.type(description="Where the selected contacts are now, before assigning them to a portfolio (P4).")
class PortfolioAssignmentPreview:
    found: strawberry.Private[Preview]
    portfolio: Portfolio = strawberry.field(description="The destination portfolio.")
    selected_count: int = strawberry.field(description="Contacts selected that you can see.")
    free_count: int = strawberry.field(description="In no portfolio: they will be assigned.")
    already_in_portfolio_count: int = strawberry.field(description="Already in the destination: nothing to do.")
    conflict_count: int = strawberry.field(description="In other portfolios: MOVE moves them, KEEP leaves them.")
    movable_conflict_count: int = strawberry.field(description="Of those, the ones you may take from their portfolio.")
    rejected: list[ContactAssignmentResult] = strawberry.field(
        description="Ids given that cannot be selected: not visible (or missing), or archived."
    )

    @classmethod
    def of(cls, found: Preview, unreadable: list[str]) -> "PortfolioAssignmentPreview":
        return cls(
            found=found,
            portfolio=Portfolio.from_row(found.portfolio),
            selected_count=found.selected,
            free_count=found.free,
            already_in_portfolio_count=found.already_in_portfolio,
            conflict_count=sum(g.count for g in found.conflicts),
            movable_conflict_count=sum(g.count for g in found.conflicts if g.movable),
            rejected=[*map(result_of, unreadable), *map(result_of, found.rejected)],
        )

    @strawberry.field(description="The free contacts, by name (or relevance, with a search).")
    async def free(
        self, info: Info, first: PageArg = None, after: CursorArg = None, last: PageArg = None, before: CursorArg = None
    ) -> Connection[Contact]:
        flt = replace(self.found.selection, in_portfolio=False)
        return await _contacts(info, flt, PageRequest(first=first, after=after, last=last, before=before))

    @strawberry.field(description="The contacts already in this portfolio.")
    async def already_in_portfolio(
        self, info: Info, first: PageArg = None, after: CursorArg = None, last: PageArg = None, before: CursorArg = None
    ) -> Connection[Contact]:
        flt = replace(self.found.selection, portfolio_ids=(self.found.portfolio.id,))
        return await _contacts(info, flt, PageRequest(first=first, after=after, last=last, before=before))

    @strawberry.field(description="The other portfolios holding selected contacts, most contacts first.")
    def conflicts(
        self, info: Info, first: PageArg = None, after: CursorArg = None, last: PageArg = None, before: CursorArg = None
    ) -> Connection[PortfolioConflictGroup]:
        groups = sorted(self.found.conflicts, key=lambda g: (-g.count, g.portfolio_id))
        request = PageRequest(first=first, after=after, last=last, before=before)
        page = paginate_sequence(groups, request=request, max_page_size=info.context.settings.max_page_size)

        def group(g: ConflictGroup) -> PortfolioConflictGroup:
            return PortfolioConflictGroup(
                group=g, selection=self.found.selection, contact_count=g.count, movable=g.movable
            )

        async def count() -> int:
            return len(groups)

        return connection(page, group, count)
