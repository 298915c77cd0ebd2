"""What to check: the ``HealthCheck`` dataclass every check subclasses, and how one run of it turns out.

A check only knows how to look at one service once; ``get_result()`` runs it once within its timeout and
says how it went, as django-health-check does. When it runs and where its result goes are the poller's
business (``scheduler/``, which runs every check through ``get_result()``); how it is shown is the views'.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import datetime
import inspect
import logging
import timeit
from concurrent.futures import Executor
from typing import Any, ClassVar

from health_check._urls import describe_error, scrub
from health_check.exceptions import HealthCheckError, ServiceUnavailable
from health_check.identity import public_name

__all__ = ["SCOPES", "HealthCheck", "HealthCheckResult"]

logger = logging.getLogger(__name__)

#: Extra time a run gets past its timeout: a check's own client timeout (set to the same budget, e.g.
#: DNS's lifetime) reports first, with a clearer message than "Timed out".
TIMEOUT_GRACE_SECONDS = 1.0

#: Scopes a check may have; see ``HealthCheck.default_scope``.
SCOPES = ("host", "fleet")


@dataclasses.dataclass
class HealthCheck(abc.ABC):
    """Base class of every check: implement ``run()``, sync or ``async``, and raise to report.

    ``run()`` returns nothing (or a dict of JSON-safe details kept in the snapshot) when the service
    is healthy and raises one of the exceptions in ``health_check.exceptions`` otherwise. Anything
    else it raises is logged in full and shown as "Unknown Error: unknown error", so a traceback or
    a credential never reaches a response.

    ``repr()`` is the check's public name in every output: mark secrets and noisy fields with
    ``dataclasses.field(repr=False)``.

    Args:
        poll_interval: How often the poller runs this check (keyword only, hidden from ``repr``).
            Defaults to the class's ``default_poll_interval``.
        failure_threshold: Consecutive failing runs before the check is reported failing (keyword only;
            named after Kubernetes probes). 1 reports the first failure.
        success_threshold: Consecutive passing runs before a failing check is reported healthy again.
            Above 1, a check that flaps pass/fail stays failing instead of flooding feeds.
        failure_duration: Report failing only once failures have lasted this long (together with
            ``failure_threshold``); ``None`` does not wait.
        scope: ``"host"`` (every host runs the check and reads its own result) or ``"fleet"`` (one
            elected poller runs it for every host sharing a Redis store). Keyword only, hidden from
            ``repr``; defaults to the class's ``default_scope``.
        depends_on: Names (as the endpoints show them, or titles) of the checks this one depends on:
            while one of them fails, this check's changes are folded into its feed item
            (``health_check.dependencies``). Keyword only, hidden from ``repr``, not part of the key.
    """

    #: Wall-clock budget of one run. A class attribute, not a field, so that it does not become every
    #: check's first parameter; checks that let users change it declare their own ``timeout`` field.
    #: Deliberately unannotated: a ``ClassVar`` annotation would still sit in ``__dataclass_fields__``,
    #: and a subclass's ``timeout`` field would inherit its first position (``Cache("default")`` would
    #: set the timeout, not the alias as in django-health-check).
    timeout = datetime.timedelta(seconds=5)

    #: How often the poller runs the check unless ``poll_interval=`` says otherwise.
    default_poll_interval: ClassVar[datetime.timedelta] = datetime.timedelta(seconds=10)

    #: Where the check's result belongs unless ``scope=`` says otherwise: ``"host"`` for what this
    #: process depends on (its database, cache, disk), ``"fleet"`` for what every host sees alike (an
    #: upstream status page, Celery workers, another site). Only a store shared by hosts (Redis) tells
    #: them apart; on one host every check is polled once either way.
    default_scope: ClassVar[str] = "host"

    # kw_only keeps it out of the positional order, so subclasses may declare fields without defaults.
    poll_interval: datetime.timedelta | None = dataclasses.field(default=None, repr=False, kw_only=True)
    # Hysteresis, applied by the poller (scheduler/jobs.py). Left out of the store key while at their
    # defaults (identity.py), so adding them did not move the key of any existing check.
    failure_threshold: int = dataclasses.field(default=1, repr=False, kw_only=True, metadata={"key_if_set": True})
    success_threshold: int = dataclasses.field(default=1, repr=False, kw_only=True, metadata={"key_if_set": True})
    failure_duration: datetime.timedelta | None = dataclasses.field(
        default=None, repr=False, kw_only=True, metadata={"key_if_set": True}
    )
    # Left out of the key at its default like the thresholds; a host-scoped check's key is qualified
    # with the host identity by the store instead (endpoints.CheckSpec.of).
    scope: str | None = dataclasses.field(default=None, repr=False, kw_only=True, metadata={"key_if_set": True})
    # Never part of the key: naming a dependency changes what the feeds say, not what is checked.
    depends_on: tuple[str, ...] = dataclasses.field(default=(), repr=False, kw_only=True, metadata={"not_in_key": True})

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.success_threshold < 1:
            raise ValueError(
                f"failure_threshold ({self.failure_threshold}) and success_threshold ({self.success_threshold}) "
                "must be at least 1"
            )
        names = (self.depends_on,) if isinstance(self.depends_on, str) else self.depends_on
        if not isinstance(names, (list, tuple)) or not all(isinstance(name, str) and name for name in names):
            raise ValueError(f"depends_on is {self.depends_on!r}, expected names of checks (strings)")
        object.__setattr__(self, "depends_on", tuple(names))  # also for a frozen subclass
        if self.scope not in SCOPES + (None,):
            raise ValueError(f"scope is {self.scope!r}, expected one of {', '.join(map(repr, SCOPES))}")

    @abc.abstractmethod
    def run(self) -> Any:
        """Look at the service once; raise a ``HealthCheckError`` subclass to report a problem.

        May be ``async def``, and may return a dict of JSON-safe details (a measurement, the incidents
        it saw) that the snapshot keeps; anything else it returns is ignored. Messages must name the
        target without secrets: they are shown to operators.
        """

    @property
    def schedule_interval(self) -> datetime.timedelta:
        """The effective poll interval: the ``poll_interval`` argument or the class default."""
        return self.poll_interval or self.default_poll_interval

    @property
    def effective_scope(self) -> str:
        """The effective scope: the ``scope`` argument or the class default."""
        return self.scope or self.default_scope

    @property
    def timeout_budget(self) -> datetime.timedelta:
        """The effective run budget, whether ``timeout`` is a field of the subclass or the class default."""
        value = getattr(self, "timeout", None)
        if isinstance(value, datetime.timedelta) and value > datetime.timedelta(0):
            return value
        return HealthCheck.timeout

    async def get_result(self, executor: Executor | None = None) -> HealthCheckResult:
        """Run the check once and say how it went; a failure is reported in the result, never raised.

        An ``async`` ``run()`` is awaited on the running loop; a sync one runs in ``executor`` (the loop's
        default executor when ``None``). The poller runs every check this way too, with an executor of
        its own, so a project's tests of its checks see what the endpoints will show.

        ``error`` is what ``run()`` raised when it is a ``HealthCheckError``; a run still going one second
        past ``timeout`` is cancelled and reported ``Unavailable: Timed out after <timeout> seconds``;
        anything else it raises becomes ``Unknown Error: unknown error`` and is logged as one ERROR line
        (type, message without URL credentials, where it was raised), without a traceback, whose frames
        may hold a password. Cancelling the awaiting task raises ``CancelledError`` as usual; a sync
        ``run()`` already started keeps its thread until it returns (threads cannot be killed).
        """
        loop = asyncio.get_running_loop()
        budget = self.timeout_budget.total_seconds()
        started = timeit.default_timer()
        returned: Any = None
        error: HealthCheckError | None
        try:
            # asyncio.timeout(), not wait_for(): on Python 3.11 wait_for() wraps the run in a task of its
            # own, out of which a SystemExit or KeyboardInterrupt would escape the loop past this handler.
            async with asyncio.timeout(budget + TIMEOUT_GRACE_SECONDS):
                if inspect.iscoroutinefunction(self.run):
                    returned = await self.run()
                else:
                    returned = await loop.run_in_executor(executor, self.run)
        except HealthCheckError as failure:
            error = failure
        except TimeoutError:  # also asyncio.TimeoutError, the same class since Python 3.11
            error = ServiceUnavailable(f"Timed out after {budget:g} seconds")
        except asyncio.CancelledError:
            raise
        except BaseException as unexpected:  # noqa: BLE001 - a check's bug is reported, never raised
            logger.error(
                "Health check %s raised an unexpected exception: %s", public_name(self), describe_error(unexpected)
            )
            error = HealthCheckError("unknown error")
        else:
            error = None
        if error is not None:
            # Every failing run, so DEBUG: the poller logs each change of state once, at WARNING.
            logger.debug("Health check %s failed: %s", public_name(self), scrub(str(error)))
        return HealthCheckResult(check=self, error=error, time_taken=timeit.default_timer() - started, details=returned)

    def pretty_status(self) -> str:
        """Kept for django-health-check templates that call it; a check's own status is always "OK"."""
        return "OK"

    @property
    def labels(self) -> dict[str, str]:
        """OpenMetrics labels: the class name and every field shown in ``repr()``."""
        labels = {"check": type(self).__name__}
        if dataclasses.is_dataclass(self):
            for field in dataclasses.fields(self):
                if field.repr and (value := getattr(self, field.name, None)) is not None:
                    labels[field.name] = str(value)
        return labels


@dataclasses.dataclass
class HealthCheckResult:
    """How one run of a check turned out: what ``HealthCheck.get_result()`` returns.

    Args:
        check: The check that ran.
        error: What it reported, ``None`` when it passed: a ``HealthCheckError`` (``str()`` is the line every
            output shows, e.g. ``Unavailable: Timed out after 5 seconds``).
        time_taken: Seconds the run took (wall clock). The name is django-health-check's.
        details: What a passing ``run()`` returned: ``None``, or a dict of JSON-safe details the poller keeps in
            the snapshot (keyword only; django-health-check has no such field). A failure's details are
            ``error.details``.
    """

    check: HealthCheck
    error: HealthCheckError | None
    time_taken: float
    details: Any = dataclasses.field(default=None, kw_only=True)
