"""What to check: the ``HealthCheck`` dataclass every check subclasses.

A check only knows how to look at one service once. When it runs, how long it may take and where its
result goes are the poller's business (``scheduler/``); how the result is shown is the views'.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime
from typing import ClassVar

__all__ = ["SCOPES", "HealthCheck"]

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

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.success_threshold < 1:
            raise ValueError(
                f"failure_threshold ({self.failure_threshold}) and success_threshold ({self.success_threshold}) "
                "must be at least 1"
            )
        if self.scope not in SCOPES + (None,):
            raise ValueError(f"scope is {self.scope!r}, expected one of {', '.join(map(repr, SCOPES))}")

    @abc.abstractmethod
    def run(self) -> None:
        """Look at the service once; raise a ``HealthCheckError`` subclass to report a problem.

        May be ``async def``. Messages must name the target without secrets: they are shown to operators.
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
