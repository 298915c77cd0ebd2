"""How much an anonymous request sees: ``HEALTH_CHECK["ANONYMOUS_DETAIL"]``.

``"full"`` (default, as django-health-check): names and messages. ``"names"``: names and states, each
message replaced by a fixed word, so a public status page reveals no host, path or error text.
``"status"``: one line for the whole endpoint. Requests carrying the endpoint's bearer token always
see everything. Check messages never hold secrets at any level (see ``HealthCheck``); this setting
hides what is not secret but not public either.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from health_check.journal import INCIDENT, Transition
from health_check.snapshot import Reading, Report, State

__all__ = ["FULL", "LEVELS", "NAMES", "STATUS", "redact_report", "redact_transitions"]

FULL = "full"
NAMES = "names"
STATUS = "status"
LEVELS = (FULL, NAMES, STATUS)

#: What a message becomes at the "names" level: the OK stays "OK", which monitoring tools compare to.
_WORDS = {
    State.OK: "OK",
    State.WARNING: "Warning",
    State.ERROR: "Unavailable",
    State.STALE: "Unavailable: stale",
    State.PENDING: "Unavailable: pending",
    State.MAINTENANCE: "Maintenance",
}


def redact_report(report: Report, level: str) -> Report:
    """``report`` as a request at ``level`` may see it."""
    if level == NAMES:
        readings = tuple(dataclasses.replace(reading, message=_WORDS[reading.state]) for reading in report.readings)
        return dataclasses.replace(report, readings=readings)
    if level == STATUS:
        failing = report.failing
        overall = Reading(
            name="status",
            state=State.ERROR if failing else State.OK,
            message=_WORDS[State.ERROR] if failing else "OK",
            snapshot=None,
            age_seconds=None,
            labels={"check": "Overall"},
        )
        return dataclasses.replace(report, readings=(overall,))
    return report


def redact_transitions(transitions: Iterable[Transition], level: str) -> tuple[Transition, ...]:
    """Journal entries at ``level``: no messages at "names", nothing at "status"."""
    if level == STATUS:
        return ()
    if level != NAMES:
        return tuple(transitions)
    hidden = []
    for transition in transitions:
        if transition.kind == INCIDENT:
            title = f"{transition.name}: incident {transition.to_state}"
        elif transition.to_state == State.OK:
            title = f"{transition.name}: recovered"
        else:
            title = f"{transition.name}: {transition.to_state}"
        hidden.append(dataclasses.replace(transition, title=title, message=title, incident=None))
    return tuple(hidden)
