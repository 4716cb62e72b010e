"""Benchmark: the server's CPU per request for the spine, measured from outside its process.

Starts `uvicorn --factory cartera.asgi:create --http httptools --loop uvloop` (one process, the
environment's DATABASE_URL, CARTERA_SECRET_KEY, REDIS_URL), sends each case from 16 keep-alive
clients on raw sockets (so the client costs the server nothing but its requests) and prints
requests a second and the server process's CPU (user + system, from /proc) per request.
`--profile PREFIX` records each case with py-spy (raw, collapsed stacks) into PREFIX-<case>.txt.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/spine_bench CARTERA_SECRET_KEY=... \\
        python bench/spine_server.py --token "$(cartera token admin@example.com)"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time

CASES = {
    "typename-anonymous": ("{ __typename }", False),
    "typename": ("{ __typename }", True),
    "me": ("{ me { id } }", True),
}


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request(query: str, token: str | None) -> bytes:
    body = json.dumps({"query": query}).encode()
    head = [b"POST /graphql HTTP/1.1", b"Host: bench", b"Content-Type: application/json"]
    head.append(b"Content-Length: " + str(len(body)).encode())
    if token:
        head.append(b"Authorization: Bearer " + token.encode())
    return b"\r\n".join(head) + b"\r\n\r\n" + body


async def client(port: int, payload: bytes, calls: int, bodies: list[bytes]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(calls):
        writer.write(payload)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        bodies.append(await reader.readexactly(length))
    writer.close()


async def load(port: int, payload: bytes, total: int, clients: int) -> bytes:
    bodies: list[bytes] = []
    await asyncio.gather(*(client(port, payload, total // clients, bodies) for _ in range(clients)))
    return bodies[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--token", required=True, help="a bearer token (`cartera token EMAIL`)")
    parser.add_argument("--requests", type=int, default=8000, help="per case (default 8000)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--profile", default="", help="py-spy output prefix")
    args = parser.parse_args()
    command = [sys.executable, "-m", "uvicorn", "--factory", "cartera.asgi:create", "--http", "httptools"]
    command += ["--loop", "uvloop", "--port", str(args.port), "--no-access-log"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", args.port)).close()
                break
            except OSError:
                time.sleep(0.1)
        for name in args.cases.split(","):
            query, signed_in = CASES[name]
            payload = request(query, args.token if signed_in else None)
            asyncio.run(load(args.port, payload, 800, args.clients))  # warm: pool, caches
            spy = None
            if args.profile:
                spy_command = ["py-spy", "record", "-p", str(server.pid), "-o", f"{args.profile}-{name}.txt"]
                spy = subprocess.Popen([*spy_command, "-f", "raw", "-r", "500", "--nonblocking"])
                time.sleep(1)
            cpu, wall = cpu_seconds(server.pid), time.perf_counter()
            last = asyncio.run(load(args.port, payload, args.requests, args.clients))
            cpu, wall = cpu_seconds(server.pid) - cpu, time.perf_counter() - wall
            if spy is not None:
                spy.send_signal(2)
                spy.wait()
            if b'"errors"' in last:
                raise SystemExit(f"{name} failed: {last[:300]!r}")
            print(
                f"{name}: {args.requests / wall:,.0f} req/s, server CPU {1e6 * cpu / args.requests:.0f} µs per request"
            )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
