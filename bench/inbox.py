"""Benchmark: live delivery to agent inboxes (RT1-RT4) at 2,000 connected subscribers.

One API process (uvicorn, as `cartera serve` runs it) with Redis; in this process, a load
generator and the WebSocket clients:
  - N agents each hold a real WebSocket with an `inbox` subscription;
  - a writer commits events to the log at the target rate, each addressed to one agent (as an
    assignment to its portfolio is), in transactions of `--batch`, and rings the Redis doorbell
    after each commit, as the API does;
  - each client notes when each event arrives.
Measured: delivery latency from the writer's commit to the client (p50/p99), events per
second delivered, and the API process's resident memory per connection (RSS with the clients
connected and subscribed, minus before, divided by N).

    python bench/inbox.py --help
    python bench/inbox.py --postgres postgresql://postgres@127.0.0.1:5432/test --redis redis://127.0.0.1:6379/0

Prints a JSON summary on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SECRET, scratch_postgres, start_server
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from db import migrate
from db.base import utcnow
from db.engine import create_engine, create_sessionmaker
from db.models import Role, User
from schema.node import from_global_id
from services import events
from services.auth import hash_password, issue_token
from subscriptions.broadcast import create_broadcast
from subscriptions.feed import ring

INBOX = "subscription { inbox { id payload { ... on PortfolioContactsChanged { contactIds } } } }"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def seed(url: str, agents: int) -> list[int]:
    engine = create_engine(url)
    await migrate.upgrade(engine)
    now = utcnow()
    password = hash_password("bench-password")
    rows = [
        {
            "email": f"agent{i}@bench.example",
            "name": f"Agente {i:05d}",
            "role": Role.AGENT.value,
            "password_hash": password,
            "is_active": True,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(agents)
    ]
    async with engine.begin() as conn:
        ids = list(await conn.scalars(insert(User).returning(User.id, sort_by_parameter_order=True), rows))
    await engine.dispose()
    return ids


class Client:
    def __init__(self, user_id: int, received: dict[int, float]) -> None:
        self.user_id = user_id
        self.received = received
        self.ready = asyncio.Event()

    async def run(self, ws_url: str, stop: asyncio.Event, opening: asyncio.Semaphore) -> None:
        token = issue_token(secret_key=SECRET, user_id=self.user_id, ttl_seconds=3600)
        # A few handshakes at a time, as agents starting a shift do: thousands in the same
        # millisecond only measure the listen backlog.
        async with opening:
            ws = await connect(
                ws_url, subprotocols=[Subprotocol("graphql-transport-ws")], max_queue=None, open_timeout=60
            )
            await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": INBOX}}))
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await ws.recv())["type"] == "pong"
        self.ready.set()
        async with ws:
            await self._read(ws, stop)

    async def _read(self, ws: ClientConnection, stop: asyncio.Event) -> None:
        reading = asyncio.ensure_future(ws.recv())
        stopping = asyncio.ensure_future(stop.wait())
        while True:
            done, _ = await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                reading.cancel()
                return
            message = json.loads(reading.result())
            if message.get("type") == "next":
                _, event_id = from_global_id(message["payload"]["data"]["inbox"]["id"])
                self.received[event_id] = time.time()
            reading = asyncio.ensure_future(ws.recv())


async def write_load(
    url: str, redis_url: str, agents: list[int], rate: int, seconds: float, batch: int
) -> dict[int, float]:
    """Commit `rate` events a second for `seconds`, ringing after each commit; event id -> commit time."""
    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    broadcast = create_broadcast(redis_url)
    await broadcast.connect()
    committed: dict[int, float] = {}
    started = time.perf_counter()
    sent = 0
    try:
        while time.perf_counter() - started < seconds:
            async with sessionmaker() as session:
                for _ in range(batch):
                    agent = agents[sent % len(agents)]
                    payload = {"action": "ASSIGNED", "portfolio": None, "previous": None, "contactIds": [sent]}
                    events.emit(session, events.EventKind.PORTFOLIO_CONTACTS, payload, users=[agent])
                    sent += 1
                written = await events.write_pending(session)
                await session.commit()
            now = time.time()
            committed.update((e.id, now) for e in written)
            await ring(broadcast, max(e.id for e in written))
            # As the API does after ringing (subscriptions.hub), or its relay would ring them again.
            async with sessionmaker() as session:
                await events.mark_published(session, [e.id for e in written])
                await session.commit()
            # Keep to the rate: sleep until this batch's share of the time has passed.
            await asyncio.sleep(max(started + sent / rate - time.perf_counter(), 0))
    finally:
        await broadcast.disconnect()
        await engine.dispose()
    return committed


def _client_worker(ws_url: str, agents: list[int], ready: Any, stop: Any, results: Any) -> None:
    """One process of WebSocket clients: connect, say ready, read until told to stop, report."""

    async def run() -> dict[int, float]:
        received: dict[int, float] = {}
        stopping = asyncio.Event()
        clients = [Client(agent, received) for agent in agents]
        opening = asyncio.Semaphore(20)
        tasks = [asyncio.create_task(c.run(ws_url, stopping, opening)) for c in clients]
        # A client that fails to connect fails the run here, not as a silent wait.
        all_ready = asyncio.ensure_future(asyncio.gather(*(c.ready.wait() for c in clients)))
        pending: set[asyncio.Future[Any]] = {all_ready, *tasks}
        while not all_ready.done():
            done, pending = await asyncio.wait(pending, timeout=300, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                raise TimeoutError("clients still connecting after 300 s")
            for finished in done - {all_ready}:
                finished.result()
        ready.set()
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        stopping.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        return received

    results.put(asyncio.run(run()))


async def measure(args: argparse.Namespace, url: str) -> dict[str, Any]:
    agents = await seed(url, args.subscribers)
    proc, base = start_server(url, redis_url=args.redis, extra_env={"CARTERA_GC_SECONDS": str(args.server_gc_seconds)})
    ws_url = base.replace("http://", "ws://") + "/graphql"
    context = multiprocessing.get_context("spawn")
    stop, results = context.Event(), context.Queue()
    workers = []
    try:
        await asyncio.sleep(1)
        rss_before = _rss_mb(proc.pid)
        # Clients in processes of their own, apart from the writer: one event loop reading
        # thousands of sockets would itself be the latency measured.
        for share in range(args.client_processes):
            ready = context.Event()
            worker = context.Process(
                target=_client_worker, args=(ws_url, agents[share :: args.client_processes], ready, stop, results)
            )
            worker.start()
            workers.append((worker, ready))
        for worker, ready in workers:
            while not ready.is_set():
                if not worker.is_alive():
                    raise RuntimeError("a client process failed to connect its clients (its traceback is above)")
                await asyncio.sleep(0.5)
        # Connected agents stay for a shift: measure once the server has frozen their objects.
        await asyncio.sleep(args.settle)
        rss_after = _rss_mb(proc.pid)
        committed = await write_load(url, args.redis, agents, args.rate, args.seconds, args.batch)
        await asyncio.sleep(5)  # the last deliveries land
        stop.set()
        received: dict[int, float] = {}
        for _ in workers:
            received.update(await asyncio.get_running_loop().run_in_executor(None, results.get, True, 120))
        for worker, _ in workers:
            worker.join(30)
    finally:
        stop.set()
        proc.terminate()
        proc.wait()
    if args.dump:
        with open(args.dump, "w") as out:  # noqa: ASYNC230  (once, after the measurement)
            out.write("event_id,committed_at,latency_ms\n")
            for i in sorted(committed):
                latency = f"{(received[i] - committed[i]) * 1000:.1f}" if i in received else ""
                out.write(f"{i},{committed[i]:.6f},{latency}\n")
    latencies = sorted((received[i] - committed[i]) * 1000 for i in committed if i in received)
    cuts = statistics.quantiles(latencies, n=100)
    window = max(received.values()) - min(received.values()) if received else 0
    return {
        "subscribers": args.subscribers,
        "client_processes": args.client_processes,
        "target_events_per_second": args.rate,
        "events_committed": len(committed),
        "events_delivered": len([i for i in committed if i in received]),
        "delivered_per_second": round(len(received) / window, 1) if window else None,
        "latency_p50_ms": round(cuts[49], 1),
        "latency_p99_ms": round(cuts[98], 1),
        "latency_max_ms": round(latencies[-1], 1),
        "server_rss_mb": {"before_clients": round(rss_before, 1), "with_clients": round(rss_after, 1)},
        "server_kb_per_connection": round((rss_after - rss_before) * 1024 / args.subscribers, 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", required=True, help="PostgreSQL server URL; a scratch database is made there")
    parser.add_argument("--redis", required=True, help="Redis URL the API process and the writer share")
    parser.add_argument("--subscribers", type=int, default=2000, help="connected inbox subscribers (default 2000)")
    parser.add_argument("--rate", type=int, default=1000, help="events committed per second (default 1000)")
    parser.add_argument("--seconds", type=float, default=20, help="how long the writer writes (default 20)")
    parser.add_argument("--batch", type=int, default=20, help="events per committed transaction (default 20)")
    parser.add_argument("--client-processes", type=int, default=4, help="processes the clients share (default 4)")
    parser.add_argument(
        "--server-gc-seconds",
        type=float,
        default=600,
        help="the server's CARTERA_GC_SECONDS: how often it collects everything (default 600, as deployed)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=35,
        help="seconds between the last client connecting and the writer starting (default 35: past the server's "
        "next garbage collection pass, which freezes the connections' objects; see cartera/collector.py)",
    )
    parser.add_argument("--dump", help="write each event's commit time and latency to this CSV file")
    args = parser.parse_args()
    async with scratch_postgres(args.postgres) as url:
        summary = await measure(args, url)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
