"""Shared fixtures: real services (skipped locally when absent, failing in CI), stores, a check runner."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator

import pytest

from health_check.base import HealthCheck
from health_check.endpoints import CheckSpec
from health_check.snapshot import Snapshot

#: In CI (.ci/run sets it) a missing service is a failure, never a silent skip.
REQUIRE_SERVICES = os.environ.get("HEALTH_SNAPSHOT_REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"

SERVICES = {
    "postgres": ("127.0.0.1", 5432),
    "mariadb": ("127.0.0.1", 3306),
    "redis": ("127.0.0.1", 6379),
    "rabbitmq": ("127.0.0.1", 5672),
}


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str) -> tuple[str, int]:
    """Return (host, port) of a local service; skip (or fail in CI) with a clear reason when it is down."""
    host, port = SERVICES[name]
    if not port_open(host, port):
        message = f"{name} is not reachable at {host}:{port}"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message}; CI requires it (see .ci/run for how services are started)")
        pytest.skip(f"{message}; start it to run this test")
    return host, port


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
