"""Input types: filters, orderings and mutation inputs."""

import datetime

import strawberry

from schema import docs
from schema.enums import AuditAction, OrderDirection, Period, ResourceType, Role, UserOrderField


@strawberry.input(description="Narrow the users list; all given conditions must hold.")
class UserFilter:
    search: str | None = strawberry.field(default=None, description="Part of the name or email.")
    roles: list[Role] | None = strawberry.field(default=None, description="Users with any of these roles.")
    active: bool | None = strawberry.field(default=None, description="Only active (true) or deactivated (false) users.")
    team_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Members of any of these teams.")


@strawberry.input(description="Sort order of the users list (default: by name, ascending).")
class UserOrder:
    field: UserOrderField = strawberry.field(default=UserOrderField.NAME, description=docs.ORDER_FIELD)
    direction: OrderDirection = strawberry.field(default=OrderDirection.ASC, description=docs.ORDER_DIRECTION)


@strawberry.input(description="Narrow the teams list.")
class TeamFilter:
    search: str | None = strawberry.field(default=None, description="Part of the team's name.")
    parent_id: strawberry.ID | None = strawberry.field(default=None, description="Only direct children of this team.")
    roots: bool = strawberry.field(
        default=False, description="Only the highest teams you can see (the roots of your part of the tree)."
    )


@strawberry.input(description="Narrow the audit trail (AU2); all given conditions must hold.")
class AuditEventFilter:
    text: str | None = strawberry.field(default=None, description="Part of the actor's or the resource's name.")
    actions: list[AuditAction] | None = strawberry.field(default=None, description="Events of any of these actions.")
    resource_types: list[ResourceType] | None = strawberry.field(
        default=None, description="Events about any of these kinds of resource."
    )
    period: Period | None = strawberry.field(
        default=None, description="A date preset; with `from`/`to` as well, both must hold."
    )
    from_: datetime.datetime | None = strawberry.field(default=None, name="from", description="Inclusive.")
    to: datetime.datetime | None = strawberry.field(default=None, description="Inclusive.")


@strawberry.input(description="A new user (admins only).")
class CreateUserInput:
    email: str = strawberry.field(description="Sign-in email; unique (ALREADY_EXISTS), validated (INVALID).")
    name: str = strawberry.field(description="Full name.")
    role: Role = strawberry.field(description="What the user may see and do.")
    password: str = strawberry.field(description="Initial password: 8 to 256 characters (INVALID, TOO_LONG).")


@strawberry.input(description="Changes to a user (admins only); only the fields you give change.")
class UpdateUserInput:
    email: str | None = strawberry.field(default=strawberry.UNSET, description="New sign-in email.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New full name.")
    role: Role | None = strawberry.field(
        default=strawberry.UNSET, description="New role; the last active admin cannot lose ADMIN (CONFLICT)."
    )
    password: str | None = strawberry.field(
        default=strawberry.UNSET, description="New password, the same rules as on creation."
    )


@strawberry.input(description="A new team.")
class CreateTeamInput:
    name: str = strawberry.field(description="Unique among its siblings (ALREADY_EXISTS).")
    parent_id: strawberry.ID | None = strawberry.field(default=None, description="Omit for a top-level team.")
