"""The Heartbeat check and beats in every store: pending, late, failed, fleet-wide, Celery's signals.

The check runs through the real runner (``run_check``) with a clock the test moves; beats are written
with ``at=`` from the same clock. The end-to-end proof (a real server, its poller, beats sent three
ways) is tests/test_heartbeats.py.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest

from health_check.contrib.heartbeat import Heartbeat, beat_after_task
from health_check.heartbeat import MAX_MESSAGE_CHARS, Beat, beat, beat_key, clean_message, last_beat
from health_check.snapshot import Status
from health_check.store import reset_store
from health_check.store.base import StoreError
from health_check.store.diskcache import DiskcacheStore
from health_check.store.memory import MemoryStore
from health_check.store.redis import RedisStore
from tests.support import FrozenClock, RedisServer, free_port

DAY = datetime.timedelta(hours=25)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def nightly(clock: FrozenClock, **options) -> Heartbeat:
    return Heartbeat(name="nightly-backup", max_interval=DAY, clock=clock, **options)


def test_heartbeat__pending_is_a_warning_for_one_max_interval_then_an_error(run_check, clock):
    """Before the first beat: a warning saying so while the job may not have run yet, an error after."""
    check = nightly(clock)
    snapshot = run_check(check)
    assert (snapshot.status, snapshot.message) == (
        Status.WARNING,
        "Warning: pending: no beat yet from nightly-backup; expected one within 25 hours",
    )
    clock.advance(hours=25)
    assert run_check(check).status is Status.WARNING
    clock.advance(seconds=1)
    snapshot = run_check(check)
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        "Unavailable: no beat yet from nightly-backup in the 25 h the poller has watched; expected one within 25 hours",
    )


def test_heartbeat__beat_late_beat_again(run_check, memory_store, clock):
    """A beat makes it OK; no beat for longer than max_interval makes it late (error); the next beat heals it."""
    check = nightly(clock)
    beat("nightly-backup", at=clock.now, message="3.2 GB")
    snapshot = run_check(check)
    assert (snapshot.status, snapshot.message) == (Status.OK, "OK")
    assert snapshot.details == {"last_beat_at": "2025-03-12T14:00:00Z", "failed": False, "message": "3.2 GB"}
    clock.advance(hours=25)
    assert run_check(check).status is Status.OK  # exactly max_interval: still on time
    clock.advance(hours=1)
    snapshot = run_check(check)
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        "Unavailable: late: last beat from nightly-backup was 26 h ago; expected one within 25 hours",
    )
    beat("nightly-backup", at=clock.now)
    assert run_check(check).message == "OK"


def test_heartbeat__failed_beat_is_an_error_with_its_message(run_check, memory_store, clock):
    """A beat that reports a failure: error with the beat's message, until a good beat (or late, saying so)."""
    check = nightly(clock)
    beat("nightly-backup", failed=True, message="pg_dump: connection refused", at=clock.now)
    clock.advance(minutes=5)
    snapshot = run_check(check)
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        "Unavailable: nightly-backup reported a failure 5 min ago: pg_dump: connection refused",
    )
    clock.advance(hours=25)
    assert run_check(check).message == (
        "Unavailable: late: last beat from nightly-backup was 25 h ago; expected one within 25 hours "
        "(that beat reported a failure)"
    )
    beat("nightly-backup", at=clock.now)
    assert run_check(check).status is Status.OK


def test_heartbeat__store_that_cannot_be_read_is_one_line(run_check, clock, settings):
    """A store failing to answer: the check says it cannot read the beats, naming the heartbeat, not a traceback."""
    settings.HEALTH_CHECK = {"STORE": "tests.contrib.test_heartbeat.BrokenStore", "POLLER_AUTOSTART": False}
    reset_store()
    snapshot = run_check(nightly(clock))
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        "Unavailable: cannot read the beats of nightly-backup: Connection refused",
    )


class BrokenStore(MemoryStore):
    """A store whose reads fail, as a Redis that went away does."""

    def __init__(self, location: str | None = None) -> None:
        super().__init__()

    def read(self, keys):
        raise StoreError("broken store: Connection refused", reason="Connection refused")


@pytest.mark.parametrize(
    ("max_interval", "poll_interval", "expected"),
    [
        (DAY, None, datetime.timedelta(seconds=60)),
        (datetime.timedelta(minutes=5), None, datetime.timedelta(seconds=30)),
        (datetime.timedelta(seconds=2), None, datetime.timedelta(seconds=1)),
        (DAY, datetime.timedelta(minutes=10), datetime.timedelta(minutes=10)),
    ],
)
def test_heartbeat__poll_interval_is_a_tenth_of_max_interval_within_1_to_60_s(max_interval, poll_interval, expected):
    """A late beat is noticed within a minute at most; an explicit poll_interval wins."""
    check = Heartbeat(name="job", max_interval=max_interval, poll_interval=poll_interval)
    assert check.schedule_interval == expected


def test_heartbeat__name_repr_scope_and_key():
    """The check is named by its heartbeat, fleet-scoped, and keyed by its arguments (the default clock left out)."""
    check = Heartbeat(name="nightly-backup", max_interval=DAY)
    assert repr(check) == "Heartbeat(name='nightly-backup', max_interval=datetime.timedelta(days=1, seconds=3600))"
    assert check.effective_scope == "fleet"
    assert check.title == "Heartbeat nightly-backup"
    from health_check.identity import check_key

    assert check_key(check) == check_key(Heartbeat(name="nightly-backup", max_interval=DAY))
    assert check_key(check) != check_key(Heartbeat(name="nightly-backup", max_interval=DAY * 2))
    assert check_key(check) != check_key(Heartbeat(name="weekly-backup", max_interval=DAY))


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"name": "nightly backup", "max_interval": DAY}, "heartbeat name 'nightly backup' is not valid"),
        ({"name": "", "max_interval": DAY}, "heartbeat name '' is not valid"),
        ({"name": "job", "max_interval": datetime.timedelta(0)}, "max_interval is datetime.timedelta(0)"),
        ({"name": "job", "max_interval": 60}, "max_interval is 60, expected a positive timedelta"),
    ],
)
def test_heartbeat__bad_arguments_are_refused(options, error):
    """A name that cannot be a key or a URL part, or a max_interval that is no positive timedelta: ValueError."""
    with pytest.raises(ValueError, match=error.replace("(", r"\(").replace(")", r"\)")):
        Heartbeat(**options)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("done\nin 3 s\r\n", "done in 3 s"),
        ("bell\x07 and \x1b[31mred\x1b[0m", "bell and [31mred[0m"),
        ("zero\u200bwidth\u2028line", "zerowidth line"),
        ("upload to https://backup:s3cret@files.example.com/x failed", "upload to https://files.example.com/x failed"),
        ("x" * 500, "x" * (MAX_MESSAGE_CHARS - 1) + "…"),
        (None, ""),
    ],
)
def test_clean_message__one_bounded_line_without_controls_or_credentials(given, kept):
    """What a beat keeps of its message: one line, no control characters, no URL password, 200 chars at most."""
    assert clean_message(given) == kept


# -- beats in every store -----------------------------------------------------------------------------


@pytest.fixture(params=["memory", "diskcache", "redis"])
def stores(request, tmp_path) -> Iterator[tuple]:
    """Two handles on one store, as two processes (two hosts, for Redis) would hold them."""
    if request.param == "memory":
        store = MemoryStore()
        yield store, store
        return
    if request.param == "diskcache":
        first, second = DiskcacheStore(str(tmp_path / "a")), DiskcacheStore(str(tmp_path / "a"))
    else:
        server = request.getfixturevalue("redis_server")
        first = RedisStore(server.url, location=str(tmp_path / "a"), host_id="host-a", read_cache_seconds=0)
        second = RedisStore(server.url, location=str(tmp_path / "b"), host_id="host-b", read_cache_seconds=0)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def test_beat__seen_by_another_process_or_host_and_never_replaced_by_an_older_one(stores, clock):
    """A beat written by one handle is read by the other (fleet-wide in Redis); a late older beat loses."""
    writer, reader = stores
    assert last_beat("nightly-backup", reader) is None
    written = beat("nightly-backup", message="ok\tdone", via="command", store=writer, at=clock.now)
    assert written == Beat(name="nightly-backup", at=clock.now, failed=False, message="ok done", via="command")
    assert last_beat("nightly-backup", reader) == written
    beat("nightly-backup", failed=True, message="older", store=writer, at=clock.now - datetime.timedelta(minutes=1))
    assert last_beat("nightly-backup", reader) == written
    clock.advance(minutes=1)
    newer = beat("nightly-backup", failed=True, message="disk full", store=reader, at=clock.now)
    assert last_beat("nightly-backup", writer) == newer
    assert reader.read([beat_key("nightly-backup")]).keys() == {"heartbeat:nightly-backup"}  # no @host


def test_beat__redis_down_raises_instead_of_keeping_the_beat(tmp_path):
    """A store that does not answer raises StoreError: a cron job's process would exit with the beat unsent."""
    server = RedisServer()
    try:
        server.start()
        store = RedisStore(server.url, location=str(tmp_path), host_id="host-a")
        beat("job", store=store)
        server.kill()
        with pytest.raises(StoreError, match=r"Redis store at redis://127\.0\.0\.1:\d+/0"):
            beat("job", store=store)
        store.close()
    finally:
        server.stop()
    unreachable = RedisStore(f"redis://127.0.0.1:{free_port()}/0", location=str(tmp_path), host_id="host-a")
    with pytest.raises(StoreError):
        beat("job", store=unreachable)
    unreachable.close()


# -- Celery ----------------------------------------------------------------------------------------------


@pytest.fixture
def eager_app():
    """A real Celery app running tasks eagerly (in this process), so its task signals are sent here."""
    celery = pytest.importorskip("celery")
    app = celery.Celery("hs_heartbeat", broker="memory://", set_as_current=False)
    app.conf.update(task_always_eager=True, task_eager_propagates=False)

    @app.task(name="tests.backup")
    def backup(fail: bool = False) -> str:
        if fail:
            raise RuntimeError("disk full at redis://u:hunter2@cache:6379/0\nsecond line")
        return "done"

    @app.task(name="tests.other")
    def other() -> str:
        return "other"

    return app, backup, other


def test_beat_after_task__success_and_failure_beat_through_celery_signals(eager_app, memory_store):
    """Connected to task_success and task_failure, the receiver beats after each run of its task only."""
    from celery.signals import task_failure, task_success

    _, backup, other = eager_app
    receiver = beat_after_task("tests.backup", name="nightly-backup")
    task_success.connect(receiver, weak=False)
    task_failure.connect(receiver, weak=False)
    try:
        other.delay()
        assert last_beat("nightly-backup") is None
        backup.delay()
        found = last_beat("nightly-backup")
        assert (found.failed, found.message, found.via) == (False, "tests.backup succeeded", "celery")
        backup.delay(fail=True)
        found = last_beat("nightly-backup")
        assert (found.failed, found.message) == (
            True,
            "tests.backup failed: RuntimeError: disk full at redis://cache:6379/0",
        )
    finally:
        task_success.disconnect(receiver)
        task_failure.disconnect(receiver)


def test_beat_after_task__store_down_is_logged_not_raised(settings, caplog, tmp_path):
    """A beat the store refused is one WARNING line; the task's own outcome is left alone."""
    settings.HEALTH_CHECK = {
        "STORE": f"redis://127.0.0.1:{free_port()}/0",
        "STORE_LOCATION": str(tmp_path),
        "POLLER_AUTOSTART": False,
    }
    reset_store()
    try:
        receiver = beat_after_task("tests.backup")
        receiver(sender=type("Task", (), {"name": "tests.backup"})(), result="done")
    finally:
        reset_store()
    (record,) = [r for r in caplog.records if r.name == "health_check.contrib.heartbeat"]
    assert record.levelname == "WARNING"
    assert record.getMessage().startswith("Heartbeat tests.backup after task tests.backup was not recorded: ")
    assert record.exc_info is None


def test_beat__from_a_clock_ahead_is_taken_as_now(memory_store):
    """A beat stamped an hour ahead (a host's clock) must not hide the real beats of that hour."""
    ahead = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    recorded = beat("clock-ahead", at=ahead, store=memory_store)
    assert recorded.at <= datetime.datetime.now(datetime.UTC)
    beat("clock-ahead", message="the real one", store=memory_store)
    found = last_beat("clock-ahead", store=memory_store)
    assert found is not None and found.message == "the real one"
