"""Two-sided hysteresis: what readers are told after a run, given the check's thresholds.

A check may need N failures, or failures lasting a while, before it is reported failing, and M
successes before it is reported healthy again (``failure_threshold``, ``failure_duration``,
``success_threshold``, named after Kubernetes probes). Pure: snapshots in, snapshot out.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from health_check.snapshot import Snapshot, Status

__all__ = ["apply_hysteresis"]


def _thresholds(check: Any) -> tuple[int, int, datetime.timedelta | None]:
    failure = max(1, int(getattr(check, "failure_threshold", 1) or 1))
    success = max(1, int(getattr(check, "success_threshold", 1) or 1))
    duration = getattr(check, "failure_duration", None)
    return failure, success, duration if isinstance(duration, datetime.timedelta) else None


def apply_hysteresis(check: Any, previous: Snapshot | None, raw: Snapshot, *, stale_intervals: float) -> Snapshot:
    """The snapshot to report for ``raw``, given the check's thresholds and the previous snapshot.

    A new failure is reported once ``failure_threshold`` consecutive runs failed (and, with
    ``failure_duration``, once they have failed that long); a recovery once ``success_threshold``
    consecutive runs passed. While failing, warning and error follow the run at once. After a gap
    readers saw as stale, or without a previous snapshot, the run is reported as it is.
    """
    at = raw.checked_at
    # Observation began at the first run ever reported; a gap does not restart it (it shows as stale).
    observed = at if previous is None else (previous.observed_since or previous.since or previous.checked_at)
    fresh = dataclasses.replace(
        raw, raw_status=None, raw_message=None, streak=1, streak_started_at=at, since=at, observed_since=observed
    )
    if previous is None or (at - previous.checked_at).total_seconds() > previous.allowance_seconds(stale_intervals):
        return fresh
    failing = raw.status is not Status.OK
    if failing == (previous.run_status is not Status.OK):
        streak = previous.streak + 1
        started = previous.streak_started_at or previous.checked_at
    else:
        streak, started = 1, at
    failure_threshold, success_threshold, failure_duration = _thresholds(check)
    reported_failing = previous.status is not Status.OK
    if failing and not reported_failing:
        due = streak >= failure_threshold and (failure_duration is None or at - started >= failure_duration)
    elif not failing and reported_failing:
        due = streak >= success_threshold
    else:
        due = True
    status, message = (raw.status, raw.message) if due else (previous.status, previous.message)
    since = (previous.since or previous.checked_at) if status is previous.status else at
    return dataclasses.replace(
        raw,
        status=status,
        message=message,
        raw_status=None if status is raw.status else raw.status,
        raw_message=None if message == raw.message else raw.message,
        streak=streak,
        streak_started_at=started,
        since=since,
        observed_since=observed,
    )
