"""Demo data (`cartera seed-demo`): a realistic Spanish-speaking contact base, loaded set-based.

Deterministic for a given seed. PostgreSQL loads with COPY, its contact indexes dropped
during the load and rebuilt after (far faster than maintaining them row by row);
SQLite loads with executemany in chunks.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from db.models import (
    Company,
    Contact,
    ContactAddress,
    ContactChannel,
    DocumentType,
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

DEMO_PASSWORD = "demo-cartera-2026"
CHUNK = 50_000

FIRST = (
    "José María Juan Ana Luis Carmen Carlos Laura Jorge Lucía Miguel Sofía Pedro Valentina Diego Martina Javier "
    "Camila Fernando Florencia Ricardo Paula Alejandro Agustina Raúl Daniela Sergio Julieta Andrés Gabriela Héctor "
    "Verónica Óscar Mónica Ramón Inés Tomás Belén Martín Noemí Nicolás Rocío Matías Ángela Facundo Soledad Ezequiel"
).split()
LAST = (
    "Pérez González Rodríguez Fernández López Martínez Gómez Díaz Sánchez Romero Sosa Álvarez Torres Ruiz Ramírez "
    "Flores Benítez Acosta Medina Herrera Suárez Aguirre Giménez Gutiérrez Pereyra Rojas Molina Castro Ortiz Silva "
    "Núñez Luna Juárez Cabrera Ríos Ferreyra Godoy Morales Domínguez Moreno Peralta Vega Carrizo Quiroga Castillo "
    "Ledesma Muñoz Ojeda Ponce Vera Cáceres Villalba Cardozo Navarro Coronel Vázquez Ramos Maldonado Ibáñez Ortega"
).split()
COMPANY_WORDS = (
    "Distribuidora Comercial Industrias Transportes Agropecuaria Servicios Constructora Ferretería Laboratorios "
    "Textil Alimentos Logística Metalúrgica Tecnología Farmacia Editorial Seguros Inmobiliaria Bodega Panificadora"
).split()
COMPANY_NAMES = (
    "del Sur,del Norte,Andina,Pampeana,del Litoral,Patagónica,Cuyana,San Martín,Belgrano,La Plata,Río de la Plata,"
    "del Centro,Mediterránea,Austral,del Oeste,Santa Fe,Los Andes,El Ombú,La Esperanza,Don Bosco"
).split(",")
SUFFIXES = ("S.A.", "S.R.L.", "S.A.S.", "y Cía.")
INDUSTRIES = ("Comercio", "Industria", "Transporte", "Agro", "Servicios", "Construcción", "Salud", "Tecnología")
# (city, region, area code, postal code)
CITIES = (
    ("Buenos Aires", "CABA", "11", "C1043"),
    ("Córdoba", "Córdoba", "351", "X5000"),
    ("Rosario", "Santa Fe", "341", "S2000"),
    ("Mendoza", "Mendoza", "261", "M5500"),
    ("San Miguel de Tucumán", "Tucumán", "381", "T4000"),
    ("Mar del Plata", "Buenos Aires", "223", "B7600"),
    ("Salta", "Salta", "387", "A4400"),
    ("Neuquén", "Neuquén", "299", "Q8300"),
)
STREETS = ("Av. San Martín", "Belgrano", "Av. Rivadavia", "Sarmiento", "Mitre", "25 de Mayo", "Av. Colón", "Urquiza")
TEAM_TREE = {
    "Cobranzas": ("Cobranzas Norte", "Cobranzas Sur"),
    "Ventas": ("Ventas Mayoristas", "Ventas Minoristas"),
    "Atención al Cliente": (),
}


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: Role


@dataclass(frozen=True)
class DemoResult:
    contacts: int
    companies: int
    users: list[DemoUser]
    seconds: float


class AlreadySeeded(Exception):
    """The database already has contacts; seeding would mix demo and real data."""


def cuit(rng: random.Random, prefix: str) -> str:
    """A CUIT/CUIL with a valid check digit (a body whose digit would be 10 is redrawn)."""
    while True:
        body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(8))
        check = 11 - sum(int(d) * w for d, w in zip(body, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2), strict=True)) % 11
        if check != 10:
            return body + str(0 if check == 11 else check)


def _email_local(first: str, last: str) -> str:
    return fold(f"{first}.{last}").replace(" ", "")


async def _setup(conn: AsyncConnection, rng: random.Random, companies: int, now: datetime) -> dict[str, Any]:
    """Teams, users, memberships and companies: small, inserted row by row."""
    password = hash_password(DEMO_PASSWORD)
    users: list[DemoUser] = []
    leaves: list[int] = []

    async def add_team(name: str, parent: tuple[int, str] | None) -> tuple[int, str]:
        team_id = await conn.scalar(
            insert(Team)
            .values(name=name, parent_id=parent[0] if parent else None, path="", created_at=now, updated_at=now)
            .returning(Team.id)
        )
        assert team_id is not None
        path = f"{parent[1] if parent else '/'}{team_id}/"
        await conn.execute(update(Team).where(Team.id == team_id).values(path=path))
        return team_id, path

    async def add_user(email: str, name: str, role: Role) -> int:
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
        users.append(DemoUser(email=email, name=name, role=role))
        return int(user_id)

    await add_user("admin@cartera.demo", "Administración Cartera", Role.ADMIN)
    n = 0
    for top, children in TEAM_TREE.items():
        root = await add_team(top, None)
        supervisor = await add_user(
            f"supervisor.{fold(top).replace(' ', '')}@cartera.demo", f"Supervisión {top}", Role.SUPERVISOR
        )
        await conn.execute(insert(TeamSupervisor).values(team_id=root[0], user_id=supervisor, created_at=now))
        for leaf_name in children or (top,):
            leaf = await add_team(leaf_name, root) if children else root
            leaves.append(leaf[0])
            for _ in range(4):
                n += 1
                first, last = rng.choice(FIRST), rng.choice(LAST)
                agent = await add_user(f"agente{n}@cartera.demo", f"{first} {last}", Role.AGENT)
                await conn.execute(insert(TeamMember).values(team_id=leaf[0], user_id=agent, created_at=now))

    company_rows: list[dict[str, Any]] = []
    used: set[str] = set()
    for i in range(companies):
        name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_NAMES)} {rng.choice(SUFFIXES)}"
        if name in used:
            name = f"{name} {i}"
        used.add(name)
        company_rows.append(
            {
                "name": name,
                "tax_id": cuit(rng, rng.choice(("30", "33"))),
                "industry": rng.choice(INDUSTRIES),
                "phone": f"+54{rng.choice(CITIES)[2]}4{rng.randint(100000, 999999)}"[:13],
                "search_name": fold(name),
                "created_at": now,
                "updated_at": now,
            }
        )
    tax_ids: set[str] = set()
    for row in company_rows:
        while row["tax_id"] in tax_ids:
            row["tax_id"] = cuit(rng, "30")
        tax_ids.add(row["tax_id"])
    if company_rows:
        await conn.execute(insert(Company), company_rows)
    names: dict[int, str] = {i: name for i, name in (await conn.execute(select(Company.id, Company.name))).all()}
    company_ids = sorted(names)
    types = dict((await conn.execute(select(DocumentType.code, DocumentType.id))).all())
    return {"users": users, "leaves": leaves, "companies": company_ids, "company_names": names, "types": types}


def _contacts(
    rng: random.Random, start_id: int, count: int, refs: dict[str, Any], now: datetime
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]]:
    """Chunks of (contacts, channels, addresses) rows."""
    dni, cuit_type = refs["types"]["DNI"], refs["types"]["CUIT"]
    contacts: list[dict[str, Any]] = []
    channels: list[dict[str, Any]] = []
    addresses: list[dict[str, Any]] = []
    for contact_id in range(start_id, start_id + count):
        first = rng.choice(FIRST) if rng.random() < 0.8 else f"{rng.choice(FIRST)} {rng.choice(FIRST)}"
        last = rng.choice(LAST) if rng.random() < 0.7 else f"{rng.choice(LAST)} {rng.choice(LAST)}"
        if rng.random() < 0.85:
            doc_type, number = dni, str(rng.randint(5_000_000, 45_999_999))
        else:
            doc_type, number = cuit_type, cuit(rng, rng.choice(("20", "23", "27")))
        company = rng.choice(refs["companies"]) if refs["companies"] and rng.random() < 0.6 else None
        city = rng.choice(CITIES)
        mobile = f"+549{city[2]}{rng.randint(10 ** (9 - len(city[2])), 10 ** (10 - len(city[2])) - 1)}"
        contact_channels = [("PHONE", mobile)]
        if rng.random() < 0.6:
            contact_channels.append(("WHATSAPP", mobile))
        if rng.random() < 0.5:
            domain = rng.choice(("gmail.com", "hotmail.com", "yahoo.com.ar", "outlook.com"))
            contact_channels.append(("EMAIL", f"{_email_local(first, last)}{rng.randint(1, 999)}@{domain}"))
        if rng.random() < 0.1:
            contact_channels.append(
                ("INSTAGRAM", f"{_email_local(first, last).replace('.', '_')[:24]}{rng.randint(1, 99)}")
            )
        created = now - timedelta(seconds=rng.randint(0, 2 * 365 * 24 * 3600))
        contacts.append(
            {
                "id": contact_id,
                "first_names": first,
                "last_names": last,
                "is_vip": rng.random() < 0.05,
                "document_type_id": doc_type,
                "document_number": number,
                "company_id": company,
                "team_id": rng.choice(refs["leaves"]),
                "custom_fields": {},
                "search_text": search_text(
                    first_names=first,
                    last_names=last,
                    document=number,
                    company=refs["company_names"].get(company) if company else None,
                    channels=contact_channels,
                ),
                "search_name": search_name(first, last),
                "sort_name": sort_name(first, last),
                "archived_at": None,
                "created_at": created,
                "updated_at": created,
            }
        )
        for kind, value in contact_channels:
            channels.append(
                {"contact_id": contact_id, "kind": kind, "value": value, "normalized": value, "created_at": created}
            )
        if rng.random() < 0.5:
            addresses.append(
                {
                    "contact_id": contact_id,
                    "label": "Casa",
                    "street": rng.choice(STREETS),
                    "number": str(rng.randint(1, 4999)),
                    "unit": None,
                    "city": city[0],
                    "region": city[1],
                    "postal_code": city[3],
                    "country": "AR",
                    "is_primary": True,
                    "created_at": created,
                    "updated_at": created,
                }
            )
        if len(contacts) >= CHUNK:
            yield contacts, channels, addresses
            contacts, channels, addresses = [], [], []
    if contacts:
        yield contacts, channels, addresses


_MODELS: tuple[type[Contact] | type[ContactChannel] | type[ContactAddress], ...] = (
    Contact,
    ContactChannel,
    ContactAddress,
)


async def _copy(conn: AsyncConnection, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    """PostgreSQL COPY through asyncpg: rows as tuples in the table's column order."""
    table = model.__table__
    columns = [c.name for c in table.columns if c.name in rows[0]]
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    # asyncpg takes JSON columns as text.
    records = [tuple(json.dumps(row[c]) if c == "custom_fields" else row[c] for c in columns) for row in rows]
    await driver.copy_records_to_table(table.name, records=records, columns=columns)


async def seed(
    engine: AsyncEngine,
    *,
    contacts: int,
    seed_value: int = 2026,
    progress: Callable[[int, int, float], None] | None = None,
) -> DemoResult:
    """Fill an empty database with demo teams, users, companies and `contacts` contacts."""
    started = time.perf_counter()
    rng = random.Random(seed_value)
    now = datetime.now(UTC).replace(microsecond=0)
    postgres = engine.dialect.name == "postgresql"
    async with engine.begin() as conn:
        if await conn.scalar(select(func.count()).select_from(Contact)):
            raise AlreadySeeded("The database already has contacts: seed-demo only fills an empty one")
        refs = await _setup(conn, rng, max(1, contacts // 40), now)
        start = int(await conn.scalar(select(func.max(Contact.id))) or 0) + 1
        saved_indexes: list[str] = []
        if postgres:
            # Rebuilding the contact indexes once is much faster than updating them per row.
            found = await conn.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(:tables) "
                    "AND indexname NOT LIKE 'pk_%'"
                ),
                {"tables": [m.__tablename__ for m in _MODELS]},
            )
            for name, definition in found.all():
                saved_indexes.append(definition)
                await conn.execute(text(f'DROP INDEX "{name}"'))
        done = 0
        for chunk in _contacts(rng, start, contacts, refs, now):
            for model, rows in zip(_MODELS, chunk, strict=True):
                if not rows:
                    continue
                if postgres:
                    await _copy(conn, model, rows)
                else:
                    await conn.execute(insert(model), rows)
            done += len(chunk[0])
            if progress:
                progress(done, contacts, time.perf_counter() - started)
        for definition in saved_indexes:
            await conn.execute(text(definition))
        if postgres:
            for name in ("contacts", "contact_channels", "contact_addresses", "companies"):
                sequence = f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), coalesce(max(id), 1)) FROM {name}"
                await conn.execute(text(sequence))
            await conn.execute(text("ANALYZE"))
    async with engine.begin() as conn:
        session = AsyncSession(bind=conn)
        event_id = await audit.record(
            session,
            actor=None,
            action=audit.AuditAction.BULK_CREATED,
            resource_type=audit.ResourceType.BATCH,
            resource_id=0,
            resource_name=f"Demo data: {contacts} contacts",
            changed={"contacts": contacts, "companies": len(refs["companies"]), "users": len(refs["users"])},
        )
        await audit.point_to_self(session, event_id)
        await session.flush()
    return DemoResult(
        contacts=contacts, companies=len(refs["companies"]), users=refs["users"], seconds=time.perf_counter() - started
    )
