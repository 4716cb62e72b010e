"""Input types: filters, orderings and mutation inputs."""

import datetime

import strawberry

from schema.enums import AuditAction, OrderDirection, Period, ResourceType, Role, UserOrderField


@strawberry.input(description="Narrow the users list; all given conditions must hold.")
class UserFilter:
    search: str | None = strawberry.field(default=None, description="Part of the name or email.")
    roles: list[Role] | None = None
    active: bool | None = None
    team_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Members of any of these teams.")


@strawberry.input
class UserOrder:
    field: UserOrderField = UserOrderField.NAME
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input(description="Narrow the teams list.")
class TeamFilter:
    search: str | None = None
    parent_id: strawberry.ID | None = strawberry.field(default=None, description="Only direct children of this team.")
    roots: bool = strawberry.field(
        default=False, description="Only the highest teams you can see (the roots of your part of the tree)."
    )


@strawberry.input(description="Narrow the audit trail (AU2); all given conditions must hold.")
class AuditEventFilter:
    text: str | None = strawberry.field(default=None, description="Part of the actor's or the resource's name.")
    actions: list[AuditAction] | None = None
    resource_types: list[ResourceType] | None = None
    period: Period | None = None
    from_: datetime.datetime | None = strawberry.field(default=None, name="from", description="Inclusive.")
    to: datetime.datetime | None = strawberry.field(default=None, description="Inclusive.")


@strawberry.input
class CreateUserInput:
    email: str
    name: str
    role: Role
    password: str


@strawberry.input(description="Only the fields you give change.")
class UpdateUserInput:
    email: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    role: Role | None = strawberry.UNSET
    password: str | None = strawberry.UNSET


@strawberry.input
class CreateTeamInput:
    name: str
    parent_id: strawberry.ID | None = strawberry.field(default=None, description="Omit for a top-level team.")
