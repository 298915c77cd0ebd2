"""Running a check the django-health-check way: ``await check.get_result()`` in a project's own tests.

Projects test their custom checks by awaiting ``get_result()`` and reading ``result.error``; what they
see must be what the poller stores and the endpoints show, because the poller runs checks the same way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from health_check.base import HealthCheck, HealthCheckResult
from health_check.exceptions import HealthCheckError, ServiceUnavailable, ServiceWarning
from health_check.snapshot import Status

SHORT = datetime.timedelta(seconds=0.05)

#: Lets the sync "hangs" check return once its test has its result, so no thread outlives the test.
release = threading.Event()


@pytest.fixture(autouse=True)
def _release_hanging_checks() -> Iterator[None]:
    release.clear()
    yield
    release.set()


# A user's custom checks, one per behaviour, sync and async: what ``run()`` does is the parameter.
def _behave(behaviour: str) -> Any:
    if behaviour == "ok":
        return None
    if behaviour == "warning":
        raise ServiceWarning("queue 95 % full")
    if behaviour == "unavailable":
        raise ServiceUnavailable("broker:5672 refused the connection")
    if behaviour == "bug":
        raise KeyError("amqp://guest:s3cr3t@broker:5672//")
    raise AssertionError(behaviour)


BUG_LINE = _behave.__code__.co_firstlineno + 8  # the ``raise KeyError`` above


@dataclasses.dataclass
class SyncCheck(HealthCheck):
    behaviour: str = "ok"
    timeout: datetime.timedelta = SHORT

    def run(self) -> None:
        if self.behaviour == "hangs":
            release.wait(10)
            return
        _behave(self.behaviour)


@dataclasses.dataclass
class AsyncCheck(HealthCheck):
    behaviour: str = "ok"
    timeout: datetime.timedelta = SHORT

    async def run(self) -> None:
        if self.behaviour == "hangs":
            await asyncio.sleep(10)
            return
        await asyncio.sleep(0)
        _behave(self.behaviour)


EXPECTED = {
    "ok": (None, None),
    "warning": (ServiceWarning, "Warning: queue 95 % full"),
    "unavailable": (ServiceUnavailable, "Unavailable: broker:5672 refused the connection"),
    "bug": (HealthCheckError, "Unknown Error: unknown error"),
    "hangs": (ServiceUnavailable, "Unavailable: Timed out after 0.05 seconds"),
}


def get_result(check: HealthCheck, executor: str) -> HealthCheckResult:
    """What a project's async test does: ``await check.get_result()``, with no executor or its own pool."""

    async def test_body() -> HealthCheckResult:
        if executor == "none":
            result = await check.get_result()
        else:
            with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
                result = await check.get_result(pool)
                release.set()  # before the pool's shutdown waits for a hanging run
        release.set()  # before asyncio.run's shutdown of the default executor waits for it
        return result

    return asyncio.run(test_body())


@pytest.mark.parametrize("executor", ["none", "pool"])
@pytest.mark.parametrize("check_class", [SyncCheck, AsyncCheck], ids=["sync", "async"])
@pytest.mark.parametrize("behaviour", list(EXPECTED))
def test_get_result__reports_what_run_did(behaviour, check_class, executor):
    """get_result() reports a pass as None, a HealthCheckError as itself, a bug and a timeout as the anchor does."""
    check = check_class(behaviour=behaviour)
    result = get_result(check, executor)
    error_class, line = EXPECTED[behaviour]
    assert isinstance(result, HealthCheckResult) and result.check is check
    if error_class is None:
        assert result.error is None
    else:
        assert type(result.error) is error_class and str(result.error) == line
    # A timed-out run is given up one second past its timeout (the anchor's grace), not sooner.
    assert (1.05 <= result.time_taken < 2.5) if behaviour == "hangs" else (0 <= result.time_taken < 1)


def test_get_result__keeps_the_raised_error():
    """A HealthCheckError the check raises is returned as the very same object, details included."""
    raised = ServiceWarning("2 incidents", details={"incidents": 2})

    class Raises(HealthCheck):
        def run(self) -> None:
            raise raised

    assert asyncio.run(Raises().get_result()).error is raised


def test_get_result__sync_run_uses_the_given_executor():
    """A sync run() runs in the executor passed, an async one on the caller's loop."""
    seen: list[str] = []

    class Sync(HealthCheck):
        def run(self) -> None:
            seen.append(threading.current_thread().name)

    class Async(HealthCheck):
        async def run(self) -> None:
            seen.append(threading.current_thread().name)

    async def body() -> None:
        with concurrent.futures.ThreadPoolExecutor(thread_name_prefix="users-pool") as pool:
            await Sync().get_result(pool)
            await Async().get_result(pool)

    asyncio.run(body())
    assert seen[0].startswith("users-pool") and seen[1] == threading.current_thread().name


def test_get_result__unexpected_exception_logged_in_one_line(caplog):
    """A bug is logged once at ERROR as one line (type, message without the password, where), never a traceback."""
    with caplog.at_level(logging.DEBUG):
        result = asyncio.run(SyncCheck(behaviour="bug").get_result())
    assert str(result.error) == "Unknown Error: unknown error"
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert (record.name, record.levelname, record.exc_info) == ("health_check.base", "ERROR", None)
    assert record.getMessage() == (
        "Health check SyncCheck(behaviour='bug', timeout=datetime.timedelta(microseconds=50000)) raised an "
        f"unexpected exception: KeyError: 'amqp://broker:5672//' (raised at {__name__}:_behave:{BUG_LINE})"
    )
    assert "s3cr3t" not in caplog.text and "Traceback" not in caplog.text


def test_get_result__expected_failure_logged_at_debug_only(caplog):
    """A reported failure is not a log warning (the poller logs each change once); DEBUG gets one line."""
    with caplog.at_level(logging.DEBUG):
        asyncio.run(SyncCheck(behaviour="unavailable").get_result())
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "health_check.base"] == [
        (
            "DEBUG",
            "Health check SyncCheck(behaviour='unavailable', timeout=datetime.timedelta(microseconds=50000)) "
            "failed: Unavailable: broker:5672 refused the connection",
        )
    ]


def test_get_result__cancellation_propagates():
    """Cancelling the task awaiting get_result() cancels it; it is not reported as a failure."""

    async def body() -> None:
        task = asyncio.ensure_future(AsyncCheck(behaviour="hangs").get_result())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(body())


def test_get_result__default_timeout_is_five_seconds():
    """A check declaring no timeout gets five seconds, in the message too."""

    class Plain(HealthCheck):
        async def run(self) -> None:
            pass

    assert Plain().timeout == datetime.timedelta(seconds=5)


def test_health_check_result__anchor_fields():
    """HealthCheckResult takes the anchor's three fields, positionally or by name; details is keyword only."""
    check = SyncCheck()
    assert HealthCheckResult(check, None, 0.5) == HealthCheckResult(check=check, error=None, time_taken=0.5)
    assert [field.name for field in dataclasses.fields(HealthCheckResult)][:3] == ["check", "error", "time_taken"]
    with pytest.raises(TypeError):
        HealthCheckResult(check, None, 0.5, {})  # type: ignore[misc]


# -- the poller sees what get_result() reports ---------------------------------------------------------


@pytest.mark.parametrize("check_class", [SyncCheck, AsyncCheck], ids=["sync", "async"])
@pytest.mark.parametrize("behaviour", list(EXPECTED))
def test_poller__snapshot_is_what_get_result_reports(run_check, behaviour, check_class):
    """The poller's snapshot carries exactly the line and status get_result() reported for the same check."""
    check = check_class(behaviour=behaviour)
    result = get_result(check, "none")
    release.clear()
    snapshot = run_check(check)
    reported = "OK" if result.error is None else str(result.error)
    status = {type(None): Status.OK, ServiceWarning: Status.WARNING}.get(type(result.error), Status.ERROR)
    assert (snapshot.status, snapshot.message) == (status, reported)


def test_poller__runs_checks_through_get_result(run_check):
    """A check that wraps get_result() (say, to retry once) is run by the poller through its wrapper."""

    @dataclasses.dataclass
    class RetriesOnce(HealthCheck):
        calls: list = dataclasses.field(default_factory=list, repr=False)

        def run(self) -> None:
            self.calls.append(threading.current_thread().name)
            if len(self.calls) == 1:
                raise ServiceUnavailable("first try fails")

        async def get_result(self, executor=None) -> HealthCheckResult:
            result = await super().get_result(executor)
            return await super().get_result(executor) if result.error else result

    check = RetriesOnce()
    snapshot = run_check(check)
    assert (snapshot.status, snapshot.message) == (Status.OK, "OK")
    assert len(check.calls) == 2 and all(name.startswith("health-check: ") for name in check.calls)


def test_poller__details_returned_by_run_are_kept(run_check):
    """What a passing run() returns reaches the result's details and the snapshot, bounded to JSON."""

    class Measures(HealthCheck):
        def run(self) -> dict:
            return {"observed_value": 42.0, "observed_unit": "percent"}

    assert asyncio.run(Measures().get_result()).details == {"observed_value": 42.0, "observed_unit": "percent"}
    assert run_check(Measures()).details == {"observed_value": 42.0, "observed_unit": "percent"}


def test_version_module__names_as_django_health_check():
    """health_check._version has the names of django-health-check's generated module, in agreement."""
    import health_check
    from health_check import _version

    assert _version.__version__ == _version.version == health_check.__version__
    assert _version.__version_tuple__ == _version.version_tuple == health_check.VERSION
    assert ".".join(map(str, _version.version_tuple)) == _version.version
    assert _version.commit_id is None and _version.__commit_id__ is None
