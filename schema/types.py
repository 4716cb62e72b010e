"""Object types. Scalars are plain attributes; nested fields go through the operation's dataloaders."""

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types.nodes import SelectedField

from db import batches, models
from db.keyset import Page, PageRequest
from db.models import PresenceStatus
from schema import docs, sql_map
from schema.connection import Connection, connection
from schema.context import Context
from schema.enums import AuditAction, ResourceType, Role
from schema.loaders import NestedCountLoader, NestedPageLoader
from schema.node import Node, to_global_id
from services import audit

Info = strawberry.Info[Context, None]

PageArg = Annotated[int | None, strawberry.argument(description="Page size (at most the server's limit).")]
CursorArg = Annotated[str | None, strawberry.argument(description="An opaque cursor from a previous page.")]


def rows_selected(info: "Info") -> bool:
    """Whether the client asked for rows (edges, nodes, pageInfo) and not only totalCount."""

    def wants(selections: list[Any]) -> bool:
        for selection in selections:
            if isinstance(selection, SelectedField):
                if selection.name in ("edges", "nodes", "pageInfo"):
                    return True
            # A fragment, inline or named (a named one has a `name` too: the fragment's).
            elif wants(selection.selections):
                return True
        return False

    return any(wants(field.selections) for field in info.selected_fields)


async def nested_connection(
    info: "Info",
    pages: NestedPageLoader,
    counts: NestedCountLoader,
    parent_id: int,
    request: PageRequest,
    convert: Any,
) -> Connection[Any]:
    """A nested connection page; skips the rows query when only totalCount is selected."""
    if rows_selected(info):
        page = await pages.load((parent_id, request))
    else:
        request.size(info.context.settings.max_page_size)  # refuse bad arguments all the same
        page = Page(rows=[], cursors=[], has_next_page=False, has_previous_page=False)
    return connection(page, convert, lambda: counts.load(parent_id))


@strawberry.type(description="Someone who signs in: an admin, a supervisor or an agent.")
class User(Node):
    pk: strawberry.Private[int]
    email: str = strawberry.field(description="Sign-in email, unique in the account (stored lower-case).")
    name: str = strawberry.field(description="Full name as others see it.")
    role: Role = strawberry.field(description="What the user may see and do (R1).")
    active: bool = strawberry.field(description="False once deactivated: the user can no longer sign in.")
    created_at: datetime = strawberry.field(description=docs.CREATED_AT)
    updated_at: datetime = strawberry.field(description=docs.UPDATED_AT)

    @classmethod
    def from_row(cls, row: models.User) -> "User":
        return cls(
            id=to_global_id("User", row.id),
            pk=row.id,
            email=row.email,
            name=row.name,
            role=Role(row.role),
            active=row.is_active,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="ONLINE, AWAY or OFFLINE, shared by every API process (R4).")
    async def presence(self, info: Info) -> "UserPresence":
        row = await info.context.loaders.presence_by_user.load(self.pk)
        if row is None:
            return UserPresence(status=PresenceStatus.OFFLINE, changed_at=None)
        return UserPresence(status=PresenceStatus(row.status), changed_at=row.changed_at)

    @strawberry.field(description="Teams this user is a member of (that you can see).")
    async def teams(
        self,
        info: Info,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection["Team"]:
        loaders = info.context.loaders
        request = PageRequest(first=first, after=after, last=last, before=before)
        return await nested_connection(
            info, loaders.user_teams, loaders.user_team_count, self.pk, request, Team.from_row
        )

    @strawberry.field(description="Teams this user supervises, with their subtrees (that you can see).")
    async def supervised_teams(
        self,
        info: Info,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection["Team"]:
        loaders = info.context.loaders
        request = PageRequest(first=first, after=after, last=last, before=before)
        return await nested_connection(
            info, loaders.user_supervised_teams, loaders.user_supervised_team_count, self.pk, request, Team.from_row
        )


@strawberry.type(description="Whether a user is at work (R4).")
class UserPresence:
    status: PresenceStatus = strawberry.field(description="ONLINE, AWAY or OFFLINE.")
    changed_at: datetime | None = strawberry.field(description="Null when it was never set (OFFLINE).")


@strawberry.type(description="A group of users; teams form a tree of any depth.")
class Team(Node):
    pk: strawberry.Private[int]
    parent_pk: strawberry.Private[int | None]
    name: str = strawberry.field(description="Unique among its sibling teams.")
    depth: int = strawberry.field(description="0 for a top-level team.")
    created_at: datetime = strawberry.field(description=docs.CREATED_AT)
    updated_at: datetime = strawberry.field(description=docs.UPDATED_AT)

    @classmethod
    def from_row(cls, row: models.Team) -> "Team":
        return cls(
            id=to_global_id("Team", row.id),
            pk=row.id,
            parent_pk=row.parent_id,
            name=row.name,
            depth=row.path.count("/") - 2,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="The parent team; null at the top or when you cannot see it.")
    async def parent(self, info: Info) -> "Team | None":
        if self.parent_pk is None:
            return None
        row = await info.context.loaders.team_by_id.load(self.parent_pk)
        return Team.from_row(row) if row else None

    @strawberry.field(description="Direct subteams.")
    async def children(
        self,
        info: Info,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection["Team"]:
        loaders = info.context.loaders
        request = PageRequest(first=first, after=after, last=last, before=before)
        return await nested_connection(
            info, loaders.team_children, loaders.team_children_count, self.pk, request, Team.from_row
        )

    @strawberry.field(description="Members of this team (that you can see).")
    async def members(
        self,
        info: Info,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[User]:
        loaders = info.context.loaders
        request = PageRequest(first=first, after=after, last=last, before=before)
        return await nested_connection(
            info, loaders.team_members, loaders.team_member_count, self.pk, request, User.from_row
        )

    @strawberry.field(description="Supervisors of this team (that you can see).")
    async def supervisors(
        self,
        info: Info,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[User]:
        loaders = info.context.loaders
        request = PageRequest(first=first, after=after, last=last, before=before)
        return await nested_connection(
            info, loaders.team_supervisors, loaders.team_supervisor_count, self.pk, request, User.from_row
        )


@strawberry.type(
    description=(
        "One changed field of an audited resource: its value before and after, null where it had none. "
        "An event that links or unlinks (MEMBER_ADDED, OPERATOR_REMOVED…) names what it linked, null on the "
        "other side; a bulk call's own event holds its tallies (counts), its `entries` each resource's change."
    )
)
class AuditChange:
    field: str = strawberry.field(description="The field as the API names it (camelCase), e.g. `companyId`.")
    before: JSON | None = strawberry.field(
        description=(
            "Scalars as the API shows them; a reference to another resource (`teamId`, `companyId`…; `…Ids` "
            "for a list) holds the global id `node` takes, with its name, where it helps, in the field without "
            "the suffix (`portfolio` beside `portfolioId`); lists as lists (a contact's `channels` as "
            "`KIND:value`, its `addresses` as objects of their fields). Events written before this shape was "
            "settled may hold a count where a list belongs, or one item of it."
        )
    )
    after: JSON | None = strawberry.field(description="As `before`.")


def audit_changes(stored: Mapping[str, Any]) -> list[AuditChange]:
    """An event's changes as the API shows them (services.audit, "What an event's changes hold").

    Rows keep references as database ids, which a bulk statement writes for nothing: here they
    become global ids. Rows written before the shape was settled read in it as far as they can.
    """
    presented = []
    for stored_name, change in stored.items():
        before, after = change.get("before"), change.get("after")
        if stored_name in _LINKED_USERS and (_objects(before) or _objects(after)):
            # An older row's {"id", "name"} objects: the ids' field, then the names' one.
            ids = AuditChange(field=_LINKED_USERS[stored_name], before=_pluck(before, "id"), after=_pluck(after, "id"))
            presented.append(_with_global_ids(ids))
            before, after = _pluck(before, "name"), _pluck(after, "name")
        presented.append(_with_global_ids(AuditChange(field=audit.api_name(stored_name), before=before, after=after)))
    return presented


def _with_global_ids(change: AuditChange) -> AuditChange:
    kind = audit.REFERENCES.get(change.field)
    if kind is not None:
        type_name = RESOURCE_TYPE_NAMES[kind]
        change.before, change.after = _global_ids(type_name, change.before), _global_ids(type_name, change.after)
    return change


def _global_ids(type_name: str, value: Any) -> Any:
    if isinstance(value, list):
        return [_global_ids(type_name, v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return to_global_id(type_name, value)
    return value


# Rows from before the shape was settled named linked users as {"id", "name"} objects.
_LINKED_USERS = {"member": "memberId", "supervisor": "supervisorId", "operators": "operatorIds"}


def _objects(value: Any) -> bool:
    return isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, dict) for v in value))


def _pluck(value: Any, key: str) -> Any:
    if isinstance(value, list):
        return [_pluck(v, key) for v in value]
    return value.get(key) if isinstance(value, dict) else value


# GraphQL type name of each audited resource type, for its global id.
RESOURCE_TYPE_NAMES = {
    "USER": "User",
    "TEAM": "Team",
    "CONTACT": "Contact",
    "COMPANY": "Company",
    "DOCUMENT_TYPE": "DocumentType",
    "CUSTOM_FIELD": "CustomFieldDefinition",
    "PORTFOLIO": "Portfolio",
    "TYPOLOGY": "Typology",
    "CAMPAIGN": "Campaign",
    "GESTION": "Gestion",
    "CONVERSATION": "Conversation",
    "ROUTING_SETTINGS": "RoutingSettings",
    "SALES_CATALOG_ENTRY": "SalesCatalogEntry",
    "SALES_ATTENTION": "SalesAttention",
    "SALES_VIEW": "SalesView",
    "JOB": "Job",
    "BATCH": "AuditEvent",
}


@strawberry.type(description="Who did what to which resource, and when (AU1).")
class AuditEvent(Node):
    pk: strawberry.Private[int]
    batch_pk: strawberry.Private[int | None]
    actor_pk: strawberry.Private[int | None]
    occurred_at: datetime = strawberry.field(description="When the change was committed.")
    actor_name: str = strawberry.field(description="The actor's name when it acted.")
    action: AuditAction = strawberry.field(description="What was done.")
    resource_type: ResourceType = strawberry.field(description="What kind of resource it was done to.")
    resource_id: strawberry.ID = strawberry.field(description="Global id of the resource (it may since be deleted).")
    resource_name: str = strawberry.field(description="The resource's name when it happened.")
    changes: list[AuditChange] = strawberry.field(
        resolver=lambda root: audit_changes(root.stored_changes),
        description="What changed, one entry per field, in one shape for every resource (see AuditChange).",
    )
    request_id: str | None = strawberry.field(
        description="The API call's request id (its `X-Request-Id`, or the one the server gave it; also in the logs)."
    )
    # As the row stores them: `changes` presents them only when a client selects it.
    stored_changes: strawberry.Private[Mapping[str, Any]]

    @classmethod
    def from_row(cls, row: models.AuditEvent) -> "AuditEvent":
        return cls(
            id=to_global_id("AuditEvent", row.id),
            pk=row.id,
            batch_pk=row.batch_id,
            actor_pk=row.actor_id,
            occurred_at=row.occurred_at,
            actor_name=row.actor_name,
            action=AuditAction(row.action),
            resource_type=ResourceType(row.resource_type),
            resource_id=to_global_id(RESOURCE_TYPE_NAMES[row.resource_type], row.resource_id),
            resource_name=row.resource_name,
            stored_changes=row.changes,
            request_id=row.request_id,
        )

    @strawberry.field(
        description=(
            "A bulk call's event: one entry per resource it changed (each contact's own history row), in order."
        )
    )
    async def entries(
        self,
        info: Info,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection["AuditEvent"]:
        loaders = info.context.loaders
        request = PageRequest(first=first, after=after, last=last, before=before)
        return await nested_connection(
            info, loaders.audit_entries, loaders.audit_entry_count, self.pk, request, AuditEvent.from_row
        )

    @strawberry.field(description="For an entry of a bulk call: the call's own event.")
    async def batch(self, info: Info) -> "AuditEvent | None":
        if self.batch_pk is None:
            return None
        row = await info.context.loaders.audit_event_by_id.load(self.batch_pk)
        return AuditEvent.from_row(row) if row else None

    @strawberry.field(description="The user who acted; null for the system or when you cannot see them.")
    async def actor(self, info: Info) -> User | None:
        if self.actor_pk is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.actor_pk)
        return User.from_row(row) if row else None


# Compiled reads (schema/sql_map.py).
sql_map.declare(
    "User",
    {
        "id": sql_map.global_id("User"),
        "email": sql_map.text("email"),
        "name": sql_map.text("name"),
        "role": sql_map.text("role"),
        "active": sql_map.boolean("is_active"),
        "createdAt": sql_map.instant("created_at"),
        "updatedAt": sql_map.instant("updated_at"),
        # Always one: OFFLINE and never changed when the user has no presence row.
        "presence": sql_map.Nested(
            "UserPresence",
            "(SELECT coalesce(p.status, 'OFFLINE') AS status, p.changed_at FROM (SELECT 1) one"
            " LEFT JOIN presences p ON p.user_id = {t}.id)",
            "true",
        ),
        "teams": sql_map.Paged(batches.USER_TEAMS),
        "supervisedTeams": sql_map.Paged(batches.USER_SUPERVISED_TEAMS),
    },
)
sql_map.declare("UserPresence", {"status": sql_map.text("status"), "changedAt": sql_map.instant("changed_at")})
sql_map.declare(
    "Team",
    {
        "id": sql_map.global_id("Team"),
        "name": sql_map.text("name"),
        "depth": sql_map.Scalar("(length({t}.path) - length(replace({t}.path, '/', '')) - 2)::text"),
        "createdAt": sql_map.instant("created_at"),
        "updatedAt": sql_map.instant("updated_at"),
        "parent": sql_map.Nested(
            "Team", "teams", "{a}.id = {t}.parent_id", visible=sql_map.seen_as_loaded(models.Team)
        ),
        "children": sql_map.Paged(batches.TEAM_CHILDREN),
        "members": sql_map.Paged(batches.TEAM_MEMBERS),
        "supervisors": sql_map.Paged(batches.TEAM_SUPERVISORS),
    },
)

_RESOURCE_TYPE = (
    "CASE {t}.resource_type "
    + " ".join(f"WHEN '{kind}' THEN '{name}'" for kind, name in RESOURCE_TYPE_NAMES.items())
    + " END"
)
sql_map.declare(
    "AuditEvent",
    {
        "id": sql_map.global_id("AuditEvent"),
        "occurredAt": sql_map.instant("occurred_at"),
        "actorName": sql_map.text("actor_name"),
        "action": sql_map.text("action"),
        "resourceType": sql_map.text("resource_type"),
        "resourceId": sql_map.Scalar(sql_map.global_id_sql(_RESOURCE_TYPE + " || ':'", "{t}.resource_id")),
        "resourceName": sql_map.text("resource_name"),
        "requestId": sql_map.text("request_id"),
        "entries": sql_map.Paged(batches.AUDIT_ENTRIES),
        "batch": sql_map.Nested(
            "AuditEvent",
            "audit_events",
            "{a}.id = {t}.batch_id",
            visible=sql_map.seen_as_loaded(models.AuditEvent),
        ),
        "actor": sql_map.Nested("User", "users", "{a}.id = {t}.actor_id", visible=sql_map.seen_as_loaded(models.User)),
    },
)
