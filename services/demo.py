"""Demo data (`cartera seed-demo`): a realistic Spanish-speaking contact base, loaded set-based.

Deterministic for a given seed: the same seed gives the same teams, users, companies and
contacts (ids depend on what the database already holds; timestamps on the day it runs).

Contact ids are assigned here, after the current maximum (and, on PostgreSQL, after the last
id the sequence gave), so channels and addresses point at them without RETURNING. PostgreSQL
loads with COPY in chunks of CHUNK contacts, with the B-tree indexes and foreign keys of the
contact tables dropped during the load and rebuilt once after (far faster than maintaining them
row by row); the whole load is one transaction, so an interrupted seed leaves nothing behind.
SQLite loads with executemany in chunks. The next chunk is generated in a worker thread while
the database takes the current one.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from db.base import Base
from db.engine import SQLITE_WRITE
from db.models import (
    Company,
    Contact,
    ContactAddress,
    ContactChannel,
    CustomFieldDefinition,
    DocumentType,
    FieldType,
    Role,
    Team,
    TeamMember,
    TeamSupervisor,
    User,
)
from db.search import fold
from services import audit
from services.auth import hash_password
from services.contacts import search_name, search_text, sort_name
from services.demo_activity import Activity, People, copy_rows, first_id, move_sequence, seed_activity

DEMO_PASSWORD = "demo-cartera-2026"
DEMO_DOMAIN = "cartera.demo"
CHUNK = 50_000

FIRST = (
    "José María Juan Ana Luis Carmen Carlos Laura Jorge Lucía Miguel Sofía Pedro Valentina Diego Martina Javier "
    "Camila Fernando Florencia Ricardo Paula Alejandro Agustina Raúl Daniela Sergio Julieta Andrés Gabriela Héctor "
    "Verónica Óscar Mónica Ramón Inés Tomás Belén Martín Noemí Nicolás Rocío Matías Ángela Facundo Soledad Ezequiel "
    "Graciela Rubén Silvina Hernán Mariana Joaquín Lorena Germán Natalia Iván Romina Julián Victoria Gastón Milagros"
).split()
LAST = (
    "Pérez González Rodríguez Fernández López Martínez Gómez Díaz Sánchez Romero Sosa Álvarez Torres Ruiz Ramírez "
    "Flores Benítez Acosta Medina Herrera Suárez Aguirre Giménez Gutiérrez Pereyra Rojas Molina Castro Ortiz Silva "
    "Núñez Luna Juárez Cabrera Ríos Ferreyra Godoy Morales Domínguez Moreno Peralta Vega Carrizo Quiroga Castillo "
    "Ledesma Muñoz Ojeda Ponce Vera Cáceres Villalba Cardozo Navarro Coronel Vázquez Ramos Maldonado Ibáñez Ortega "
    "Peña Chávez Zúñiga Avendaño Bustos Escobar Figueroa Lucero Miranda Paz Sáez Toledo Valdéz Arias Méndez Correa"
).split()
# First word of a company name, and the industry it suggests.
COMPANY_WORDS = {
    "Distribuidora": "Comercio mayorista",
    "Comercial": "Comercio minorista",
    "Industrias": "Industria manufacturera",
    "Transportes": "Transporte y logística",
    "Logística": "Transporte y logística",
    "Agropecuaria": "Agro",
    "Servicios": "Servicios profesionales",
    "Constructora": "Construcción",
    "Ferretería": "Comercio minorista",
    "Laboratorios": "Salud",
    "Farmacia": "Salud",
    "Textil": "Industria textil",
    "Alimentos": "Alimentos y bebidas",
    "Bodega": "Alimentos y bebidas",
    "Panificadora": "Alimentos y bebidas",
    "Metalúrgica": "Industria metalúrgica",
    "Tecnología": "Tecnología",
    "Editorial": "Medios",
    "Seguros": "Seguros",
    "Inmobiliaria": "Inmobiliario",
}
PLACES = (
    "del Sur,del Norte,Andina,Pampeana,del Litoral,Patagónica,Cuyana,San Martín,Belgrano,La Plata,Río de la Plata,"
    "del Centro,Mediterránea,Austral,del Oeste,Santa Fe,Los Andes,El Ombú,La Esperanza,Don Bosco,del Plata,Atlántica"
).split(",")
SUFFIXES = ("S.A.", "S.R.L.", "S.A.S.", "y Cía.")
# (city, province, area code, postal letter, postal number, weight). The area codes are ones
# whose mobile numbers beginning with 3 to 6 the phone validator accepts (tests check every one).
CITIES = (
    ("Ciudad Autónoma de Buenos Aires", "CABA", "11", "C", 1000, 20),
    ("Quilmes", "Buenos Aires", "11", "B", 1878, 4),
    ("Lanús", "Buenos Aires", "11", "B", 1824, 4),
    ("Morón", "Buenos Aires", "11", "B", 1708, 4),
    ("San Isidro", "Buenos Aires", "11", "B", 1642, 4),
    ("La Plata", "Buenos Aires", "221", "B", 1900, 4),
    ("Mar del Plata", "Buenos Aires", "223", "B", 7600, 3),
    ("Córdoba", "Córdoba", "351", "X", 5000, 8),
    ("Rosario", "Santa Fe", "341", "S", 2000, 7),
    ("Paraná", "Entre Ríos", "343", "E", 3100, 2),
    ("Mendoza", "Mendoza", "261", "M", 5500, 5),
    ("San Juan", "San Juan", "264", "J", 5400, 2),
    ("San Miguel de Tucumán", "Tucumán", "381", "T", 4000, 4),
    ("Santiago del Estero", "Santiago del Estero", "385", "G", 4200, 2),
    ("Salta", "Salta", "387", "A", 4400, 3),
    ("San Salvador de Jujuy", "Jujuy", "388", "Y", 4600, 2),
    ("Neuquén", "Neuquén", "299", "Q", 8300, 2),
    ("Santa Rosa", "La Pampa", "2954", "L", 6300, 1),
    ("Viedma", "Río Negro", "2920", "R", 8500, 1),
    ("Río Gallegos", "Santa Cruz", "2966", "Z", 9400, 1),
    ("Ushuaia", "Tierra del Fuego", "2901", "V", 9410, 1),
    ("La Rioja", "La Rioja", "3804", "F", 5300, 1),
)
STREETS = (
    "Av. San Martín",
    "Belgrano",
    "Av. Rivadavia",
    "Sarmiento",
    "Mitre",
    "25 de Mayo",
    "Av. Colón",
    "Urquiza",
    "Av. Corrientes",
    "Moreno",
    "Av. Hipólito Yrigoyen",
    "Güemes",
    "Lavalle",
    "Tucumán",
    "Av. Pellegrini",
    "9 de Julio",
    "Dorrego",
    "Alsina",
)
UNITS = ("1° A", "2° B", "3° C", "4° D", "PB", "5° A", "7° F", "Local 2")
MAIL_DOMAINS = ("gmail.com", "gmail.com", "hotmail.com", "yahoo.com.ar", "outlook.com", "live.com.ar")
# Top teams and their leaves; a top team without children is its own leaf.
TEAM_TREE: dict[str, tuple[str, ...]] = {
    "Cobranzas": ("Cobranzas Norte", "Cobranzas Sur"),
    "Ventas": ("Ventas Mayoristas", "Ventas Minoristas"),
    "Atención al Cliente": (),
}
# key: (label, type, options). None required: contacts created through the API need not carry them.
CUSTOM_FIELDS: dict[str, tuple[str, FieldType, tuple[str, ...]]] = {
    "segmento": ("Segmento", FieldType.CHOICE, ("Oro", "Plata", "Bronce")),
    "saldo_deuda": ("Saldo de deuda (ARS)", FieldType.NUMBER, ()),
    "fecha_ultimo_pago": ("Fecha del último pago", FieldType.DATE, ()),
    "acepta_promociones": ("Acepta promociones", FieldType.BOOLEAN, ()),
}

CONTACT_COLUMNS = (
    "id",
    "first_names",
    "last_names",
    "is_vip",
    "document_type_id",
    "document_number",
    "company_id",
    "team_id",
    "custom_fields",
    "search_text",
    "search_name",
    "sort_name",
    "archived_at",
    "created_at",
    "updated_at",
)
CHANNEL_COLUMNS = ("contact_id", "kind", "value", "normalized", "created_at")
ADDRESS_COLUMNS = (
    "contact_id",
    "label",
    "street",
    "number",
    "unit",
    "city",
    "region",
    "postal_code",
    "country",
    "is_primary",
    "created_at",
    "updated_at",
)
TABLES: tuple[tuple[Table, tuple[str, ...]], ...] = (
    (Base.metadata.tables[Contact.__tablename__], CONTACT_COLUMNS),
    (Base.metadata.tables[ContactChannel.__tablename__], CHANNEL_COLUMNS),
    (Base.metadata.tables[ContactAddress.__tablename__], ADDRESS_COLUMNS),
)

Rows = list[tuple[Any, ...]]
Chunk = tuple[Rows, Rows, Rows]


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: Role
    teams: tuple[str, ...]


@dataclass(frozen=True)
class DemoResult:
    contacts: int
    companies: int
    channels: int
    addresses: int
    users: list[DemoUser]
    seconds: float
    activity: Activity


class SeedError(Exception):
    """seed-demo cannot run on this database; the message says why."""


class AlreadySeeded(SeedError):
    """The database already has contacts or demo teams/users: seeding would mix data."""


@dataclass
class _Refs:
    users: list[DemoUser]
    teams: int
    leaves: list[int]
    companies: list[int]
    company_names: dict[int, str]
    types: dict[str, int]
    fields: list[str]
    # Who works the contacts (services.demo_activity): the admin, each leaf team's agents.
    admin_id: int = 0
    agents: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    leaf_names: dict[int, str] = field(default_factory=dict)


def cuit(rng: random.Random, prefix: str) -> str:
    """A CUIT/CUIL with a valid check digit (a body whose digit would be 10 is redrawn)."""
    while True:
        body = prefix + str(rng.randint(10_000_000, 99_999_999))
        check = 11 - sum(int(d) * w for d, w in zip(body, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2), strict=True)) % 11
        if check != 10:
            return body + str(0 if check == 11 else check)


def _person(rng: random.Random) -> tuple[str, str]:
    first = rng.choice(FIRST) if rng.random() < 0.8 else f"{rng.choice(FIRST)} {rng.choice(FIRST)}"
    last = rng.choice(LAST) if rng.random() < 0.75 else f"{rng.choice(LAST)} {rng.choice(LAST)}"
    return first, last


def _slug(text: str) -> str:
    return "".join(c for c in fold(text) if c.isalnum())


def _company(rng: random.Random) -> tuple[str, str, str]:
    """(name, name without the legal suffix, industry)."""
    word = rng.choice(tuple(COMPANY_WORDS))
    pattern = rng.random()
    if pattern < 0.4:
        base = f"{word} {rng.choice(PLACES)}"
    elif pattern < 0.7:
        base = f"{word} {rng.choice(LAST)}"
    elif pattern < 0.85:
        base, word = f"{rng.choice(LAST)} y {rng.choice(LAST)}", rng.choice(tuple(COMPANY_WORDS))
    else:
        base, word = f"{rng.choice(LAST)} Hermanos", rng.choice(tuple(COMPANY_WORDS))
    return f"{base} {rng.choice(SUFFIXES)}", base, COMPANY_WORDS[word]


def _weighted_cities() -> list[tuple[str, str, str, str, int, int]]:
    return [city for city in CITIES for _ in range(city[5])]


async def _refuse_clashes(conn: AsyncConnection) -> None:
    if await conn.scalar(select(Contact.id).limit(1)) is not None:
        raise AlreadySeeded("The database already has contacts: seed-demo only fills an empty one")
    users = (await conn.scalars(select(User.email).where(func.lower(User.email).like(f"%@{DEMO_DOMAIN}")))).all()
    tops = [name.lower() for name in TEAM_TREE]
    teams = (
        await conn.scalars(select(Team.name).where(Team.parent_id.is_(None), func.lower(Team.name).in_(tops)))
    ).all()
    if users or teams:
        found = ", ".join([*teams, *users][:5])
        raise AlreadySeeded(
            f"The database already has demo teams or users ({found}): seed-demo only fills an empty one"
        )


async def _setup(conn: AsyncConnection, rng: random.Random, companies: int, now: datetime) -> _Refs:
    """Teams, users, memberships, custom fields and companies: small, inserted row by row."""
    password = hash_password(DEMO_PASSWORD)
    users: list[DemoUser] = []
    leaves: list[int] = []
    agents_of: dict[int, list[tuple[int, str]]] = {}
    leaf_names: dict[int, str] = {}
    teams = 0

    async def add_team(name: str, parent: tuple[int, str] | None) -> tuple[int, str]:
        nonlocal teams
        team_id = await conn.scalar(
            insert(Team)
            .values(name=name, parent_id=parent[0] if parent else None, path="", created_at=now, updated_at=now)
            .returning(Team.id)
        )
        assert team_id is not None
        path = f"{parent[1] if parent else '/'}{team_id}/"
        await conn.execute(update(Team).where(Team.id == team_id).values(path=path))
        teams += 1
        return int(team_id), path

    async def add_user(email: str, name: str, role: Role, teams: tuple[str, ...]) -> int:
        user_id = await conn.scalar(
            insert(User)
            .values(
                email=email,
                name=name,
                role=role.value,
                password_hash=password,
                is_active=True,
                created_at=now,
                updated_at=now,
            )
            .returning(User.id)
        )
        assert user_id is not None
        users.append(DemoUser(email=email, name=name, role=role, teams=teams))
        return int(user_id)

    admin_id = await add_user(f"admin@{DEMO_DOMAIN}", "Administración Cartera", Role.ADMIN, ())
    agents = 0
    for top, children in TEAM_TREE.items():
        root = await add_team(top, None)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        supervisor = await add_user(
            f"supervisor.{_slug(top)}@{DEMO_DOMAIN}", f"{first} {last}", Role.SUPERVISOR, (top,)
        )
        await conn.execute(insert(TeamSupervisor).values(team_id=root[0], user_id=supervisor, created_at=now))
        for leaf_name in children or (top,):
            leaf = await add_team(leaf_name, root) if children else root
            leaves.append(leaf[0])
            leaf_names[leaf[0]] = leaf_name
            agents_of[leaf[0]] = []
            for _ in range(rng.randint(3, 5)):
                agents += 1
                first, last = rng.choice(FIRST), rng.choice(LAST)
                agent = await add_user(f"agente{agents}@{DEMO_DOMAIN}", f"{first} {last}", Role.AGENT, (leaf_name,))
                await conn.execute(insert(TeamMember).values(team_id=leaf[0], user_id=agent, created_at=now))
                agents_of[leaf[0]].append((agent, f"{first} {last}"))

    taken = set((await conn.scalars(select(CustomFieldDefinition.key))).all())
    fields = [key for key in CUSTOM_FIELDS if key not in taken]
    position = int(await conn.scalar(select(func.max(CustomFieldDefinition.position))) or 0)
    if fields:
        await conn.execute(
            insert(CustomFieldDefinition),
            [
                {
                    "key": key,
                    "label": CUSTOM_FIELDS[key][0],
                    "type": CUSTOM_FIELDS[key][1].value,
                    "options": list(CUSTOM_FIELDS[key][2]),
                    "required": False,
                    "position": position + i + 1,
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for i, key in enumerate(fields)
            ],
        )

    existing = (await conn.execute(select(Company.tax_id, Company.search_name))).all()
    tax_ids = {tax_id for tax_id, _ in existing if tax_id}
    # Folded, as the database keeps company names unique (uq_companies_search_name).
    names = {name for _, name in existing}
    cities = _weighted_cities()
    company_rows: list[dict[str, Any]] = []
    for _ in range(companies):
        name, base, industry = _company(rng)
        folded = fold(name)
        for _retry in range(5):
            if folded not in names:
                break
            name, base, industry = _company(rng)
            folded = fold(name)
        # The patterns run out of names long before 25,000 companies: number the rest.
        branch, named = 1, name
        while folded in names:
            branch += 1
            named = name.replace(base, f"{base} {branch}", 1)
            folded = fold(named)
        name = named
        names.add(folded)
        tax_id = cuit(rng, rng.choice(("30", "30", "33")))
        while tax_id in tax_ids:
            tax_id = cuit(rng, "30")
        tax_ids.add(tax_id)
        city = rng.choice(cities)
        company_rows.append(
            {
                "name": name,
                "tax_id": tax_id,
                "industry": industry,
                "website": f"https://www.{_slug(base)[:40]}.com.ar" if rng.random() < 0.5 else None,
                "address": f"{rng.choice(STREETS)} {rng.randint(1, 4999)}, {city[0]}, {city[1]}",
                "phone": f"+54{city[2]}4{rng.randint(10 ** (8 - len(city[2])), 10 ** (9 - len(city[2])) - 1)}",
                "created_at": now,
                "updated_at": now,
            }
        )
    if company_rows:
        await conn.execute(insert(Company), company_rows)
    created = {row["tax_id"] for row in company_rows}
    found = (await conn.execute(select(Company.id, Company.name, Company.tax_id).order_by(Company.id))).all()
    company_names = {i: name for i, name, tax_id in found if tax_id in created}
    types = dict((await conn.execute(select(DocumentType.code, DocumentType.id))).all())
    for code in ("DNI", "CUIT"):
        if code not in types:
            raise SeedError(f"The document type {code}, which the migrations ship, is missing")
    return _Refs(
        users=users,
        teams=teams,
        leaves=leaves,
        companies=sorted(company_names),
        company_names=company_names,
        types={code: int(i) for code, i in types.items()},
        fields=fields,
        admin_id=admin_id,
        agents=agents_of,
        leaf_names=leaf_names,
    )


def _custom_fields(rng: random.Random, fields: Sequence[str], today: date) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "segmento" in fields and rng.random() < 0.9:
        values["segmento"] = rng.choice(("Oro", "Plata", "Plata", "Bronce", "Bronce", "Bronce"))
    if "saldo_deuda" in fields and rng.random() < 0.6:
        values["saldo_deuda"] = round(rng.uniform(5_000, 2_500_000), 2)
    if "fecha_ultimo_pago" in fields and rng.random() < 0.5:
        values["fecha_ultimo_pago"] = (today - timedelta(days=rng.randint(1, 400))).isoformat()
    if "acepta_promociones" in fields and rng.random() < 0.7:
        values["acepta_promociones"] = rng.random() < 0.4
    return values


def _contacts(
    rng: random.Random, start_id: int, count: int, refs: _Refs, now: datetime, *, json_text: bool
) -> Iterator[Chunk]:
    """Chunks of (contacts, channels, addresses) rows, as tuples in the *_COLUMNS order.

    json_text: custom_fields as JSON text (what COPY takes) rather than a dict.
    """
    dni, cuit_type = refs.types["DNI"], refs.types["CUIT"]
    companies, company_names, leaves = refs.companies, refs.company_names, refs.leaves
    cities = _weighted_cities()
    today = now.date()
    two_years = 2 * 365 * 24 * 3600
    documents: set[str] = set()
    contacts: Rows = []
    channels: Rows = []
    addresses: Rows = []
    random_ = rng.random
    choice = rng.choice
    randint = rng.randint
    for contact_id in range(start_id, start_id + count):
        first, last = _person(rng)
        while True:
            if random_() < 0.85:
                doc_type, number = dni, str(randint(5_000_000, 45_999_999))
            else:
                doc_type, number = cuit_type, cuit(rng, choice(("20", "20", "27", "27", "23")))
            if number not in documents:
                documents.add(number)
                break
        company = choice(companies) if companies and random_() < 0.6 else None
        city = choice(cities)
        area = city[2]
        local = f"{choice('3456')}{randint(0, 10 ** (9 - len(area)) - 1):0{9 - len(area)}d}"
        mobile = f"+549{area}{local}"
        slug = _slug(first) + "." + _slug(last)
        found: list[tuple[str, str]] = []
        if random_() < 0.92:
            found.append(("PHONE", mobile))
            if random_() < 0.55:
                found.append(("WHATSAPP", mobile))
        if not found or random_() < 0.5:
            number_suffix = str(randint(1, 99)) if random_() < 0.6 else ""
            found.append(("EMAIL", f"{slug}{number_suffix}@{choice(MAIL_DOMAINS)}"))
        if len(found) < 3 and random_() < 0.12:
            found.append(("INSTAGRAM", f"{slug.replace('.', '_')[:24]}{randint(1, 99)}"))
        created = now - timedelta(seconds=randint(0, two_years))
        custom = _custom_fields(rng, refs.fields, today)
        contacts.append(
            (
                contact_id,
                first,
                last,
                random_() < 0.05,
                doc_type,
                number,
                company,
                choice(leaves),
                json.dumps(custom) if json_text else custom,
                search_text(
                    first_names=first,
                    last_names=last,
                    document=number,
                    company=company_names[company] if company else None,
                    channels=found,
                ),
                search_name(first, last),
                sort_name(first, last),
                None,
                created,
                created,
            )
        )
        for kind, value in found:
            # Generated already normalised: E.164 phones, lower-case emails and handles.
            channels.append((contact_id, kind, value, value, created))
        if random_() < 0.5:
            addresses.append(
                (
                    contact_id,
                    "Trabajo" if company and random_() < 0.3 else "Casa",
                    choice(STREETS),
                    str(randint(1, 4999)),
                    choice(UNITS) if random_() < 0.35 else None,
                    city[0],
                    city[1],
                    f"{city[3]}{city[4] + randint(0, 40) if city[2] == '11' else city[4]}"
                    f"{''.join(choice('ABCDEFGHJKLMNPRSTUVWXYZ') for _ in range(3))}",
                    "AR",
                    True,
                    created,
                    created,
                )
            )
        if len(contacts) >= CHUNK:
            yield contacts, channels, addresses
            contacts, channels, addresses = [], [], []
    if contacts:
        yield contacts, channels, addresses


async def _drop_indexes_and_foreign_keys(conn: AsyncConnection) -> tuple[list[str], list[str]]:
    """Drop the contact tables' B-tree indexes and foreign keys for the load.

    Returns (the DDL that restores them, the GIN indexes kept). Indexes that back a constraint
    (the primary keys) stay: foreign keys need them. GIN indexes (the search trigrams) stay too:
    maintained through their pending list during the load, the database's work overlaps the
    generation of the next chunk, whereas building them afterwards is a long single-threaded
    step (about 25 s of the 1,000,000-contact load here).
    """
    tables = [table.name for table, _ in TABLES]
    indexes = (
        await conn.execute(
            text(
                "SELECT i.oid::regclass::text, pg_get_indexdef(i.oid), am.amname FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
                "JOIN pg_am am ON am.oid = i.relam "
                "WHERE t.relname = ANY(:tables) AND t.relnamespace = current_schema()::regnamespace "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid AND c.conrelid = t.oid)"
            ),
            {"tables": tables},
        )
    ).all()
    foreign_keys = (
        await conn.execute(
            text(
                "SELECT c.conrelid::regclass::text, quote_ident(c.conname), pg_get_constraintdef(c.oid) "
                "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                "WHERE c.contype = 'f' AND t.relname = ANY(:tables) "
                "AND t.relnamespace = current_schema()::regnamespace"
            ),
            {"tables": tables},
        )
    ).all()
    restore: list[str] = []
    kept: list[str] = []
    for name, definition, method in indexes:
        if method == "gin":
            kept.append(name)
            continue
        await conn.execute(text(f"DROP INDEX {name}"))
        restore.append(definition)
    # After the indexes, which make their checks cheap.
    for table, name, definition in foreign_keys:
        await conn.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {name}"))
        restore.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    return restore, kept


async def _load(
    conn: AsyncConnection,
    chunks: Iterator[Chunk],
    total: int,
    started: float,
    progress: Callable[[str, int, int, float], None] | None,
) -> tuple[int, int]:
    """Insert every chunk, generating the next one in a worker thread meanwhile."""
    postgres = conn.dialect.name == "postgresql"
    loop = asyncio.get_running_loop()
    done = channels = addresses = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="seed-demo") as pool:
        pending = loop.run_in_executor(pool, next, chunks, None)
        while (chunk := await pending) is not None:
            pending = loop.run_in_executor(pool, next, chunks, None)
            for (table, columns), rows in zip(TABLES, chunk, strict=True):
                if not rows:
                    continue
                if postgres:
                    await copy_rows(conn, table, columns, rows)
                else:
                    await conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
            done += len(chunk[0])
            channels += len(chunk[1])
            addresses += len(chunk[2])
            if progress:
                progress("contacts", done, total, time.perf_counter() - started)
    return channels, addresses


async def seed(
    engine: AsyncEngine,
    *,
    contacts: int,
    seed_value: int = 2026,
    progress: Callable[[str, int, int, float], None] | None = None,
    stage: Callable[[str], None] | None = None,
    activity: bool = True,
) -> DemoResult:
    """Fill an empty database with demo teams, users, custom fields, companies, `contacts` contacts,
    and what the users work on (services.demo_activity: portfolios, campaigns and gestiones,
    conversations, sales attentions), scaled to `contacts`.

    progress(what, done, total, seconds) is called after each chunk of contacts and each part of
    the rest; stage(message) when a slow step starts. activity=False: the contacts and who works
    them only (the benchmarks, which add their own portfolios, gestiones, conversations and attentions).
    """
    if contacts < 1:
        raise ValueError("contacts must be at least 1")
    started = time.perf_counter()
    rng = random.Random(seed_value)
    now = datetime.now(UTC).replace(microsecond=0)
    postgres = engine.dialect.name == "postgresql"
    async with engine.connect() as conn:
        conn = await conn.execution_options(**{SQLITE_WRITE: True})
        async with conn.begin():
            if postgres:
                # Index builds sort in memory rather than on disk; this transaction only.
                await conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
            await _refuse_clashes(conn)
            refs = await _setup(conn, rng, max(1, contacts // 40), now)
            contacts_table = Base.metadata.tables[Contact.__tablename__]
            start = await first_id(conn, contacts_table)
            restore, kept = await _drop_indexes_and_foreign_keys(conn) if postgres else ([], [])
            chunks = _contacts(rng, start, contacts, refs, now, json_text=postgres)
            channels, addresses = await _load(conn, chunks, contacts, started, progress)
            if postgres:
                if stage:
                    stage("rebuilding the contact indexes and foreign keys")
                for ddl in restore:
                    await conn.execute(text(ddl))
                for name in kept:
                    # Move what is left in the GIN pending list into the index proper.
                    await conn.execute(text("SELECT gin_clean_pending_list(CAST(:name AS regclass))"), {"name": name})
                await move_sequence(conn, contacts_table, start + contacts - 1)
            work = Activity()
            if activity:
                work = await seed_activity(
                    conn,
                    seed_value=seed_value,
                    first_contact=start,
                    contacts=contacts,
                    people=People(admin_id=refs.admin_id, agents=refs.agents, leaf_names=refs.leaf_names),
                    now=now,
                    progress=(
                        (lambda what, done, total: progress(what, done, total, time.perf_counter() - started))
                        if progress
                        else None
                    ),
                )
            session = AsyncSession(bind=conn)
            event_id = await audit.record(
                session,
                actor=None,
                action=audit.AuditAction.BULK_CREATED,
                resource_type=audit.ResourceType.BATCH,
                resource_id=0,
                resource_name=f"Demo data (seed-demo): {contacts} contacts, seed {seed_value}",
                # Each field as "after", the shape of every audit change.
                changed={
                    name: {"before": None, "after": value}
                    for name, value in {
                        "seed": seed_value,
                        "contacts": contacts,
                        "contactIds": {"from": start, "to": start + contacts - 1},
                        "channels": channels,
                        "addresses": addresses,
                        "companies": len(refs.companies),
                        "teams": refs.teams,
                        "users": [user.email for user in refs.users],
                        "customFields": refs.fields,
                        **work.as_changes(),
                    }.items()
                },
            )
            await audit.point_to_self(session, event_id)
            await session.flush()
            await session.close()
        if postgres:
            if stage:
                stage("analysing the tables")
            await conn.execute(text("ANALYZE"))
            await conn.commit()
    return DemoResult(
        contacts=contacts,
        companies=len(refs.companies),
        channels=channels,
        addresses=addresses,
        users=refs.users,
        seconds=time.perf_counter() - started,
        activity=work,
    )
