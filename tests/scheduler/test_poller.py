"""The poller on a real APScheduler: every check on its own interval, a hung one never delays the others."""

from __future__ import annotations

import dataclasses
import datetime
import logging
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import pytest
from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent

from health_check.base import HealthCheck
from health_check.recorder import store_runner
from health_check.snapshot import Snapshot
from health_check.specs import CheckSpec
from health_check.store.memory import MemoryStore
from scheduler.poller import Poller
from tests.support import wait_for

UTC = datetime.UTC
FIFTH = datetime.timedelta(seconds=0.2)
release_hung = threading.Event()


@dataclasses.dataclass
class Fast(HealthCheck):
    def run(self) -> None:
        pass


@dataclasses.dataclass
class Hangs(HealthCheck):
    timeout: ClassVar[datetime.timedelta] = datetime.timedelta(seconds=0.5)

    def run(self) -> None:
        release_hung.wait()


class RecordingStore(MemoryStore):
    """A memory store that also keeps every write, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[Snapshot] = []

    def write(self, snapshot: Snapshot) -> None:
        self.writes.append(snapshot)
        super().write(snapshot)

    def of(self, spec: CheckSpec) -> list[Snapshot]:
        return [snapshot for snapshot in list(self.writes) if snapshot.key == spec.key]


@pytest.fixture
def store() -> RecordingStore:
    return RecordingStore()


@pytest.fixture
def start_poller(store) -> Iterator:
    """Start a poller on the recording store; every poller started is shut down after the test."""
    pollers: list[Poller] = []
    release_hung.clear()

    def start(*specs: CheckSpec, jitter: float = 0.1) -> Poller:
        poller = Poller(specs, store_runner(store), jitter=jitter)
        pollers.append(poller)
        poller.start()
        return poller

    yield start
    for poller in pollers:
        poller.shutdown()
    release_hung.set()


@pytest.mark.slow
def test_poller__hung_check_does_not_delay_others(start_poller, store, caplog):
    """While one check hangs past its budget, a fast one keeps getting fresh snapshots every interval."""
    fast, hung = CheckSpec.of(Fast(poll_interval=FIFTH)), CheckSpec.of(Hangs(poll_interval=FIFTH))
    caplog.set_level(logging.INFO)
    start_poller(fast, hung)
    wait_for(lambda: len(store.of(hung)) >= 3, timeout=6, what="the hung check reports its timeout")
    fast_runs = store.of(fast)
    assert len(fast_runs) >= 6, f"only {len(fast_runs)} runs of the fast check while the other hung"
    gaps = [(b.checked_at - a.checked_at).total_seconds() for a, b in zip(fast_runs, fast_runs[1:])]
    assert max(gaps) < 1.2, f"the fast check waited {max(gaps):.2f} s between runs"
    assert {s.message for s in fast_runs} == {"OK"}
    first, *later = store.of(hung)
    assert first.message == "Unavailable: Timed out after 0.5 seconds"
    assert all(s.message.startswith("Unavailable: Still hung: the previous run has not returned after ") for s in later)
    noise = [r for r in caplog.records if r.name.startswith(("apscheduler", "scheduler.poller.apscheduler"))]
    assert noise == [], "APScheduler logs nothing at INFO or above (skipped ticks included)"
    hang_warnings = [r.getMessage() for r in caplog.records if "its thread is left behind" in r.getMessage()]
    assert hang_warnings == [f"Health check {hung.name} still runs after 1.5 s; its thread is left behind"]


@pytest.mark.slow
def test_poller__jitter_keeps_runs_within_bounds(start_poller):
    """Scheduled runs are spaced between interval and interval × (1 + jitter), and they do vary."""
    interval, jitter = 0.2, 0.25
    spec = CheckSpec.of(Fast(poll_interval=datetime.timedelta(seconds=interval)))
    submitted: list[datetime.datetime] = []

    def record(event: JobSubmissionEvent) -> None:
        submitted.extend(event.scheduled_run_times)

    started = datetime.datetime.now(UTC)
    poller = Poller([spec], store_runner(MemoryStore()), jitter=jitter)
    poller.scheduler.add_listener(record, EVENT_JOB_SUBMITTED)
    poller.start()
    try:
        wait_for(lambda: len(submitted) >= 12, timeout=10, what="12 submitted runs")
    finally:
        poller.shutdown()
    first_delay = (submitted[0] - started).total_seconds()
    assert 0 <= first_delay <= interval / 2 + 0.05, "the first run comes at once, spread over half an interval"
    gaps = [(b - a).total_seconds() for a, b in zip(submitted, submitted[1:])]
    assert all(interval * (1 - jitter) <= gap <= interval * (1 + jitter) + 1e-6 for gap in gaps), gaps
    assert max(gaps) - min(gaps) > 0.001, "jitter varies the spacing"


def test_poller__each_check_on_its_own_interval(store):
    """One job per check, each with its own interval and a jitter proportional to it."""
    slow, quick = CheckSpec.of(Fast(poll_interval=datetime.timedelta(seconds=30))), CheckSpec.of(Hangs())
    poller = Poller([slow, quick], store_runner(store), jitter=0.1)
    poller.start()
    try:
        jobs = {job.id: job.trigger for job in poller.scheduler.get_jobs()}
    finally:
        poller.shutdown()
    assert {key: (trigger.interval.total_seconds(), trigger.jitter) for key, trigger in jobs.items()} == {
        slow.key: (30.0, 3.0),
        quick.key: (10.0, 1.0),
    }
    assert not poller.running


@pytest.mark.slow
def test_poller__shutdown_stops_runs(start_poller, store):
    """After shutdown() no check runs again."""
    spec = CheckSpec.of(Fast(poll_interval=FIFTH))
    poller = start_poller(spec)
    wait_for(lambda: len(store.of(spec)) >= 2, timeout=5, what="two snapshots")
    poller.shutdown()
    assert not poller.running
    count = len(store.of(spec))
    time.sleep(0.6)  # three intervals: enough for runs to show up if the scheduler still ran
    assert len(store.of(spec)) == count


def test_poller__stopping_while_a_run_is_submitted_logs_no_traceback(store, caplog):
    """A run that falls due as the poller stops (its pool already closed) is dropped without a logged error."""
    spec = CheckSpec.of(Fast(poll_interval=datetime.timedelta(seconds=0.05)))
    poller = Poller([spec], store_runner(store), jitter=0.0)
    caplog.set_level(logging.DEBUG)
    poller.start()
    try:
        wait_for(lambda: len(store.of(spec)) >= 1, timeout=5, what="a first snapshot")
        # What shutdown() does first, while the scheduler thread goes on submitting due runs: the
        # window in which APScheduler used to log "RuntimeError: cannot schedule new futures after shutdown".
        poller.scheduler._executors["health_check"]._pool.shutdown(wait=False)
        dropped = lambda: any("the poller is stopping" in r.getMessage() for r in caplog.records)  # noqa: E731
        wait_for(dropped, timeout=5, what="a run fell due after the pool closed")
    finally:
        poller.shutdown()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info] == []


@dataclasses.dataclass
class Slow(HealthCheck):
    label: str

    def run(self) -> None:
        time.sleep(0.1)


def test_poller__its_threads_start_with_it_and_stay_the_same(store):
    """The pool's threads (one per job) all start with the poller: overlapping runs add none later.

    A pool that started threads on demand grew whenever runs first overlapped (an upstream or store
    fault minutes into the poller's life) and kept them: the poller's thread count and RSS grew in
    steps (issue 16). Threads of the runs themselves (``health-check: <name>``) end with their run.
    """
    specs = [CheckSpec.of(Slow(label, poll_interval=datetime.timedelta(seconds=0.05))) for label in "abc"]
    before = set(threading.enumerate())

    def poller_threads() -> set[threading.Thread]:
        return {t for t in set(threading.enumerate()) - before if not t.name.startswith("health-check: ")}

    poller = Poller(specs, store_runner(store), jitter=0.0, threads=10)
    poller.start()
    try:
        at_start = poller_threads()
        # Every job runs back to back, all three at once: as many overlapping runs as there can be.
        wait_for(lambda: all(len(store.of(spec)) >= 5 for spec in specs), timeout=10, what="five runs of each check")
        later = poller_threads()
    finally:
        poller.shutdown()
    assert later == at_start
    assert len([t for t in at_start if t.name.startswith("health-check-poller")]) == len(specs)
