"""Teams (R2): a tree of any depth, with members and supervisors. ADMIN manages it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, delete, exists, false, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db import scopes
from db.batches import TEAM_KEYS
from db.keyset import Page, PageRequest, paginate
from db.models import Contact, Portfolio, Role, Team, TeamMember, TeamSupervisor, User
from db.search import fold, matches
from services import audit, events
from services.audit import AuditAction, ResourceType
from services.common import clean_name, require_admin
from services.errors import ErrorCode, fail, not_found
from services.principal import Principal


@dataclass(frozen=True)
class TeamFilter:
    search: str | None = None
    # parent_id=None with roots=True: the highest teams the viewer can see (R2).
    parent_id: int | None = None
    roots: bool = False


def filtered(viewer: Principal, flt: TeamFilter) -> Select[Team]:
    stmt = scopes.teams(select(Team), viewer)
    if flt.search and flt.search.strip():
        stmt = stmt.where(matches(flt.search, Team.sort_name))
    if flt.parent_id is not None:
        # The visible children of a parent the viewer cannot see would reveal that parent (R3).
        visible_parent = viewer.scope_team_ids is None or flt.parent_id in viewer.scope_team_ids
        stmt = stmt.where(Team.parent_id == flt.parent_id) if visible_parent else stmt.where(false())
    if flt.roots:
        scope = viewer.scope_team_ids
        if scope is None:
            stmt = stmt.where(Team.parent_id.is_(None))
        else:
            # A visible team whose parent is not visible is a root of what this viewer sees.
            stmt = stmt.where((Team.parent_id.is_(None)) | (Team.parent_id.not_in(scope)))
    return stmt


async def list_teams(
    session: AsyncSession, viewer: Principal, flt: TeamFilter, page: PageRequest, *, max_page_size: int
) -> tuple[Page[Team], Select[Team]]:
    stmt = filtered(viewer, flt)
    return await paginate(session, stmt, keys=TEAM_KEYS, request=page, max_page_size=max_page_size), stmt


async def get_visible(session: AsyncSession, viewer: Principal, team_id: int, field: str = "id") -> Team:
    team = (await session.execute(scopes.teams(select(Team).where(Team.id == team_id), viewer))).scalar_one_or_none()
    if team is None:
        raise not_found("Team", field)
    return team


async def _check_sibling_name(
    session: AsyncSession, name: str, parent_id: int | None, except_id: int | None, field: str = "name"
) -> None:
    stmt = select(Team.id).where(func.coalesce(Team.parent_id, 0) == (parent_id or 0), Team.sort_name == fold(name))
    if except_id is not None:
        stmt = stmt.where(Team.id != except_id)
    if await session.scalar(stmt) is not None:
        raise fail(ErrorCode.ALREADY_EXISTS, "A team with this name already exists under the same parent", field)


async def _flush_unique(session: AsyncSession) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        # Lost a race with a concurrent request creating the same sibling name.
        raise fail(
            ErrorCode.ALREADY_EXISTS, "A team with this name already exists under the same parent", "name"
        ) from None


async def create_team(session: AsyncSession, actor: Principal, *, name: str, parent_id: int | None) -> Team:
    require_admin(actor, "create teams")
    name = clean_name(name, "name")
    parent = await get_visible(session, actor, parent_id, "parentId") if parent_id is not None else None
    await _check_sibling_name(session, name, parent_id, None)
    team = Team(name=name, parent_id=parent_id, path="")
    session.add(team)
    await _flush_unique(session)
    team.path = f"{parent.path if parent else '/'}{team.id}/"
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action=AuditAction.CREATED,
        resource_type=ResourceType.TEAM,
        resource_id=team.id,
        resource_name=team.name,
        team_ids=[team.id],
        changed=audit.changes({}, {"name": team.name, "parentId": parent_id}),
    )
    if parent is not None:
        # The supervisors of its ancestors now see it: their principals (cached per process) change.
        events.access_changed(session, None)
    return team


async def rename_team(session: AsyncSession, actor: Principal, team_id: int, *, name: str) -> Team:
    require_admin(actor, "edit teams")
    team = await get_visible(session, actor, team_id)
    name = clean_name(name, "name")
    if name == team.name:
        return team
    await _check_sibling_name(session, name, team.parent_id, team.id)
    before = team.name
    team.name = name
    await _flush_unique(session)
    await audit.record(
        session,
        actor=actor,
        action=AuditAction.UPDATED,
        resource_type=ResourceType.TEAM,
        resource_id=team.id,
        resource_name=team.name,
        team_ids=[team.id],
        changed={"name": {"before": before, "after": name}},
    )
    return team


async def move_team(session: AsyncSession, actor: Principal, team_id: int, *, parent_id: int | None) -> Team:
    """Re-parent a team with its whole subtree (one UPDATE of the paths)."""
    require_admin(actor, "move teams")
    team = await get_visible(session, actor, team_id)
    if parent_id == team.parent_id:
        return team
    parent = await get_visible(session, actor, parent_id, "parentId") if parent_id is not None else None
    if parent is not None and parent.path.startswith(team.path):
        raise fail(ErrorCode.INVALID, "A team cannot move under itself or its own subteams", "parentId")
    # The chosen parent is what clashes: moveTeam has no name argument to point at.
    await _check_sibling_name(session, team.name, parent_id, team.id, "parentId")
    old_parent, old_path = team.parent_id, team.path
    new_path = f"{parent.path if parent else '/'}{team.id}/"
    await session.execute(
        update(Team)
        .where(Team.path.startswith(old_path))
        .values(path=literal(new_path) + func.substr(Team.path, len(old_path) + 1))
        .execution_options(synchronize_session=False)
    )
    await session.execute(update(Team).where(Team.id == team.id).values(parent_id=parent_id))
    await session.refresh(team)
    await audit.record(
        session,
        actor=actor,
        action=AuditAction.MOVED,
        resource_type=ResourceType.TEAM,
        resource_id=team.id,
        resource_name=team.name,
        # The old parent's supervisors see that the team left their subtree.
        team_ids=[team.id] + ([old_parent] if old_parent is not None else []),
        changed={"parentId": {"before": old_parent, "after": parent_id}},
    )
    # Whose subtrees hold it changed: every supervisor's scope may have.
    events.access_changed(session, None)
    return team


async def delete_team(session: AsyncSession, actor: Principal, team_id: int) -> int:
    """Delete a team without subteams; its memberships and supervisions go with it."""
    require_admin(actor, "delete teams")
    team = await get_visible(session, actor, team_id)
    if await session.scalar(select(exists().where(Team.parent_id == team.id))):
        raise fail(ErrorCode.CONFLICT, "Move or delete this team's subteams first", "id")
    # Contacts (archived ones too) keep their owning team: the foreign key would refuse the delete.
    if await session.scalar(select(exists().where(Contact.team_id == team.id))):
        raise fail(ErrorCode.CONFLICT, "Move this team's contacts to another team first", "id")
    if await session.scalar(select(exists().where(Portfolio.team_id == team.id))):
        raise fail(ErrorCode.CONFLICT, "Give this team's portfolios to another team, or delete them, first", "id")
    members = list(
        await session.scalars(
            select(TeamMember.user_id).where(TeamMember.team_id == team.id).order_by(TeamMember.user_id)
        )
    )
    supervisors = list(
        await session.scalars(
            select(TeamSupervisor.user_id).where(TeamSupervisor.team_id == team.id).order_by(TeamSupervisor.user_id)
        )
    )
    await session.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
    await session.execute(delete(TeamSupervisor).where(TeamSupervisor.team_id == team.id))
    await session.delete(team)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action=AuditAction.DELETED,
        resource_type=ResourceType.TEAM,
        resource_id=team.id,
        resource_name=team.name,
        team_ids=[team.id] + ([team.parent_id] if team.parent_id is not None else []),
        changed=audit.changes(
            {"name": team.name, "parentId": team.parent_id, "memberIds": members, "supervisorIds": supervisors},
            {"memberIds": [], "supervisorIds": []},
        ),
    )
    events.access_changed(session, None)
    return team.id


_LINKS: dict[bool, tuple[type[TeamMember] | type[TeamSupervisor], AuditAction, AuditAction, str]] = {
    False: (TeamMember, AuditAction.MEMBER_ADDED, AuditAction.MEMBER_REMOVED, "member"),
    True: (TeamSupervisor, AuditAction.SUPERVISOR_ADDED, AuditAction.SUPERVISOR_REMOVED, "supervisor"),
}


async def set_link(
    session: AsyncSession,
    actor: Principal,
    *,
    team_id: int,
    user_id: int,
    supervisor: bool,
    present: bool,
) -> Team:
    """Add or remove a member (supervisor=False) or a supervisor; idempotent, audited when it changes."""
    model, added, removed, word = _LINKS[supervisor]
    require_admin(actor, f"manage team {word}s")
    team = await get_visible(session, actor, team_id, "teamId")
    user = (await session.execute(select(User).where(User.id == user_id))).scalar_one_or_none()
    if user is None:
        raise not_found("User", "userId")
    if supervisor and present and user.role != Role.SUPERVISOR.value:
        raise fail(ErrorCode.INVALID, "Only users with the SUPERVISOR role can supervise teams", "userId")
    linked = await session.scalar(select(exists().where(model.team_id == team.id, model.user_id == user.id)))
    if linked == present:
        return team
    if present:
        session.add(model(team_id=team.id, user_id=user.id))
        await session.flush()
    else:
        await session.execute(delete(model).where(model.team_id == team.id, model.user_id == user.id))
    linked_as = {f"{word}Id": user.id, word: user.name}
    await audit.record(
        session,
        actor=actor,
        action=added if present else removed,
        resource_type=ResourceType.TEAM,
        resource_id=team.id,
        resource_name=team.name,
        team_ids=[team.id],
        changed=audit.changes({}, linked_as) if present else audit.changes(linked_as, {}),
    )
    events.access_changed(session, [user.id])
    return team
