"""Run one check once: bounded in time, with database hygiene, and hand its ``Run`` to a callback.

Neutral: no settings, no store, no signals. What becomes of a run (a snapshot in the store, a journal
entry, a signal) is the ``record`` callback's business (``health_check.recorder`` at the Django edge).

A run is ``HealthCheck.get_result()``, the one way to run a check (a project's own tests call it too),
driven on its own event loop by an executor that starts a fresh daemon thread per call and closes the
database connections each thread opened (huey's ``close_db``). A sync ``run()`` gets a second such thread
from the same executor. ``get_result()`` gives up on the run one second past the check's budget (the extra
second lets a client's own timeout report first, with a better message) and cancels an async run; the
supervising thread waits half a second more, for a run that blocks its event loop. A run that still
hangs keeps its thread, which cannot be killed in Python: the runner remembers it, does not start that
check again while it hangs, and refuses new runs once ``max_stuck_runs`` threads are stuck, reporting why
instead of piling up threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import close_old_connections, connections

from health_check._urls import describe_error
from health_check.base import TIMEOUT_GRACE_SECONDS, HealthCheck, HealthCheckResult
from health_check.exceptions import HealthCheckError, ServiceUnavailable
from health_check.specs import CheckSpec

__all__ = ["CheckRunner", "Run", "run_all_once"]

logger = logging.getLogger(__name__)
_UTC = datetime.UTC
T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class Run:
    """What one run found, as the ``record`` callback gets it.

    Args:
        spec: The check.
        error: ``None`` when it passed; else what it raised, or why it timed out or was not run.
        details: The bounded, JSON-safe details the run reported.
        finished_at: When the run ended (aware).
        duration_seconds: How long it took.
        budget_seconds: The check's time budget.
    """

    spec: CheckSpec
    error: HealthCheckError | None
    details: dict[str, Any]
    finished_at: datetime.datetime
    duration_seconds: float
    budget_seconds: float


#: (error or None, details)
Outcome = tuple[HealthCheckError | None, dict[str, Any]]

#: How much longer than ``get_result()`` the supervisor waits: enough for a cancelled async run to
#: unwind and report its timeout itself, so only a run that blocks its event loop is left behind.
SUPERVISOR_GRACE_SECONDS = 0.5

#: Snapshot details above this size (JSON bytes) are dropped: the store and every reader stay bounded.
MAX_DETAILS_BYTES = 64 * 1024


def _timed_out(seconds: float) -> Outcome:
    return ServiceUnavailable(f"Timed out after {seconds:g} seconds"), {}


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
            "Health check %s returned %d bytes of details (limit %d); dropped",
            spec.name,
            len(encoded),
            MAX_DETAILS_BYTES,
        )
        return {"truncated": True}
    return json.loads(encoded)  # what a store will give back: plain JSON types only


def _outcome_of(result: HealthCheckResult, spec: CheckSpec) -> Outcome:
    """The error and bounded details of what ``get_result()`` reported."""
    error = result.error
    if error is None:
        # ``run()`` may return a dict of JSON-safe details (a measurement, the incidents it saw).
        return None, _bounded_details(result.details, spec)
    return error, _bounded_details(getattr(error, "details", None), spec)


class _RunThreads(concurrent.futures.Executor):
    """An executor starting one daemon thread per call, with database hygiene around the call.

    A pool would never get back the thread of a call that hangs, and could not say which run it was;
    here every call has its thread, and ``hung()`` names the one whose call has not returned. Threads
    are daemons and are not joined on ``shutdown()``: a hung one must not hold up the poller's exit.

    Database connections are checked before the call (``close_old_connections()``) and every one the
    thread opened is closed after it: the thread ends with the call, and a connection left open would
    leak until the server drops it.

    Args:
        name: The check's public name, for the threads' names.
    """

    def __init__(self, name: str) -> None:
        self._name = name[:60]
        self._calls: list[tuple[threading.Thread, concurrent.futures.Future[Any]]] = []
        self._guard = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def call() -> None:
            if not future.set_running_or_notify_cancel():
                return  # cancelled before it started (its run timed out already)
            close_old_connections()
            try:
                value = fn(*args, **kwargs)
            except BaseException as error:  # noqa: BLE001 - handed to whoever waits on the future
                failure: BaseException | None = error
            else:
                failure = None
            finally:
                _close_connections()
            # Set last: a done future means the thread has nothing left to do, so hung() cannot
            # mistake a thread that is just ending for a hung one.
            if failure is None:
                future.set_result(value)
            else:
                future.set_exception(failure)

        thread = threading.Thread(target=call, name=f"health-check: {self._name}", daemon=True)
        with self._guard:
            self._calls.append((thread, future))
        thread.start()
        return future

    def hung(self) -> threading.Thread | None:
        """The thread of a call that has not returned yet, if any."""
        with self._guard:
            return next((thread for thread, future in self._calls if not future.done()), None)


def _close_connections() -> None:
    for connection in connections.all(initialized_only=True):
        try:
            connection.close()
        except Exception as error:  # noqa: BLE001 - a broken connection must not turn into the check's result
            logger.debug("Closing database connection %s failed: %s", connection.alias, describe_error(error))


def _get_result(check: HealthCheck, executor: _RunThreads) -> HealthCheckResult:
    """One run on an event loop of its own, in the calling thread (one of ``executor``'s)."""
    return asyncio.run(check.get_result(executor))


class CheckRunner(Generic[T]):
    """Runs checks in their own threads within their budgets and hands each ``Run`` to ``record``.

    Args:
        record: Called with every run, in the run's supervising thread; what it returns, ``run()``
            returns (the edge's recorder stores a snapshot and returns it).
        max_stuck_runs: How many hung runs may hold a thread before new runs are refused.
        clock: Returns "now" (aware); tests pass a fake one.
    """

    def __init__(
        self,
        record: Callable[[Run], T],
        *,
        max_stuck_runs: int = 8,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(_UTC),
    ) -> None:
        self.record = record
        self.max_stuck_runs = max_stuck_runs
        self.clock = clock
        self._stuck: dict[str, tuple[threading.Thread, float]] = {}
        self._guard = threading.Lock()

    def stuck_runs(self) -> dict[str, float]:
        """Keys of checks whose previous run still hangs, with how long (seconds) it has hung."""
        now = time.monotonic()
        with self._guard:
            for key in [key for key, (thread, _) in self._stuck.items() if not thread.is_alive()]:
                del self._stuck[key]
            return {key: now - started for key, (_, started) in self._stuck.items()}

    def run(self, spec: CheckSpec) -> T:
        """Run ``spec`` once and return what ``record`` made of it. Never raises for the check's failures."""
        budget = spec.check.timeout_budget.total_seconds()
        started = time.monotonic()
        error, details = self._refusal(spec) or self._supervise(spec, budget, started)
        logger.debug("Health check %s: %s", spec.name, "OK" if error is None else error)
        return self.record(
            Run(
                spec=spec,
                error=error,
                details=details,
                finished_at=self.clock(),
                duration_seconds=time.monotonic() - started,
                budget_seconds=budget,
            )
        )

    def _refusal(self, spec: CheckSpec) -> Outcome | None:
        stuck = self.stuck_runs()
        if spec.key in stuck:
            return (
                ServiceUnavailable(
                    f"Still hung: the previous run has not returned after {stuck[spec.key]:.0f} seconds"
                ),
                {},
            )
        if len(stuck) >= self.max_stuck_runs:
            return (
                ServiceUnavailable(
                    f"Not run: {len(stuck)} hung checks hold their threads (limit {self.max_stuck_runs}); "
                    "fix or remove the hanging checks, then restart the poller"
                ),
                {},
            )
        return None

    def _supervise(self, spec: CheckSpec, budget: float, started: float) -> Outcome:
        executor = _RunThreads(spec.name)
        waited = budget + TIMEOUT_GRACE_SECONDS + SUPERVISOR_GRACE_SECONDS
        outcome: Outcome | None = None
        try:
            result = executor.submit(_get_result, spec.check, executor).result(timeout=waited)
        except concurrent.futures.TimeoutError:
            pass  # the run blocks its event loop (a sync call inside ``async def run``)
        except BaseException as error:  # noqa: BLE001 - a check's own get_result() may be overridden
            outcome = self._unexpected(spec, error)
        else:
            if isinstance(result, HealthCheckResult):
                outcome = _outcome_of(result, spec)
            else:
                outcome = self._unexpected(spec, TypeError(f"get_result() returned {type(result).__name__}"))
            waited = budget + TIMEOUT_GRACE_SECONDS
        hung = executor.hung()
        if hung is not None:
            with self._guard:
                self._stuck[spec.key] = (hung, started)
            logger.warning("Health check %s still runs after %g s; its thread is left behind", spec.name, waited)
        return outcome or _timed_out(budget)

    @staticmethod
    def _unexpected(spec: CheckSpec, error: BaseException) -> Outcome:
        # The same one line as get_result() logs for an exception of run(): no traceback.
        logger.error("Health check %s raised an unexpected exception: %s", spec.name, describe_error(error))
        return HealthCheckError("unknown error"), {}


def run_all_once(runner: CheckRunner[T], specs: list[CheckSpec]) -> list[T]:
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
