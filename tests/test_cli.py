"""The `cartera` command as an operator meets it: a subprocess in an empty directory."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest

from tests.conftest import POSTGRES_URL, SECRET
from tests.factories import priced

CARTERA = str(Path(sys.executable).with_name("cartera"))


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CARTERA_SECRET_KEY"}}
    return subprocess.run(
        [CARTERA, *args], cwd=cwd, env={**base, **(env or {})}, capture_output=True, text=True, timeout=120
    )


class TestEmbeddedDefault:
    def test_create_user_then_token(self, tmp_path: Path) -> None:
        created = run(tmp_path, "create-user", "Ana@Example.com", "--password", "secret123", "--role", "admin")
        assert created.returncode == 0, created.stderr
        assert (tmp_path / "cartera.db").exists()
        key = (tmp_path / "cartera.secret").read_text().strip()
        assert len(key) >= 32
        assert oct((tmp_path / "cartera.secret").stat().st_mode & 0o777) == "0o600"

        token = run(tmp_path, "token", "ana@example.com", "--ttl", "120")
        assert token.returncode == 0, token.stderr
        printed = token.stdout.strip()
        assert token.stdout.count("\n") == 1
        claims = jwt.decode(printed, key, algorithms=["HS256"], issuer="cartera")
        assert claims["exp"] - claims["iat"] == 120

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--password", "secret123", "--role", "KING"], "--role must be one of ADMIN, SUPERVISOR, AGENT"),
            (["--password", "short", "--role", "AGENT"], "password: Password must have at least 8 characters"),
        ],
    )
    def test_create_user_refuses_bad_input(self, tmp_path: Path, args: list[str], message: str) -> None:
        result = run(tmp_path, "create-user", "ana@example.com", *args)
        assert result.returncode == 2
        assert message in result.stderr

    def test_create_user_refuses_a_duplicate_email(self, tmp_path: Path) -> None:
        assert (
            run(tmp_path, "create-user", "ana@example.com", "--password", "secret123", "--role", "AGENT").returncode
            == 0
        )
        again = run(tmp_path, "create-user", "ANA@example.com", "--password", "secret123", "--role", "AGENT")
        assert again.returncode == 2
        assert "email: A user with this email already exists" in again.stderr
        assert "Traceback" not in again.stderr

    def test_bad_email_is_refused(self, tmp_path: Path) -> None:
        result = run(tmp_path, "create-user", "not-an-email", "--password", "secret123", "--role", "AGENT")
        assert result.returncode == 2
        assert "email: Not a valid email address" in result.stderr

    def test_token_for_unknown_user(self, tmp_path: Path) -> None:
        result = run(tmp_path, "token", "nobody@example.com")
        assert result.returncode == 2
        assert "no active user with email nobody@example.com" in result.stderr
        assert result.stdout == ""

    def test_several_workers_need_redis(self, tmp_path: Path) -> None:
        result = run(tmp_path, "serve", "--workers", "2")
        assert result.returncode == 2
        assert "--workers above 1 needs REDIS_URL" in result.stderr

    def test_postgres_without_a_secret_key_is_refused(self, tmp_path: Path) -> None:
        result = run(tmp_path, "serve", env={"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"})
        assert result.returncode == 2
        assert "CARTERA_SECRET_KEY is required with PostgreSQL" in result.stderr

    def test_serve_in_an_empty_directory(self, tmp_path: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CARTERA_SECRET_KEY"}}
        log = (tmp_path / "serve.log").open("w")
        server = subprocess.Popen([CARTERA, "serve", "--port", str(port)], cwd=tmp_path, env=base, stderr=log)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "cartera serve did not come up"
                assert server.poll() is None, (tmp_path / "serve.log").read_text()
                time.sleep(0.1)
            ide = httpx.get(f"{url}/graphql", headers={"accept": "text/html"})
            assert ide.status_code == 200
            assert "graphiql" in ide.text.lower()
            answer = httpx.post(f"{url}/graphql", json={"query": "{ __typename }"})
            assert answer.json() == {
                "data": {"__typename": "Query"},
                "extensions": priced(0),
            }
            assert httpx.get(f"{url}/readyz").json() == {"status": "ready", "database": "ok", "broadcast": "ok"}
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
        assert (tmp_path / "cartera.db").exists()


@pytest.mark.skipif(not POSTGRES_URL, reason="needs CARTERA_TEST_POSTGRES_URL")
class TestPostgres:
    def test_migrate_create_user_and_token(self, tmp_path: Path, database_url: str) -> None:
        env = {"DATABASE_URL": database_url.replace("+asyncpg", ""), "CARTERA_SECRET_KEY": SECRET}
        migrated = run(tmp_path, "migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        created = run(
            tmp_path, "create-user", "pg@example.com", "--password", "secret123", "--role", "SUPERVISOR", env=env
        )
        assert created.returncode == 0, created.stderr
        token = run(tmp_path, "token", "pg@example.com", env=env)
        assert jwt.decode(token.stdout.strip(), SECRET, algorithms=["HS256"], issuer="cartera")["sub"]
        assert not (tmp_path / "cartera.db").exists()
