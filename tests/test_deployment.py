"""The image's locked dependencies and docker-compose's volume and restart policy (issue 25, point 9).

No Docker here: the files are read as Docker would be given them. requirements.lock must pin
every dependency pyproject.toml declares (and the build backend, which the Dockerfile builds
with, isolation off) inside its bounds, with hashes, or `pip install --require-hashes` in the
image fails or installs something the bounds exclude.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path

import yaml  # uvicorn[standard] depends on PyYAML, so the server's own environment has it.
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from services.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def declared() -> list[Requirement]:
    """What the image needs: the runtime dependencies and the build backend."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [Requirement(text) for text in (*project["project"]["dependencies"], *project["build-system"]["requires"])]


def pins(lock_text: str) -> dict[str, Version]:
    found: dict[str, Version] = {}
    for line in lock_text.splitlines():
        if match := PIN.match(line):
            found[canonicalize_name(match[1])] = Version(match[2].rstrip("\\").strip())
    return found


def problems(requirements: Iterable[Requirement], lock_text: str) -> list[str]:
    """Each declared requirement the lock misses or pins outside its bounds (extras' needs included)."""
    locked = pins(lock_text)
    found: list[str] = []
    for requirement in requirements:
        if requirement.marker and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        if name not in locked:
            found.append(f"{requirement} is not in requirements.lock")
            continue
        if not requirement.specifier.contains(locked[name], prereleases=True):
            found.append(f"{requirement}: requirements.lock pins {locked[name]}")
        for extra in sorted(requirement.extras):
            for needed in _extra_needs(requirement.name, extra, locked[name]):
                if canonicalize_name(needed) not in locked:
                    found.append(f"{needed} (from {requirement.name}[{extra}]) is not in requirements.lock")
    return found


def _extra_needs(distribution: str, extra: str, version: Version) -> list[str]:
    """The names an extra pulls in, read from the installed distribution when it is the locked version."""
    try:
        metadata = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return []
    if Version(metadata.version) != version:
        return []
    environment = {**default_environment(), "extra": extra}
    needs = [Requirement(text) for text in metadata.requires or []]
    return [
        need.name
        for need in needs
        if need.marker is not None and "extra" in str(need.marker) and need.marker.evaluate(environment)
    ]


def test_the_lock_pins_every_declared_dependency_within_its_bounds() -> None:
    assert problems(declared(), LOCK.read_text()) == []


def test_the_check_finds_a_missing_dependency_and_a_pin_out_of_bounds() -> None:
    lock = LOCK.read_text()
    without = "\n".join(line for line in lock.splitlines() if not line.startswith("phonenumbers=="))
    assert problems(declared(), without) == [
        next(f"{r} is not in requirements.lock" for r in declared() if r.name == "phonenumbers")
    ]
    too_new = re.sub(r"^starlette==\S+", "starlette==2.0.0", lock, flags=re.MULTILINE)
    assert [p for p in problems(declared(), too_new) if p.startswith("starlette")] == [
        "starlette<2,>=0.46: requirements.lock pins 2.0.0"
    ]
    # An extra's own dependency (uvicorn[standard] brings websockets, without which every upgrade is a 400).
    # Its needs are read from the installed uvicorn only when the lock pins that version, and a fresh
    # install takes the newest release (0.55.0 came out after the lock's 0.54.0): pin the installed one.
    installed = importlib.metadata.version("uvicorn")
    current = re.sub(r"^uvicorn==\S+", f"uvicorn=={installed}", lock, flags=re.MULTILINE)
    no_websockets = "\n".join(line for line in current.splitlines() if not line.startswith("websockets=="))
    assert "websockets (from uvicorn[standard]) is not in requirements.lock" in problems(declared(), no_websockets)


def test_every_pin_carries_hashes_and_the_lock_names_no_index() -> None:
    lock = LOCK.read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", lock)
    pinned = [entry for entry in entries if PIN.match(entry)]
    assert len(pinned) == len(pins(lock)) > len(declared())
    assert [entry.split("==")[0] for entry in pinned if "--hash=sha256:" not in entry] == []
    # Index and find-links lines would send the image to this machine's paths.
    assert [
        line
        for line in lock.splitlines()
        if line.startswith(("-i", "--index-url", "--extra-index-url", "-f", "--find-links"))
    ] == []
    # The header says how to refresh it.
    assert "pip-compile" in lock.split("\n\n", 1)[0]


def test_the_image_installs_the_lock_with_hashes_and_then_the_package_alone() -> None:
    steps = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    lock_step = next(i for i, line in enumerate(steps) if "--require-hashes -r requirements.lock" in line)
    package_step = next(i for i, line in enumerate(steps) if re.search(r"pip install --no-deps .*\.$", line))
    assert lock_step < package_step
    assert "COPY requirements.lock ./" in steps


def _compose() -> dict[str, dict[str, object]]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_compose_restarts_the_long_running_services_and_not_the_migration() -> None:
    services = _compose()["services"]
    assert {name: service.get("restart") for name, service in services.items()} == {  # type: ignore[union-attr]
        "db": "unless-stopped",
        "redis": "unless-stopped",
        "api": "unless-stopped",
        "migrate": None,
    }


def test_compose_keeps_attachments_and_exports_on_a_named_volume_where_the_server_writes_them() -> None:
    compose = _compose()
    api = compose["services"]["api"]
    assert isinstance(api, dict)
    mounts = [str(volume).split(":") for volume in api["volumes"]]
    named = {target: source for source, target, *_ in mounts if source in (compose.get("volumes") or {})}
    image_env = dict(
        re.findall(r"^ENV (CARTERA_ATTACHMENTS_DIR)=(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    )
    environment = {**image_env, **api["environment"]}
    # Where the server (services.settings) puts attachments and the export files in that container.
    root = Settings.from_env(environment).attachments_root
    assert str(root) in named
    assert root.is_relative_to("/var/lib/cartera")  # the image user's home, which it owns
