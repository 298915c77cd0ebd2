"""Shared fixtures: real services (skipped locally when absent, failing in CI), stores, a check runner."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from health_check.base import HealthCheck
from health_check.specs import CheckSpec
from health_check.snapshot import Snapshot
from tests.support import free_port, port_open

#: In CI (.ci/run sets it) a missing service is a failure, never a silent skip.
REQUIRE_SERVICES = os.environ.get("HEALTH_SNAPSHOT_REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"

SERVICES = {
    "postgres": ("127.0.0.1", 5432),
    "mariadb": ("127.0.0.1", 3306),
    "redis": ("127.0.0.1", 6379),
    "rabbitmq": ("127.0.0.1", 5672),
}


def require_service(name: str) -> tuple[str, int]:
    """Return (host, port) of a local service; skip (or fail in CI) with a clear reason when it is down."""
    host, port = SERVICES[name]
    if not port_open(host, port):
        message = f"{name} is not reachable at {host}:{port}"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message}; CI requires it (see .ci/run for how services are started)")
        pytest.skip(f"{message}; start it to run this test")
    return host, port


@pytest.fixture
def memory_store(settings) -> Iterator:
    """A fresh in-process store installed as the project's store."""
    from health_check.store import get_store, reset_store

    settings.HEALTH_CHECK = {"STORE": "memory", "POLLER_AUTOSTART": False}
    reset_store()
    store = get_store()
    yield store
    reset_store()


@pytest.fixture
def run_check(memory_store) -> Callable[[HealthCheck], Snapshot]:
    """Run a check once through the real runner (thread, budget, hygiene) and return its snapshot."""
    from scheduler.jobs import CheckRunner

    runner = CheckRunner(memory_store)

    def run(check: HealthCheck) -> Snapshot:
        return runner.run(CheckSpec.of(check))

    return run


# -- snapshots built directly (view, renderer and command tests) ------------------------------------

import datetime  # noqa: E402 - kept with the helpers below, which were appended to this module


def make_snapshot(
    key: str,
    *,
    status: str = "ok",
    message: str | None = None,
    age_seconds: float = 2.0,
    duration_seconds: float = 0.0125,
    interval_seconds: float = 10.0,
    timeout_seconds: float = 5.0,
    now: datetime.datetime | None = None,
) -> Snapshot:
    """A snapshot of ``key`` taken ``age_seconds`` ago; the message defaults to what the status implies."""
    from health_check.snapshot import Status

    status_value = Status(status)
    if message is None:
        message = {"ok": "OK", "warning": "Warning: degraded", "error": "Unavailable: down"}[status_value.value]
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return Snapshot(
        key=key,
        status=status_value,
        message=message,
        checked_at=now - datetime.timedelta(seconds=age_seconds),
        duration_seconds=duration_seconds,
        interval_seconds=interval_seconds,
        timeout_seconds=timeout_seconds,
    )


class ServerProcess:
    """A server subprocess on 127.0.0.1:``port``; ``stop()`` terminates it and returns its output."""

    def __init__(self, argv: list[str], port: int, env: dict[str, str], cwd: str) -> None:
        import subprocess
        import tempfile

        self.port = port
        self.argv = argv
        self._log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def output(self) -> str:
        if self._log.closed:
            return self._final_output
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def wait_ready(self, deadline_seconds: float = 30.0) -> None:
        """Poll until the port accepts connections; fail with the server's output when it never does."""
        import time

        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"{self.argv[2:4]} exited with {self.process.returncode}:\n{self.output}")
            if port_open("127.0.0.1", self.port, timeout=0.2):
                return
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"{self.argv[2:4]} did not listen on port {self.port} within {deadline_seconds} s:\n{self.output}")

    def stop(self) -> None:
        import subprocess

        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if not self._log.closed:
            self._final_output = self.output
            self._log.close()


def start_server(kind: str, app: str, env_overrides: dict[str, str] | None = None) -> ServerProcess:
    """Start ``gunicorn`` (WSGI) or ``uvicorn`` (ASGI) serving ``app`` from the repository root."""
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.testapp.settings", "PYTHONPATH": root}
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update(env_overrides or {})
    if kind == "gunicorn":
        argv = [sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    elif kind == "uvicorn":
        argv = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    else:
        raise ValueError(f"unknown server kind {kind!r}")
    server = ServerProcess(argv, port, env, cwd=root)
    server.wait_ready()
    return server
