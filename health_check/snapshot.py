"""What we know: snapshots written by the poller, and what a reader makes of them.

A ``Snapshot`` is one run's result, stamped with when it was taken. A ``Reading`` is what a view or the
command reports for a check *now*: the snapshot's own status while it is fresh, ``stale`` once it is older
than its allowance, ``pending`` when no run has landed yet. Stale and pending are failing, so a poller
that died can never leave an endpoint green.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Mapping
from typing import Any

from health_check._time import describe_age
from health_check.maintenance import Maintenance

__all__ = ["Reading", "Report", "Snapshot", "State", "Status", "describe_age", "evaluate"]

UTC = datetime.UTC


class Status(enum.StrEnum):
    """Outcome of one run, as the poller wrote it."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


class State(enum.StrEnum):
    """What a reader reports for a check: a run's status, or what the absence of a fresh run means."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    STALE = "stale"
    PENDING = "pending"
    #: In a silence or maintenance window (``health_check.maintenance``): expected, not failing,
    #: unless the window says probes still fail (``Report.counts_as_failing``).
    MAINTENANCE = "maintenance"

    @property
    def is_failing(self) -> bool:
        """Stale and pending fail like errors: nobody vouches for the service."""
        return self in (State.ERROR, State.STALE, State.PENDING)


@dataclasses.dataclass(frozen=True, slots=True)
class Snapshot:
    """One run of one check, as the poller stored it.

    Args:
        key: The check's identity, stable across processes (see ``health_check.identity``).
        status: ok, warning or error.
        message: ``"OK"`` or the exception line (``"Unavailable: ..."``), never a traceback.
        checked_at: When the run finished (aware, UTC).
        duration_seconds: How long the run took.
        interval_seconds: The poll interval the check is due on.
        timeout_seconds: The run budget; part of the staleness allowance.
        details: JSON-safe facts the check reported besides its verdict (measurements, upstream
            incidents); what ``run()`` returned or the exception's ``details``. Bounded in size.
        raw_status: What the run itself found, before hysteresis; ``None`` when equal to ``status``.
        raw_message: The run's own message, before hysteresis; ``None`` when equal to ``message``.
        streak: How many consecutive runs found the same health (healthy or failing) as this one.
        streak_started_at: When that streak began; ``failure_duration`` is measured from it.
        since: When the reported ``status`` began; ``None`` when unknown (written before journals).
        observed_since: When the poller first reported this check: the status page's history starts
            there. ``None`` when unknown (written by an older version).
        maintenance: The silence or maintenance window the run was taken in; readers report the
            check ``maintenance`` until it ends. ``status`` stays what the check found.
    """

    key: str
    status: Status
    message: str
    checked_at: datetime.datetime
    duration_seconds: float
    interval_seconds: float
    timeout_seconds: float
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    raw_status: Status | None = None
    raw_message: str | None = None
    streak: int = 1
    streak_started_at: datetime.datetime | None = None
    since: datetime.datetime | None = None
    observed_since: datetime.datetime | None = None
    maintenance: Maintenance | None = None

    @property
    def run_status(self) -> Status:
        """The raw result of the run (what the check found), whatever hysteresis reports."""
        return self.raw_status or self.status

    @property
    def run_message(self) -> str:
        return self.raw_message if self.raw_message is not None else self.message

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: stores keep plain data, never pickles, so any version can read it."""
        data = {
            "key": self.key,
            "status": self.status.value,
            "message": self.message,
            "checked_at": self.checked_at.timestamp(),
            "duration_seconds": self.duration_seconds,
            "interval_seconds": self.interval_seconds,
            "timeout_seconds": self.timeout_seconds,
            "details": dict(self.details),
            "streak": self.streak,
        }
        if self.raw_status is not None:
            data["raw_status"] = self.raw_status.value
        if self.raw_message is not None:
            data["raw_message"] = self.raw_message
        if self.streak_started_at is not None:
            data["streak_started_at"] = self.streak_started_at.timestamp()
        if self.since is not None:
            data["since"] = self.since.timestamp()
        if self.observed_since is not None:
            data["observed_since"] = self.observed_since.timestamp()
        if self.maintenance is not None:
            data["maintenance"] = self.maintenance.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Snapshot:
        """Rebuild a snapshot from ``to_dict()``; raises ``ValueError`` (or ``KeyError``) on foreign data."""
        return cls(
            key=str(data["key"]),
            status=Status(data["status"]),
            message=str(data["message"]),
            checked_at=datetime.datetime.fromtimestamp(float(data["checked_at"]), tz=UTC),
            duration_seconds=float(data["duration_seconds"]),
            interval_seconds=float(data["interval_seconds"]),
            timeout_seconds=float(data["timeout_seconds"]),
            details=dict(data.get("details") or {}),
            raw_status=Status(data["raw_status"]) if data.get("raw_status") else None,
            raw_message=str(data["raw_message"]) if data.get("raw_message") is not None else None,
            streak=int(data.get("streak") or 1),
            streak_started_at=_time_or_none(data.get("streak_started_at")),
            since=_time_or_none(data.get("since")),
            observed_since=_time_or_none(data.get("observed_since")),
            maintenance=Maintenance.from_dict(data["maintenance"]) if data.get("maintenance") else None,
        )

    def allowance_seconds(self, stale_intervals: float) -> float:
        """How old this snapshot may get before readers call it stale: a few intervals plus the timeout."""
        return self.interval_seconds * stale_intervals + self.timeout_seconds


def _time_or_none(value: Any) -> datetime.datetime | None:
    return None if value is None else datetime.datetime.fromtimestamp(float(value), tz=UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class Reading:
    """What a reader reports for one check at one moment.

    Args:
        name: The check's public name (its ``repr()``).
        state: ok, warning, error, stale or pending.
        message: The line shown in JSON and text outputs: ``"OK"`` or ``"<type>: <message>"``.
        snapshot: The snapshot behind it, ``None`` while pending.
        age_seconds: How old the snapshot is, ``None`` while pending.
        labels: OpenMetrics labels of the check (``HealthCheck.labels``).
    """

    name: str
    state: State
    message: str
    snapshot: Snapshot | None
    age_seconds: float | None
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def is_failing(self) -> bool:
        return self.state.is_failing

    @property
    def probe_state(self) -> State:
        """The state probes and status codes go by: a maintenance reading's is ok, unless its silence or
        window says probes still fail; then what the check found."""
        if self.state is not State.MAINTENANCE:
            return self.state
        snapshot = self.snapshot
        if snapshot is not None and snapshot.maintenance is not None and snapshot.maintenance.fail_probes:
            return State(snapshot.status.value)
        return State.OK

    @property
    def checked_at(self) -> datetime.datetime | None:
        return self.snapshot.checked_at if self.snapshot else None

    @property
    def duration_seconds(self) -> float | None:
        return self.snapshot.duration_seconds if self.snapshot else None


def evaluate(
    name: str,
    snapshot: Snapshot | None,
    now: datetime.datetime,
    *,
    stale_intervals: float,
    labels: Mapping[str, str] | None = None,
) -> Reading:
    """Turn a stored snapshot (or its absence) into what a reader reports at ``now``."""
    labels = labels or {}
    if snapshot is None:
        return Reading(
            labels=labels,
            name=name,
            state=State.PENDING,
            message="Unavailable: pending, no result yet (is the health check poller running?)",
            snapshot=None,
            age_seconds=None,
        )
    age = (now - snapshot.checked_at).total_seconds()
    allowance = snapshot.allowance_seconds(stale_intervals)
    if age > allowance:
        return Reading(
            labels=labels,
            name=name,
            state=State.STALE,
            message=f"Unavailable: stale, last result is {describe_age(age)} old (allowed {describe_age(allowance)}); "
            "is the poller running?",
            snapshot=snapshot,
            age_seconds=age,
        )
    maintenance = snapshot.maintenance
    if maintenance is not None and now < maintenance.until:
        return Reading(
            labels=labels,
            name=name,
            state=State.MAINTENANCE,
            message=f"{maintenance.describe()}; the check reports: {snapshot.message}",
            snapshot=snapshot,
            age_seconds=age,
        )
    return Reading(
        labels=labels,
        name=name,
        state=State(snapshot.status.value),
        message=snapshot.message,
        snapshot=snapshot,
        age_seconds=age,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Report:
    """Everything one endpoint reports at one moment: what every renderer formats.

    Args:
        readings: One reading per check, in the endpoint's order.
        generated_at: The moment the readings were evaluated.
        warnings_as_errors: Whether warnings make the endpoint fail (HTTP 500).
    """

    readings: tuple[Reading, ...]
    generated_at: datetime.datetime
    warnings_as_errors: bool = True

    def counts_as_failing(self, reading: Reading) -> bool:
        state = reading.probe_state  # maintenance: ok, or what the check found when its window says so
        return state.is_failing or (self.warnings_as_errors and state is State.WARNING)

    @property
    def failing(self) -> bool:
        """Whether the endpoint as a whole fails (HTTP 500 for the status-carrying formats)."""
        return any(self.counts_as_failing(reading) for reading in self.readings)
