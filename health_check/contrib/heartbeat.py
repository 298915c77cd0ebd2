"""Heartbeats (push checks): fail when a job stops saying that it ran.

A job beats when it ends (``health_check.heartbeat.beat()``, ``manage.py health_check_beat``, an HTTP
POST to ``HeartbeatView``, or a Celery task through ``beat_after_task``); the ``Heartbeat`` check runs
in the poller like any other check and reads the latest beat from the snapshot store. Unlike every
other check it does not look at a service: it reads what the store holds, so it comes after the store
in the stages (tests/test_layers.py).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Callable
from typing import Any, ClassVar

from health_check._time import describe_age, isoformat, utcnow
from health_check._urls import first_line
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable, ServiceWarning
from health_check.heartbeat import beat, beat_key, describe_duration, last_beat, validate_name
from health_check.store.base import StoreError

__all__ = ["Heartbeat", "beat_after_task"]

logger = logging.getLogger(__name__)

#: Bounds of the default poll interval (a tenth of ``max_interval``): a late beat is noticed within a
#: minute, and a check of a job beating every few seconds does not run more than once a second.
MIN_POLL_INTERVAL = datetime.timedelta(seconds=1)
MAX_POLL_INTERVAL = datetime.timedelta(seconds=60)


@dataclasses.dataclass
class Heartbeat(HealthCheck):
    """Fail when no beat of ``name`` arrived within ``max_interval``, or when the last beat reported a failure.

    Until the first beat the check is pending: it reports a *warning* ("pending: no beat yet from ...")
    for one ``max_interval`` after the poller started watching, then an *error*. A warning, because a
    job that was just deployed has not had its chance to run yet; it still fails endpoints under the
    default ``WARNINGS_AS_ERRORS``, as the library's own pending state does. An error afterwards,
    because a job that never beats is what a heartbeat is there to catch. The wait starts again when
    the poller restarts (it is not stored).

    Beats are kept fleet-wide, so the check is fleet-scoped by default: one poller checks it for
    every host sharing a Redis store.

    Args:
        name: The heartbeat's name, as the job's ``beat()`` names it: letters, digits, ``.``, ``_``, ``-``.
        max_interval: Longest time allowed between two beats; give the job's period plus its longest
            run, e.g. ``timedelta(hours=25)`` for a nightly job.
        clock: Returns "now" (aware); tests pass a fake one.

    The poll interval defaults to a tenth of ``max_interval``, at least 1 second and at most 60: a beat
    (or a missing one) shows on the endpoints within that time.
    """

    default_scope: ClassVar[str] = "fleet"

    name: str
    max_interval: datetime.timedelta
    clock: Callable[[], datetime.datetime] = dataclasses.field(
        default=utcnow, repr=False, compare=False, metadata={"key_if_set": True}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        validate_name(self.name)
        if not isinstance(self.max_interval, datetime.timedelta) or self.max_interval <= datetime.timedelta(0):
            raise ValueError(f"max_interval is {self.max_interval!r}, expected a positive timedelta")
        self._watching_since: datetime.datetime | None = None

    @property
    def schedule_interval(self) -> datetime.timedelta:
        """``poll_interval`` when given, else a tenth of ``max_interval`` within 1 to 60 seconds."""
        if self.poll_interval:
            return self.poll_interval
        return min(max(self.max_interval / 10, MIN_POLL_INTERVAL), MAX_POLL_INTERVAL)

    @property
    def title(self) -> str:
        return f"Heartbeat {self.name}"

    @property
    def watched_keys(self) -> tuple[str, ...]:
        """Store keys whose new snapshot makes the poller run this check at once (its ``rerun`` hook,
        every second): a beat shows within about a second, not at the next poll."""
        return (beat_key(self.name),)

    def run(self) -> dict[str, Any]:
        try:
            found = last_beat(self.name)
        except StoreError as error:
            raise ServiceUnavailable(f"cannot read the beats of {self.name}: {error.reason}") from error
        now = self.clock()
        expected = f"expected one within {describe_duration(self.max_interval)}"
        if found is None:
            if self._watching_since is None:
                self._watching_since = now
            waited = now - self._watching_since
            if waited <= self.max_interval:
                raise ServiceWarning(f"pending: no beat yet from {self.name}; {expected}")
            raise ServiceUnavailable(
                f"no beat yet from {self.name} in the {describe_age(waited.total_seconds())} the poller has "
                f"watched; {expected}"
            )
        age = (now - found.at).total_seconds()
        details = {"last_beat_at": isoformat(found.at), "failed": found.failed, "message": found.message}
        if age > self.max_interval.total_seconds():
            raise ServiceUnavailable(
                f"late: last beat from {self.name} was {describe_age(age)} ago; {expected}"
                + (" (that beat reported a failure)" if found.failed else ""),
                details=details,
            )
        if found.failed:
            raise ServiceUnavailable(
                f"{self.name} reported a failure {describe_age(age)} ago: {found.message or 'no message'}",
                details=details,
            )
        return details


def beat_after_task(task_name: str, name: str | None = None) -> Callable[..., None]:
    """A Celery signal receiver that beats ``name`` after each run of the task ``task_name``.

    Connect it to ``task_success`` (a good beat) and ``task_failure`` (a failed beat whose message is
    the exception's type and first line)::

        from celery.signals import task_failure, task_success

        receiver = beat_after_task("billing.tasks.nightly_invoices", name="nightly-invoices")
        task_success.connect(receiver, weak=False)
        task_failure.connect(receiver, weak=False)

    Other tasks are ignored. The receiver never raises into Celery: a beat the store did not take is
    logged as one WARNING line.

    Args:
        task_name: The task's registered name (``task.name``).
        name: The heartbeat's name; defaults to ``task_name``.
    """
    heartbeat = validate_name(name or task_name)

    def receiver(sender: Any = None, **kwargs: Any) -> None:
        if getattr(sender, "name", sender) != task_name:
            return
        exception = kwargs.get("exception")
        failed = "exception" in kwargs
        if failed:
            said = first_line(exception) if exception is not None else ""
            kind = type(exception).__name__ if exception is not None else "an error"
            message = f"{task_name} failed: {kind}: {said}" if said else f"{task_name} failed: {kind}"
        else:
            message = f"{task_name} succeeded"
        try:
            beat(heartbeat, failed=failed, message=message, via="celery")
        except (StoreError, ValueError) as error:
            logger.warning("Heartbeat %s after task %s was not recorded: %s", heartbeat, task_name, error)

    return receiver
