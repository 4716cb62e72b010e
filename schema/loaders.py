"""Per-operation dataloaders (`<Thing>By<Key>`): one IN (...) query per batch, scoped to the viewer."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar, overload

from aiodataloader import DataLoader
from sqlalchemy.ext.asyncio import AsyncSession

from db import batches, keyset, sales_batches
from db.batches import ContactHistory, NestedList
from db.keyset import Page, PageRequest
from db.models import CustomFieldDefinition
from services import catalog, contacts
from services.contacts import ContactFilter, ContactOrder
from services.errors import Unauthenticated
from services.principal import Principal

K = TypeVar("K")
V = TypeVar("V")
L = TypeVar("L")


class _Lazy(Generic[L]):
    """A loader built on first access and then kept in the instance's __dict__ (a non-data
    descriptor, as functools.cached_property, so later reads are plain attribute lookups)."""

    def __init__(self, build: Callable[[Loaders], L]) -> None:
        self._build = build
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, loaders: None, owner: type) -> _Lazy[L]: ...

    @overload
    def __get__(self, loaders: Loaders, owner: type) -> L: ...

    def __get__(self, loaders: Loaders | None, owner: type) -> _Lazy[L] | L:
        if loaders is None:
            return self
        loader = self._build(loaders)
        loaders.__dict__[self._name] = loader
        return loader


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
        # Nested contact lists of portfolios, one pair of loaders per distinct filter and order.
        self._portfolio_contacts: dict[tuple[Any, ...], tuple[NestedPageLoader, NestedCountLoader]] = {}

    # Each loader is built on first use (then kept in the instance's __dict__, where clear()
    # finds it): an operation pays only for the loaders it reads, not for all of them.
    user_by_id = _Lazy(lambda self: _ByKey(lambda ids: batches.users_by_id(self.session, self.viewer, ids)))
    team_by_id = _Lazy(lambda self: _ByKey(lambda ids: batches.teams_by_id(self.session, self.viewer, ids)))
    audit_event_by_id = _Lazy(
        lambda self: _ByKey(lambda ids: batches.audit_events_by_id(self.session, self.viewer, ids))
    )
    contact_by_id = _Lazy(lambda self: _ByKey(lambda ids: batches.contacts_by_id(self.session, self.viewer, ids)))
    company_by_id = _Lazy(lambda self: _ByKey(lambda ids: batches.companies_by_id(self.session, ids)))
    document_type_by_id = _Lazy(lambda self: _ByKey(lambda ids: batches.document_types_by_id(self.session, ids)))
    custom_field_definition_by_id = _Lazy(lambda self: _ByKey(self._definitions_by_id))
    channel_by_id = _Lazy(lambda self: _ByKey(lambda ids: batches.channels_by_id(self.session, self.viewer, ids)))
    address_by_id = _Lazy(lambda self: _ByKey(lambda ids: batches.addresses_by_id(self.session, self.viewer, ids)))
    channels_by_contact = _Lazy(lambda self: _ListByKey(lambda ids: batches.channels_by_contact(self.session, ids)))
    addresses_by_contact = _Lazy(lambda self: _ListByKey(lambda ids: batches.addresses_by_contact(self.session, ids)))
    custom_field_definitions = _Lazy(lambda self: _ByKey(self._definitions))
    team_members = _Lazy(lambda self: NestedPageLoader(self, batches.TEAM_MEMBERS))
    team_member_count = _Lazy(lambda self: NestedCountLoader(self, batches.TEAM_MEMBERS))
    team_supervisors = _Lazy(lambda self: NestedPageLoader(self, batches.TEAM_SUPERVISORS))
    team_supervisor_count = _Lazy(lambda self: NestedCountLoader(self, batches.TEAM_SUPERVISORS))
    team_children = _Lazy(lambda self: NestedPageLoader(self, batches.TEAM_CHILDREN))
    team_children_count = _Lazy(lambda self: NestedCountLoader(self, batches.TEAM_CHILDREN))
    user_teams = _Lazy(lambda self: NestedPageLoader(self, batches.USER_TEAMS))
    user_team_count = _Lazy(lambda self: NestedCountLoader(self, batches.USER_TEAMS))
    user_supervised_teams = _Lazy(lambda self: NestedPageLoader(self, batches.USER_SUPERVISED_TEAMS))
    user_supervised_team_count = _Lazy(lambda self: NestedCountLoader(self, batches.USER_SUPERVISED_TEAMS))
    portfolio_by_id = _Lazy(lambda self: _ByKey(lambda ids: batches.portfolios_by_id(self.session, self.viewer, ids)))
    badge_by_contact = _Lazy(lambda self: _ByKey(lambda ids: batches.badges_by_contact(self.session, ids)))
    badge_by_portfolio = _Lazy(lambda self: _ByKey(lambda ids: batches.badges_by_portfolio(self.session, ids)))
    portfolio_contact_count = _Lazy(
        lambda self: _ByKey(lambda ids: batches.portfolio_contact_counts(self.session, ids))
    )
    presence_by_user = _Lazy(lambda self: _ByKey(lambda ids: batches.presences_by_user(self.session, ids)))
    audit_entries = _Lazy(lambda self: NestedPageLoader(self, batches.AUDIT_ENTRIES))
    audit_entry_count = _Lazy(lambda self: NestedCountLoader(self, batches.AUDIT_ENTRIES))
    campaign_by_id = _Lazy(lambda self: _ByKey(lambda ids: batches.campaigns_by_id(self.session, self.viewer, ids)))
    gestion_by_id = _Lazy(lambda self: _ByKey(lambda ids: batches.gestiones_by_id(self.session, self.viewer, ids)))
    comment_by_id = _Lazy(lambda self: _ByKey(lambda ids: batches.comments_by_id(self.session, self.viewer, ids)))
    attachment_by_id = _Lazy(lambda self: _ByKey(lambda ids: batches.attachments_by_id(self.session, self.viewer, ids)))
    job_by_id = _Lazy(lambda self: _ByKey(lambda ids: batches.jobs_by_id(self.session, self.viewer, ids)))
    stored_file_by_id = _Lazy(
        lambda self: _ByKey(lambda ids: batches.stored_files_by_id(self.session, self.viewer, ids))
    )
    stored_file_by_job = _Lazy(
        lambda self: _ByKey(lambda ids: batches.stored_files_by_job(self.session, self.viewer, ids))
    )
    typology_by_id = _Lazy(lambda self: _ByKey(lambda ids: batches.typologies_by_id(self.session, ids)))
    result_by_id = _Lazy(lambda self: _ByKey(lambda ids: batches.results_by_id(self.session, ids)))
    results_by_typology = _Lazy(lambda self: _ListByKey(lambda ids: batches.results_by_typology(self.session, ids)))
    campaign_operators = _Lazy(lambda self: NestedPageLoader(self, batches.CAMPAIGN_OPERATORS))
    campaign_operator_count = _Lazy(lambda self: NestedCountLoader(self, batches.CAMPAIGN_OPERATORS))
    contact_gestiones = _Lazy(lambda self: NestedPageLoader(self, batches.CONTACT_GESTIONES))
    contact_gestion_count = _Lazy(lambda self: NestedCountLoader(self, batches.CONTACT_GESTIONES))
    gestion_comments = _Lazy(lambda self: NestedPageLoader(self, batches.GESTION_COMMENTS))
    gestion_comment_count = _Lazy(lambda self: NestedCountLoader(self, batches.GESTION_COMMENTS))
    gestion_attachments = _Lazy(lambda self: NestedPageLoader(self, batches.GESTION_ATTACHMENTS))
    gestion_attachment_count = _Lazy(lambda self: NestedCountLoader(self, batches.GESTION_ATTACHMENTS))
    gestion_history = _Lazy(lambda self: NestedPageLoader(self, batches.GESTION_HISTORY))
    gestion_history_count = _Lazy(lambda self: NestedCountLoader(self, batches.GESTION_HISTORY))
    conversation_by_id = _Lazy(
        lambda self: _ByKey(lambda ids: batches.conversations_by_id(self.session, self.viewer, ids))
    )
    message_by_id = _Lazy(lambda self: _ByKey(lambda ids: batches.messages_by_id(self.session, self.viewer, ids)))
    conversation_messages = _Lazy(lambda self: NestedPageLoader(self, batches.CONVERSATION_MESSAGES))
    conversation_message_count = _Lazy(lambda self: NestedCountLoader(self, batches.CONVERSATION_MESSAGES))
    conversation_latest_messages = _Lazy(lambda self: NestedPageLoader(self, batches.CONVERSATION_LATEST_MESSAGES))
    contact_history = _Lazy(lambda self: NestedPageLoader(self, batches.CONTACT_HISTORY))
    contact_history_count = _Lazy(lambda self: NestedCountLoader(self, batches.CONTACT_HISTORY))
    sales_attention_by_id = _Lazy(
        lambda self: _ByKey(lambda ids: sales_batches.attentions_by_id(self.session, self.viewer, ids))
    )
    sales_entry_by_id = _Lazy(lambda self: _ByKey(lambda ids: sales_batches.entries_by_id(self.session, ids)))
    sales_view_by_id = _Lazy(lambda self: _ByKey(lambda ids: sales_batches.views_by_id(self.session, self.viewer, ids)))
    sales_contact_line = _Lazy(lambda self: _ByKey(lambda ids: sales_batches.contact_lines(self.session, ids)))
    attention_conversations = _Lazy(lambda self: NestedPageLoader(self, sales_batches.ATTENTION_CONVERSATIONS))
    attention_conversation_count = _Lazy(lambda self: NestedCountLoader(self, sales_batches.ATTENTION_CONVERSATIONS))
    contact_pages = _Lazy(lambda self: _ContactPages(self))
    contact_counts = _Lazy(lambda self: _ContactCounts(self))
    notification_by_id = _Lazy(
        lambda self: _ByKey(lambda ids: batches.notifications_by_id(self.session, self.viewer, ids))
    )

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
            nested = contacts.in_portfolios(self.viewer, flt, order, descending, self.session.get_bind().dialect.name)
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
