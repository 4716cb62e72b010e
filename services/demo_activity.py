"""What the demo's people are working on (`cartera seed-demo`, after services.demo loads the contacts):
portfolios and their contacts, a campaign per leaf team with its gestiones, conversations with their
messages, and commercial attentions with the sales catalogues.

Every part is a share of the contacts, capped (`Scale`), and written set-based like the contacts:
ids assigned here after the current maximum (and, on PostgreSQL, after the last id the sequence
gave, which is moved past them afterwards), rows generated in Python, then one COPY (PostgreSQL)
or one executemany (SQLite) per table, in the seed's one transaction. The rows are what the
services would have written: conversations obey the status/agent rules and the agents' open
counts (agent_loads) equal their OPEN conversations; a contact has at most one open gestión per
campaign, one conversation not RESOLVED per address and one attention not CLOSED; plans pass
their typology's fields; finished gestiones carry a finishing result and, where the result asks
for one, a comment. The stream of random numbers is its own (`random.Random(f"{seed}:activity")`),
so the contacts a seed gave before this module existed are the same.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.base import Base
from db.models import (
    AgentLoad,
    Campaign,
    CampaignOperator,
    CampaignStatus,
    Contact,
    ContactChannel,
    Conversation,
    ConversationMessage,
    ConversationStatus,
    Gestion,
    GestionComment,
    GestionStatus,
    MessageDirection,
    Portfolio,
    PortfolioMember,
    RoutingMethod,
    SalesAttention,
    SalesAttentionConversation,
    SalesAttentionStatus,
    SalesCatalogEntry,
    SalesCatalogKind,
    Typology,
    TypologyResult,
)
from db.search import fold
from db.sets import in_ids
from services.routing_trace import RoutingRule, Skip, SkipReason, Trace

Rows = list[tuple[Any, ...]]
# (stage, done, total): called after each part is written.
Progress = Callable[[str, int, int], None]

# The typology each leaf team's campaign follows, in the order of the leaves (a code missing
# from the database falls back to the active typologies in turn).
CAMPAIGN_TYPOLOGIES = ("COLLECTIONS", "COLLECTIONS", "SCORING", "BID_INVITATION", "SCORING")
CAMPAIGN_NAMES = {
    "COLLECTIONS": "Mora temprana",
    "SCORING": "Scoring de planes nuevos",
    "BID_INVITATION": "Convocatoria a licitación",
}
PRODUCTS = ("Plan Ahorro 84", "Plan Ahorro 120", "Préstamo Personal", "Tarjeta Clásica", "Tarjeta Oro", "Seguro Hogar")
CATALOGUES: dict[SalesCatalogKind, tuple[str, ...]] = {
    SalesCatalogKind.INTEREST: (
        "Plan de ahorro",
        "Préstamo personal",
        "Tarjeta de crédito",
        "Seguro automotor",
        "Seguro de hogar",
        "Cuenta sueldo",
    ),
    SalesCatalogKind.ORIGIN: ("Formulario web", "WhatsApp", "Referido", "Campaña de e-mail", "Llamada entrante"),
    SalesCatalogKind.CLOSE_REASON: (
        "Venta concretada",
        "Sin interés",
        "Precio",
        "No contesta",
        "Compró a la competencia",
    ),
}
COMMENTS = (
    "Se comunicó con el titular; pide que lo llamen la semana próxima.",
    "Atendió un familiar, el titular no estaba.",
    "Confirma el domicilio y el medio de pago.",
    "Solicita el detalle de la deuda por e-mail.",
    "Acordó el pago en dos cuotas.",
    "No reconoce el plan; se envía la documentación.",
    "Pide hablar con un supervisor.",
)
CLIENT_LINES = (
    "Hola, quería consultar por mi plan.",
    "Buenas tardes, necesito el saldo de mi cuenta.",
    "¿Me pueden enviar la factura del mes?",
    "Quiero cambiar la fecha de débito.",
    "Gracias por la respuesta.",
    "¿Tienen alguna promoción vigente?",
    "Perfecto, quedo a la espera.",
)
AGENT_LINES = (
    "¡Hola! Con gusto te ayudo. ¿Me confirmás tu DNI?",
    "Ya lo verifiqué: tu saldo está al día.",
    "Te envío el detalle por este medio en unos minutos.",
    "Listo, quedó registrado el cambio.",
    "¿Hay algo más en lo que te pueda ayudar?",
)
NOTES = ("Cliente con reclamo previo, tratar con prioridad.", "Derivar a Ventas si vuelve a consultar.")
MINUTE = 60
DAY = 24 * 3600


@dataclass(frozen=True)
class Scale:
    """How many of each part for `contacts` contacts: a share of them, capped so a large seed stays quick."""

    portfolio_members: int
    gestiones: int
    conversations: int
    attentions: int

    @classmethod
    def of(cls, contacts: int) -> Scale:
        def share(divisor: int, cap: int) -> int:
            return min(cap, contacts, max(1, contacts // divisor))

        return cls(
            portfolio_members=share(4, 50_000),
            gestiones=share(4, 50_000),
            conversations=share(10, 20_000),
            attentions=share(20, 20_000),
        )


@dataclass
class Activity:
    """What was written, for the audit entry and the command's summary."""

    portfolios: int = 0
    portfolio_members: int = 0
    campaigns: int = 0
    gestiones: int = 0
    gestion_comments: int = 0
    conversations: int = 0
    messages: int = 0
    attentions: int = 0
    # Clients with an attention (Scale.attentions); a quarter also have an older, closed one.
    sales_clients: int = 0
    catalogue_entries: int = 0
    statuses: dict[str, Counter[str]] = field(default_factory=dict)

    def as_changes(self) -> dict[str, Any]:
        return {
            "portfolios": self.portfolios,
            "portfolioMembers": self.portfolio_members,
            "campaigns": self.campaigns,
            "gestiones": self.gestiones,
            "conversations": self.conversations,
            "messages": self.messages,
            "salesAttentions": self.attentions,
        }


@dataclass(frozen=True)
class People:
    """The demo's users, as services.demo created them."""

    admin_id: int
    # leaf team id → its agents (id, name), in creation order
    agents: dict[int, list[tuple[int, str]]]
    leaf_names: dict[int, str]


async def copy_rows(conn: AsyncConnection, table: Table, columns: Sequence[str], rows: Rows) -> None:
    """PostgreSQL COPY through asyncpg's binary protocol."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(table.name, records=rows, columns=list(columns))


async def first_id(conn: AsyncConnection, table: Table) -> int:
    """The first id past every row the table holds, and on PostgreSQL past every id its sequence
    gave: rows since deleted, which the audit trail may still name."""
    start = int(await conn.scalar(select(func.max(table.c.id))) or 0) + 1
    if conn.dialect.name == "postgresql":
        used = await conn.scalar(
            text("SELECT pg_sequence_last_value(CAST(pg_get_serial_sequence(:t, 'id') AS regclass))"),
            {"t": table.name},
        )
        start = max(start, int(used or 0) + 1)
    return start


async def move_sequence(conn: AsyncConnection, table: Table, last: int) -> None:
    """PostgreSQL's sequence past ids written by hand (first_id started past its last value, so
    this only moves it forward)."""
    await conn.execute(text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :last)"), {"t": table.name, "last": last})


class _Writer:
    """Ids after what the table holds, and rows written in one statement per table."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"

    async def first_id(self, table: Table) -> int:
        return await first_id(self.conn, table)

    async def write(self, table: Table, columns: Sequence[str], rows: Rows) -> None:
        if not rows:
            return
        if self.postgres:
            # COPY takes JSON as its text.
            as_text = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON)]
            if as_text:
                rows = [
                    tuple(json.dumps(v) if i in as_text and v is not None else v for i, v in enumerate(row))
                    for row in rows
                ]
            await copy_rows(self.conn, table, columns, rows)
            if "id" in columns:
                await move_sequence(self.conn, table, max(row[list(columns).index("id")] for row in rows))
        else:
            await self.conn.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])


def _table(model: type[Base]) -> Table:
    return Base.metadata.tables[str(model.__tablename__)]


def _sample(rng: random.Random, first: int, count: int, k: int) -> list[int]:
    """k distinct contact ids of first..first+count-1, in id order (a contact's rows come out grouped)."""
    return sorted(rng.sample(range(first, first + count), k))


async def _teams_of(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, int]:
    dialect = conn.dialect.name
    rows = (await conn.execute(select(Contact.id, Contact.team_id).where(in_ids(Contact.id, ids, dialect)))).all()
    return {int(i): int(t) for i, t in rows}


async def seed_activity(
    conn: AsyncConnection,
    *,
    seed_value: int,
    first_contact: int,
    contacts: int,
    people: People,
    now: datetime,
    progress: Progress | None = None,
) -> Activity:
    scale = Scale.of(contacts)
    activity = Activity()
    seeder = _Seeder(
        _Writer(conn), random.Random(f"{seed_value}:activity"), scale, first_contact, contacts, people, now, activity
    )

    def report(stage: str, done: int, total: int) -> None:
        if progress:
            progress(stage, done, total)

    portfolio_of = await seeder.portfolios()
    report("portfolio contacts", activity.portfolio_members, scale.portfolio_members)
    await seeder.gestiones()
    report("gestiones", activity.gestiones, scale.gestiones)
    conversation_of = await seeder.conversations(portfolio_of)
    report("conversations", activity.conversations, scale.conversations)
    await seeder.sales(conversation_of)
    report("sales clients", activity.sales_clients, scale.attentions)
    return activity


@dataclass
class _Seeder:
    """One seed's shared state: where it writes, its random stream, its sizes and what it wrote."""

    writer: _Writer
    rng: random.Random
    scale: Scale
    first_contact: int
    contacts: int
    people: People
    now: datetime
    activity: Activity

    async def portfolios(self) -> dict[int, tuple[int, int, int | None]]:
        """A general portfolio per leaf team and one per agent; returns contact → (portfolio, team, agent)."""
        table = _table(Portfolio)
        next_id = await self.writer.first_id(table)
        owned: dict[int, list[tuple[int, int, int | None]]] = {}
        rows: Rows = []
        for leaf, agents in self.people.agents.items():
            names: set[str] = set()
            mine: list[tuple[int, int, int | None]] = []
            for agent in [None, *agents]:
                name = f"Cartera general {self.people.leaf_names[leaf]}" if agent is None else f"Cartera de {agent[1]}"
                # Unique per team by folded name (uq_portfolios_team_name): two agents may share a name.
                numbered, n = name, 1
                while fold(numbered) in names:
                    n += 1
                    numbered = f"{name} {n}"
                names.add(fold(numbered))
                agent_id = agent[0] if agent else None
                rows.append((next_id, numbered, fold(numbered), leaf, agent_id, True, self.now, self.now))
                mine.append((next_id, leaf, agent_id))
                next_id += 1
            owned[leaf] = mine
        columns = ("id", "name", "search_name", "team_id", "agent_id", "active", "created_at", "updated_at")
        await self.writer.write(table, columns, rows)
        self.activity.portfolios = len(rows)

        members = _sample(self.rng, self.first_contact, self.contacts, self.scale.portfolio_members)
        teams = await _teams_of(self.writer.conn, members)
        portfolio_of: dict[int, tuple[int, int, int | None]] = {}
        member_rows: Rows = []
        for contact_id in members:
            choices = owned.get(teams[contact_id])
            if not choices:
                continue
            # A third in the team's general portfolio, the rest spread over its agents'.
            chosen = choices[0] if len(choices) == 1 or self.rng.random() < 0.3 else self.rng.choice(choices[1:])
            portfolio_of[contact_id] = chosen
            member_rows.append((contact_id, chosen[0], self.now - timedelta(seconds=self.rng.randint(0, 60 * DAY))))
        await self.writer.write(_table(PortfolioMember), ("contact_id", "portfolio_id", "assigned_at"), member_rows)
        self.activity.portfolio_members = len(member_rows)
        return portfolio_of

    async def gestiones(self) -> None:
        """An ACTIVE campaign per leaf team, its agents as operators, gestiones of the team's contacts."""
        conn = self.writer.conn
        typologies = (
            await conn.execute(
                select(Typology.id, Typology.code, Typology.plan_fields).where(Typology.active).order_by(Typology.id)
            )
        ).all()
        if not typologies:
            return
        by_code = {code: (int(i), fields) for i, code, fields in typologies}
        results: dict[int, list[tuple[int, bool, bool]]] = defaultdict(list)
        for typology_id, result_id, finishes, requires_comment in await conn.execute(
            select(
                TypologyResult.typology_id, TypologyResult.id, TypologyResult.finishes, TypologyResult.requires_comment
            )
            .where(TypologyResult.active)
            .order_by(TypologyResult.position, TypologyResult.id)
        ):
            results[int(typology_id)].append((int(result_id), bool(finishes), bool(requires_comment)))

        campaigns = _table(Campaign)
        campaign_id = await self.writer.first_id(campaigns)
        campaign_rows: Rows = []
        operator_rows: Rows = []
        # leaf → (campaign, its typology's plan fields, its results)
        campaign_of: dict[int, tuple[int, list[dict[str, Any]], list[tuple[int, bool, bool]]]] = {}
        for position, (leaf, agents) in enumerate(self.people.agents.items()):
            wanted = CAMPAIGN_TYPOLOGIES[position % len(CAMPAIGN_TYPOLOGIES)]
            code = wanted if wanted in by_code else typologies[position % len(typologies)][1]
            typology_id, fields = by_code[code]
            name = f"{CAMPAIGN_NAMES.get(code, code.title())} · {self.people.leaf_names[leaf]}"
            starts = (self.now - timedelta(days=30)).date()
            campaign_rows.append(
                (
                    campaign_id,
                    name,
                    fold(name),
                    typology_id,
                    leaf,
                    CampaignStatus.ACTIVE.value,
                    starts,
                    starts + timedelta(days=90),
                    self.now,
                    self.now,
                )
            )
            operator_rows.extend((campaign_id, agent_id, self.now) for agent_id, _ in agents)
            campaign_of[leaf] = (campaign_id, list(fields or []), results[typology_id])
            campaign_id += 1
        await self.writer.write(
            campaigns,
            (
                "id",
                "name",
                "search_name",
                "typology_id",
                "team_id",
                "status",
                "starts_on",
                "ends_on",
                "created_at",
                "updated_at",
            ),
            campaign_rows,
        )
        await self.writer.write(_table(CampaignOperator), ("campaign_id", "user_id", "created_at"), operator_rows)
        self.activity.campaigns = len(campaign_rows)

        sample = _sample(self.rng, self.first_contact, self.contacts, self.scale.gestiones)
        teams = await _teams_of(conn, sample)
        names = {agent_id: name for agents in self.people.agents.values() for agent_id, name in agents}
        table = _table(Gestion)
        gestion_id = await self.writer.first_id(table)
        comment_id = await self.writer.first_id(_table(GestionComment))
        rows: Rows = []
        comments: Rows = []
        in_progress: set[int] = set()
        statuses: Counter[str] = Counter()
        for contact_id in sample:
            leaf = teams[contact_id]
            if leaf not in campaign_of or not self.people.agents.get(leaf):
                continue
            campaign, fields, outcomes = campaign_of[leaf]
            agents = self.people.agents[leaf]
            created = self.now - timedelta(seconds=self.rng.randint(DAY, 30 * DAY))
            finishing = [r for r in outcomes if r[1]]
            retrying = [r for r in outcomes if not r[1]]
            given = self.rng.choice(agents)[0]
            operator: int | None = given
            result: tuple[int, bool, bool] | None = None
            attempts = 0
            claimed = finished = None
            updated = created
            draw = self.rng.random()
            if draw < 0.35 and finishing:
                status, result = GestionStatus.FINISHED, self.rng.choice(finishing)
                finished = updated = created + timedelta(seconds=self.rng.randint(MINUTE, DAY - 1))
            elif given not in in_progress and draw < 0.45:
                # One gestión in the works per operator, as attend and save-and-next leave it.
                status, claimed = (
                    GestionStatus.IN_PROGRESS,
                    self.now - timedelta(seconds=self.rng.randint(MINUTE, 3600)),
                )
                updated = claimed
                in_progress.add(given)
            else:
                status = GestionStatus.PENDING
                if self.rng.random() < 0.35:
                    operator = None  # in the campaign's pool, for any of its operators to take
                elif retrying and self.rng.random() < 0.3:
                    result, attempts = self.rng.choice(retrying), self.rng.randint(1, 3)
                    updated = created + timedelta(seconds=self.rng.randint(MINUTE, DAY - 1))
            statuses[status.value] += 1
            rows.append(
                (
                    gestion_id,
                    campaign,
                    contact_id,
                    operator,
                    status.value,
                    result[0] if result else None,
                    self.rng.choice((0, 0, 0, 1, 2, 5)),
                    _plan(self.rng, fields, self.now),
                    attempts,
                    claimed,
                    finished,
                    created,
                    updated,
                )
            )
            if result is not None and operator is not None and (result[2] or self.rng.random() < 0.3):
                comments.append((comment_id, gestion_id, operator, names[operator], self.rng.choice(COMMENTS), updated))
                comment_id += 1
            gestion_id += 1
        await self.writer.write(
            table,
            (
                "id",
                "campaign_id",
                "contact_id",
                "operator_id",
                "status",
                "result_id",
                "priority",
                "plan",
                "attempts",
                "claimed_at",
                "finished_at",
                "created_at",
                "updated_at",
            ),
            rows,
        )
        await self.writer.write(
            _table(GestionComment), ("id", "gestion_id", "author_id", "author_name", "body", "created_at"), comments
        )
        self.activity.gestiones = len(rows)
        self.activity.gestion_comments = len(comments)
        self.activity.statuses["gestiones"] = statuses

    async def conversations(self, portfolio_of: dict[int, tuple[int, int, int | None]]) -> dict[int, int]:
        """One conversation each for a sample of contacts, routed as the router would have; returns contact → it."""
        conn = self.writer.conn
        sample = _sample(self.rng, self.first_contact, self.contacts, self.scale.conversations)
        teams = await _teams_of(conn, sample)
        channels = await _channels_of(conn, sample)
        names = {agent_id: name for agents in self.people.agents.values() for agent_id, name in agents}
        table = _table(Conversation)
        conversation_id = await self.writer.first_id(table)
        message_id = await self.writer.first_id(_table(ConversationMessage))
        rows: Rows = []
        messages: Rows = []
        open_count: Counter[int] = Counter()
        last_assigned: dict[int, datetime] = {}
        statuses: Counter[str] = Counter()
        conversation_of: dict[int, int] = {}
        for contact_id in sample:
            leaf = teams[contact_id]
            agents = self.people.agents.get(leaf, [])
            if not channels.get(contact_id):
                continue
            channel_id, kind, address = self.rng.choice(channels[contact_id])
            portfolio = portfolio_of.get(contact_id)
            agent: int | None = None
            if portfolio and portfolio[2] is not None:
                # P7: straight to its portfolio's agent, online or not.
                agent, rule = portfolio[2], RoutingRule.PORTFOLIO_AGENT
                status = ConversationStatus.OPEN if self.rng.random() < 0.4 else ConversationStatus.RESOLVED
            else:
                rule = RoutingRule.PORTFOLIO_TEAM if portfolio else RoutingRule.ROUND_ROBIN
                draw = self.rng.random()
                if draw < 0.2 or not agents:
                    status = ConversationStatus.UNASSIGNED
                else:
                    status = ConversationStatus.OPEN if draw < 0.55 else ConversationStatus.RESOLVED
                    agent = self.rng.choice(agents)[0]

            # The timeline as offsets (seconds) from the first message: the client writes, then the
            # agent and the client take turns; a call is one answered exchange with its length.
            steps: list[tuple[int, MessageDirection, str, int | None]] = [(0, MessageDirection.IN, "", None)]
            if agent is not None:
                at = self.rng.randint(30, 20 * MINUTE)
                for turn in range(self.rng.randint(1, 5)):
                    direction = MessageDirection.OUT if turn % 2 == 0 else MessageDirection.IN
                    duration = self.rng.randint(30, 900) if kind == "PHONE" and turn == 0 else None
                    steps.append((at, direction, "", duration))
                    at += self.rng.randint(MINUTE, 3 * 3600)
                if self.rng.random() < 0.15:
                    steps.append((at, MessageDirection.NOTE, self.rng.choice(NOTES), None))
                    at += MINUTE
            span = steps[-1][0] + (self.rng.randint(MINUTE, 6 * 3600) if status is ConversationStatus.RESOLVED else 0)
            if status is ConversationStatus.RESOLVED:
                created = self.now - timedelta(seconds=span + self.rng.randint(3600, 30 * DAY))
            else:
                created = self.now - timedelta(seconds=span + self.rng.randint(MINUTE, 2 * DAY))
            assigned_at = created + timedelta(seconds=self.rng.randint(1, 20)) if agent is not None else None
            first_reply = last_message = None
            for offset, direction, note, duration in steps:
                sent = created + timedelta(seconds=offset)
                if direction is MessageDirection.IN:
                    body = self.rng.choice(CLIENT_LINES) if kind != "PHONE" else "Llamada entrante"
                    author, author_name = None, None
                else:
                    body = note or (
                        self.rng.choice(AGENT_LINES) if kind != "PHONE" or duration is None else "Llamada atendida"
                    )
                    author, author_name = agent, names.get(agent) if agent else None
                if direction is MessageDirection.OUT:
                    first_reply = first_reply or sent
                if direction is not MessageDirection.NOTE:
                    last_message = sent
                messages.append(
                    (
                        message_id,
                        conversation_id,
                        direction.value,
                        author,
                        author_name,
                        body,
                        sent,
                        None,
                        duration,
                        sent,
                    )
                )
                message_id += 1
            resolved = created + timedelta(seconds=span) if status is ConversationStatus.RESOLVED else None
            trace = _trace(rule, portfolio, leaf, agents, agent, names, created)
            rows.append(
                (
                    conversation_id,
                    contact_id,
                    channel_id,
                    kind,
                    address,
                    status.value,
                    agent,
                    leaf,
                    portfolio[0] if portfolio else None,
                    trace,
                    created,
                    assigned_at,
                    first_reply,
                    resolved,
                    last_message,
                    resolved or last_message or created,
                )
            )
            if agent is not None:
                if status is ConversationStatus.OPEN:
                    open_count[agent] += 1
                assert assigned_at is not None
                last_assigned[agent] = max(last_assigned.get(agent, assigned_at), assigned_at)
            statuses[status.value] += 1
            conversation_of[contact_id] = conversation_id
            conversation_id += 1
        await self.writer.write(
            table,
            (
                "id",
                "contact_id",
                "channel_id",
                "channel_kind",
                "channel_address",
                "status",
                "agent_id",
                "team_id",
                "portfolio_id",
                "routing",
                "created_at",
                "assigned_at",
                "first_reply_at",
                "resolved_at",
                "last_message_at",
                "updated_at",
            ),
            rows,
        )
        await self.writer.write(
            _table(ConversationMessage),
            (
                "id",
                "conversation_id",
                "direction",
                "author_id",
                "author_name",
                "text",
                "sent_at",
                "external_id",
                "duration_seconds",
                "created_at",
            ),
            messages,
        )
        # What services.agent_loads would have counted, one row per agent ever given one.
        await self.writer.write(
            _table(AgentLoad),
            ("user_id", "open_conversations", "last_assigned_at"),
            [(agent, open_count[agent], at) for agent, at in sorted(last_assigned.items())],
        )
        self.activity.conversations = len(rows)
        self.activity.messages = len(messages)
        self.activity.statuses["conversations"] = statuses
        return conversation_of

    async def sales(self, conversation_of: dict[int, int]) -> None:
        """The catalogues (entries already there kept), then an attention each for a sample of contacts."""
        conn = self.writer.conn
        catalog = _table(SalesCatalogEntry)
        existing = {
            (kind, name)
            for kind, name in await conn.execute(select(SalesCatalogEntry.kind, SalesCatalogEntry.search_name))
        }
        entry_id = await self.writer.first_id(catalog)
        entries: Rows = []
        for kind, names in CATALOGUES.items():
            position = 0
            for name in names:
                if (kind.value, fold(name)) in existing:
                    continue
                position += 1
                entries.append((entry_id, kind.value, name, fold(name), position, True, self.now, self.now))
                entry_id += 1
        await self.writer.write(
            catalog, ("id", "kind", "name", "search_name", "position", "active", "created_at", "updated_at"), entries
        )
        self.activity.catalogue_entries = len(entries)
        chosen: dict[str, list[int]] = defaultdict(list)
        active = select(SalesCatalogEntry.id, SalesCatalogEntry.kind).where(SalesCatalogEntry.active)
        for entry, entry_kind in await conn.execute(active.order_by(SalesCatalogEntry.id)):
            chosen[entry_kind].append(int(entry))
        interests = chosen[SalesCatalogKind.INTEREST.value]
        origins = chosen[SalesCatalogKind.ORIGIN.value]
        reasons = chosen[SalesCatalogKind.CLOSE_REASON.value]
        if not reasons:
            return

        sample = _sample(self.rng, self.first_contact, self.contacts, self.scale.attentions)
        teams = await _teams_of(conn, sample)
        table = _table(SalesAttention)
        attention_id = await self.writer.first_id(table)
        rows: Rows = []
        links: Rows = []
        statuses: Counter[str] = Counter()

        def attention(contact_id: int, leaf: int, status: SalesAttentionStatus, created: datetime) -> int:
            nonlocal attention_id
            agents = self.people.agents.get(leaf, [])
            agent = self.rng.choice(agents)[0] if agents and self.rng.random() < 0.8 else None
            later = created + timedelta(seconds=self.rng.randint(MINUTE, 2 * DAY))
            later = min(later, self.now)
            rows.append(
                (
                    attention_id,
                    contact_id,
                    self.rng.choice(interests) if interests and self.rng.random() < 0.9 else None,
                    self.rng.choice(origins) if origins and self.rng.random() < 0.9 else None,
                    agent,
                    leaf,
                    status.value,
                    self.rng.choice(reasons) if status is SalesAttentionStatus.CLOSED else None,
                    later if status is SalesAttentionStatus.PENDING else None,
                    agent or self.people.admin_id,
                    created,
                    later if status is SalesAttentionStatus.CLOSED else None,
                    later if status is not SalesAttentionStatus.OPEN else created,
                )
            )
            statuses[status.value] += 1
            attention_id += 1
            return attention_id - 1

        for contact_id in sample:
            leaf = teams[contact_id]
            if self.rng.random() < 0.25:
                # An older attention of the same client, closed: the panel's history.
                attention(
                    contact_id,
                    leaf,
                    SalesAttentionStatus.CLOSED,
                    self.now - timedelta(seconds=self.rng.randint(40, 90) * DAY),
                )
            draw = self.rng.random()
            status = (
                SalesAttentionStatus.OPEN
                if draw < 0.4
                else SalesAttentionStatus.PENDING
                if draw < 0.6
                else SalesAttentionStatus.CLOSED
            )
            # Half within the panel's default period (LAST_7_DAYS), the rest over the month before.
            age = self.rng.randint(MINUTE, 6 * DAY) if self.rng.random() < 0.5 else self.rng.randint(8 * DAY, 35 * DAY)
            current = attention(contact_id, leaf, status, self.now - timedelta(seconds=age))
            if contact_id in conversation_of and self.rng.random() < 0.5:
                # The client's conversation, marked commercial by an agent.
                links.append((conversation_of[contact_id], current, self.now - timedelta(seconds=age)))
        await self.writer.write(
            table,
            (
                "id",
                "contact_id",
                "interest_id",
                "origin_id",
                "agent_id",
                "team_id",
                "status",
                "close_reason_id",
                "pending_since",
                "created_by_id",
                "created_at",
                "closed_at",
                "updated_at",
            ),
            rows,
        )
        await self.writer.write(
            _table(SalesAttentionConversation), ("conversation_id", "attention_id", "created_at"), links
        )
        self.activity.attentions = len(rows)
        self.activity.sales_clients = len(sample)
        self.activity.statuses["salesAttentions"] = statuses


def _plan_value(rng: random.Random, spec: dict[str, Any], now: datetime) -> Any:
    key, kind = spec["key"], spec["type"]
    if kind == "NUMBER":
        if key == "instalmentsOverdue":
            return rng.randint(1, 12)
        return round(rng.uniform(20_000, 3_000_000), 2)
    if kind == "DATE":
        return (now.date() + timedelta(days=rng.randint(-90, 60))).isoformat()
    if kind == "BOOLEAN":
        return rng.random() < 0.5
    if kind == "CHOICE":
        return rng.choice(spec.get("options") or [""])
    if key == "planNumber":
        return f"PL-{rng.randint(100_000, 999_999)}"
    if key == "product":
        return rng.choice(PRODUCTS)
    if key == "group":
        return f"G{rng.randint(100, 999)}"
    return rng.choice(PRODUCTS)


def _plan(rng: random.Random, fields: Sequence[dict[str, Any]], now: datetime) -> dict[str, Any]:
    return {spec["key"]: _plan_value(rng, spec, now) for spec in fields if spec.get("required") or rng.random() < 0.6}


async def _channels_of(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, list[tuple[int, str, str]]]:
    found: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    rows = await conn.execute(
        select(ContactChannel.contact_id, ContactChannel.id, ContactChannel.kind, ContactChannel.normalized)
        .where(in_ids(ContactChannel.contact_id, ids, conn.dialect.name))
        .order_by(ContactChannel.id)
    )
    for contact_id, channel_id, kind, normalized in rows:
        found[int(contact_id)].append((int(channel_id), kind, normalized))
    return found


def _trace(
    rule: RoutingRule,
    portfolio: tuple[int, int, int | None] | None,
    leaf: int,
    agents: Sequence[tuple[int, str]],
    agent: int | None,
    names: dict[int, str],
    decided_at: datetime,
) -> dict[str, Any]:
    """The decision as the router records it; an unassigned one found every agent of its team offline (A3)."""
    trace = Trace(
        rule=rule,
        method=RoutingMethod.ROUND_ROBIN,
        decided_at=decided_at,
        portfolio_id=portfolio[0] if portfolio else None,
        team_id=None if rule is RoutingRule.PORTFOLIO_AGENT else leaf,
        candidate_ids=[agent] if rule is RoutingRule.PORTFOLIO_AGENT and agent else [a for a, _ in agents],
        skipped=[] if agent is not None else [Skip(a, name, SkipReason.OFFLINE) for a, name in agents],
        chosen_id=agent,
        chosen_name=names.get(agent) if agent else None,
    )
    return trace.as_json()
