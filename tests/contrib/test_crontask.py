"""health_check.contrib.crontask.Scheduler against the local Redis, with the lock django-crontask takes."""

from __future__ import annotations

import sys

import pytest
import redis
from redis.asyncio import Redis as RedisClient

from health_check.contrib.crontask import LOCK_KEY, Scheduler, create_client_from_settings
from tests.conftest import require_service

DB = 12  # a database of this file's own: the lock's key name is fixed


@pytest.fixture
def lock_db():
    """The local Redis's database DB, emptied of the crontask lock before and after the test."""
    host, port = require_service("redis")
    with redis.Redis(host=host, port=port, db=DB) as client:
        client.delete(LOCK_KEY)
        yield client
        client.delete(LOCK_KEY)


def test_crontask__running_scheduler_is_ok(run_check, settings, lock_db):
    """A lock held as django-crontask holds it (redis-py's Lock, renewed by the scheduler) is OK."""
    host, port = require_service("redis")
    settings.CRONTASK = {"REDIS_URL": f"redis://{host}:{port}/{DB}"}
    lock = lock_db.lock(LOCK_KEY, timeout=10)
    assert lock.acquire(blocking=False)
    try:
        assert run_check(Scheduler()).message == "OK"
    finally:
        lock.release()


def test_crontask__no_scheduler(run_check, settings, lock_db):
    """No lock: django-crontask's sentence, where it looked and how to start one."""
    host, port = require_service("redis")
    settings.CRONTASK = {"REDIS_URL": f"redis://{host}:{port}/{DB}"}
    snapshot = run_check(Scheduler())
    assert (snapshot.status, snapshot.message) == (
        "error",
        f"Unavailable: No django-crontask scheduler is running. (no 'crontask-lock' key in Redis at {host}:{port}; "
        "start one with: python manage.py crontask)",
    )


def test_crontask__redis_down(run_check, settings, closed_port):
    """Redis down: "Unable to query the crontask lock." with the address and the reason, and no password."""
    settings.CRONTASK = {"REDIS_URL": f"redis://:S3cretPw@127.0.0.1:{closed_port}/0"}
    snapshot = run_check(Scheduler())
    assert snapshot.message == (
        f"Unavailable: Unable to query the crontask lock. (Redis at 127.0.0.1:{closed_port}: Connection was refused.)"
    )
    assert snapshot.duration_seconds < 3


def test_crontask__setting_missing(run_check, settings):
    """Without CRONTASK["REDIS_URL"] nothing can be observed: the message says which setting to add."""
    settings.CRONTASK = {}
    assert run_check(Scheduler()).message == (
        "Unavailable: CRONTASK['REDIS_URL'] is not configured. Set it to the Redis URL of the crontask "
        "scheduler's lock, or pass a client_factory."
    )


def test_crontask__client_factory(run_check, lock_db):
    """client_factory points the check at another Redis; the client it returns is closed after the run."""
    host, port = require_service("redis")
    closed: list[bool] = []

    class Recorded(RedisClient):
        async def aclose(self, *args, **kwargs) -> None:
            closed.append(True)
            await super().aclose(*args, **kwargs)

    lock_db.set(LOCK_KEY, "token", ex=10)
    assert run_check(Scheduler(client_factory=lambda: Recorded(host=host, port=port, db=DB))).message == "OK"
    assert closed == [True]


def test_crontask__credentials_go_apart_from_the_url(settings):
    """The client from the setting gets the password as an argument; its URL-derived settings hold none."""
    settings.CRONTASK = {"REDIS_URL": "redis://user:p%40ss@127.0.0.1:6379/3"}
    client = create_client_from_settings()
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["db"], kwargs["socket_timeout"]) == ("user", "p@ss", 3, 1)
    assert repr(Scheduler()) == "Scheduler()"


def test_threadmill__import_says_which_python_and_extra():
    """Below Python 3.14, where threadmill cannot be installed, the import error names both."""
    if sys.version_info >= (3, 14):
        pytest.skip("threadmill installs on this Python")
    sys.modules.pop("health_check.contrib.threadmill", None)
    with pytest.raises(ImportError) as raised:
        import health_check.contrib.threadmill  # noqa: F401
    assert str(raised.value) == (
        "health_check.contrib.threadmill needs threadmill 0.7.3+, which needs Python 3.14+ and Django 6.0+: "
        f'pip install "django-health-snapshot[threadmill]" on Python 3.14 (this is Python {sys.version_info.major}.'
        f"{sys.version_info.minor})"
    )


def test_crontask__the_lock_django_crontask_takes(run_check, settings, lock_db):
    """With django-crontask installed (Python 3.12+, Django 6), the lock its scheduler holds reads OK, and not once released."""
    pytest.importorskip("crontask", reason="django-crontask installs on Python 3.12+ with Django 6")
    host, port = require_service("redis")
    settings.CRONTASK = {"REDIS_URL": f"redis://{host}:{port}/{DB}"}
    sys.modules.pop("crontask.utils", None)  # it reads CRONTASK when imported
    from crontask import utils

    with utils.lock:
        assert run_check(Scheduler()).message == "OK"
    assert run_check(Scheduler()).message.startswith("Unavailable: No django-crontask scheduler is running.")
    sys.modules.pop("crontask.utils", None)
