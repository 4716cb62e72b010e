"""A conversation's routing decision (A2), as `Conversation.routing` stores it: why it went to Ana.

The router builds a `Trace` while it decides and stores `Trace.as_json()` on the conversation
in the same statement that assigns it; the API reads it back with `Trace.of`. Users are kept
by id and, for those skipped and the one chosen, by name as well, so a supervisor reads the
decision as it was made even after a rename.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from db.models import RoutingMethod


class RoutingRule(enum.StrEnum):
    """What decided: the contact's portfolio (P7), or the account's method (A2)."""

    PORTFOLIO_AGENT = "PORTFOLIO_AGENT"  # its portfolio's agent owner, straight
    PORTFOLIO_TEAM = "PORTFOLIO_TEAM"  # its portfolio's team, by the method within that team
    ROUND_ROBIN = "ROUND_ROBIN"
    LOAD_BALANCED = "LOAD_BALANCED"
    LAST_RESPONSIBLE = "LAST_RESPONSIBLE"
    DEFAULT_GROUP = "DEFAULT_GROUP"
    BY_CHANNEL = "BY_CHANNEL"
    MANUAL = "MANUAL"  # assigned, transferred or taken by a person, or started by its agent
    REOPENED = "REOPENED"  # the client wrote again within the window: back to the agent who had it


class SkipReason(enum.StrEnum):
    OFFLINE = "OFFLINE"
    AWAY = "AWAY"
    AT_CAPACITY = "AT_CAPACITY"
    CANNOT_SEE = "CANNOT_SEE"  # the contact is outside what the agent may see (R3)
    INACTIVE = "INACTIVE"  # a deactivated user (a portfolio's owner, the last responsible)
    TRANSFERRED_FROM = "TRANSFERRED_FROM"  # its agent, who transferred it to the team


@dataclass(frozen=True)
class Skip:
    user_id: int
    name: str
    reason: SkipReason


@dataclass
class Trace:
    rule: RoutingRule
    method: RoutingMethod
    decided_at: datetime
    portfolio_id: int | None = None
    team_id: int | None = None  # the team whose agents were considered, if one was
    # A sentence when the rule fell back to another ("no last responsible: ROUND_ROBIN decided").
    fallback: str | None = None
    candidate_ids: list[int] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    chosen_id: int | None = None
    chosen_name: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule.value,
            "method": self.method.value,
            "decidedAt": self.decided_at.isoformat(),
            "portfolioId": self.portfolio_id,
            "teamId": self.team_id,
            "fallback": self.fallback,
            "candidateIds": self.candidate_ids,
            "skipped": [{"userId": s.user_id, "name": s.name, "reason": s.reason.value} for s in self.skipped],
            "chosenId": self.chosen_id,
            "chosenName": self.chosen_name,
        }

    @classmethod
    def of(cls, data: dict[str, Any]) -> Trace:
        return cls(
            rule=RoutingRule(data["rule"]),
            method=RoutingMethod(data["method"]),
            decided_at=datetime.fromisoformat(data["decidedAt"]),
            portfolio_id=data.get("portfolioId"),
            team_id=data.get("teamId"),
            fallback=data.get("fallback"),
            candidate_ids=list(data.get("candidateIds") or ()),
            skipped=[Skip(s["userId"], s["name"], SkipReason(s["reason"])) for s in data.get("skipped") or ()],
            chosen_id=data.get("chosenId"),
            chosen_name=data.get("chosenName"),
        )
