"""Settings read from the environment; every one is documented in README.md."""

from __future__ import annotations

import os
import re
import secrets
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

# What a gestión may have attached by default (G7): call audio, photos and scans of documents.
DEFAULT_ATTACHMENT_TYPES = (
    "audio/mpeg",
    "audio/wav",
    "audio/ogg",
    "audio/mp4",
    "image/jpeg",
    "image/png",
    "image/webp",
    "application/pdf",
)


class SettingsError(Exception):
    """The environment describes a configuration Cartera refuses to run with."""


def _raw(env: Mapping[str, str], name: str) -> str | None:
    """The variable's value; None when unset or empty (the default applies)."""
    raw = env.get(name)
    return raw if raw else None


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float, *, allow_zero: bool = False) -> float:
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value == 0 and allow_zero:
        return value
    if not 0 < value < 86_400 * 366:
        raise SettingsError(f"{name} must be more than 0 seconds and less than a year, got {raw!r}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _raw(env, name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def normalise_database_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, sqlite:///) and pick the async drivers."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in {"postgres", "postgresql"}:
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    else:
        raise SettingsError(f"DATABASE_URL must be PostgreSQL or SQLite, got {backend!r}")
    return parsed.render_as_string(hide_password=False)


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    redis_url: str | None = None
    token_ttl_seconds: int = 12 * 3600
    max_page_size: int = 100
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 4000
    # Objects an operation's nested lists could resolve (resolvers/cost.py prices it).
    max_query_cost: int = 20_000
    # Failed sign-ins within the window (services/sign_in_limits.py): strict per account,
    # generous per client address (a contact centre behind one NAT).
    sign_in_failures_per_account: int = 10
    sign_in_failures_per_address: int = 300
    sign_in_window_seconds: int = 900
    max_body_bytes: int = 1024 * 1024
    max_json_depth: int = 32
    introspection: bool = True
    graphiql: bool = True
    # Queries whose every field has a SQL mapping run as one statement building the JSON
    # (resolvers/compiled.py); PostgreSQL only, the embedded SQLite default always uses strawberry.
    compiled_reads: bool = True
    # Connections each process keeps to PostgreSQL for requests: under load, each request past
    # them opens and closes a connection of its own (overflow).
    # PostgreSQL's max_connections (100 by default) bounds it over every process.
    db_pool_size: int = 10
    ws_init_timeout_seconds: int = 10
    ws_max_operations: int = 100
    # A comment line on an idle Server-Sent Events stream this often, so proxies do not cut it.
    sse_keepalive_seconds: float = 15.0
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    timezone: str = "UTC"
    default_region: str = "AR"
    max_bulk_contacts: int = 5000
    max_selection_ids: int = 10_000
    event_retention_hours: int = 72
    event_poll_seconds: float = 2.0
    relay_seconds: float = 1.0
    inbox_queue: int = 1_000
    presence_grace_seconds: float = 30.0
    gc_seconds: float = 600.0
    log_level: str = "INFO"
    # None: the default, see attachments_root.
    attachments_dir: str | None = None
    max_attachment_bytes: int = 20 * 1024 * 1024
    attachment_types: tuple[str, ...] = DEFAULT_ATTACHMENT_TYPES
    # Background jobs (services/jobs.py): worker loops per process (0: this process runs none),
    # how long a claim lasts without a heartbeat, how often a job is tried before it FAILS.
    job_workers: int = 1
    job_lease_seconds: float = 30.0
    job_max_attempts: int = 3
    job_poll_seconds: float = 2.0
    job_progress_seconds: float = 1.0
    # Exports (services/sales_exports.py): how long a file stays downloadable, its size cap.
    export_retention_hours: int = 72
    max_export_bytes: int = 4 * 1024**3
    # Test-only: a pause after every chunk an export writes, so a test can kill its process mid-file.
    export_chunk_delay_seconds: float = 0.0
    # How often expired files (exports past their retention) are deleted, rows and bytes.
    file_sweep_seconds: float = 300.0
    # Prometheus metrics (cartera/metrics.py): the path they are served at (None: not served), and
    # the bearer token a scrape must send (None: anyone who reaches the path reads them).
    metrics_path: str | None = "/metrics"
    metrics_token: str | None = None
    # OpenTelemetry tracing (cartera/tracing.py, the `tracing` extra): "off", "otlp" or "console".
    tracing: str = "off"
    # Automatic persisted queries (cartera/persisted_queries.py), and how long a browser may keep
    # a successful GET query's answer: `private` always, since answers depend on the bearer token.
    persisted_queries: bool = True
    get_max_age_seconds: int = 10
    # HTTP responses of at least this many bytes are gzipped for clients that accept it; 0: never
    # (a reverse proxy in front compresses, say).
    compression_min_bytes: int = 1024

    @property
    def attachments_root(self) -> Path:
        """Where attachments are stored: the setting, else beside an SQLite database file, else ./attachments."""
        if self.attachments_dir:
            return Path(self.attachments_dir).expanduser().resolve()
        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            return Path(url.database).resolve().parent / "attachments"
        return Path.cwd() / "attachments"

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "sqlite"

    @property
    def broadcast_url(self) -> str:
        return self.redis_url or "memory://"

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        database_url = normalise_database_url(env.get("DATABASE_URL") or f"sqlite:///{Path.cwd() / 'cartera.db'}")
        timezone = env.get("CARTERA_TIMEZONE") or "UTC"
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise SettingsError(f"CARTERA_TIMEZONE is not a known time zone: {timezone!r}") from None
        origins = tuple(o.strip().rstrip("/") for o in env.get("CARTERA_ALLOWED_ORIGINS", "").split(",") if o.strip())
        return cls(
            database_url=database_url,
            secret_key=_secret_key(env, database_url),
            redis_url=env.get("REDIS_URL") or None,
            token_ttl_seconds=_int(env, "CARTERA_TOKEN_TTL_SECONDS", cls.token_ttl_seconds, minimum=60),
            max_page_size=_int(env, "CARTERA_MAX_PAGE_SIZE", cls.max_page_size),
            max_query_depth=_int(env, "CARTERA_MAX_QUERY_DEPTH", cls.max_query_depth),
            max_aliases=_int(env, "CARTERA_MAX_ALIASES", cls.max_aliases),
            max_tokens=_int(env, "CARTERA_MAX_TOKENS", cls.max_tokens),
            max_query_cost=_int(env, "CARTERA_MAX_QUERY_COST", cls.max_query_cost),
            sign_in_failures_per_account=_int(
                env, "CARTERA_SIGN_IN_FAILURES_PER_ACCOUNT", cls.sign_in_failures_per_account
            ),
            sign_in_failures_per_address=_int(
                env, "CARTERA_SIGN_IN_FAILURES_PER_ADDRESS", cls.sign_in_failures_per_address
            ),
            sign_in_window_seconds=_int(env, "CARTERA_SIGN_IN_WINDOW_SECONDS", cls.sign_in_window_seconds),
            max_body_bytes=_int(env, "CARTERA_MAX_BODY_BYTES", cls.max_body_bytes),
            max_json_depth=_int(env, "CARTERA_MAX_JSON_DEPTH", cls.max_json_depth, minimum=4),
            introspection=_bool(env, "CARTERA_INTROSPECTION", cls.introspection),
            graphiql=_bool(env, "CARTERA_GRAPHIQL", cls.graphiql),
            compiled_reads=_bool(env, "CARTERA_COMPILED_READS", cls.compiled_reads),
            db_pool_size=_int(env, "CARTERA_DB_POOL_SIZE", cls.db_pool_size),
            ws_init_timeout_seconds=_int(env, "CARTERA_WS_INIT_TIMEOUT_SECONDS", cls.ws_init_timeout_seconds),
            ws_max_operations=_int(env, "CARTERA_WS_MAX_OPERATIONS", cls.ws_max_operations),
            sse_keepalive_seconds=_seconds(env, "CARTERA_SSE_KEEPALIVE_SECONDS", cls.sse_keepalive_seconds),
            allowed_origins=origins,
            timezone=timezone,
            default_region=_region(env),
            max_bulk_contacts=_int(env, "CARTERA_MAX_BULK_CONTACTS", cls.max_bulk_contacts),
            max_selection_ids=_int(env, "CARTERA_MAX_SELECTION_IDS", cls.max_selection_ids),
            event_retention_hours=_int(env, "CARTERA_EVENT_RETENTION_HOURS", cls.event_retention_hours),
            event_poll_seconds=_seconds(env, "CARTERA_EVENT_POLL_SECONDS", cls.event_poll_seconds),
            relay_seconds=_seconds(env, "CARTERA_RELAY_SECONDS", cls.relay_seconds),
            inbox_queue=_int(env, "CARTERA_INBOX_QUEUE", cls.inbox_queue),
            presence_grace_seconds=_seconds(env, "CARTERA_PRESENCE_GRACE_SECONDS", cls.presence_grace_seconds),
            gc_seconds=_seconds(env, "CARTERA_GC_SECONDS", cls.gc_seconds),
            log_level=(env.get("CARTERA_LOG_LEVEL") or "INFO").upper(),
            attachments_dir=_raw(env, "CARTERA_ATTACHMENTS_DIR"),
            max_attachment_bytes=_int(env, "CARTERA_MAX_ATTACHMENT_BYTES", cls.max_attachment_bytes),
            attachment_types=_media_types(env, "CARTERA_ATTACHMENT_TYPES", DEFAULT_ATTACHMENT_TYPES),
            job_workers=_int(env, "CARTERA_JOB_WORKERS", cls.job_workers, minimum=0),
            job_lease_seconds=_seconds(env, "CARTERA_JOB_LEASE_SECONDS", cls.job_lease_seconds),
            job_max_attempts=_int(env, "CARTERA_JOB_MAX_ATTEMPTS", cls.job_max_attempts),
            job_poll_seconds=_seconds(env, "CARTERA_JOB_POLL_SECONDS", cls.job_poll_seconds),
            job_progress_seconds=_seconds(env, "CARTERA_JOB_PROGRESS_SECONDS", cls.job_progress_seconds),
            export_retention_hours=_int(env, "CARTERA_EXPORT_RETENTION_HOURS", cls.export_retention_hours),
            max_export_bytes=_int(env, "CARTERA_MAX_EXPORT_BYTES", cls.max_export_bytes),
            export_chunk_delay_seconds=_seconds(
                env, "CARTERA_EXPORT_CHUNK_DELAY_SECONDS", cls.export_chunk_delay_seconds, allow_zero=True
            ),
            file_sweep_seconds=_seconds(env, "CARTERA_FILE_SWEEP_SECONDS", cls.file_sweep_seconds),
            metrics_path=_metrics_path(env),
            metrics_token=_raw(env, "CARTERA_METRICS_TOKEN"),
            tracing=_choice(env, "CARTERA_TRACING", ("off", "otlp", "console"), cls.tracing),
            persisted_queries=_bool(env, "CARTERA_PERSISTED_QUERIES", cls.persisted_queries),
            get_max_age_seconds=_int(env, "CARTERA_GET_MAX_AGE_SECONDS", cls.get_max_age_seconds, minimum=0),
            compression_min_bytes=_int(env, "CARTERA_COMPRESSION_MIN_BYTES", cls.compression_min_bytes, minimum=0),
        )


_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")


def _media_types(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = _raw(env, name)
    if raw is None:
        return default
    types = tuple(dict.fromkeys(t.strip().lower() for t in raw.split(",") if t.strip()))
    wrong = [t for t in types if not _MEDIA_TYPE.fullmatch(t)]
    if wrong or not types:
        raise SettingsError(f"{name} must be a comma-separated list of media types (type/subtype), got {raw!r}")
    return types


def _metrics_path(env: Mapping[str, str]) -> str | None:
    # Set but empty turns metrics off; unset keeps the default.
    raw = env.get("CARTERA_METRICS_PATH")
    if raw is None:
        return Settings.metrics_path
    path = raw.strip()
    if not path:
        return None
    taken = ("/graphql", "/graphql/stream", "/healthz", "/readyz")
    if not re.fullmatch(r"/[A-Za-z0-9._~/-]*", path) or path.rstrip("/") in taken:
        raise SettingsError(f"CARTERA_METRICS_PATH must be a free path such as /metrics, or empty, got {raw!r}")
    return path


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = (_raw(env, name) or default).strip().lower()
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {env.get(name)!r}")
    return value


def _region(env: Mapping[str, str]) -> str:
    region = (env.get("CARTERA_DEFAULT_REGION") or "AR").strip().upper()
    if len(region) != 2 or not region.isalpha():
        raise SettingsError(f"CARTERA_DEFAULT_REGION must be a two-letter country code, got {region!r}")
    return region


def _secret_key(env: Mapping[str, str], database_url: str) -> str:
    key = env.get("CARTERA_SECRET_KEY")
    if key:
        if len(key) < 32:
            raise SettingsError("CARTERA_SECRET_KEY must be at least 32 characters")
        return key
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise SettingsError("CARTERA_SECRET_KEY is required with PostgreSQL: tokens must verify on every API process")
    # Embedded default: keep a generated key beside the database so tokens survive restarts.
    key_file = Path(url.database).with_suffix(".secret")
    try:
        return key_file.read_text().strip()
    except FileNotFoundError:
        pass
    key_file.parent.mkdir(parents=True, exist_ok=True)
    generated = secrets.token_urlsafe(48)
    # Write aside, then link into place: a concurrent starter never reads a half-written key.
    tmp = key_file.with_name(f".{key_file.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(generated)
    try:
        os.link(tmp, key_file)
    except FileExistsError:
        return key_file.read_text().strip()
    finally:
        tmp.unlink()
    return generated
