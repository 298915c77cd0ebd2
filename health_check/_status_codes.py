"""Which HTTP status an endpoint answers for what its checks report: ``status_codes=``, validated once.

django-health-check answers 200 or 500, and that stays the default. Load balancers and Kubernetes read
only the code, and some want 503 ("try another server", what HAProxy and the kubelet treat as "not
ready") rather than 500 ("this server is broken"), or a warning answered 200 on one endpoint and 503 on
another; ``as_view(status_codes={"warning": 200, "error": 503})`` says so per endpoint.

Keys are the states a reading can have plus ``draining`` (a readiness endpoint of a host being drained,
``health_check_drain``). The endpoint's key is its worst reading: ``error`` before ``stale`` before
``pending`` before ``warning`` before ``ok``. ``stale`` and ``pending`` default to the ``error`` code, so
``{"error": 503}`` is enough to move every failure to 503; ``warning`` defaults to the ``error`` code
when warnings count as errors, else to the ``ok`` one.

A wrong value is never a boot failure: system check ``health_check.E006`` reports it, and where it is
read (the first request) it is logged once and the defaults are used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from health_check.snapshot import Reading, State

__all__ = ["DEFAULT_CODES", "STATUS_KEYS", "StatusCodes", "status_code_problems"]

logger = logging.getLogger("health_check")

#: The keys ``status_codes=`` accepts, worst first (after ``draining``, which outranks every reading).
STATUS_KEYS = ("draining", "error", "stale", "pending", "warning", "ok")
#: What an endpoint answers without ``status_codes=`` (django-health-check's 200/500, and 503 to drain).
DEFAULT_CODES: Mapping[str, int] = {"ok": 200, "error": 500, "draining": 503}
_WORST = (State.ERROR, State.STALE, State.PENDING, State.WARNING)


def status_code_problems(value: Any) -> list[str]:
    """What is wrong with a ``status_codes=`` value, one sentence each; empty when it is usable."""
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return [f"status_codes must be a dict of state -> HTTP status, got {type(value).__name__}"]
    problems = []
    for key, code in value.items():
        if key not in STATUS_KEYS:
            problems.append(f"status_codes has an unknown key {key!r} (known: {', '.join(STATUS_KEYS)})")
        elif isinstance(code, bool) or not isinstance(code, int) or not 200 <= code <= 599:
            problems.append(f"status_codes[{key!r}] is {code!r}, expected an HTTP status from 200 to 599")
    return problems


class StatusCodes:
    """The resolved mapping of one endpoint: every key filled in, so answering is a lookup.

    Args:
        value: The endpoint's ``status_codes=`` (``None``: the defaults).
        where: Who the value belongs to, for the log line when it is wrong.
    """

    __slots__ = ("cacheable", "codes", "custom", "warning")

    def __init__(self, value: Mapping[str, int] | None, where: str = "a health endpoint") -> None:
        problems = status_code_problems(value)
        if problems:
            logger.error(
                "%s: %s; using the default status codes (200, 500). Run manage.py check for details.",
                where,
                "; ".join(problems),
            )
            value = None
        given = dict(value or {})
        self.custom = bool(given)
        error = given.get("error", DEFAULT_CODES["error"])
        self.codes: dict[str, int] = {
            "ok": given.get("ok", DEFAULT_CODES["ok"]),
            "error": error,
            "stale": given.get("stale", error),
            "pending": given.get("pending", error),
            "draining": given.get("draining", DEFAULT_CODES["draining"]),
        }
        self.warning: int | None = given.get("warning")  # None: follows warnings_as_errors
        # What ``max_age`` may let shared caches keep: reports, not a host's drain (it must end at once).
        reports = [code for key, code in self.codes.items() if key != "draining"]
        self.cacheable = frozenset([*reports, *([self.warning] if self.warning else []), 200, 500])

    def for_readings(self, readings: Iterable[Reading], warnings_as_errors: bool) -> int:
        """The code for these readings: their worst state's."""
        states = {reading.probe_state for reading in readings}  # maintenance: ok unless it fails probes
        for state in _WORST:
            if state in states:
                return self.for_state(state.value, warnings_as_errors)
        return self.codes["ok"]

    def for_state(self, key: str, warnings_as_errors: bool) -> int:
        if key == "warning":
            if self.warning is not None:
                return self.warning
            return self.codes["error"] if warnings_as_errors else self.codes["ok"]
        return self.codes[key]
