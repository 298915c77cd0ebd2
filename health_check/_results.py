"""django-health-check's ``results``: one ``HealthCheckResult`` per reading, and a report back from them.

A subclass written for django-health-check reads and edits ``self.results``; the view renders whatever
it leaves there. A result built here keeps the reading it came from, so an unchanged result renders
exactly as the snapshot reads; a changed or new one is read from its ``error``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from health_check.base import HealthCheckResult
from health_check.exceptions import (
    HealthCheckError,
    ServiceReturnedUnexpectedResult,
    ServiceUnavailable,
    ServiceWarning,
)
from health_check.snapshot import Reading, Report, State

__all__ = ["Draining", "Overall", "Unresolved", "counts_as_failing", "error_for", "report_from_results", "result"]


class Unresolved:
    """The ``check`` of a result for a ``checks=`` entry that could not be resolved: named as the entry."""

    def __init__(self, entry: str) -> None:
        self.entry = entry
        self.labels = {"check": "ConfigurationError"}

    def __repr__(self) -> str:
        return self.entry


class Overall(Unresolved):
    """The ``check`` of the one result ``ANONYMOUS_DETAIL="status"`` shows."""

    def __init__(self) -> None:
        super().__init__("status")
        self.labels = {"check": "Overall"}


class Draining(Unresolved):
    """The ``check`` of the result a readiness endpoint adds while its host drains."""

    def __init__(self) -> None:
        super().__init__("Drain")
        self.labels = {"check": "Drain"}


class _ReportedWarning(ServiceWarning):
    """A warning read from a snapshot whose line has no known prefix (e.g. redacted): shown verbatim."""

    def __str__(self) -> str:
        return self.message


class _ReportedError(ServiceUnavailable):
    """A failure read from a snapshot whose line has no known prefix (stale, pending, redacted): verbatim."""

    def __str__(self) -> str:
        return self.message


_ERROR_CLASSES = (ServiceWarning, ServiceUnavailable, ServiceReturnedUnexpectedResult, HealthCheckError)


def error_for(reading: Reading) -> HealthCheckError | None:
    """The exception whose ``str()`` is the reading's line, of the class its prefix names; ``None`` for
    a reading that passes its probes (ok, and maintenance unless it fails probes)."""
    if reading.probe_state is State.OK:
        return None
    message = reading.message
    snapshot = reading.snapshot
    timestamp = (snapshot.since or snapshot.checked_at) if snapshot is not None else None
    for cls in _ERROR_CLASSES:
        prefix = cls.message_type + ": "
        if message.startswith(prefix) and not (reading.state is State.WARNING) ^ issubclass(cls, ServiceWarning):
            return cls(message[len(prefix) :], timestamp=timestamp)
    verbatim = _ReportedWarning if reading.probe_state is State.WARNING else _ReportedError
    return verbatim(message, timestamp=timestamp)


def result(reading: Reading, check: Any) -> HealthCheckResult:
    """The result django-health-check would have for ``check``, keeping ``reading`` for the way back."""
    snapshot = reading.snapshot
    time_taken = snapshot.duration_seconds if snapshot is not None else 0.0
    found = HealthCheckResult(check=check, error=error_for(reading), time_taken=time_taken)
    found._reading = reading  # type: ignore[attr-defined]  # the way back, for report_from_results()
    return found


def counts_as_failing(result: Any, warnings_as_errors: bool) -> bool:
    error = getattr(result, "error", None)
    if error is None:
        return False
    return warnings_as_errors or not isinstance(error, ServiceWarning)


def report_from_results(results: Iterable[Any], redacted: Report) -> Report:
    """A report of what a subclass left in ``self.results``: kept readings as read, others from their error.

    ``redacted`` is the report the request's detail level sees; only its readings are replaced.
    """
    readings: list[Any] = []
    for result in results:
        reading = getattr(result, "_reading", None)
        error = getattr(result, "error", None)
        kept = (
            reading is not None
            and (error is None) == (reading.probe_state is State.OK)
            and (error is None or str(error) == reading.message)
        )
        if not kept:
            check: Any = getattr(result, "check", None)
            if error is None:
                reading_state, message = State.OK, "OK"
            else:
                reading_state = State.WARNING if isinstance(error, ServiceWarning) else State.ERROR
                message = str(error)
            try:
                labels = dict(check.labels)
            except Exception:  # noqa: BLE001 - a result without a proper check still renders
                labels = {"check": type(check).__name__}
            reading = Reading(
                name=repr(check),
                state=reading_state,
                message=message,
                snapshot=reading.snapshot if reading is not None else None,
                age_seconds=reading.age_seconds if reading is not None else None,
                labels=labels,
            )
        readings.append(reading)
    return dataclasses.replace(redacted, readings=tuple(readings))
