"""The transition journal: hysteresis, retention, restarts, upstream incidents, stale gaps and the signal."""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable, ServiceWarning
from health_check.journal import Transition, read_transitions, stale_transition
from health_check.recorder import SnapshotRecorder, store_runner
from health_check.signals import transition as transition_signal
from health_check.specs import CheckSpec
from health_check.store.diskcache import DiskcacheStore
from health_check.store.memory import MemoryStore
from scheduler.jobs import CheckRunner

UTC = datetime.UTC
START = datetime.datetime(2025, 3, 4, 9, 0, tzinfo=UTC)
MINUTE = datetime.timedelta(minutes=1)


@dataclasses.dataclass
class Scripted(HealthCheck):
    """Plays back outcomes: "ok", "warn", "fail", or a dict of details to return."""

    name: str = "db"
    outcomes: list[Any] = dataclasses.field(default_factory=list, repr=False, compare=False)

    def run(self) -> dict[str, Any] | None:
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, tuple):  # ("warn" | "fail", details): a failure that carries incidents
            kind, details = outcome
            raise (ServiceWarning if kind == "warn" else ServiceUnavailable)("upstream trouble", details=details)
        if outcome == "fail":
            raise ServiceUnavailable("connection refused")
        if outcome == "warn":
            raise ServiceWarning("replication lag 40 s")
        return outcome if isinstance(outcome, dict) else None


class Clock:
    def __init__(self, start: datetime.datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime.datetime:
        return self.now


def play(
    store: Any,
    check: Scripted,
    outcomes: list[Any],
    clock: Clock,
    step: datetime.timedelta = MINUTE,
    runner: CheckRunner | None = None,
) -> list[str]:
    """Run ``check`` once per outcome, ``step`` apart; returns the reported statuses."""
    if runner is None:
        runner = store_runner(store, clock=clock, retention=200, stale_intervals=3)
    spec = CheckSpec.of(check)
    check.outcomes.extend(outcomes)
    reported = []
    for _ in outcomes:
        reported.append(runner.run(spec).status.value)
        clock.now += step
    return reported


def journal(store: Any, check: HealthCheck) -> list[tuple[str, str, str]]:
    """(from, to, title) of the check's entries, oldest first."""
    entries = read_transitions(store, [CheckSpec.of(check).key], 1000)
    return [(t.from_state, t.to_state, t.title) for t in reversed(entries)]


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    yield MemoryStore()


def test_hysteresis__defaults_report_immediately(store):
    """Without thresholds every change is reported at once and journaled once."""
    check = Scripted(poll_interval=MINUTE)
    assert play(store, check, ["ok", "fail", "ok"], Clock()) == ["ok", "error", "ok"]
    name = "Scripted(name='db')"
    assert journal(store, check) == [
        ("ok", "error", f"{name}: failing - Unavailable: connection refused"),
        ("error", "ok", f"{name}: recovered after 60 s"),
    ]


def test_hysteresis__failure_threshold(store):
    """failure_threshold=3: two failures stay ok (raw result kept), the third is reported; one entry."""
    check = Scripted(poll_interval=MINUTE, failure_threshold=3)
    clock = Clock()
    runner = store_runner(store, clock=clock)
    assert play(store, check, ["ok", "fail", "fail"], clock, runner=runner) == ["ok", "ok", "ok"]
    latest = store.read([CheckSpec.of(check).key])[CheckSpec.of(check).key]
    assert (latest.status.value, latest.message) == ("ok", "OK")
    assert (latest.run_status.value, latest.run_message, latest.streak) == (
        "error",
        "Unavailable: connection refused",
        2,
    )
    assert play(store, check, ["fail"], clock, runner=runner) == ["error"]
    assert [entry[:2] for entry in journal(store, check)] == [("ok", "error")]


def test_hysteresis__failure_duration(store):
    """failure_duration=5 min at one run a minute: reported failing at the run 5 min after the first failure."""
    check = Scripted(poll_interval=MINUTE, failure_duration=datetime.timedelta(minutes=5))
    reported = play(store, check, ["ok"] + ["fail"] * 7, Clock())
    assert reported == ["ok", "ok", "ok", "ok", "ok", "ok", "error", "error"]


def test_hysteresis__flapping_gives_one_fail_and_one_recover(store):
    """success_threshold=3 and a check flapping every run: one fail, then one recover after 3 passes in a row."""
    check = Scripted(poll_interval=MINUTE, success_threshold=3)
    reported = play(store, check, ["ok", "fail", "ok", "fail", "ok", "fail", "ok", "fail", "ok", "ok", "ok"], Clock())
    assert reported == ["ok"] + ["error"] * 9 + ["ok"]
    name = "Scripted(name='db')"
    assert journal(store, check) == [
        ("ok", "error", f"{name}: failing - Unavailable: connection refused"),
        ("error", "ok", f"{name}: recovered after 9 min"),
    ]


def test_hysteresis__warning_and_error_switch_at_once(store):
    """While failing, warning and error follow the run immediately, even with a success threshold."""
    check = Scripted(poll_interval=MINUTE, success_threshold=5, failure_threshold=2)
    assert play(store, check, ["ok", "fail", "fail", "warn", "fail"], Clock()) == [
        "ok",
        "ok",
        "error",
        "warning",
        "error",
    ]
    assert [entry[:2] for entry in journal(store, check)] == [
        ("ok", "error"),
        ("error", "warning"),
        ("warning", "error"),
    ]


def test_hysteresis__thresholds_below_one_rejected():
    """A threshold of 0 is a mistake named with both values."""
    with pytest.raises(ValueError, match=r"failure_threshold \(0\) and success_threshold \(1\) must be at least 1"):
        Scripted(failure_threshold=0)


def test_identity__thresholds_keep_default_keys():
    """Adding hysteresis fields did not move store keys; setting one gives its own key."""
    assert CheckSpec.of(Scripted()).key == CheckSpec.of(Scripted(failure_threshold=1)).key
    assert CheckSpec.of(Scripted()).key != CheckSpec.of(Scripted(failure_threshold=2)).key


def test_journal__retention_bound():
    """At most JOURNAL_RETENTION entries per check are kept, the newest ones."""
    store = MemoryStore()
    clock = Clock()
    recorder = SnapshotRecorder(store, retention=200, stale_intervals=3)
    runner = CheckRunner(recorder.record, clock=clock)
    check = Scripted(poll_interval=MINUTE)
    play(store, check, ["ok", "fail"] * 10, clock, runner=runner)
    recorder.journal.retention = 4
    play(store, check, ["ok"], clock, runner=runner)
    entries = read_transitions(store, [CheckSpec.of(check).key], 100)
    assert len(entries) == 4
    assert entries[0].to_state == "ok" and entries[0].at == START + 20 * MINUTE
    assert [t.seq for t in entries] == sorted((t.seq for t in entries), reverse=True)


def test_journal__kept_for_journal_max_age(settings):
    """The poller keeps JOURNAL_MAX_AGE of each check's changes, and the newest older one (the state the
    span starts in); a check that changes state daily keeps that many days, not JOURNAL_RETENTION entries."""
    settings.HEALTH_CHECK = {
        "STORE": "memory",
        "POLLER_AUTOSTART": False,
        "JOURNAL_MAX_AGE": datetime.timedelta(days=3),
    }
    store = MemoryStore()
    clock = Clock()
    day = datetime.timedelta(days=1)
    check = Scripted(poll_interval=2 * day)  # never stale between the daily runs
    play(store, check, ["ok", "fail"] * 5, clock, step=day)  # a change a day for 10 days
    entries = read_transitions(store, [CheckSpec.of(check).key], 100)
    newest = START + 9 * day
    assert [t.at for t in entries] == [newest, newest - day, newest - 2 * day, newest - 3 * day, newest - 4 * day]
    assert entries[-1].at < newest - 3 * day, "the newest entry older than 3 days stays: the state at the start"


def test_journal__kept_across_restart_with_diskcache(tmp_path):
    """A new DiskcacheStore on the same directory reads the journal, and a new runner continues the debounce."""
    clock = Clock()
    check = Scripted(poll_interval=MINUTE, failure_threshold=3)
    first = DiskcacheStore(str(tmp_path))
    assert play(first, check, ["ok", "fail", "fail", "fail", "ok", "fail", "fail"], clock) == [
        "ok",
        "ok",
        "ok",
        "error",
        "ok",
        "ok",
        "ok",
    ]
    before = read_transitions(first, [CheckSpec.of(check).key], 100)
    first.close()
    second = DiskcacheStore(str(tmp_path))
    after = read_transitions(second, [CheckSpec.of(check).key], 100)
    assert after == before
    assert [(t.from_state, t.to_state) for t in after] == [("error", "ok"), ("ok", "error")]
    # Two failures were seen before the restart: the next one is the third in a row.
    assert play(second, check, ["fail"], clock) == ["error"]
    second.close()


def test_journal__stale_gap_recorded_with_the_readers_id(store):
    """After a gap past the allowance the poller records the stale entry readers showed (same id) and the recovery."""
    clock = Clock()
    check = Scripted(poll_interval=MINUTE)
    runner = store_runner(store, clock=clock)
    play(store, check, ["ok"], clock, runner=runner)
    key = CheckSpec.of(check).key
    last = store.read([key])[key]
    synthesized = stale_transition(CheckSpec.of(check).name, last, 3)
    clock.now = START + datetime.timedelta(minutes=15)
    play(store, check, ["ok"], clock, runner=runner)
    entries = read_transitions(store, [key], 10)
    name = "Scripted(name='db')"
    assert [(t.from_state, t.to_state, t.title) for t in reversed(entries)] == [
        ("ok", "stale", f"{name}: stale - no result for 3 min; is the poller running?"),
        ("stale", "ok", f"{name}: recovered after 12 min"),
    ]
    assert entries[1].id == synthesized.id and entries[1].at == START + datetime.timedelta(seconds=185)


def test_journal__recovery_spans_a_dead_poller_after_a_first_failure(store):
    """Failing from its first run, poller dead 15 min, back still failing, then ok: recovered after the whole 16 min."""
    clock = Clock()
    check = Scripted(poll_interval=MINUTE)
    runner = store_runner(store, clock=clock)
    play(store, check, ["fail"], clock, runner=runner)  # 09:00, pending -> error
    clock.now = START + datetime.timedelta(minutes=15)  # the poller was dead; readers saw it stale at 09:03:05
    play(store, check, ["fail", "ok"], clock, runner=runner)
    name = "Scripted(name='db')"
    assert journal(store, check) == [
        ("pending", "error", f"{name}: failing - Unavailable: connection refused"),
        ("error", "stale", f"{name}: stale - no result for 3 min; is the poller running?"),
        ("stale", "error", f"{name}: failing - Unavailable: connection refused"),
        ("error", "ok", f"{name}: recovered after 16 min"),
    ]


def test_journal__recovery_spans_every_gap_of_one_outage(store):
    """ok, failing at 09:01, poller dead twice while it fails, then ok at 09:30: recovered after 29 min, not 15."""
    clock = Clock()
    check = Scripted(poll_interval=MINUTE)
    runner = store_runner(store, clock=clock)
    play(store, check, ["ok", "fail"], clock, runner=runner)
    clock.now = START + datetime.timedelta(minutes=15)
    play(store, check, ["fail"], clock, runner=runner)
    clock.now = START + datetime.timedelta(minutes=30)
    play(store, check, ["ok"], clock, runner=runner)
    entries = journal(store, check)
    assert [entry[:2] for entry in entries] == [
        ("ok", "error"),
        ("error", "stale"),
        ("stale", "error"),
        ("error", "stale"),
        ("stale", "ok"),
    ]
    assert entries[-1][2] == "Scripted(name='db'): recovered after 29 min"


def test_journal__recovery_after_a_stale_ok_check_counts_from_when_it_went_stale(store):
    """ok, poller dead, back failing, then ok: the outage began when readers saw it stale, not at the first failure."""
    clock = Clock()
    check = Scripted(poll_interval=MINUTE)
    runner = store_runner(store, clock=clock)
    play(store, check, ["ok"], clock, runner=runner)
    clock.now = START + datetime.timedelta(minutes=15)
    play(store, check, ["fail", "ok"], clock, runner=runner)
    entries = journal(store, check)
    assert [entry[:2] for entry in entries] == [("ok", "stale"), ("stale", "error"), ("error", "ok")]
    # Stale at 09:03:05 (3 intervals + the 5 s timeout after the 09:00 run), ok at 09:16.
    assert entries[-1][2] == "Scripted(name='db'): recovered after 13 min"


def test_journal__observed_since_is_the_first_run(tmp_path):
    """Every snapshot remembers the check's first reported run, across state changes, a dead poller and a restart."""
    first = DiskcacheStore(str(tmp_path / "store"))
    clock = Clock()
    check = Scripted(poll_interval=MINUTE)
    play(first, check, ["ok", "fail", "ok"], clock)
    clock.now = START + datetime.timedelta(minutes=30)
    play(first, check, ["ok"], clock)
    first.close()
    second = DiskcacheStore(str(tmp_path / "store"))  # a restarted poller reads it back
    play(second, check, ["warn"], clock)
    key = CheckSpec.of(check).key
    assert second.read([key])[key].observed_since == START
    second.close()


def incidents(*items: dict[str, Any]) -> dict[str, Any]:
    return {"incidents": list(items)}


def incident(status: str, impact: str = "minor", updated: str = "2025-03-04T09:05:00Z") -> dict[str, Any]:
    return {
        "id": "kctbh9vrtdwd",
        "name": "Delayed job starts",
        "impact": impact,
        "status": status,
        "link": "https://stspg.io/kctbh9vrtdwd",
        "started_at": "2025-03-04T09:02:00Z",
        "updated_at": updated,
    }


def test_journal__incident_transitions(store):
    """New incident, status and impact updates, and its disappearance each give one entry with the provider's id."""
    check = Scripted(name="Actions", poll_interval=10 * MINUTE)
    details = [
        incidents(),
        incidents(incident("investigating")),
        incidents(incident("investigating")),
        incidents(incident("identified", updated="2025-03-04T09:20:00Z")),
        incidents(incident("identified", "major", updated="2025-03-04T09:31:00Z")),
        incidents(incident("identified", "major", updated="2025-03-04T09:31:00Z")),
        incidents(),
    ]
    play(store, check, details, Clock(), step=10 * MINUTE)
    name = "Scripted(name='Actions')"
    entries = list(reversed(read_transitions(store, [CheckSpec.of(check).key], 100)))
    assert [(t.kind, t.from_state, t.to_state, t.title) for t in entries] == [
        ("incident", "", "investigating", f"{name}: degraded - Incident: Delayed job starts"),
        ("incident", "investigating", "identified", f"{name}: identified - Incident: Delayed job starts"),
        (
            "incident",
            "identified",
            "identified",
            f"{name}: identified, now major outage - Incident: Delayed job starts",
        ),
        ("incident", "identified", "resolved", f"{name}: resolved after 58 min - Incident: Delayed job starts"),
    ]
    assert {t.incident["id"] for t in entries} == {"kctbh9vrtdwd"}
    assert {t.link for t in entries} == {"https://stspg.io/kctbh9vrtdwd"}
    assert entries[1].at == datetime.datetime(2025, 3, 4, 9, 20, tzinfo=UTC)


@dataclasses.dataclass
class Titled(Scripted):
    """A check with a human title, as upstream checks have ("GitHub Actions")."""

    @property
    def title(self) -> str:
        return f"GitHub {self.name}"


@dataclasses.dataclass
class BrokenTitle(Scripted):
    @property
    def title(self) -> str:
        raise RuntimeError("no title today")


OUTAGE = [
    incidents(),
    ("warn", incidents(incident("investigating"))),
    ("warn", incidents(incident("identified", updated="2025-03-04T09:20:00Z"))),
    ("fail", incidents(incident("identified", "major", updated="2025-03-04T09:31:00Z"))),
    ("fail", incidents(incident("identified", "major", updated="2025-03-04T09:31:00Z"))),
    incidents(),
]


def test_journal__status_change_and_incident_fold_into_one_entry(store):
    """A status change and the incident seen by the same run are one entry; an update alone stays its own."""
    check = Titled(name="Actions", poll_interval=10 * MINUTE)
    play(store, check, list(OUTAGE), Clock(), step=10 * MINUTE)
    entries = list(reversed(read_transitions(store, [CheckSpec.of(check).key], 100)))
    assert [(t.kind, t.from_state, t.to_state, t.title) for t in entries] == [
        ("status", "ok", "warning", "GitHub Actions: degraded - Incident: Delayed job starts"),
        ("incident", "investigating", "identified", "GitHub Actions: identified - Incident: Delayed job starts"),
        (
            "status",
            "warning",
            "error",
            "GitHub Actions: failing - Incident: Delayed job starts (identified, now major outage)",
        ),
        # "after" spans the whole outage: degraded since 09:10, failing since 09:30, ok at 09:50.
        ("status", "error", "ok", "GitHub Actions: recovered after 40 min - Resolved: Delayed job starts"),
    ]
    assert [t.at for t in entries] == [
        START + 10 * MINUTE,
        datetime.datetime(2025, 3, 4, 9, 20, tzinfo=UTC),
        START + 30 * MINUTE,
        START + 50 * MINUTE,
    ]
    assert [t.name for t in entries] == ["Titled(name='Actions')"] * 4
    assert {t.incident["id"] for t in entries} == {"kctbh9vrtdwd"}
    assert {t.link for t in entries} == {"https://stspg.io/kctbh9vrtdwd"}
    assert [t.incident["status"] for t in entries] == ["investigating", "identified", "identified", "resolved"]


def test_journal__folded_ids_stable_across_stores(tmp_path):
    """The same outage played into a memory and a diskcache store gives the same ids, all distinct."""
    ids = []
    for store in (MemoryStore(), DiskcacheStore(str(tmp_path))):
        check = Titled(name="Actions", poll_interval=10 * MINUTE)
        play(store, check, list(OUTAGE), Clock(), step=10 * MINUTE)
        ids.append([t.id for t in read_transitions(store, [CheckSpec.of(check).key], 100)])
        store.close()
    stores_closed = DiskcacheStore(str(tmp_path))
    assert [t.id for t in read_transitions(stores_closed, [CheckSpec.of(check).key], 100)] == ids[1]
    stores_closed.close()
    assert ids[0] == ids[1] and len(set(ids[0])) == 4


def test_journal__recovery_without_resolution_is_not_folded(store):
    """A recovery while the incident stays open is a plain recovery; the incident's end comes later, alone."""
    check = Titled(name="Actions", poll_interval=10 * MINUTE)
    play(
        store,
        check,
        [
            incidents(),
            ("warn", incidents(incident("investigating"))),
            incidents(incident("monitoring", updated="2025-03-04T09:15:00Z")),
            incidents(),
        ],
        Clock(),
        step=10 * MINUTE,
    )
    entries = list(reversed(read_transitions(store, [CheckSpec.of(check).key], 100)))
    assert [t.title for t in entries] == [
        "GitHub Actions: degraded - Incident: Delayed job starts",
        "GitHub Actions: monitoring - Incident: Delayed job starts",
        "GitHub Actions: recovered after 10 min",
        "GitHub Actions: resolved after 28 min - Incident: Delayed job starts",
    ]


def test_journal__broken_title_falls_back_to_the_name(store):
    """A title property that raises does not break the poller: entries use the check's public name."""
    check = BrokenTitle(poll_interval=MINUTE)
    assert play(store, check, ["ok", "fail"], Clock()) == ["ok", "error"]
    assert journal(store, check) == [
        ("ok", "error", "BrokenTitle(name='db'): failing - Unavailable: connection refused"),
    ]


def test_transition__round_trip():
    """to_dict()/from_dict() keep every field."""
    entry = Transition(
        id="x",
        key="k",
        name="n",
        kind="incident",
        from_state="",
        to_state="investigating",
        at=START,
        message="m",
        title="t",
        incident={"id": "1", "link": None},
        seq=7,
    )
    assert Transition.from_dict(entry.to_dict()) == entry


def test_signal__once_per_transition_and_receiver_errors_logged(store, caplog):
    """The signal fires once per stored transition; a receiver that raises is logged, the poller carries on."""
    received: list[tuple[type, Transition, HealthCheck]] = []

    def collect(sender: type, transition: Transition, check: HealthCheck, **kwargs: Any) -> None:
        received.append((sender, transition, check))

    def explode(**kwargs: Any) -> None:
        raise RuntimeError("webhook down")

    transition_signal.connect(collect)
    transition_signal.connect(explode)
    try:
        check = Scripted(poll_interval=MINUTE)
        with caplog.at_level(logging.ERROR, logger="health_check.journal"):
            assert play(store, check, ["ok", "fail", "fail", "ok"], Clock()) == ["ok", "error", "error", "ok"]
    finally:
        transition_signal.disconnect(collect)
        transition_signal.disconnect(explode)
    assert [(sender, t.to_state, c is check) for sender, t, c in received] == [
        (Scripted, "error", True),
        (Scripted, "ok", True),
    ]
    assert [t.id for _, t, _ in received] == [
        t.id for t in reversed(read_transitions(store, [CheckSpec.of(check).key], 9))
    ]
    failures = [r for r in caplog.records if "health_check.signals.transition failed" in r.getMessage()]
    assert len(failures) == 2


class Watched(MemoryStore):
    """A memory store that remembers, at every snapshot write, which journal entries it held."""

    def __init__(self) -> None:
        super().__init__()
        self.held_at_write: list[tuple[str, int]] = []

    def write(self, snapshot: Any) -> None:
        self.held_at_write.append((snapshot.status.value, len(self.read_journal([snapshot.key], 100))))
        super().write(snapshot)


def test_recorder__entries_before_their_snapshot():
    """A reader that sees a run's snapshot also finds its journal entry: the entry is written first.

    Otherwise a reader can read the new snapshot between the two writes, build its state (kept until
    the next change) without the entry, and serve a feed without its newest item for minutes.
    """
    store = Watched()
    play(store, Scripted(poll_interval=MINUTE), ["ok", "fail", "ok"], Clock())
    assert store.held_at_write == [("ok", 0), ("error", 1), ("ok", 2)]


def test_journal__a_store_written_before_max_age_still_records():
    """A project's own store whose append_journal has no max_age keeps working (count-bounded only)."""
    from health_check.journal import append_transitions

    class OldStore(MemoryStore):
        def append_journal(self, entries, *, retention):  # the signature before max_age existed
            return super().append_journal(entries, retention=retention)

    store = OldStore()
    clock = Clock()
    recorder = SnapshotRecorder(store, retention=10, stale_intervals=3)
    runner = CheckRunner(recorder.record, clock=clock)
    check = Scripted(poll_interval=MINUTE)
    play(store, check, ["ok", "fail", "ok"], clock, runner=runner)
    assert [(t.from_state, t.to_state) for t in read_transitions(store, [CheckSpec.of(check).key], 10)] == [
        ("error", "ok"),
        ("ok", "error"),
    ]
    assert append_transitions(store, [], retention=1, max_age=60.0) == []
