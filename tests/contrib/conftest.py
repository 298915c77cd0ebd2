"""Fixtures for the contrib checks: a listener that never answers, a closed port, a poller (servers live in tests/support.py)."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator

import pytest

from health_check.snapshot import Snapshot
from health_check.specs import CheckSpec
from tests.support import SilentListener, free_port


@pytest.fixture
def silent_listener() -> Iterator[SilentListener]:
    listener = SilentListener()
    yield listener
    listener.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    return free_port()


@pytest.fixture
def start_poller(memory_store) -> Iterator[Callable[..., object]]:
    """Start the real poller (APScheduler, runner, memory store) on some checks; always shut down."""
    from health_check.recorder import store_runner
    from scheduler.poller import Poller

    pollers: list[Poller] = []

    def start(*checks, jitter: float = 0.0) -> Poller:
        poller = Poller([CheckSpec.of(check) for check in checks], store_runner(memory_store), jitter=jitter)
        poller.start()
        pollers.append(poller)
        return poller

    yield start
    for poller in pollers:
        poller.shutdown()


def latest(store, check) -> Snapshot | None:
    """The snapshot the store holds for ``check`` now."""
    key = CheckSpec.of(check).key
    return store.read([key]).get(key)


def seconds(value: float) -> datetime.timedelta:
    return datetime.timedelta(seconds=value)
