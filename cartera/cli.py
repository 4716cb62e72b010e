"""The `cartera` command: serve, migrate, create-user, token, seed-demo, export-schema."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from sqlalchemy import func, select

from db import migrate
from db.engine import create_engine, create_sessionmaker
from db.models import Role, User
from services import auth, users
from services.errors import DomainError
from services.settings import Settings, SettingsError


class CommandError(Exception):
    """A clear message for the operator; the command exits non-zero."""


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as error:
        raise CommandError(str(error)) from None


async def _migrate(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


async def _pending(settings: Settings) -> bool:
    engine = create_engine(settings.database_url)
    try:
        return await migrate.pending(engine)
    finally:
        await engine.dispose()


def _prepare_database(settings: Settings) -> None:
    """The embedded database migrates itself; a configured one must be migrated by its operator."""
    if settings.is_sqlite:
        asyncio.run(_migrate(settings))
    elif asyncio.run(_pending(settings)):
        raise CommandError("The database is behind this version: run `cartera migrate` first")


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = _settings()
    if args.workers > 1 and not settings.redis_url:
        raise CommandError("--workers above 1 needs REDIS_URL: processes share live events through Redis")
    _prepare_database(settings)
    if args.workers > 1:
        from cartera import metrics

        # A scrape reaches any one process: each writes its metrics where every one reads them all.
        metrics.prepare_processes(os.environ)
    print(f"Cartera on http://{args.host}:{args.port}/graphql", file=sys.stderr)
    uvicorn.run(
        "cartera.asgi:create",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        ws="websockets-sansio",
        log_config=None,
        proxy_headers=True,
    )


def cmd_migrate(_: argparse.Namespace) -> None:
    settings = _settings()
    asyncio.run(_migrate(settings))
    print("database is up to date", file=sys.stderr)


def cmd_create_user(args: argparse.Namespace) -> None:
    settings = _settings()
    try:
        role = Role(args.role.upper())
    except ValueError:
        raise CommandError(f"--role must be one of {', '.join(r.value for r in Role)}") from None

    _prepare_database(settings)

    async def run() -> int:
        engine = create_engine(settings.database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                user = await users.create_user(
                    session,
                    None,
                    email=args.email,
                    name=args.name or args.email.split("@")[0],
                    role=role,
                    password=args.password,
                )
                await session.commit()
                return user.id
        finally:
            await engine.dispose()

    try:
        user_id = asyncio.run(run())
    except DomainError as error:
        raise CommandError("; ".join(f"{p.field or 'input'}: {p.message}" for p in error.problems)) from None
    print(f"created user {user_id} ({role.value})", file=sys.stderr)


def cmd_token(args: argparse.Namespace) -> None:
    settings = _settings()
    _prepare_database(settings)

    async def run() -> int | None:
        engine = create_engine(settings.database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                stmt = select(User.id).where(
                    func.lower(User.email) == args.email.strip().lower(), User.is_active.is_(True)
                )
                return await session.scalar(stmt)
        finally:
            await engine.dispose()

    user_id = asyncio.run(run())
    if user_id is None:
        raise CommandError(f"no active user with email {args.email}")
    print(
        auth.issue_token(
            secret_key=settings.secret_key, user_id=user_id, ttl_seconds=args.ttl or settings.token_ttl_seconds
        )
    )


def _positive(value: str) -> int:
    try:
        number = int(value.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def cmd_seed_demo(args: argparse.Namespace) -> None:
    from services import demo

    settings = _settings()
    _prepare_database(settings)

    # A bar redrawn in place on a terminal; elsewhere (a pipe, CI's log) one plain line per report.
    terminal = sys.stderr.isatty()
    drawing: list[str] = []

    def progress(what: str, done: int, total: int, seconds: float) -> None:
        if not terminal:
            print(f"{done:,}/{total:,} {what}", file=sys.stderr, flush=True)
            return
        if drawing and drawing[-1] != what:
            print(file=sys.stderr)
        drawing.append(what)
        width = 30
        bar = "#" * (width * done // max(total, 1))
        rate = f"  {done / seconds:,.0f}/s" if what == "contacts" and seconds else ""
        print(f"\r[{bar:<{width}}] {done:>9,}/{total:,} {what}{rate} ", end="", file=sys.stderr, flush=True)

    def stage(message: str) -> None:
        if terminal:
            drawing.clear()
            print(f"\n{message}…", file=sys.stderr, flush=True)
        else:
            print(f"{message}…", file=sys.stderr, flush=True)

    async def run() -> demo.DemoResult:
        engine = create_engine(settings.database_url)
        try:
            return await demo.seed(engine, contacts=args.contacts, seed_value=args.seed, progress=progress, stage=stage)
        finally:
            await engine.dispose()

    print(f"seeding {args.contacts:,} demo contacts (seed {args.seed})", file=sys.stderr)
    try:
        result = asyncio.run(run())
    except demo.SeedError as error:
        raise CommandError(str(error)) from None
    except KeyboardInterrupt:
        # The load is one transaction: nothing of it was kept.
        print("\ncartera: interrupted; nothing was loaded", file=sys.stderr)
        raise SystemExit(130) from None
    print(file=sys.stderr)
    print(
        f"Loaded {result.contacts:,} contacts ({result.channels:,} channels, {result.addresses:,} addresses) "
        f"and {result.companies:,} companies in {result.seconds:.1f}s."
    )
    done = result.activity
    print(
        f"Their work: {done.portfolios:,} portfolios holding {done.portfolio_members:,} contacts, "
        f"{done.campaigns:,} campaigns with {done.gestiones:,} gestiones, {done.conversations:,} conversations "
        f"({done.messages:,} messages) and {done.attentions:,} sales attentions."
    )
    print(f"Sign in with any of these users; the password of all of them is {demo.DEMO_PASSWORD}")
    for user in result.users:
        print(f"  {user.role.value:<10} {user.email:<42} {user.name:<24} {', '.join(user.teams)}".rstrip())
    print(
        "Serve with `cartera serve` and open GraphiQL at http://127.0.0.1:8000/graphql, or get a token with "
        "`cartera token admin@cartera.demo`."
    )


def cmd_export_schema(_: argparse.Namespace) -> None:
    from resolvers.root import build_schema

    print(build_schema(Settings(database_url="sqlite+aiosqlite://", secret_key="-" * 32)).as_str())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cartera", description="Cartera: portfolios and assignment for contact centres.")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the API (migrates the embedded SQLite database first)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=cmd_serve)
    sub.add_parser("migrate", help="bring the configured database up to date").set_defaults(run=cmd_migrate)
    create = sub.add_parser("create-user", help="create a user")
    create.add_argument("email")
    create.add_argument("--password", required=True)
    create.add_argument("--role", required=True, help="ADMIN, SUPERVISOR or AGENT")
    create.add_argument("--name")
    create.set_defaults(run=cmd_create_user)
    token = sub.add_parser("token", help="print a bearer token for a user")
    token.add_argument("email")
    token.add_argument("--ttl", type=int, help="lifetime in seconds")
    token.set_defaults(run=cmd_token)
    sub.add_parser("export-schema", help="print the GraphQL schema (SDL)").set_defaults(run=cmd_export_schema)
    seed = sub.add_parser(
        "seed-demo",
        help="fill an empty database with demo teams, users, companies, contacts and their portfolios, "
        "gestiones, conversations and sales attentions",
    )
    seed.add_argument(
        "--contacts",
        type=_positive,
        default=10_000,
        help="how many contacts (default 10000); the rest is a share of them (services.demo_activity.Scale)",
    )
    seed.add_argument("--seed", type=int, default=2026, help="random seed: the same seed gives the same data")
    seed.set_defaults(run=cmd_seed_demo)
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except CommandError as error:
        print(f"cartera: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
