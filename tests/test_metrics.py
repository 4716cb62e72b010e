"""Prometheus metrics at /metrics (cartera/metrics.py), scraped through the running app.

Counters are the process's (every test server in it adds to them), so each test scrapes before
and after what it sends and asserts the difference. Queries go one path: a shadow request would
be counted too.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from db.engine import create_engine
from db.models import Job, Role
from services.settings import Settings, SettingsError
from tests import differential
from tests.conftest import SECRET, Server, counting_sql, post_query, running
from tests.factories import Factory
from tests.test_live_processes import RedisProcess, _free_port, _wait_for
from tests.ws import init, listening, open_socket

pytestmark = pytest.mark.one_path("counts what the server records per request")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

PING = "query MetricsPing { __typename }"
ME = "query MetricsMe { me { id name role } }"
SET_PRESENCE = "mutation MetricsPresence { setPresence(status: ONLINE) { status userErrors { code } } }"


async def scrape(http: httpx.AsyncClient, token: str | None = None) -> Samples:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def scrape_until(http: httpx.AsyncClient, check: Callable[[Samples], bool], what: str) -> Samples:
    async with asyncio.timeout(5):
        while not check(samples := await scrape(http)):  # noqa: ASYNC110  (nothing to wait on but a scrape)
            await asyncio.sleep(0.02)
    assert samples, what
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def test_requests_by_operation_and_outcome(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        before = await scrape(http)
        for _ in range(3):
            assert (await post_query(http, PING)).status_code == 200
        await post_query(http, "{ __typename }")
        # Refused in validation: the name the client wrote is not a label.
        await post_query(http, "query MadeUpName123 { noSuchField }")
        after = await scrape(http)

    assert moved(before, after, "cartera_graphql_requests_total", operation="MetricsPing", outcome="ok") == 3
    assert moved(before, after, "cartera_graphql_requests_total", operation="(anonymous)", outcome="ok") == 1
    assert moved(before, after, "cartera_graphql_requests_total", operation="(refused)", outcome="rejected") == 1
    assert not any("MadeUpName123" in str(labels) for _, labels in after)
    assert moved(before, after, "cartera_graphql_request_duration_seconds_count", operation="MetricsPing") == 3
    # `{ __typename }` sends no SQL whichever path answers it.
    read = "compiled" if server.compiles else "strawberry"
    assert moved(before, after, "cartera_graphql_request_statements_count", read=read) == 4
    assert moved(before, after, "cartera_graphql_request_statements_sum", read=read) == 0
    assert moved(before, after, "cartera_graphql_request_statements_count", read="none") == 1


async def test_operation_names_are_capped(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    from cartera import metrics

    # As if the process had met its whole allowance of names already.
    monkeypatch.setattr(metrics, "_names", {f"Seen{i}" for i in range(metrics.MAX_OPERATION_NAMES)})
    async with httpx.AsyncClient(base_url=server.url) as http:
        before = await scrape(http)
        await post_query(http, "query OneNameTooMany { __typename }")
        await post_query(http, "query Seen7 { __typename }")
        after = await scrape(http)

    assert moved(before, after, "cartera_graphql_requests_total", operation="(other)", outcome="ok") == 1
    assert moved(before, after, "cartera_graphql_requests_total", operation="Seen7", outcome="ok") == 1
    assert value(after, "cartera_graphql_requests_total", operation="OneNameTooMany", outcome="ok") == 0


async def test_statements_per_request_are_the_ones_sent(server: Server, factory: Factory) -> None:
    admin = await factory.user(Role.ADMIN)
    token = factory.token(admin)
    async with httpx.AsyncClient(base_url=server.url) as http:
        before = await scrape(http)
        with counting_sql(server) as counter:
            query = await post_query(http, ME, token=token)
            reads = counter.count + len(counter.principal_loads)
            mutation = await post_query(http, SET_PRESENCE, token=token)
            writes = counter.count + len(counter.principal_loads) - reads
        after = await scrape(http)

    assert query.json()["data"]["me"]["role"] == "ADMIN"
    assert mutation.json()["data"]["setPresence"]["userErrors"] == []
    assert reads > 0
    assert writes > 0
    read = "compiled" if differential.compiled(query) else "strawberry"
    assert moved(before, after, "cartera_graphql_requests_total", operation="MetricsMe", outcome="ok") == 1
    assert moved(before, after, "cartera_graphql_requests_total", operation="MetricsPresence", outcome="ok") == 1
    if read == "compiled":
        assert moved(before, after, "cartera_graphql_request_statements_sum", read="compiled") == reads
        assert moved(before, after, "cartera_graphql_request_statements_sum", read="strawberry") == writes
    else:
        assert moved(before, after, "cartera_graphql_request_statements_sum", read="strawberry") == reads + writes
        assert moved(before, after, "cartera_graphql_request_statements_count", read="strawberry") == 2


async def test_websockets_subscriptions_and_deliveries(server: Server, factory: Factory) -> None:
    admin = await factory.user(Role.ADMIN)
    token = factory.token(admin)
    async with httpx.AsyncClient(base_url=server.url) as http:
        before = await scrape(http)
        async with listening(server, token) as inbox:
            during = await scrape(http)
            # The listening socket is a live connection, so the admin may go ONLINE; admins see it.
            result = await post_query(http, SET_PRESENCE, token=token)
            assert result.json()["data"]["setPresence"]["userErrors"] == []
            event = await inbox.next()
            assert event["payload"]["__typename"] == "PresenceChanged"
            delivered = await scrape(http)
            async with open_socket(server) as second:
                await init(second, token)
                two = await scrape(http)

        # The server ends its side of a socket a moment after the client has closed it.
        after = await scrape_until(
            http,
            lambda now: moved(before, now, "cartera_websocket_connections") == 0,
            "the sockets were not counted closed",
        )
    assert moved(before, during, "cartera_websocket_connections") == 1
    assert moved(before, during, "cartera_live_subscriptions") == 1
    assert moved(before, two, "cartera_websocket_connections") == 2
    assert moved(before, two, "cartera_live_subscriptions") == 1
    assert moved(during, delivered, "cartera_events_delivered_total", source="live") == 1
    assert moved(during, delivered, "cartera_events_delivered_total", source="replay") == 0
    assert moved(during, delivered, "cartera_event_delivery_lag_seconds_count") == 1
    assert moved(before, after, "cartera_websocket_connections") == 0
    assert moved(before, after, "cartera_live_subscriptions") == 0


async def test_jobs_and_pool_on_scrape(server: Server, factory: Factory, database_url: str) -> None:
    admin = await factory.user(Role.ADMIN)
    async with httpx.AsyncClient(base_url=server.url) as http:
        before = await scrape(http)
        # Written on an engine of its own: a commit on the server's would wake its job worker.
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                rows = [
                    {"kind": "metrics-test", "status": s, "requested_by_id": admin.id, "payload": {}}
                    for s in ("QUEUED", "QUEUED", "RUNNING", "DONE")
                ]
                await conn.execute(insert(Job), rows)
        finally:
            await engine.dispose()
        queued = await scrape(http)
        async with server.engine.connect() as held:
            holding = await scrape(http)
            await held.close()
        released = await scrape(http)

    assert value(before, "cartera_jobs", status="queued") == 0
    assert value(queued, "cartera_jobs", status="queued") == 2
    assert value(queued, "cartera_jobs", status="running") == 1
    assert moved(released, holding, "cartera_db_pool_checked_out", pool="requests") == 1
    assert value(released, "cartera_db_pool_size", pool="requests") > 0


async def test_metrics_off(database_url: str) -> None:
    async with running(database_url, metrics_path=None) as (_, client):
        assert (await client.http.get("/metrics")).status_code == 404


async def test_metrics_elsewhere_and_behind_a_token(database_url: str) -> None:
    async with running(database_url, metrics_path="/internal/metrics", metrics_token="scrape-me") as (_, client):
        http = client.http
        assert (await http.get("/metrics")).status_code == 404
        refused = await http.get("/internal/metrics")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        wrong = await http.get("/internal/metrics", headers={"authorization": "Bearer scrape-you"})
        assert wrong.status_code == 401
        scraped = await http.get("/internal/metrics", headers={"authorization": "Bearer scrape-me"})
        assert scraped.status_code == 200
        assert "cartera_graphql_requests_total" in scraped.text


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`cartera serve --workers 2` on a SQLite file, with a Redis of its own; its URL and metrics directory."""
    redis = RedisProcess()
    redis.start()
    directory = tmp_path / "metrics"
    directory.mkdir()
    # What an earlier run left: `serve` empties the directory first.
    (directory / "counter_1.db").write_bytes(b"left by an earlier run")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CARTERA_", "PROMETHEUS_"))},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cartera.db'}",
        "REDIS_URL": redis.url,
        "CARTERA_SECRET_KEY": SECRET,
        "CARTERA_LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
    }
    port = _free_port()
    cartera = Path(sys.executable).with_name("cartera")
    proc = subprocess.Popen([str(cartera), "serve", "--port", str(port), "--workers", "2"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: httpx.get(f"{url}/healthz").status_code == 200, "cartera serve --workers 2")
        yield url, directory
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        redis.stop()


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs a redis-server binary")
async def test_every_scrape_counts_every_process(two_workers: tuple[str, Path]) -> None:
    """Two processes share one socket: whichever a scrape reaches, it counts the requests both
    answered (prometheus_client's multiprocess mode)."""
    url, directory = two_workers

    async def ping() -> None:
        # A connection each, so that both processes take some.
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await post_query(http, "query ProcessesPing { __typename }")).status_code == 200

    await asyncio.gather(*(ping() for _ in range(40)))

    pids = {p.stem.rsplit("_", 1)[1] for p in directory.glob("counter_*.db")}
    assert len(pids) == 2, pids
    assert "1" not in pids
    for _ in range(6):
        async with httpx.AsyncClient(base_url=url) as http:
            samples = await scrape(http)
        assert value(samples, "cartera_graphql_requests_total", operation="ProcessesPing", outcome="ok") == 40


@pytest.mark.parametrize(
    ("env", "path"),
    [
        ({}, "/metrics"),
        ({"CARTERA_METRICS_PATH": ""}, None),
        ({"CARTERA_METRICS_PATH": " /ops/metrics "}, "/ops/metrics"),
    ],
)
def test_metrics_path_setting(env: dict[str, str], path: str | None) -> None:
    assert Settings.from_env(env).metrics_path == path


@pytest.mark.parametrize(
    "env",
    [
        {"CARTERA_METRICS_PATH": "metrics"},
        {"CARTERA_METRICS_PATH": "/graphql"},
        {"CARTERA_METRICS_PATH": "/metrics?x=1"},
        {"CARTERA_TRACING": "jaeger"},
    ],
)
def test_refused_observability_settings(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(env)


async def test_server_sent_event_subscriptions_are_live_subscriptions(server: Server, factory: Factory) -> None:
    from tests.test_sse import listening as streaming_inbox

    admin = await factory.user(Role.ADMIN)
    async with httpx.AsyncClient(base_url=server.url) as http:
        before = await scrape(http)
        async with streaming_inbox(server, factory.token(admin)):
            during = await scrape(http)
        after = await scrape(http)

    assert moved(before, during, "cartera_live_subscriptions") == 1
    # Not a WebSocket.
    assert moved(before, during, "cartera_websocket_connections") == 0
    assert moved(before, after, "cartera_live_subscriptions") == 0
