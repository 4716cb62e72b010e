"""Mutation results: the changed object, or typed errors and nothing changed (X3)."""

from datetime import datetime
from typing import Annotated

import strawberry

from schema import docs
from schema.errors import UserError
from schema.types import Team, User


@strawberry.type(description="Signed in: use the token as `Authorization: Bearer <token>`.")
class LoginSuccess:
    token: str = strawberry.field(
        description=(
            'A signed JWT: `Authorization: Bearer <token>` on HTTP, `{"authorization": "Bearer <token>"}` as the '
            "WebSocket `connection_init` payload."
        )
    )
    expires_at: datetime = strawberry.field(description="When the token stops working: sign in again before then.")
    user: User = strawberry.field(description="Who signed in.")


@strawberry.type(
    description="Too many failed sign-ins for this account or from this address: this attempt was not checked."
)
class LoginThrottled:
    message: str = strawberry.field(description="Readable explanation, in English.")
    retry_at: datetime = strawberry.field(description="When the next attempt may be checked.")
    retry_after_seconds: int = strawberry.field(description="Seconds until then.")


LoginResult = Annotated[
    LoginSuccess | LoginThrottled | UserError,
    strawberry.union(
        "LoginResult",
        description=(
            "A token, a refusal for now (LoginThrottled), or a UserError INVALID_CREDENTIALS, the same for "
            "an unknown email, a wrong password and a deactivated user."
        ),
    ),
]


@strawberry.type(description="Result of a user mutation: the user as it is now, or userErrors and nothing changed.")
class UserPayload:
    user: User | None = strawberry.field(default=None, description="The user; null when refused.")
    user_errors: list[UserError] = docs.user_errors()


@strawberry.type(description="Result of a team mutation: the team as it is now, or userErrors and nothing changed.")
class TeamPayload:
    team: Team | None = strawberry.field(default=None, description="The team; null when refused.")
    user_errors: list[UserError] = docs.user_errors()


@strawberry.type(description="Result of `deleteTeam`.")
class DeleteTeamPayload:
    deleted_team_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id the team had; null when refused."
    )
    user_errors: list[UserError] = docs.user_errors()
