"""The check runner: budgets, hung threads, unexpected errors, and the snapshot each run writes."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import ClassVar

import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from health_check.base import HealthCheck
from health_check.checks import Database
from health_check.exceptions import ServiceUnavailable, ServiceWarning
from health_check.recorder import store_runner
from health_check.snapshot import Status
from health_check.specs import CheckSpec
from scheduler.jobs import CheckRunner, run_all_once
from tests.conftest import require_service

HALF_SECOND = datetime.timedelta(seconds=0.5)

#: Set when a test ends, so the threads of "hung" checks return instead of outliving the test.
release_hung = threading.Event()


@pytest.fixture(autouse=True)
def _release_hung_checks() -> Iterator[None]:
    release_hung.clear()
    yield
    release_hung.set()


@dataclasses.dataclass
class Hangs(HealthCheck):
    """Blocks until the test ends, far past its half-second budget."""

    timeout: ClassVar[datetime.timedelta] = HALF_SECOND
    label: str = "a"

    def run(self) -> None:
        release_hung.wait()


@dataclasses.dataclass
class HangsAsync(HealthCheck):
    """Awaits forever (well past its budget)."""

    timeout: ClassVar[datetime.timedelta] = HALF_SECOND

    async def run(self) -> None:
        await asyncio.Event().wait()


@dataclasses.dataclass
class Divides(HealthCheck):
    """Fails with a bug, not a health check exception."""

    def run(self) -> None:
        1 / 0


@dataclasses.dataclass
class Degraded(HealthCheck):
    def run(self) -> None:
        raise ServiceWarning("disk 91 % full")


@dataclasses.dataclass
class Down(HealthCheck):
    async def run(self) -> None:
        raise ServiceUnavailable("connection refused by db:5432")


@dataclasses.dataclass
class Fine(HealthCheck):
    def run(self) -> None:
        pass


@pytest.fixture
def runner(memory_store) -> CheckRunner:
    return store_runner(memory_store, max_stuck_runs=2)


def test_runner__ok_snapshot_stored(runner, memory_store):
    """A passing check stores an OK snapshot carrying its interval and budget."""
    spec = CheckSpec.of(Fine(poll_interval=datetime.timedelta(seconds=7)))
    before = datetime.datetime.now(datetime.UTC)
    snapshot = runner.run(spec)
    assert (snapshot.key, snapshot.status, snapshot.message) == (spec.key, Status.OK, "OK")
    assert (snapshot.interval_seconds, snapshot.timeout_seconds) == (7.0, 5.0)
    assert snapshot.checked_at >= before and 0 <= snapshot.duration_seconds < 5
    assert memory_store.read([spec.key]) == {spec.key: snapshot}


def test_runner__warning(runner):
    """ServiceWarning becomes status warning with its message line."""
    snapshot = runner.run(CheckSpec.of(Degraded()))
    assert (snapshot.status, snapshot.message) == (Status.WARNING, "Warning: disk 91 % full")


def test_runner__async_unavailable(runner):
    """An async check's ServiceUnavailable becomes status error with its message line."""
    snapshot = runner.run(CheckSpec.of(Down()))
    assert (snapshot.status, snapshot.message) == (Status.ERROR, "Unavailable: connection refused by db:5432")


def test_runner__unexpected_exception(runner, caplog):
    """A bug in a check shows one generic line; the log gets one line saying what and where, no traceback."""
    spec = CheckSpec.of(Divides())
    with caplog.at_level(logging.ERROR):
        snapshot = runner.run(spec)
    assert (snapshot.status, snapshot.message) == (Status.ERROR, "Unknown Error: unknown error")
    # Logged where every run of a check goes through, HealthCheck.get_result(), and only there.
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.name == "health_check.base"
    assert record.getMessage() == (
        f"Health check {spec.name} raised an unexpected exception: ZeroDivisionError: division by zero "
        f"(raised at {__name__}:run:{Divides.run.__code__.co_firstlineno + 1})"  # the line of 1 / 0
    )
    assert record.exc_info is None and "Traceback" not in caplog.text
    assert "Traceback" not in snapshot.message and "ZeroDivisionError" not in repr(snapshot)


def test_runner__unexpected_exception_log_hides_url_credentials(runner, caplog):
    """An unexpected exception quoting a URL with a password is logged without the password."""

    @dataclasses.dataclass
    class Leaks(HealthCheck):
        def run(self) -> None:
            raise RuntimeError("cannot use amqp://guest:Zq-Wv@broker:5672//")

    with caplog.at_level(logging.DEBUG):
        runner.run(CheckSpec.of(Leaks()))
    assert "RuntimeError: cannot use amqp://broker:5672// (raised at" in caplog.text
    assert "Zq-Wv" not in caplog.text


@pytest.mark.slow
def test_runner__sync_hang_times_out(runner):
    """A sync check blocked forever reports a timeout within budget + 1 s and its thread counts as stuck."""
    spec = CheckSpec.of(Hangs())
    started = time.monotonic()
    snapshot = runner.run(spec)
    elapsed = time.monotonic() - started
    assert (snapshot.status, snapshot.message) == (Status.ERROR, "Unavailable: Timed out after 0.5 seconds")
    assert 1.4 <= elapsed < 3.5, elapsed
    assert list(runner.stuck_runs()) == [spec.key]


@pytest.mark.slow
def test_runner__still_hung_refused_without_new_thread(runner):
    """The next run of a check that still hangs is refused at once and starts no thread."""
    spec = CheckSpec.of(Hangs())
    runner.run(spec)
    threads_before = threading.active_count()
    started = time.monotonic()
    snapshot = runner.run(spec)
    assert time.monotonic() - started < 0.5
    assert threading.active_count() == threads_before
    assert snapshot.status is Status.ERROR
    assert snapshot.message.startswith("Unavailable: Still hung: the previous run has not returned after ")
    assert snapshot.message.endswith(" seconds")


@pytest.mark.slow
def test_runner__too_many_hung_checks(runner):
    """Once max_stuck_runs checks hang, other checks are refused with the reason and what to do."""
    hung = [CheckSpec.of(Hangs(label=label)) for label in ("a", "b")]
    run_all_once(runner, hung)
    assert sorted(runner.stuck_runs()) == sorted(spec.key for spec in hung)
    threads_before = threading.active_count()
    snapshot = runner.run(CheckSpec.of(Fine()))
    assert threading.active_count() == threads_before
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        "Unavailable: Not run: 2 hung checks hold their threads (limit 2); "
        "fix or remove the hanging checks, then restart the poller",
    )


@pytest.mark.slow
def test_runner__hung_check_recovers(runner):
    """When a hung run finally returns, the check runs again normally."""
    spec = CheckSpec.of(Hangs())
    runner.run(spec)
    release_hung.set()
    deadline = time.monotonic() + 5
    while runner.stuck_runs() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert runner.stuck_runs() == {}
    assert runner.run(spec).message == "OK"


def test_runner__async_hang_times_out(runner):
    """An async check awaiting forever is cancelled a second past its budget, reports the timeout, is not stuck."""
    started = time.monotonic()
    snapshot = runner.run(CheckSpec.of(HangsAsync()))
    assert (snapshot.status, snapshot.message) == (Status.ERROR, "Unavailable: Timed out after 0.5 seconds")
    assert 1.5 <= time.monotonic() - started < 1.9
    assert runner.stuck_runs() == {}


@dataclasses.dataclass
class BlocksItsLoop(HealthCheck):
    """An ``async def run`` making a blocking call: nothing on its event loop can cancel it."""

    timeout: ClassVar[datetime.timedelta] = HALF_SECOND

    async def run(self) -> None:
        release_hung.wait()


@pytest.mark.slow
def test_runner__async_check_blocking_its_loop_left_behind(runner):
    """An async check blocking its own loop is reported timed out, keeps its thread and is not started again."""
    spec = CheckSpec.of(BlocksItsLoop())
    started = time.monotonic()
    snapshot = runner.run(spec)
    assert (snapshot.status, snapshot.message) == (Status.ERROR, "Unavailable: Timed out after 0.5 seconds")
    assert 1.4 <= time.monotonic() - started < 3.5
    assert list(runner.stuck_runs()) == [spec.key]
    assert runner.run(spec).message.startswith("Unavailable: Still hung: the previous run has not returned after ")


@pytest.mark.parametrize("raised", [SystemExit(3), KeyboardInterrupt()], ids=["SystemExit", "KeyboardInterrupt"])
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_runner__exit_raised_by_check_is_a_bug(runner, caplog, capfd, raised, kind):
    """A check raising SystemExit or KeyboardInterrupt is reported at once as a bug, in one log line, no traceback."""

    class Exits(HealthCheck):
        def run(self) -> None:
            raise raised

    class ExitsAsync(HealthCheck):
        async def run(self) -> None:
            raise raised

    started = time.monotonic()
    with caplog.at_level(logging.ERROR):
        snapshot = runner.run(CheckSpec.of(Exits() if kind == "sync" else ExitsAsync()))
    assert (snapshot.status, snapshot.message) == (Status.ERROR, "Unknown Error: unknown error")
    assert time.monotonic() - started < 1
    assert [r.getMessage().split(": ", 1)[1] for r in caplog.records if r.levelno >= logging.ERROR] == [
        f"{type(raised).__name__}" + (": 3" if isinstance(raised, SystemExit) else "") + " " + _where(caplog)
    ]
    assert "Traceback" not in capfd.readouterr().err and runner.stuck_runs() == {}


def _where(caplog) -> str:
    message = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR][0]
    return message[message.index("(raised at ") :]


# -- database connection hygiene ---------------------------------------------------------------------


@dataclasses.dataclass
class QueriesDirectly(HealthCheck):
    """Queries through the alias's thread connection, as a project's own ORM-based check would."""

    alias: str = "default"

    def run(self) -> None:
        with connections[self.alias].cursor() as cursor:
            cursor.execute("SELECT 1")


@pytest.fixture
def postgres_alias(django_db_blocker) -> Iterator[tuple[str, Callable[[], int]]]:
    """A persistent-connection PostgreSQL alias tagged with a unique application_name, and a counter of
    the server's backends carrying that name (asked over a separate psycopg connection)."""
    import psycopg

    host, port = require_service("postgres")
    application = f"hs-hygiene-{uuid.uuid4().hex[:12]}"
    options = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "test",
        "USER": "postgres",
        "HOST": host,
        "PORT": port,
        "CONN_MAX_AGE": None,
        "OPTIONS": {"application_name": application},
    }
    alias = "hygiene_pg"
    connections.settings[alias] = connections.configure_settings({DEFAULT_DB_ALIAS: {}, alias: options})[alias]
    observer = psycopg.connect(host=host, port=port, dbname="test", user="postgres", autocommit=True)

    def count() -> int:
        row = observer.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()",
            [application],
        ).fetchone()
        return int(row[0])

    with django_db_blocker.unblock():
        yield alias, count
    observer.close()
    del connections.settings[alias]


def _settled_count(count: Callable[[], int], deadline_seconds: float = 5.0) -> int:
    """The backend count once it reaches 0, or whatever it is at the deadline (backends exit asynchronously)."""
    deadline = time.monotonic() + deadline_seconds
    while (current := count()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return current


@pytest.mark.service("postgres")
@pytest.mark.parametrize("check_class", [Database, QueriesDirectly], ids=["Database", "own-orm-check"])
def test_runner__database_connections_closed(runner, postgres_alias, check_class):
    """100 runs of a PostgreSQL check (persistent connections configured) leave no connection open."""
    alias, count = postgres_alias
    assert count() == 0
    spec = CheckSpec.of(check_class(alias=alias))
    messages = {runner.run(spec).message for _ in range(100)}
    assert messages == {"OK"}
    assert _settled_count(count) == 0
