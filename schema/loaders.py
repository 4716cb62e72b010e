"""Per-operation dataloaders (`<Thing>By<Key>`): one IN (...) query per batch, scoped to the viewer."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from aiodataloader import DataLoader
from sqlalchemy.ext.asyncio import AsyncSession

from db import batches, keyset
from db.batches import ContactHistory, NestedList
from db.keyset import Page, PageRequest
from db.models import Contact, CustomFieldDefinition, PortfolioMember
from services import catalog, contacts
from services.contacts import ContactFilter, ContactOrder
from services.errors import Unauthenticated
from services.principal import Principal

K = TypeVar("K")
V = TypeVar("V")


class _ByKey(DataLoader[K, V | None]):
    """Loads rows by key with one batched call; a key the viewer may not see loads as None."""

    def __init__(self, fetch: Callable[[Sequence[K]], Awaitable[dict[K, V]]]) -> None:
        super().__init__()
        self._fetch = fetch

    async def batch_load_fn(self, keys: list[K]) -> list[V | None]:
        found = await self._fetch(keys)
        return [found.get(k) for k in keys]


class _ListByKey(DataLoader[K, list[V]]):
    """Loads the rows owned by each key (a contact's channels) with one batched call."""

    def __init__(self, fetch: Callable[[Sequence[K]], Awaitable[dict[K, list[V]]]]) -> None:
        super().__init__()
        self._fetch = fetch

    async def batch_load_fn(self, keys: list[K]) -> list[list[V]]:
        found = await self._fetch(keys)
        return [found.get(k, []) for k in keys]


class NestedPageLoader(DataLoader[tuple[int, PageRequest], Page[Any]]):
    """Pages of a nested connection for many parents: one statement per distinct page request."""

    def __init__(self, loaders: Loaders, nested: NestedList | ContactHistory) -> None:
        super().__init__()
        self._loaders = loaders
        self._nested = nested

    async def batch_load_fn(self, keys: list[tuple[int, PageRequest]]) -> list[Page[Any]]:
        by_request: dict[PageRequest, list[int]] = defaultdict(list)
        for parent_id, request in keys:
            by_request[request].append(parent_id)
        pages: dict[tuple[int, PageRequest], Page[Any]] = {}
        for request, parent_ids in by_request.items():
            found = await self._nested.pages(
                self._loaders.session,
                self._loaders.viewer,
                parent_ids,
                request,
                self._loaders.max_page_size,
            )
            pages.update({(pid, request): page for pid, page in found.items()})
        return [pages[k] for k in keys]


class NestedCountLoader(DataLoader[int, int]):
    def __init__(self, loaders: Loaders, nested: NestedList | ContactHistory) -> None:
        super().__init__()
        self._loaders = loaders
        self._nested = nested

    async def batch_load_fn(self, keys: list[int]) -> list[int]:
        counts = await self._nested.counts(self._loaders.session, self._loaders.viewer, keys)
        return [counts[k] for k in keys]


class _ContactPages(DataLoader[tuple[ContactFilter, PageRequest], Page[Any]]):
    """Pages of contact lists that are fields of another result (a preview's free contacts): the
    contacts query's own listing, in its default order, once per distinct filter and page."""

    def __init__(self, loaders: Loaders) -> None:
        super().__init__()
        self._loaders = loaders

    async def batch_load_fn(self, keys: list[tuple[ContactFilter, PageRequest]]) -> list[Page[Any]]:
        pages = []
        for flt, request in keys:
            page, _ = await contacts.list_contacts(
                self._loaders.session,
                self._loaders.viewer,
                flt,
                request,
                max_page_size=self._loaders.max_page_size,
            )
            pages.append(page)
        return pages


class _ContactCounts(DataLoader[ContactFilter, int]):
    def __init__(self, loaders: Loaders) -> None:
        super().__init__()
        self._loaders = loaders

    async def batch_load_fn(self, keys: list[ContactFilter]) -> list[int]:
        session, viewer = self._loaders.session, self._loaders.viewer
        dialect = session.get_bind().dialect.name
        return [await keyset.count(session, contacts.filtered(viewer, flt, dialect)) for flt in keys]


class Loaders:
    """Built per operation, so caches never outlive it nor cross users."""

    def __init__(self, session: AsyncSession, principal: Principal | None, max_page_size: int) -> None:
        self.session = session
        self._principal = principal
        self.max_page_size = max_page_size
        self.user_by_id = _ByKey(lambda ids: batches.users_by_id(session, self.viewer, ids))
        self.team_by_id = _ByKey(lambda ids: batches.teams_by_id(session, self.viewer, ids))
        self.audit_event_by_id = _ByKey(lambda ids: batches.audit_events_by_id(session, self.viewer, ids))
        self.contact_by_id = _ByKey(lambda ids: batches.contacts_by_id(session, self.viewer, ids))
        self.company_by_id = _ByKey(lambda ids: batches.companies_by_id(session, ids))
        self.document_type_by_id = _ByKey(lambda ids: batches.document_types_by_id(session, ids))
        self.custom_field_definition_by_id = _ByKey(self._definitions_by_id)
        self.channel_by_id = _ByKey(lambda ids: batches.channels_by_id(session, self.viewer, ids))
        self.address_by_id = _ByKey(lambda ids: batches.addresses_by_id(session, self.viewer, ids))
        self.channels_by_contact = _ListByKey(lambda ids: batches.channels_by_contact(session, ids))
        self.addresses_by_contact = _ListByKey(lambda ids: batches.addresses_by_contact(session, ids))
        self.custom_field_definitions = _ByKey(self._definitions)
        self.team_members = NestedPageLoader(self, batches.TEAM_MEMBERS)
        self.team_member_count = NestedCountLoader(self, batches.TEAM_MEMBERS)
        self.team_supervisors = NestedPageLoader(self, batches.TEAM_SUPERVISORS)
        self.team_supervisor_count = NestedCountLoader(self, batches.TEAM_SUPERVISORS)
        self.team_children = NestedPageLoader(self, batches.TEAM_CHILDREN)
        self.team_children_count = NestedCountLoader(self, batches.TEAM_CHILDREN)
        self.user_teams = NestedPageLoader(self, batches.USER_TEAMS)
        self.user_team_count = NestedCountLoader(self, batches.USER_TEAMS)
        self.user_supervised_teams = NestedPageLoader(self, batches.USER_SUPERVISED_TEAMS)
        self.user_supervised_team_count = NestedCountLoader(self, batches.USER_SUPERVISED_TEAMS)
        self.portfolio_by_id = _ByKey(lambda ids: batches.portfolios_by_id(session, self.viewer, ids))
        self.badge_by_contact = _ByKey(lambda ids: batches.badges_by_contact(session, ids))
        self.badge_by_portfolio = _ByKey(lambda ids: batches.badges_by_portfolio(session, ids))
        self.portfolio_contact_count = _ByKey(lambda ids: batches.portfolio_contact_counts(session, ids))
        self.presence_by_user = _ByKey(lambda ids: batches.presences_by_user(session, ids))
        self.audit_entries = NestedPageLoader(self, batches.AUDIT_ENTRIES)
        self.audit_entry_count = NestedCountLoader(self, batches.AUDIT_ENTRIES)
        self.campaign_by_id = _ByKey(lambda ids: batches.campaigns_by_id(session, self.viewer, ids))
        self.gestion_by_id = _ByKey(lambda ids: batches.gestiones_by_id(session, self.viewer, ids))
        self.comment_by_id = _ByKey(lambda ids: batches.comments_by_id(session, self.viewer, ids))
        self.attachment_by_id = _ByKey(lambda ids: batches.attachments_by_id(session, self.viewer, ids))
        self.typology_by_id = _ByKey(lambda ids: batches.typologies_by_id(session, ids))
        self.result_by_id = _ByKey(lambda ids: batches.results_by_id(session, ids))
        self.results_by_typology = _ListByKey(lambda ids: batches.results_by_typology(session, ids))
        self.campaign_operators = NestedPageLoader(self, batches.CAMPAIGN_OPERATORS)
        self.campaign_operator_count = NestedCountLoader(self, batches.CAMPAIGN_OPERATORS)
        self.contact_gestiones = NestedPageLoader(self, batches.CONTACT_GESTIONES)
        self.contact_gestion_count = NestedCountLoader(self, batches.CONTACT_GESTIONES)
        self.gestion_comments = NestedPageLoader(self, batches.GESTION_COMMENTS)
        self.gestion_comment_count = NestedCountLoader(self, batches.GESTION_COMMENTS)
        self.gestion_attachments = NestedPageLoader(self, batches.GESTION_ATTACHMENTS)
        self.gestion_attachment_count = NestedCountLoader(self, batches.GESTION_ATTACHMENTS)
        self.gestion_history = NestedPageLoader(self, batches.GESTION_HISTORY)
        self.gestion_history_count = NestedCountLoader(self, batches.GESTION_HISTORY)
        self.conversation_by_id = _ByKey(lambda ids: batches.conversations_by_id(session, self.viewer, ids))
        self.message_by_id = _ByKey(lambda ids: batches.messages_by_id(session, self.viewer, ids))
        self.conversation_messages = NestedPageLoader(self, batches.CONVERSATION_MESSAGES)
        self.conversation_message_count = NestedCountLoader(self, batches.CONVERSATION_MESSAGES)
        self.conversation_latest_messages = NestedPageLoader(self, batches.CONVERSATION_LATEST_MESSAGES)
        self.contact_history = NestedPageLoader(self, batches.CONTACT_HISTORY)
        self.contact_history_count = NestedCountLoader(self, batches.CONTACT_HISTORY)
        self.contact_pages = _ContactPages(self)
        self.contact_counts = _ContactCounts(self)
        # Nested contact lists of portfolios, one pair of loaders per distinct filter and order.
        self._portfolio_contacts: dict[tuple[Any, ...], tuple[NestedPageLoader, NestedCountLoader]] = {}

    @property
    def viewer(self) -> Principal:
        if self._principal is None:
            raise Unauthenticated("Sign in first: send a valid bearer token")
        return self._principal

    def act_as(self, principal: Principal) -> None:
        self._principal = principal
        self.clear()

    def clear(self) -> None:
        """Forget every cached row (after a write, or when the viewer changes)."""
        for loader in vars(self).values():
            if isinstance(loader, DataLoader):
                loader.clear_all()
        self._portfolio_contacts.clear()

    def portfolio_contacts(
        self, flt: ContactFilter, order: ContactOrder, descending: bool
    ) -> tuple[NestedPageLoader, NestedCountLoader]:
        """Loaders of portfolios' contacts matching `flt`: one statement for every portfolio asking."""
        key = (flt, order, descending)
        if key not in self._portfolio_contacts:
            nested = NestedList(
                Contact,
                contacts.sort_keys(order, descending),
                PortfolioMember.portfolio_id,
                lambda _viewer: contacts.filtered(self.viewer, flt, self.session.get_bind().dialect.name).join(
                    PortfolioMember, PortfolioMember.contact_id == Contact.id
                ),
            )
            self._portfolio_contacts[key] = (NestedPageLoader(self, nested), NestedCountLoader(self, nested))
        return self._portfolio_contacts[key]

    async def _definitions(self, keys: Sequence[bool]) -> dict[bool, list[CustomFieldDefinition]]:
        # One key (True): every definition, loaded once per operation however many contacts ask.
        rows = await catalog.list_custom_fields(self.session, include_inactive=True)
        return dict.fromkeys(keys, rows)

    async def _definitions_by_id(self, ids: Sequence[int]) -> dict[int, CustomFieldDefinition]:
        # Reference data every signed-in user may read (C7), and small: the one load contacts'
        # custom fields use serves it too.
        return {d.id: d for d in await self.custom_field_definitions.load(True) or []}
