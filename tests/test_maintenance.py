"""Maintenance: durations, silences and recurring windows (across daylight saving time), what a
reading, a probe, the journal and uptime make of them, and the poller applying them."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from health_check.journal import changes, read_transitions
from health_check.maintenance import Maintenance, Silence, Window, active_maintenance, parse_duration, parse_windows
from health_check.snapshot import Report, Snapshot, State, Status, evaluate
from health_check.uptime import uptime
from tests.test_uptime import entry

UTC = datetime.UTC
T0 = datetime.datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
H = datetime.timedelta(hours=1)


def snapshot(status: Status = Status.ERROR, at: datetime.datetime = T0, maintenance: Maintenance | None = None):
    return Snapshot(
        key="db",
        status=status,
        message="OK" if status is Status.OK else "Unavailable: connection refused",
        checked_at=at,
        duration_seconds=0.01,
        interval_seconds=10,
        timeout_seconds=5,
        maintenance=maintenance,
    )


UPGRADE = Maintenance("PostgreSQL 17 upgrade", T0, T0 + H, source="silence abc")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30m", 1800), ("1h", 3600), ("2h30m", 9000), ("1d", 86400), ("45s", 45), ("1H 5M", 3900), ("90min", 5400)],
)
def test_parse_duration(text, expected):
    assert parse_duration(text).total_seconds() == expected


@pytest.mark.parametrize("text", ["", "soon", "1x", "0m", "-1h", "h"])
def test_parse_duration__wrong(text):
    with pytest.raises(ValueError, match="use e.g. 30m, 1h"):
        parse_duration(text)


def berlin_sunday_window(**extra):
    return Window.parse(
        {
            "name": "replica",
            "checks": ["Database(alias='replica')"],
            "weekdays": ["sunday"],
            "start": "02:00",
            "end": "04:00",
            "timezone": "Europe/Berlin",
            "reason": "weekly vacuum",
            **extra,
        },
        0,
    )


@pytest.mark.parametrize(
    ("day", "start_utc", "end_utc"),
    [
        # Summer time (UTC+2): 02:00-04:00 local is 00:00-02:00 UTC.
        ("2026-10-18", "00:00", "02:00"),
        # The night clocks go back (03:00 CEST -> 02:00 CET): 02:00 CEST to 04:00 CET, three hours.
        ("2026-10-25", "00:00", "03:00"),
        # Winter time (UTC+1): 01:00-03:00 UTC.
        ("2026-11-01", "01:00", "03:00"),
        # The night clocks go forward (02:00 CET -> 03:00 CEST): 02:00 does not exist; one hour.
        ("2026-03-29", "01:00", "02:00"),
    ],
)
def test_window__follows_daylight_saving_time(day, start_utc, end_utc):
    """The window is local time: its UTC hours move with the zone's offset, also on the night it changes."""
    window = berlin_sunday_window()
    date = datetime.date.fromisoformat(day)
    start = datetime.datetime.combine(date, datetime.time.fromisoformat(start_utc), tzinfo=UTC)
    end = datetime.datetime.combine(date, datetime.time.fromisoformat(end_utc), tzinfo=UTC)
    assert window.occurrence(start) == (start, end)
    assert window.occurrence(end - datetime.timedelta(seconds=1)) == (start, end)
    assert window.occurrence(end) is None
    assert window.occurrence(start - datetime.timedelta(seconds=1)) is None


def test_window__past_midnight_and_other_days():
    """An end before the start ends the next day; the weekday is the one it starts on; UTC by default."""
    window = Window.parse({"checks": "health_check-app", "weekdays": ["fri"], "start": "23:30", "end": "00:30"}, 3)
    friday = datetime.datetime(2026, 12, 4, 23, 45, tzinfo=UTC)
    assert window.occurrence(friday) == (friday.replace(minute=30), friday.replace(minute=30) + H)
    assert window.occurrence(friday + 30 * datetime.timedelta(minutes=1)) is not None  # Saturday 00:15
    assert window.occurrence(friday + datetime.timedelta(days=1)) is None  # Saturday 23:45
    assert window.name == "window 3" and window.reason == "maintenance window 3"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("nightly", "MAINTENANCE_WINDOWS[0] is str, expected a dict"),
        ({"weekdays": ["sun"]}, 'MAINTENANCE_WINDOWS[0]["checks"] must name the checks'),
        ({"checks": ["db"], "weekdays": ["sonntag"]}, "has 'sonntag', expected names such as"),
        ({"checks": ["db"], "start": "2am", "end": "03:00"}, "MAINTENANCE_WINDOWS[0][\"start\"] is '2am'"),
        ({"checks": ["db"], "start": "02:00+01:00", "end": "03:00"}, 'the zone goes in "timezone"'),
        ({"checks": ["db"], "start": "02:00", "end": "03:00", "timezone": "Mars/Olympus"}, "'Mars/Olympus'"),
        ({"checks": ["db"], "start": "02:00", "end": "03:00", "cron": "* * *"}, "unknown keys cron"),
        ({"checks": ["db"], "start": "02:00", "end": "03:00", "fail_probes": "yes"}, "must be True or False"),
    ],
)
def test_windows__wrong_entries_say_what_and_where(entry, message):
    with pytest.raises(ValueError) as raised:
        parse_windows([entry])
    assert message in str(raised.value)


def test_active_maintenance__names_and_the_stricter_choice():
    """A silence names a check or an endpoint; of several at once the last to end wins, failing probes
    if any of them does, with the silence's reason."""
    silence = Silence.new("health_check-app", H, "RabbitMQ migration", now=T0)
    window = Window.parse(
        {"checks": ["Cache(alias='default')"], "start": "09:00", "end": "12:00", "fail_probes": True}, 0
    )
    assert active_maintenance({"Database(alias='default')"}, T0, [silence], [window]) is None
    found = active_maintenance({"Cache(alias='default')", "health_check-app"}, T0, [silence], [window])
    assert found is not None
    assert (found.reason, found.until, found.fail_probes) == ("RabbitMQ migration", T0 + 2 * H, True)
    assert active_maintenance({"health_check-app"}, T0 + H, [silence], []) is None, "ended"


def test_silence__bounds_and_reason():
    with pytest.raises(ValueError, match="at most 30 days"):
        Silence.new("db", datetime.timedelta(days=31), "", now=T0)
    silence = Silence.new("db", H, "line one\nline two\x1b[31m" + "x" * 300, now=T0)
    assert "\n" not in silence.reason and "\x1b" not in silence.reason and len(silence.reason) == 200
    assert Silence.from_dict(silence.to_dict()) == silence
    assert Silence.new("db", H, "", now=T0).reason == "planned maintenance"


def test_snapshot__keeps_its_maintenance():
    stored = snapshot(maintenance=UPGRADE)
    assert Snapshot.from_dict(stored.to_dict()) == stored
    assert "maintenance" not in snapshot().to_dict()


def test_reading__says_maintenance_and_does_not_fail_probes():
    """During maintenance the reading says so with the reason and what the check found; probes pass by
    default, fail with fail_probes when the check fails; after it ends the true state is back."""
    failing = snapshot(maintenance=UPGRADE)
    reading = evaluate("Database(alias='default')", failing, T0 + datetime.timedelta(seconds=20), stale_intervals=3)
    assert reading.state is State.MAINTENANCE
    assert reading.message == (
        "Maintenance: PostgreSQL 17 upgrade (until 2026-12-04 11:00 UTC); "
        "the check reports: Unavailable: connection refused"
    )
    assert not Report((reading,), T0).failing
    strict = snapshot(maintenance=dataclasses.replace(UPGRADE, fail_probes=True))
    assert Report((evaluate("db", strict, T0, stale_intervals=3),), T0).failing
    healthy = snapshot(Status.OK, maintenance=dataclasses.replace(UPGRADE, fail_probes=True))
    assert not Report((evaluate("db", healthy, T0, stale_intervals=3),), T0).failing
    after = evaluate("db", snapshot(at=T0 + H, maintenance=UPGRADE), T0 + H, stale_intervals=3)
    assert after.state is State.ERROR, "a maintenance that ended is ignored, whatever the snapshot says"


def test_journal__one_entry_at_the_start_and_one_at_the_end():
    """Start and end are one entry each; what the check does in between is not recorded."""
    ok = snapshot(Status.OK, T0 - H)
    start = snapshot(Status.OK, T0, UPGRADE)
    failing = snapshot(Status.ERROR, T0 + 10 * datetime.timedelta(minutes=1), UPGRADE)
    back = snapshot(Status.OK, T0 + 20 * datetime.timedelta(minutes=1), UPGRADE)
    end = snapshot(Status.ERROR, T0 + H)
    found = [
        changes(before, after, "db", stale_intervals=1e9, title="Primary database")
        for before, after in [(ok, start), (start, failing), (failing, back), (back, end)]
    ]
    assert [[(t.from_state, t.to_state, t.title) for t in entries] for entries in found] == [
        [("ok", "maintenance", "Primary database: maintenance started - PostgreSQL 17 upgrade (until 11:00 UTC)")],
        [],
        [],
        [("maintenance", "error", "Primary database: maintenance ended - failing - Unavailable: connection refused")],
    ]


def test_uptime__leaves_maintenance_out():
    """10 h ok, 2 h maintenance (failing inside), 1 h error, 11 h ok: uptime 21/22; the hour of error
    after the maintenance is one incident (the feed announced "maintenance ended - failing")."""
    now = T0
    start = now - 24 * H
    entries = [
        entry("db", start - H, "pending", "ok"),
        entry("db", start + 10 * H, "ok", "maintenance"),
        entry("db", start + 12 * H, "maintenance", "error"),
        entry("db", start + 13 * H, "error", "ok"),
    ]
    day = uptime(entries, now)["24h"]
    assert day.shares["maintenance"] == pytest.approx(2 / 24)
    assert day.uptime == pytest.approx(21 / 22)
    assert day.incidents == 1
    assert day.longest_outage_seconds == pytest.approx(3600)
    assert day.as_dict()["maintenance"] == pytest.approx(2 / 24, abs=1e-6)


def test_poller__applies_a_silence_and_a_window(settings):
    """The recorder stamps runs in a silence or window, the rerun hook notices a new silence within a
    poll of the hook, and the journal holds the start and end only."""
    from health_check._maintenance_source import MaintenanceSource
    from health_check.recorder import SnapshotRecorder
    from health_check.specs import CheckSpec
    from health_check.store.memory import MemoryStore
    from scheduler import CheckRunner
    from tests.test_journal import Clock, Scripted

    settings.HEALTH_CHECK = {
        "STORE": "memory",
        "POLLER_AUTOSTART": False,
        "MAINTENANCE_WINDOWS": [
            {"checks": ["health_check-db"], "weekdays": ["sat"], "start": "01:00", "end": "02:00", "reason": "backup"}
        ],
    }
    store = MemoryStore()
    check = Scripted(poll_interval=datetime.timedelta(minutes=1))
    spec = CheckSpec.of(check)
    source = MaintenanceSource(store, {"health_check-db": {spec.key}})
    recorder = SnapshotRecorder(store, stale_intervals=1e9, maintenance=source)
    clock = Clock(datetime.datetime.now(UTC))  # the rerun hook asks about now
    runner = CheckRunner(recorder.record, clock=clock)

    def run(outcome: str, minutes: int = 1) -> Snapshot:
        clock.now += datetime.timedelta(minutes=minutes)
        check.outcomes.append(outcome)
        return runner.run(spec)

    assert run("fail").maintenance is None
    assert recorder.rerun is not None and recorder.rerun([spec]) == []
    store.write_silence(Silence.new(spec.name, H, "failover drill", now=clock.now - H / 2).to_dict())
    source._read_at = float("-inf")  # the store is read at most once a second; this test does not wait
    assert recorder.rerun([spec]) == [spec], "a new silence makes the check run at once"
    assert run("fail").maintenance is not None
    assert recorder.rerun([spec]) == []
    store.delete_silence(store.read_silences()[0]["id"])
    source._read_at = float("-inf")
    assert recorder.rerun([spec]) == [spec]
    assert run("fail").maintenance is None
    saturday = clock.now.date() + datetime.timedelta(days=(5 - clock.now.weekday()) % 7 or 7)
    clock.now = datetime.datetime.combine(saturday, datetime.time(0, 59), tzinfo=UTC)  # before the window
    inside = run("ok")  # 01:00: the window
    assert inside.maintenance is not None and inside.maintenance.reason == "backup"
    assert run("fail", minutes=30).maintenance is not None
    assert run("fail", minutes=30).maintenance is None  # 02:01
    journal = read_transitions(store, [spec.key], 20)
    assert [(t.from_state, t.to_state) for t in reversed(journal)] == [
        ("pending", "error"),
        ("error", "maintenance"),
        ("maintenance", "error"),
        ("error", "maintenance"),
        ("maintenance", "error"),
    ]


def test_poller__a_store_refusing_writes_is_no_rerun_loop(settings):
    """While snapshot writes fail, a silence does not make the check run every second."""
    from health_check._maintenance_source import MaintenanceSource
    from health_check.recorder import SnapshotRecorder
    from health_check.specs import CheckSpec
    from health_check.store.base import StoreError
    from health_check.store.memory import MemoryStore
    from scheduler import CheckRunner
    from tests.test_journal import Clock, Scripted

    class Full(MemoryStore):
        def write(self, snapshot):
            raise StoreError("disk full")

    settings.HEALTH_CHECK = {"STORE": "memory", "POLLER_AUTOSTART": False}
    store = Full()
    check = Scripted(poll_interval=datetime.timedelta(minutes=5))
    spec = CheckSpec.of(check)
    store.write_silence(Silence.new(spec.name, H, "drill", now=datetime.datetime.now(UTC) - H / 2).to_dict())
    recorder = SnapshotRecorder(store, stale_intervals=1e9, maintenance=MaintenanceSource(store))
    runner = CheckRunner(recorder.record, clock=Clock(datetime.datetime.now(UTC)))
    check.outcomes.append("ok")
    assert runner.run(spec).maintenance is not None
    assert recorder.rerun is not None and recorder.rerun([spec]) == []


def test_endpoint__every_format_shows_maintenance(memory_store):
    """What a user sees of a failing check in maintenance: 200 with the reason (JSON, text), a blue
    "maintenance" state on the page and the badge, "pass" in health+json, the state set's sample."""
    import json

    from django.test import RequestFactory

    from health_check.specs import CheckSpec
    from health_check.views import HealthCheckView
    from tests.testapp.probes import Sample

    check = Sample("db")
    spec = CheckSpec.of(check)
    now = datetime.datetime.now(UTC)
    window = Maintenance("PostgreSQL 17 upgrade", now - H, now + H, source="silence abc")
    memory_store.write(dataclasses.replace(snapshot(at=now), key=spec.key, maintenance=window))
    view = HealthCheckView.as_view(checks=[check])

    def get(query: str):
        response = view(RequestFactory().get("/health/?" + query))
        if hasattr(response, "render"):
            response.render()
        return response.status_code, response.content.decode()

    status, body = get("format=json")
    assert status == 200
    assert json.loads(body)[spec.name].startswith("Maintenance: PostgreSQL 17 upgrade (until ")
    assert get("format=text")[1].startswith(f"{spec.name}: Maintenance: PostgreSQL 17 upgrade")
    status, page = get("format=html")
    assert status == 200 and 'class="state state-maintenance">maintenance<' in page
    assert json.loads(get("format=health%2Bjson")[1])["status"] == "pass"
    assert ">maintenance</text>" in get("format=svg")[1]
    metrics = get("format=openmetrics")[1]
    assert 'django_health_check_state{check="Sample",label="db",django_health_check_state="maintenance"} 1' in metrics


def test_poller_once__stamps_a_silence_too(memory_store):
    """``health_check_poller --once`` writes what the poller would: a silenced check's snapshot says so."""
    from django.core.management import call_command

    from health_check.specs import CheckSpec
    from tests.testapp.probes import Steady

    memory_store.write_silence(
        Silence.new("health_check-steady", H, "deploy", now=datetime.datetime.now(UTC) - H / 2).to_dict()
    )
    with pytest.raises(SystemExit):
        call_command("health_check_poller", "--once")
    key = CheckSpec.of(Steady()).key
    found = memory_store.read([key])[key]
    assert found.maintenance is not None and found.maintenance.reason == "deploy"
