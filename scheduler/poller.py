"""The APScheduler side: one job per unique check, each on its own interval with jitter."""

from __future__ import annotations

import datetime
import logging
import random
import threading
from collections.abc import Callable, Sequence
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from health_check.specs import CheckSpec
from scheduler.jobs import CheckRunner

__all__ = ["Poller"]

logger = logging.getLogger(__name__)
_UTC = datetime.UTC

# APScheduler logs every job run at INFO, and warns at every tick that finds the previous run of a
# job still going; at a few seconds per check that drowns a log, and the runner already reports slow
# and hung checks once. Our scheduler gets its own logger and executor alias, so a project's own
# APScheduler jobs keep their logging; ours is quiet unless the project configured these loggers.
EXECUTOR = "health_check"
RESTORE_JOB = "health_check:store-watch"  # never a check's key
scheduler_logger = logging.getLogger(f"{__name__}.apscheduler")
_executor_logger = logging.getLogger(f"apscheduler.executors.{EXECUTOR}")
for _quiet in (scheduler_logger, _executor_logger):
    if _quiet.level == logging.NOTSET:
        _quiet.setLevel(logging.WARNING)


class _DropSkippedRuns(logging.Filter):
    """Drops "skipped: maximum number of running instances reached": a run outlasting its interval."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in str(record.msg)


scheduler_logger.addFilter(_DropSkippedRuns())


#: Longest wait for the pool's threads to start (``_Executor.prestart``); they start in microseconds.
PRESTART_SECONDS = 5.0


class _Executor(ThreadPoolExecutor):
    """APScheduler's thread pool, all its threads started at once, quiet about a run submitted while the poller stops.

    A ``concurrent.futures`` pool starts a thread only when a run is submitted while none is idle,
    and keeps it for good: the poller's thread count (and RSS: each new thread gets a malloc arena)
    grew in steps whenever runs first overlapped, minutes into its life, during an upstream or store
    fault (issue 16). ``prestart()`` starts them all when the poller starts, so the count is what it
    will stay; the ``Poller`` sizes the pool to the number of its jobs, the most that can run at once.

    ``BackgroundScheduler.shutdown()`` closes the pool while the scheduler thread may be between
    picking a due run and submitting it; the pool then raises "cannot schedule new futures after
    shutdown" (or "after interpreter shutdown" at exit), which APScheduler logs with a traceback. A
    run that was due as the poller stopped simply does not happen.

    Args:
        max_workers: The pool's threads.
    """

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers, pool_kwargs={"thread_name_prefix": "health-check-poller"})
        self.max_workers = max_workers

    def prestart(self) -> None:
        """Start every thread of the pool now: each takes a task that waits until all have one."""
        everyone = threading.Barrier(self.max_workers + 1)
        for _ in range(self.max_workers):
            self._pool.submit(everyone.wait, PRESTART_SECONDS)
        try:
            everyone.wait(PRESTART_SECONDS)
        except threading.BrokenBarrierError:  # a thread could not start in time: it starts on demand
            logger.debug("Not every poller thread started within %g s", PRESTART_SECONDS)

    def _do_submit_job(self, job: Any, run_times: Any) -> None:
        try:
            super()._do_submit_job(job, run_times)
        except RuntimeError as error:
            if "shutdown" not in str(error):
                raise
            logger.debug("Not running %s: the poller is stopping", job.name)


class Poller:
    """Runs every check on its own interval in a background scheduler.

    Args:
        specs: The checks, already unique by key.
        runner: Runs one check and stores its snapshot.
        jitter: Random spread of each run, as a fraction of the check's interval.
        threads: Most threads of the scheduler's supervising pool; it has one per job (each check,
            and the store watch with ``rerun``) up to this, all started by ``start()``.
        gate: Asked before every run; a run is skipped when it returns ``False`` (the fleet poller's
            lease may have expired: nobody must poll while another host may already lead).
        rerun: Asked every second (behind ``gate``) which of ``specs`` must run at once, e.g. because
            the store lost their snapshots (Redis restarted empty); ``None`` asks nothing.
        settle: Called every second, whatever ``gate`` says, with ``False``, and once with ``True`` at
            ``shutdown()``: the recorder writes what it held back (journal entries of a cascade).
    """

    def __init__(
        self,
        specs: Sequence[CheckSpec],
        runner: CheckRunner,
        *,
        jitter: float = 0.1,
        threads: int = 10,
        gate: Callable[[], bool] | None = None,
        rerun: Callable[[Sequence[CheckSpec]], Sequence[CheckSpec]] | None = None,
        settle: Callable[[bool], None] | None = None,
    ):
        self.specs = list(specs)
        self.gate = gate
        self.rerun = rerun
        self.settle = settle
        self.runner = runner
        self.jitter = max(0.0, jitter)
        # A job never overlaps itself (max_instances=1), so no more runs than jobs are ever under way.
        jobs = len(self.specs) + (rerun is not None or settle is not None)
        self._executor = _Executor(max_workers=max(1, min(threads, jobs)))
        self.scheduler = BackgroundScheduler(
            executors={EXECUTOR: self._executor},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=_UTC,
            logger=scheduler_logger,
        )

    def start(self) -> None:
        """Schedule every check, the first run of each right away (spread over a second), and start."""
        now = datetime.datetime.now(_UTC)
        for spec in self.specs:
            seconds = max(spec.check.schedule_interval.total_seconds(), 0.05)
            self.scheduler.add_job(
                self.runner.run if self.gate is None else self._gated_run,
                IntervalTrigger(seconds=seconds, jitter=seconds * self.jitter or None, timezone=_UTC),
                args=[spec],
                id=spec.key,
                executor=EXECUTOR,
                name=spec.name[:200],
                next_run_time=now + datetime.timedelta(seconds=random.uniform(0, min(1.0, seconds / 2))),
            )
        if self.rerun is not None or self.settle is not None:
            # Every second: must a check run now (the store lost what was written, Redis restarted
            # empty, and what it had nothing fresh for runs at once)?
            self.scheduler.add_job(
                self._restore,
                IntervalTrigger(seconds=1, timezone=_UTC),
                id=RESTORE_JOB,
                executor=EXECUTOR,
                name="health check store watch",
            )
        self._executor.prestart()
        self.scheduler.start()
        logger.info("Health check poller started with %d checks", len(self.specs))

    def _restore(self) -> None:
        if self.settle is not None:
            self._settle(False)
        if self.gate is not None and not self.gate():
            return
        now = datetime.datetime.now(_UTC)
        rerun = self.rerun
        if rerun is None:
            return
        try:
            again = list(rerun(self.specs))
        except Exception as error:  # noqa: BLE001 - one line, no traceback, and the next second tries again
            logger.error("Health check poller: the store watch failed: %s", type(error).__name__)
            return
        for spec in again:
            self.scheduler.modify_job(spec.key, next_run_time=now)

    def _gated_run(self, spec: CheckSpec) -> None:
        if self.gate is not None and self.gate():
            self.runner.run(spec)
        else:
            logger.debug("Skipped %s: this process no longer holds the poller lock", spec.name)

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def _settle(self, final: bool) -> None:
        settle = self.settle
        if settle is None:
            return
        try:
            settle(final)
        except Exception as error:  # noqa: BLE001 - a callback's failure must not stop the schedule
            logger.error("Health check poller: settling held journal entries failed: %s", type(error).__name__)

    def shutdown(self) -> None:
        """Stop scheduling and write what the recorder held back; runs in progress finish in their threads."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
            self._settle(True)
            logger.info("Health check poller stopped")
