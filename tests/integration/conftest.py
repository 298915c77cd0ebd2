"""Fixtures for the cookbook recipes: the example project under gunicorn, real proxies, recipe files.

Every process is started on 127.0.0.1 on a free port with its files under ``tmp_path``, in its own
process group, and stopped by the fixture's finalizer. The recipe files under ``docs/recipes/files``
are the ones the documentation includes; tests render them by replacing exact strings (a port, a
path, an interval) and fail when a string is no longer there, so the page and the test cannot drift.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.support import Process, Response, free_port, http_get, try_get, wait_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = ROOT / "example_project"
RECIPES = ROOT / "docs" / "recipes" / "files"
PYTHON = sys.executable

#: Settings of the sidecar variant: the example's own, with the poller in a separate process.
SIDECAR_SETTINGS = "tests.integration.sidecar_settings"

#: Headers of the tests' own requests straight to gunicorn. "localhost" is in the ALLOWED_HOSTS of the
#: example and of every recipe, so these requests work whichever environment a recipe sets.
DIRECT_HEADERS = {"Accept": "text/plain", "Host": "localhost"}


def require_binary(name: str) -> str:
    """Path of a client program (haproxy, caddy, nginx); skip locally, fail in CI when it is missing."""
    found = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )
    if found:
        return found
    message = f"{name} is not installed"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}; CI requires it: apt-get install -y {name} (see .ci/run)")
    pytest.skip(f"{message}; install it to run this test: apt-get install -y {name}")


def render(name: str, replacements: dict[str, str], *, prepend: str = "") -> str:
    """The recipe file ``name`` with each exact string replaced; fails when the recipe lost one."""
    text = (RECIPES / name).read_text()
    for old, new in replacements.items():
        if old not in text:
            pytest.fail(f"docs/recipes/files/{name} no longer contains {old!r}: update the recipe or this test")
        text = text.replace(old, new)
    return prepend + text


@dataclasses.dataclass
class ExampleSite:
    """The example project served by gunicorn, and (sidecar variant) its separate poller."""

    port: int
    secret: str
    env: dict[str, str]
    tmp: Path
    gunicorn: Process
    poller: Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def node_path(self) -> str:
        return f"/health/{self.secret}/node/"

    def url(self, path: str) -> str:
        return f"http://{self.address}{path}"

    def node(self) -> Response:
        """The node tier as plain text, straight from gunicorn."""
        return http_get(self.url(self.node_path), headers=DIRECT_HEADERS)

    def manage(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``python manage.py <args>`` as a fresh process with this site's environment."""
        return subprocess.run(  # noqa: S603 - our own fixed arguments
            [PYTHON, "manage.py", *args], cwd=EXAMPLE_DIR, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def start_poller(self) -> Process:
        """``manage.py health_check_poller`` as its own process: the Kubernetes sidecar of the recipes."""
        self.poller = Process(
            [PYTHON, "manage.py", "health_check_poller"],
            name="health_check_poller",
            cwd=EXAMPLE_DIR,
            env=self.env,
            log=self.tmp / "poller.log",
        )
        return self.poller

    def pause_poller(self) -> None:
        """Freeze the poller (it keeps the election lock): snapshots age until they are stale."""
        assert self.poller is not None, "this site's poller runs inside gunicorn; use the sidecar_site fixture"
        self.poller.signal(signal.SIGSTOP)

    def resume_poller(self) -> None:
        assert self.poller is not None, "this site's poller runs inside gunicorn; use the sidecar_site fixture"
        self.poller.signal(signal.SIGCONT)

    def wait_node(self, status: int, *, timeout: float = 30) -> Response:
        """Wait until the node tier answers ``status``; fails with the servers' logs otherwise."""

        def reached() -> Response | None:
            self.gunicorn.assert_running()
            response = try_get(self.url(self.node_path), headers=DIRECT_HEADERS)
            return response if response is not None and response.status == status else None

        try:
            return wait_for(reached, timeout=timeout, what=f"node tier answering {status}", interval=0.1)
        except AssertionError as error:
            logs = self.gunicorn.log_tail()
            if self.poller is not None:
                logs += "\n--- poller ---\n" + self.poller.log_tail()
            last = try_get(self.url(self.node_path), headers=DIRECT_HEADERS)
            shown = f"{last.status} {last.body!r}" if last else "no answer"
            raise AssertionError(f"{error}; last answer: {shown}\n{logs}") from None


def example_env(tmp: Path, *, settings_module: str, secret: str) -> dict[str, str]:
    """Environment of every example process: its data and snapshot store under ``tmp``, a random secret."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST_"))}
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        PYTHONPATH=os.pathsep.join([str(EXAMPLE_DIR), str(ROOT)]),
        HEALTH_CHECK_SECRET=secret,
        HEALTH_CHECK_STORE_LOCATION=str(tmp / "snapshots"),
        EXAMPLE_DATA_DIR=str(tmp / "data"),
        PYTHONUNBUFFERED="1",
    )
    (tmp / "data").mkdir(parents=True, exist_ok=True)
    return env


def gunicorn_args(port: int, tmp: Path) -> list[str]:
    # The console script, as the recipes run it (`python -m gunicorn` names itself differently).
    script = Path(PYTHON).parent / "gunicorn"
    program = [str(script)] if script.exists() else [PYTHON, "-m", "gunicorn"]
    args = [*program, "--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "30"]
    from gunicorn.config import KNOWN_SETTINGS

    if any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS):
        args.append("--no-control-socket")  # gunicorn ≥ 25 opens one under ~/.gunicorn by default
    return [*args, "example_project.wsgi:application"]


@pytest.fixture
def make_site(tmp_path: Path) -> Iterator[Callable[..., ExampleSite]]:
    """Start the example under gunicorn; ``sidecar=True`` runs the poller as a separate process instead.

    ``wait_healthy`` waits for the first poll (node tier 200); ``env`` adds environment variables.
    Everything started is stopped afterwards.
    """
    started: list[Process] = []
    sites: list[ExampleSite] = []

    def make(
        *,
        sidecar: bool = False,
        start_poller: bool = True,
        wait_healthy: bool = True,
        env: dict[str, str] | None = None,
    ) -> ExampleSite:
        tmp = tmp_path / f"site{len(sites)}"
        tmp.mkdir()
        secret = secrets.token_urlsafe(12)
        settings_module = SIDECAR_SETTINGS if sidecar else "example_project.settings"
        env = {**example_env(tmp, settings_module=settings_module, secret=secret), **(env or {})}
        port = free_port()
        gunicorn = Process(
            gunicorn_args(port, tmp), name="gunicorn", cwd=EXAMPLE_DIR, env=env, log=tmp / "gunicorn.log"
        )
        started.append(gunicorn)
        site = ExampleSite(port=port, secret=secret, env=env, tmp=tmp, gunicorn=gunicorn)
        sites.append(site)
        if sidecar and start_poller:
            started.append(site.start_poller())
        if wait_healthy:
            site.wait_node(200)
        return site

    yield make
    for site in sites:
        if site.poller is not None and site.poller not in started:
            started.append(site.poller)
    for service in reversed(started):
        service.stop()


@pytest.fixture
def example_site(make_site: Callable[..., ExampleSite]) -> ExampleSite:
    """The example project as shipped: gunicorn with the poller autostarted inside it, healthy."""
    return make_site()


@pytest.fixture
def sidecar_site(make_site: Callable[..., ExampleSite]) -> ExampleSite:
    """The example with its poller as a separate process the test can pause (staleness after ~10 s)."""
    return make_site(sidecar=True)


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    """Start a client program (a proxy) as a ``Process``; stopped afterwards."""
    started: list[Process] = []

    def start(name: str, args: list[str], *, env: dict[str, str] | None = None) -> Process:
        service = Process(args, name=name, cwd=tmp_path, env=env or dict(os.environ), log=tmp_path / f"{name}.log")
        started.append(service)
        return service

    yield start
    for service in reversed(started):
        service.stop()


def haproxy_stat(socket_path: Path) -> list[dict[str, str]]:
    """``show stat`` from HAProxy's admin socket, one dict per proxy/server row."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(socket_path))
        sock.sendall(b"show stat\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    text = b"".join(chunks).decode().lstrip("# ")
    return list(csv.DictReader(io.StringIO(text)))
