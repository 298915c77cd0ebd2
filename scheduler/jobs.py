"""Run one check once: bounded in time, with database hygiene, and store its snapshot.

Every run gets a fresh daemon thread and the supervising thread waits for it at most the check's
budget plus one second (the extra second lets a client's own timeout report first, with a better
message). A sync check that hangs past that keeps its thread, which cannot be killed in Python: the
runner remembers it, does not start that check again while it hangs, and refuses new runs once
``max_stuck_runs`` threads are stuck, reporting why instead of piling up threads.
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.db import close_old_connections, connections

from health_check._urls import describe_error
from health_check.endpoints import CheckSpec
from health_check.exceptions import HealthCheckError, ServiceUnavailable, ServiceWarning
from health_check.journal import JournalRecorder
from health_check.snapshot import Snapshot, Status
from health_check.store.base import Store

__all__ = ["CheckRunner", "Outcome"]

logger = logging.getLogger(__name__)
_UTC = datetime.timezone.utc

#: (status, message, details)
Outcome = tuple[Status, str, dict[str, Any]]

#: Extra time an async run gets past its budget before it is cancelled (less than the supervisor's 1 s).
ASYNC_GRACE_SECONDS = 0.5

#: Snapshot details above this size (JSON bytes) are dropped: the store and every reader stay bounded.
MAX_DETAILS_BYTES = 64 * 1024


def _timed_out(seconds: float) -> Outcome:
    return Status.ERROR, str(ServiceUnavailable(f"Timed out after {seconds:g} seconds")), {}


def _bounded_details(details: Any, spec: CheckSpec) -> dict[str, Any]:
    if not details:
        return {}
    if not isinstance(details, dict):
        logger.warning("Health check %s returned %s, not a dict of details; ignored", spec.name, type(details).__name__)
        return {}
    try:
        encoded = json.dumps(details, default=str)
    except (TypeError, ValueError):
        logger.warning("Health check %s returned details that are not JSON-serialisable; ignored", spec.name)
        return {}
    if len(encoded) > MAX_DETAILS_BYTES:
        logger.warning(
            "Health check %s returned %d bytes of details (limit %d); dropped", spec.name, len(encoded), MAX_DETAILS_BYTES
        )
        return {"truncated": True}
    return json.loads(encoded)  # what a store will give back: plain JSON types only


def _outcome_of(error: BaseException, spec: CheckSpec, budget: float) -> Outcome:
    if isinstance(error, ServiceWarning):
        return Status.WARNING, str(error), _bounded_details(error.details, spec)
    if isinstance(error, HealthCheckError):
        return Status.ERROR, str(error), _bounded_details(error.details, spec)
    if isinstance(error, (asyncio.TimeoutError, TimeoutError)):
        return _timed_out(budget)
    # Unexpected: one line to the log (type, scrubbed message, where it was raised), never to an
    # output. No traceback: its frames and chained messages may hold a password (a client's URL).
    logger.error("Health check %s raised an unexpected exception: %s", spec.name, describe_error(error))
    return Status.ERROR, str(HealthCheckError("unknown error")), {}


def execute(spec: CheckSpec, budget: float) -> Outcome:
    """Run ``spec``'s check in the calling thread and turn what happens into an outcome.

    ``run()`` may return a dict of JSON-safe details (a measurement, the incidents it saw); they are
    kept in the snapshot, as are the ``details`` of the exception it raised.

    Database connections this thread opened are closed afterwards: the thread ends with the run, and
    a connection left open would leak until the server drops it.
    """
    close_old_connections()
    try:
        run = spec.check.run
        if inspect.iscoroutinefunction(run):
            # Half a second of grace, as the supervisor gives a second: a client's own timeout (set to
            # the budget, e.g. DNS's lifetime) reports first, with its clearer message.
            returned = asyncio.run(asyncio.wait_for(run(), budget + ASYNC_GRACE_SECONDS))
        else:
            returned = run()
    except BaseException as error:  # noqa: BLE001 - every failure becomes an outcome
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        return _outcome_of(error, spec, budget)
    finally:
        for connection in connections.all(initialized_only=True):
            connection.close()
    return Status.OK, "OK", _bounded_details(returned, spec)


class CheckRunner:
    """Runs checks in their own threads within their budgets and writes their snapshots to a store.

    Args:
        store: Where snapshots go.
        max_stuck_runs: How many hung runs may hold a thread before new runs are refused.
        clock: Returns "now" (aware); tests pass a fake one.
    """

    def __init__(
        self,
        store: Store,
        *,
        max_stuck_runs: int = 8,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(_UTC),
    ) -> None:
        self.store = store
        self.max_stuck_runs = max_stuck_runs
        self.clock = clock
        self._stuck: dict[str, tuple[threading.Thread, float]] = {}
        self._guard = threading.Lock()
        # Hysteresis, the transition journal and the transition signal (health_check/journal.py).
        self.journal = JournalRecorder(store)
        self._losses_seen = store.losses  # a loss before this runner existed is not its to repair

    def restore(self, specs: Sequence[CheckSpec]) -> list[CheckSpec]:
        """After the store lost its snapshots (Redis restarted empty): the specs to run again now.

        The store has written back what this process wrote (``Store.watch()``); a check it had
        nothing for, or nothing fresh (older than its stale allowance), must run again at once rather
        than answer "pending" or "stale" until its next interval, minutes away for an upstream page.
        Called by the poller every second; cheap when nothing was lost.
        """
        losses = self.store.watch()
        if losses == self._losses_seen:
            return []
        self._losses_seen = losses
        from health_check.conf import get_config

        stale_intervals = self.journal.stale_intervals
        if stale_intervals is None:
            stale_intervals = float(get_config()["STALE_AFTER_INTERVALS"])
        now = self.clock()
        again = []
        for spec in specs:
            written = self.store.last_written(spec.key)
            if written is None or (now - written.checked_at).total_seconds() > written.allowance_seconds(stale_intervals):
                again.append(spec)
        logger.info("Running %d of %d checks again after the %s lost their snapshots", len(again), len(specs), self.store.description)
        return again

    def stuck_runs(self) -> dict[str, float]:
        """Keys of checks whose previous run still hangs, with how long (seconds) it has hung."""
        now = time.monotonic()
        with self._guard:
            for key in [key for key, (thread, _) in self._stuck.items() if not thread.is_alive()]:
                del self._stuck[key]
            return {key: now - started for key, (_, started) in self._stuck.items()}

    def run(self, spec: CheckSpec) -> Snapshot:
        """Run ``spec`` once, store and return its snapshot. Never raises for the check's failures."""
        budget = spec.check.timeout_budget.total_seconds()
        started = time.monotonic()
        outcome = self._refusal(spec) or self._supervise(spec, budget, started)
        snapshot = Snapshot(
            key=spec.key,
            status=outcome[0],
            message=outcome[1],
            checked_at=self.clock(),
            duration_seconds=time.monotonic() - started,
            interval_seconds=spec.check.schedule_interval.total_seconds(),
            timeout_seconds=budget,
            details=outcome[2],
        )
        self._log_change(spec, snapshot)
        # Stores the reported (debounced) snapshot and its transitions; logs a StoreError, never raises.
        return self.journal.record(spec, snapshot)

    def _refusal(self, spec: CheckSpec) -> Outcome | None:
        stuck = self.stuck_runs()
        if spec.key in stuck:
            return (
                Status.ERROR,
                str(ServiceUnavailable(f"Still hung: the previous run has not returned after {stuck[spec.key]:.0f} seconds")),
                {},
            )
        if len(stuck) >= self.max_stuck_runs:
            return (
                Status.ERROR,
                str(
                    ServiceUnavailable(
                        f"Not run: {len(stuck)} hung checks hold their threads (limit {self.max_stuck_runs}); "
                        "fix or remove the hanging checks, then restart the poller"
                    )
                ),
                {},
            )
        return None

    def _supervise(self, spec: CheckSpec, budget: float, started: float) -> Outcome:
        result: list[Outcome] = []

        def target() -> None:
            result.append(execute(spec, budget))

        thread = threading.Thread(target=target, name=f"health-check: {spec.name[:60]}", daemon=True)
        thread.start()
        thread.join(budget + 1)
        if result:
            return result[0]
        with self._guard:
            self._stuck[spec.key] = (thread, started)
        logger.warning("Health check %s still runs after %g s; its thread is left behind", spec.name, budget + 1)
        return _timed_out(budget)

    def _log_change(self, spec: CheckSpec, snapshot: Snapshot) -> None:
        # Changes are logged once, at WARNING, where they are recorded (JournalRecorder), which knows
        # the reported state across restarts; a line per run here would only repeat them.
        logger.debug("Health check %s: %s", spec.name, snapshot.message)


def run_all_once(runner: CheckRunner, specs: list[CheckSpec]) -> list[Snapshot]:
    """Run every check once, concurrently; used by ``health_check_poller --once`` and tests."""
    snapshots: list[Any] = [None] * len(specs)

    def one(index: int) -> None:
        snapshots[index] = runner.run(specs[index])

    threads = [threading.Thread(target=one, args=(index,), daemon=True) for index in range(len(specs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return snapshots
