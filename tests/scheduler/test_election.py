"""One poller per host: the election, in one process and across real ``health_check_poller`` processes."""

from __future__ import annotations

import dataclasses
import datetime
import logging
import signal
import time

import pytest

from health_check.autostart import collect_checks
from health_check.base import HealthCheck
from health_check.recorder import store_runner
from health_check.specs import CheckSpec
from health_check.store.diskcache import DiskcacheStore
from health_check.store.memory import MemoryStore
from scheduler.election import Election
from scheduler.poller import Poller
from tests.scheduler.conftest import PYTHON, flock_holders, lock_file_pid, needs_proc
from tests.support import wait_for

UTC = datetime.UTC


@dataclasses.dataclass
class Fine(HealthCheck):
    def run(self) -> None:
        pass


def poller_factory(store) -> callable:
    def make() -> Poller:
        return Poller([CheckSpec.of(Fine(poll_interval=datetime.timedelta(seconds=5)))], store_runner(store))

    return make


@pytest.fixture(params=["memory", "diskcache"])
def store(request, tmp_path):
    built = MemoryStore() if request.param == "memory" else DiskcacheStore(str(tmp_path))
    yield built
    built.close()


def test_election__one_leader_then_takeover(store):
    """Of two candidates exactly one leads; when it stops, the other takes over within a retry or two."""
    first = Election(store.lock("poller"), poller_factory(store), retry=0.05)
    second = Election(store.lock("poller"), poller_factory(store), retry=0.05)
    try:
        first.start()
        wait_for(lambda: first.leading, timeout=5, what="the first candidate leading")
        second.start()
        time.sleep(0.2)  # four retries: enough for a wrongly granted second lock to show
        assert (first.leading, second.leading) == (True, False)
        first.stop()
        assert not first.leading and not first.lock.held
        wait_for(lambda: second.leading, timeout=5, what="the second candidate taking over")
    finally:
        first.stop()
        second.stop()
    assert not second.lock.held


def test_election__poller_that_cannot_start_releases_lock(store, caplog):
    """A poller that fails to start is logged once in one line, the lock is given up, and the election tries again."""
    attempts: list[int] = []

    def broken() -> Poller:
        attempts.append(1)
        raise RuntimeError("no threads left")

    election = Election(store.lock("poller"), broken, retry=0.05)
    with caplog.at_level(logging.ERROR, logger="scheduler.election"):
        election.start()
        wait_for(lambda: len(attempts) >= 2, timeout=5, what="a second attempt to start a poller")
        election.stop()
    assert not election.lock.held and not election.leading
    assert store.lock("poller").acquire() is True
    assert [(r.getMessage(), r.exc_info) for r in caplog.records] == [
        (
            "The health check poller could not start: RuntimeError: no threads left "
            f"(raised at tests.scheduler.test_election:broken:{broken.__code__.co_firstlineno + 2}); retrying",
            None,
        )
    ], "one line, once, without a traceback"


def test_election__stop_while_campaigning(store):
    """stop() of a candidate that never led returns promptly and leaves the lock to the leader."""
    holder = store.lock("poller")
    assert holder.acquire()
    election = Election(store.lock("poller"), poller_factory(store), retry=0.05)
    election.start()
    time.sleep(0.1)
    started = time.monotonic()
    election.stop()
    assert time.monotonic() - started < 1
    assert holder.held and not election.lock.held
    holder.release()


# -- real processes ----------------------------------------------------------------------------------


def _keys() -> list[str]:
    specs, errors = collect_checks()
    assert errors == []
    return [spec.key for spec in specs]


def _fresh_since(store_dir, keys: list[str], since: datetime.datetime) -> bool:
    """Whether every check has a snapshot taken after ``since`` in the store at ``store_dir``."""
    if not (store_dir / "cache.db").exists():
        return False
    store = DiskcacheStore(str(store_dir))
    try:
        snapshots = store.read(keys)
    finally:
        store.close()
    return len(snapshots) == len(keys) and all(s.checked_at > since for s in snapshots.values())


@pytest.mark.slow
@needs_proc
def test_election__poller_processes(spawn, tmp_path):
    """Three poller processes: one holds the lock; SIGKILL moves it with fresh snapshots in < 5 s; SIGTERM exits 0 and hands over."""
    store_dir, lock_path = tmp_path / "store", tmp_path / "store" / "poller.lock"
    keys = _keys()
    started = datetime.datetime.now(UTC)
    pollers = {p.pid: p for p in (spawn(PYTHON, "-m", "django", "health_check_poller") for _ in range(3))}

    def leader() -> int | None:
        holders = flock_holders(lock_path)
        pid = lock_file_pid(lock_path)
        return pid if holders == {pid} and pid in pollers and pollers[pid].alive() else None

    first = wait_for(
        lambda: leader() if _fresh_since(store_dir, keys, started) else None,
        timeout=30,
        what=lambda: "no poller won the election: " + " / ".join(p.output for p in pollers.values()),
    )
    assert first, "no poller won the election: " + " / ".join(p.output for p in pollers.values())
    assert all(p.alive() for p in pollers.values())
    assert flock_holders(lock_path) == {first}

    pollers[first].signal(signal.SIGKILL)
    killed_at = datetime.datetime.now(UTC)
    started_waiting = time.monotonic()
    second = wait_for(
        lambda: (pid := leader()) and pid != first and _fresh_since(store_dir, keys, killed_at) and pid,
        timeout=10,
        what=lambda: "no survivor took over: " + " / ".join(p.output for p in pollers.values()),
    )
    took = time.monotonic() - started_waiting
    assert second, "no survivor took over: " + " / ".join(p.output for p in pollers.values())
    assert took < 5, f"takeover with fresh snapshots took {took:.1f} s"

    pollers[second].signal(signal.SIGTERM)
    assert pollers[second].process.wait(timeout=5) == 0, pollers[second].output
    assert pollers[second].output.rstrip().endswith("Health check poller stopped.")
    [third] = set(pollers) - {first, second}
    wait_for(lambda: leader() == third, timeout=3, what="the last poller did not take over after SIGTERM")


def test_file_lock__pid_line_that_cannot_be_written_keeps_the_lock(tmp_path, monkeypatch):
    """A full disk while writing the holder's pid line: the lock is still won and released, never leaked."""
    import errno
    import os

    from health_check.store.diskcache import FileElectionLock

    def disk_full(fd: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    path = str(tmp_path / "poller.lock")
    first = FileElectionLock(path)
    with monkeypatch.context() as patched:
        patched.setattr(os, "ftruncate", disk_full)
        assert first.acquire() is True
    assert (first.held, FileElectionLock(path).acquire()) == (True, False)
    first.release()
    second = FileElectionLock(path)
    assert second.acquire() is True
    second.release()
