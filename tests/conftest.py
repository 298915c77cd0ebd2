"""Shared fixtures: real services (skipped locally when absent, failing in CI), stores, a check runner."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from health_check.base import HealthCheck
from health_check.snapshot import Snapshot
from health_check.specs import CheckSpec
from tests.support import FakeUpstream, RedisServer, port_open

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
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server on a free port (kill and start it at will), always stopped afterwards."""
    server = RedisServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    """A fake upstream provider (tests.support.FakeUpstream) on a free loopback port, stopped after the test."""
    server = FakeUpstream()
    try:
        yield server
    finally:
        server.stop()


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
    from health_check.recorder import store_runner

    runner = store_runner(memory_store)

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
    now = now or datetime.datetime.now(datetime.UTC)
    return Snapshot(
        key=key,
        status=status_value,
        message=message,
        checked_at=now - datetime.timedelta(seconds=age_seconds),
        duration_seconds=duration_seconds,
        interval_seconds=interval_seconds,
        timeout_seconds=timeout_seconds,
    )
