"""Portfolio types (P1-P9): the portfolio, the badge its contacts carry, previews, bulk results, reports."""

from datetime import datetime
from typing import Annotated, Any

import strawberry

from db import models
from db.keyset import PageRequest
from schema import docs, sql_map
from schema.connection import Connection
from schema.contact_inputs import ContactFilter as ContactFilterInput
from schema.contact_inputs import ContactOrder as ContactOrderInput
from schema.contact_types import Contact, PortfolioBadge
from schema.node import Node, to_global_id
from schema.types import CursorArg, Info, PageArg, Team, User, nested_connection
from services import contacts
from services.contacts import ContactFilter, ContactOrder
from services.portfolio_assignment import ConflictPolicy, Outcome, Rejection
from services.portfolios import OwnerKind

docs.enum(
    ConflictPolicy,
    name="ConflictPolicy",
    description=(
        "What to do with selected contacts already in another portfolio (P4); free ones are assigned either way."
    ),
    values={
        "MOVE": "Move them here (those you may not take from their portfolio are rejected).",
        "KEEP": "Leave them where they are.",
    },
)
docs.enum(
    Outcome,
    name="AssignmentOutcome",
    description="What a bulk portfolio call did with one contact (X2).",
    values={
        "ASSIGNED": "It was free and is now in the portfolio.",
        "MOVED": "It left another portfolio for this one (MOVE).",
        "KEPT": "It stayed in its other portfolio (KEEP).",
        "ALREADY_IN_PORTFOLIO": "It was already in this portfolio.",
        "REMOVED": "It was taken out of the portfolio.",
        "NOT_IN_PORTFOLIO": "It was not in the portfolio, so nothing was removed.",
        "REJECTED": "Left alone; `rejection` says why.",
    },
)
docs.enum(
    Rejection,
    name="AssignmentRejection",
    description="Why a selected contact was left alone.",
    values={
        "NOT_VISIBLE": "No such contact, or one you may not see.",
        "ARCHIVED": "The contact is archived.",
        "NOT_ALLOWED_TO_MOVE": "It is in a portfolio you may not take it from.",
    },
)


async def contacts_of_portfolio(
    info: Info,
    portfolio_pk: int,
    flt: ContactFilter,
    order: ContactOrder,
    descending: bool,
    request: PageRequest,
) -> Connection[Contact]:
    """A nested list of a portfolio's contacts; all the portfolios on a page share one statement."""
    pages, counts = info.context.loaders.portfolio_contacts(flt, order, descending)
    return await nested_connection(info, pages, counts, portfolio_pk, request, Contact.from_row)


@strawberry.type(description="A group of contacts owned by a team and/or an agent (P1).")
class Portfolio(Node):
    pk: strawberry.Private[int]
    team_pk: strawberry.Private[int | None]
    agent_pk: strawberry.Private[int | None]
    name: str = strawberry.field(description=docs.NAME)
    active: bool = strawberry.field(description="Inactive portfolios keep their contacts and take no new ones.")
    created_at: datetime = strawberry.field(description=docs.CREATED_AT)
    updated_at: datetime = strawberry.field(description=docs.UPDATED_AT)

    @classmethod
    def from_row(cls, row: models.Portfolio) -> "Portfolio":
        return cls(
            id=to_global_id("Portfolio", row.id),
            pk=row.id,
            team_pk=row.team_id,
            agent_pk=row.agent_id,
            name=row.name,
            active=row.active,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="The owning team; null when none or when you cannot see it.")
    async def team(self, info: Info) -> Team | None:
        if self.team_pk is None:
            return None
        row = await info.context.loaders.team_by_id.load(self.team_pk)
        return Team.from_row(row) if row else None

    @strawberry.field(description="The owning agent; null when none or when you cannot see them.")
    async def agent(self, info: Info) -> User | None:
        if self.agent_pk is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.agent_pk)
        return User.from_row(row) if row else None

    @strawberry.field(description="How many contacts the portfolio holds.")
    async def contact_count(self, info: Info) -> int:
        count = await info.context.loaders.portfolio_contact_count.load(self.pk)
        assert count is not None  # batches.portfolio_contact_counts answers 0 for an empty one
        return count

    @strawberry.field(
        description="Its contacts that you can see (P3), searchable; in name order unless orderBy says otherwise."
    )
    async def contacts(
        self,
        info: Info,
        filter: Annotated[
            ContactFilterInput | None,
            strawberry.argument(description="Narrow the portfolio's contacts (P3); every given condition must hold."),
        ] = None,
        order_by: Annotated[ContactOrderInput | None, strawberry.argument(description=docs.ORDER_BY)] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[Contact]:
        flt = (filter or ContactFilterInput()).to_service()
        order, descending = (order_by or ContactOrderInput()).to_service()
        request = PageRequest(first=first, after=after, last=last, before=before)
        return await contacts_of_portfolio(info, self.pk, flt, order, descending, request)

    @strawberry.field(description="The badge its contacts carry.")
    async def badge(self, info: Info) -> PortfolioBadge:
        row = await info.context.loaders.badge_by_portfolio.load(self.pk)
        assert row is not None
        return PortfolioBadge.from_row(row)


@strawberry.type(description="What a bulk portfolio call did with one selected contact (X2).")
class ContactAssignmentResult:
    contact_pk: strawberry.Private[int]
    other_pk: strawberry.Private[int | None]
    contact_id: strawberry.ID = strawberry.field(description="The contact's global id, as given.")
    outcome: Outcome = strawberry.field(description="What happened to the contact.")
    rejection: Rejection | None = strawberry.field(description="Set when the outcome is REJECTED.")

    @strawberry.field(description="The contact; null when you cannot see it.")
    async def contact(self, info: Info) -> Contact | None:
        row = await info.context.loaders.contact_by_id.load(self.contact_pk)
        return Contact.from_row(row) if row else None

    @strawberry.field(
        description=(
            "KEPT, or REJECTED as NOT_ALLOWED_TO_MOVE: the portfolio that keeps the contact; MOVED: the one it left."
        )
    )
    async def other_portfolio(self, info: Info) -> PortfolioBadge | None:
        if self.other_pk is None:
            return None
        row = await info.context.loaders.badge_by_portfolio.load(self.other_pk)
        return PortfolioBadge.from_row(row) if row else None


@strawberry.type(description="Contacts per portfolio (P9).")
class PortfolioContactCount:
    portfolio: Portfolio = strawberry.field(description="The portfolio.")
    contact_count: int = strawberry.field(description="Contacts in it now.")

    @classmethod
    def from_row(cls, row: Any) -> "PortfolioContactCount":
        """A report row: the portfolio's columns and its contact_count."""
        portfolio = models.Portfolio(
            id=row.id,
            name=row.name,
            team_id=row.team_id,
            agent_id=row.agent_id,
            active=row.active,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
        return cls(portfolio=Portfolio.from_row(portfolio), contact_count=row.contact_count)


@strawberry.type(description="Portfolios and contacts per owner: the agent, or the team when no agent owns them (P9).")
class OwnerContactCount:
    owner_kind: OwnerKind = strawberry.field(
        description="AGENT: counted under the agent; TEAM: a team's portfolios without an agent owner."
    )
    owner_pk: strawberry.Private[int]
    portfolio_count: int = strawberry.field(description="Portfolios the owner has (that you can see).")
    contact_count: int = strawberry.field(description="Contacts in those portfolios.")

    @strawberry.field(description="The owning agent (ownerKind AGENT); null when you cannot see them.")
    async def agent(self, info: Info) -> User | None:
        if self.owner_kind is not OwnerKind.AGENT:
            return None
        row = await info.context.loaders.user_by_id.load(self.owner_pk)
        return User.from_row(row) if row else None

    @strawberry.field(description="The owning team (ownerKind TEAM); null when you cannot see it.")
    async def team(self, info: Info) -> Team | None:
        if self.owner_kind is not OwnerKind.TEAM:
            return None
        row = await info.context.loaders.team_by_id.load(self.owner_pk)
        return Team.from_row(row) if row else None

    @classmethod
    def from_row(cls, row: Any) -> "OwnerContactCount":
        return cls(
            owner_kind=OwnerKind(row.owner_kind),
            owner_pk=row.owner_id,
            portfolio_count=row.portfolio_count,
            contact_count=row.contact_count,
        )


# Compiled reads (schema/sql_map.py).
def _contacts(viewer: Any, args: dict[str, Any]) -> Any:
    """Portfolio.contacts' rows for these arguments, as its loader reads them."""
    flt = (args.get("filter") or ContactFilterInput()).to_service()
    order, descending = (args.get("order_by") or ContactOrderInput()).to_service()
    return contacts.in_portfolios(viewer, flt, order, descending, "postgresql")


sql_map.declare(
    "Portfolio",
    {
        "id": sql_map.global_id("Portfolio"),
        "name": sql_map.text("name"),
        "active": sql_map.boolean("active"),
        "createdAt": sql_map.instant("created_at"),
        "updatedAt": sql_map.instant("updated_at"),
        "team": sql_map.Nested("Team", "teams", "{a}.id = {t}.team_id", visible=sql_map.seen_as_loaded(models.Team)),
        "agent": sql_map.Nested("User", "users", "{a}.id = {t}.agent_id", visible=sql_map.seen_as_loaded(models.User)),
        "contactCount": sql_map.Scalar(
            "(SELECT count(*) FROM portfolio_members m WHERE m.portfolio_id = {t}.id)::text"
        ),
        "contacts": sql_map.Paged(_contacts),
        "badge": sql_map.Nested(
            "PortfolioBadge",
            "(SELECT {t}.id AS portfolio_id, {t}.name AS portfolio_name, {t}.active,"
            " (SELECT u.name FROM users u WHERE u.id = {t}.agent_id) AS agent_name,"
            " (SELECT w.name FROM teams w WHERE w.id = {t}.team_id) AS team_name)",
            "true",
        ),
    },
)
