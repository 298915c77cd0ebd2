"""The APScheduler side: one job per unique check, each on its own interval with jitter."""

from __future__ import annotations

import datetime
import logging
import random
from collections.abc import Sequence

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from health_check.endpoints import CheckSpec
from scheduler.jobs import CheckRunner

__all__ = ["Poller"]

logger = logging.getLogger(__name__)
_UTC = datetime.timezone.utc

# APScheduler logs every job run at INFO; at a few seconds per check that drowns a log. Quiet it
# unless the project configured that logger itself.
for _name in ("apscheduler.executors.default", "apscheduler.scheduler"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.WARNING)


class Poller:
    """Runs every check on its own interval in a background scheduler.

    Args:
        specs: The checks, already unique by key.
        runner: Runs one check and stores its snapshot.
        jitter: Random spread of each run, as a fraction of the check's interval.
        threads: Size of the scheduler's supervising thread pool.
    """

    def __init__(self, specs: Sequence[CheckSpec], runner: CheckRunner, *, jitter: float = 0.1, threads: int = 10):
        self.specs = list(specs)
        self.runner = runner
        self.jitter = max(0.0, jitter)
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=max(1, threads))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=_UTC,
        )

    def start(self) -> None:
        """Schedule every check, the first run of each right away (spread over a second), and start."""
        now = datetime.datetime.now(_UTC)
        for spec in self.specs:
            seconds = max(spec.check.schedule_interval.total_seconds(), 0.05)
            self.scheduler.add_job(
                self.runner.run,
                IntervalTrigger(seconds=seconds, jitter=seconds * self.jitter or None, timezone=_UTC),
                args=[spec],
                id=spec.key,
                name=spec.name[:200],
                next_run_time=now + datetime.timedelta(seconds=random.uniform(0, min(1.0, seconds / 2))),
            )
        self.scheduler.start()
        logger.info("Health check poller started with %d checks", len(self.specs))

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def shutdown(self) -> None:
        """Stop scheduling; runs in progress finish in their threads."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
            logger.info("Health check poller stopped")
