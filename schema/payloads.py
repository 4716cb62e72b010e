"""Mutation results: the changed object, or typed errors and nothing changed (X3)."""

from datetime import datetime
from typing import Annotated

import strawberry

from schema.errors import UserError
from schema.types import Team, User


@strawberry.type(description="Signed in: use the token as `Authorization: Bearer <token>`.")
class LoginSuccess:
    token: str
    expires_at: datetime
    user: User


@strawberry.type(
    description="Too many failed sign-ins for this account or from this address: this attempt was not checked."
)
class LoginThrottled:
    message: str
    retry_at: datetime = strawberry.field(description="When the next attempt may be checked.")
    retry_after_seconds: int = strawberry.field(description="Seconds until then.")


LoginResult = Annotated[LoginSuccess | LoginThrottled | UserError, strawberry.union("LoginResult")]


@strawberry.type
class UserPayload:
    user: User | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class TeamPayload:
    team: Team | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteTeamPayload:
    deleted_team_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
