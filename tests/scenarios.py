"""The snapshot sets every format is tested against: fresh, failing, warning, stale, pending and empty.

Three ``Sample`` checks (alpha, beta, gamma); each scenario changes what the store holds for some of
them. Views tests write these snapshots into the store; renderer tests evaluate them into a Report.
"""

from __future__ import annotations

import datetime
from typing import Any

from health_check.snapshot import Report, evaluate
from health_check.specs import CheckSpec
from tests.conftest import make_snapshot
from tests.testapp.probes import Sample

LABELS = ("alpha", "beta", "gamma")
SPECS = {label: CheckSpec.of(Sample(label)) for label in LABELS}
NAMES = {label: f"Sample(label='{label}')" for label in LABELS}

#: Age of every snapshot a scenario does not override, in seconds: shown as "12 s" (well inside the 35 s allowance).
FRESH_AGE = 12.0

PENDING = "Unavailable: pending, no result yet (is the health check poller running?)"
# Sample polls every 10 s with a 5 s budget: allowed 3 × 10 + 5 = 35 s.
STALE = "Unavailable: stale, last result is 60 min old (allowed 35 s); is the poller running?"
REFUSED = "Unavailable: connection refused"
DEGRADED = "Warning: disk 91 % full"

#: label -> make_snapshot() overrides, or None when the store has no snapshot of that check.
SCENARIOS: dict[str, dict[str, dict[str, Any] | None]] = {
    "fresh": {},
    "failing": {"beta": {"status": "error", "message": REFUSED}},
    "warning": {"beta": {"status": "warning", "message": DEGRADED}},
    "stale": {"beta": {"age_seconds": 3600.0}},
    "pending": {"beta": None},
    "empty": {"alpha": None, "beta": None, "gamma": None},
}

#: label -> the state each scenario reports for it.
STATES = {
    "fresh": {},
    "failing": {"beta": "error"},
    "warning": {"beta": "warning"},
    "stale": {"beta": "stale"},
    "pending": {"beta": "pending"},
    "empty": {"alpha": "pending", "beta": "pending", "gamma": "pending"},
}

_MESSAGES = {"error": REFUSED, "warning": DEGRADED, "stale": STALE, "pending": PENDING}


def state_of(scenario: str, label: str) -> str:
    return STATES[scenario].get(label, "ok")


def expected_messages(scenario: str) -> dict[str, str]:
    """``{check name: message}``: the JSON body and, line by line, the text body."""
    return {NAMES[label]: _MESSAGES.get(state_of(scenario, label), "OK") for label in LABELS}


def expected_text(scenario: str) -> str:
    return "".join(f"{name}: {message}\n" for name, message in expected_messages(scenario).items())


def snapshots(scenario: str, now: datetime.datetime | None = None) -> dict[str, Any]:
    """label -> the snapshot the store holds in this scenario (None when it holds none)."""
    found: dict[str, Any] = {}
    for label in LABELS:
        overrides = SCENARIOS[scenario].get(label, {})
        if overrides is None:
            found[label] = None
            continue
        found[label] = make_snapshot(SPECS[label].key, **{"age_seconds": FRESH_AGE, "now": now, **overrides})
    return found


def write_scenario(store: Any, scenario: str) -> None:
    for snapshot in snapshots(scenario).values():
        if snapshot is not None:
            store.write(snapshot)


def build_report(scenario: str, *, warnings_as_errors: bool = True, now: datetime.datetime | None = None) -> Report:
    """The Report a view would build at ``now`` from this scenario's snapshots."""
    now = now or datetime.datetime.now(datetime.UTC)
    readings = tuple(
        evaluate(SPECS[label].name, snapshot, now, stale_intervals=3, labels=SPECS[label].labels)
        for label, snapshot in snapshots(scenario, now=now).items()
    )
    return Report(readings=readings, generated_at=now, warnings_as_errors=warnings_as_errors)
