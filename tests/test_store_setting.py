"""A wrong store or settings value never takes the site down: it is reported, retried, and fixed live.

Each scenario runs a real gunicorn with the poller started inside it, as a user deploys: the web
process boots and serves every other URL, the health endpoints answer 500 with one line that names
the setting, no output shows a password or a traceback, and fixing the store needs no restart.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time

import psutil
import pytest

from health_check.store import StoreError, build_store
from tests.support import RedisServer, Server, free_port, http_get, start_server, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "s3cret-Pa55"

#: (HEALTH_CHECK["STORE"], what the endpoint's one line says)
WRONG_STORES = [
    ("dsikcache", 'HEALTH_CHECK["STORE"] is "dsikcache", which is not a store. Did you mean "diskcache"?'),
    (
        f"redis:/:{PASSWORD}@127.0.0.1:6379/0",
        'HEALTH_CHECK["STORE"] is "redis:/127.0.0.1:6379/0", which is not a Redis URL',
    ),
    (
        f"Redis:/:{PASSWORD}@127.0.0.1:6379/0",
        'HEALTH_CHECK["STORE"] is "Redis:/127.0.0.1:6379/0", which is not a Redis URL',
    ),
    (
        f"redis://:{PASSWORD}@127.0.0.1:99999/0",
        'HEALTH_CHECK["STORE"] is "redis://127.0.0.1:99999/0", which has no valid port.',
    ),
    (f"memcached://admin:{PASSWORD}@127.0.0.1:11211", 'whose scheme "memcached" is not a store'),
    (6379, 'HEALTH_CHECK["STORE"] is int 6379, not a store: it must be a string.'),
    ("tests.testapp.nothere.Store", 'HEALTH_CHECK["STORE"] is "tests.testapp.nothere.Store", which cannot be imported'),
    (
        "tests.testapp.stores.Explodes",
        'HEALTH_CHECK["STORE"] is "tests.testapp.stores.Explodes", which could not be built: KeyError',
    ),
]


def serve(tmp_path, config: dict, *, workers: int = 1) -> Server:
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.testapp.settings_store",
        "HEALTH_SNAPSHOT_STORE_DIR": str(tmp_path / "store"),
        "HEALTH_SNAPSHOT_CONFIG": json.dumps(config),
    }
    server = start_server("gunicorn", "tests.testapp.wsgi:application", env)
    if workers != 1:  # start_server runs one worker; the election tests want two competing
        server.stop()
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "tests.testapp.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
        ]
        full_env = {**os.environ, "PYTHONPATH": ROOT, **env}
        full_env.pop("PYTEST_CURRENT_TEST", None)
        server = Server(argv, port, env=full_env, cwd=ROOT)
        server.wait_ready()
    return server


def assert_clean(output: str) -> None:
    assert PASSWORD not in output
    assert "Traceback" not in output


# -- building the store ------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "said"), WRONG_STORES)
def test_build_store__wrong_value_is_one_clear_line_without_password(tmp_path, value, said):
    """Any wrong STORE value raises StoreError: one line naming the setting, never the password."""
    with pytest.raises(StoreError) as raised:
        build_store(value, str(tmp_path))
    message = str(raised.value)
    assert said in message
    assert PASSWORD not in message and "\n" not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__  # no chained traceback to log


def test_build_store__scheme_is_case_insensitive(tmp_path):
    """``Redis://`` is a Redis URL (RFC 3986 §3.1: schemes are case-insensitive), as redis-py reads it too."""
    store = build_store("Redis://127.0.0.1:6379/0", str(tmp_path), host_id="web-1")
    try:
        assert store.description == "Redis store at redis://127.0.0.1:6379/0"
    finally:
        store.close()


def test_build_store__custom_class_gets_the_location(tmp_path):
    """A dotted path to a Store subclass is built with the store location."""
    store = build_store("tests.testapp.stores.Located", str(tmp_path))
    assert store.location == str(tmp_path)


def test_build_store__unwritable_directory_names_the_setting(tmp_path):
    """A directory that cannot be made is a StoreError naming STORE_LOCATION and what to do."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(StoreError, match=r'Set HEALTH_CHECK\["STORE_LOCATION"\] to a directory'):
        build_store("diskcache", str(blocker / "store"))


# -- the site keeps serving ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("value", "said"), WRONG_STORES)
def test_wrong_store__site_serves_and_health_answers_500_with_the_reason(tmp_path, value, said):
    """gunicorn boots and serves other URLs; the health endpoint answers 500 with one line naming the setting."""
    server = serve(tmp_path, {"STORE": value})
    try:
        assert http_get(f"http://127.0.0.1:{server.port}/bare/").status == 200
        for form in ("text", "json", "html", "rss", "openmetrics"):
            answer = http_get(f"http://127.0.0.1:{server.port}/health/steady/?format={form}")
            assert answer.status == (200 if form in ("rss", "openmetrics") else 500), (
                form
            )  # feeds and scrapes: always 200
            assert PASSWORD not in answer.body and "Traceback" not in answer.body
        text = http_get(f"http://127.0.0.1:{server.port}/health/steady/?format=text").body
        assert text.startswith('Steady(): Unavailable: cannot read snapshots: HEALTH_CHECK["STORE"]')
        assert said in text and text.count("\n") <= 1
        time.sleep(1.5)  # the poller retries meanwhile: still one log line
    finally:
        server.stop()
    output = server.output
    assert_clean(output)
    assert output.count("The health check poller cannot open the snapshot store") == 1, output


@pytest.mark.slow
def test_wrong_store__fixed_directory_recovers_without_restart(tmp_path):
    """A store directory that cannot be made at start-up is picked up once it can, without a restart."""
    blocked = tmp_path / "mount"
    blocked.write_text("not mounted yet")
    server = serve(tmp_path, {"STORE_LOCATION": str(blocked / "snapshots")})
    try:
        url = f"http://127.0.0.1:{server.port}/health/steady/?format=text"
        assert http_get(url).status == 500
        assert 'HEALTH_CHECK["STORE_LOCATION"]' in http_get(url).body
        blocked.unlink()
        blocked.mkdir()
        started = time.monotonic()
        wait_for(lambda: http_get(url).status == 200, timeout=20, what="the endpoint after the directory appeared")
        recovered = time.monotonic() - started
    finally:
        server.stop()
    assert_clean(server.output)
    assert recovered < 10


@pytest.mark.slow
def test_redis_store__coming_up_later_recovers_without_restart(tmp_path):
    """With Redis down at start-up the site serves; once Redis listens the endpoint turns 200 by itself."""
    redis = RedisServer()
    url = f"redis://127.0.0.1:{redis.port}/0"
    server = serve(tmp_path, {"STORE": url, "HOST_ID": "web-1"}, workers=2)
    try:
        health = f"http://127.0.0.1:{server.port}/health/steady/?format=text"
        assert http_get(f"http://127.0.0.1:{server.port}/bare/").status == 200
        first = http_get(health)
        assert first.status == 500 and f"Redis store at redis://127.0.0.1:{redis.port}/0" in first.body
        time.sleep(3)  # a few failed elections: backoff grows, log lines do not
        redis.start()
        redis_up = time.monotonic()
        wait_for(lambda: http_get(health).status == 200, timeout=30, what="the endpoint after Redis came up")
        recovered = time.monotonic() - redis_up
    finally:
        server.stop()
        redis.stop()
    assert_clean(server.output)
    assert recovered < 10, f"{recovered:.1f} s after Redis came up"


# -- manage.py check ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("value", "said"), WRONG_STORES)
def test_wrong_store__manage_check_is_a_system_check_error_without_traceback(tmp_path, value, said):
    """``manage.py check`` names the setting with a hint and an id; no traceback, no password."""
    env = {
        **os.environ,
        "PYTHONPATH": ROOT,
        "DJANGO_SETTINGS_MODULE": "tests.testapp.settings_store",
        "HEALTH_SNAPSHOT_STORE_DIR": str(tmp_path / "store"),
        "HEALTH_SNAPSHOT_CONFIG": json.dumps({"STORE": value}),
    }
    done = subprocess.run(
        [sys.executable, "-m", "django", "check"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert_clean(output)
    assert said.split(". Did you mean")[0] in output  # the hint comes on its own line
    assert "HINT:" in output and ("health_check.E003" in output or "health_check.E004" in output)


# -- numbers in settings, read where they are used -------------------------------------------------------


def test_get_config__bad_values_logged_once_and_replaced_by_defaults(settings, caplog):
    """Under gunicorn no system check runs: a bad number is logged once and its default used instead."""
    from health_check.conf import DEFAULTS, get_config

    caplog.set_level(logging.DEBUG, logger="health_check.conf")
    settings.HEALTH_CHECK = {
        "STORE": "memory",
        "ELECTION_RETRY": -1,
        "POLL_JITTER": float("nan"),
        "STALE_AFTER_INTERVALS": float("inf"),
        "MAX_STUCK_RUNS": "8",
        "ELECTION_LEASE": 0,
    }
    config = get_config()
    get_config()
    for key in ("ELECTION_RETRY", "POLL_JITTER", "STALE_AFTER_INTERVALS", "MAX_STUCK_RUNS", "ELECTION_LEASE"):
        assert config[key] == DEFAULTS[key], key
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 5
    assert (
        'HEALTH_CHECK["ELECTION_RETRY"] is -1, expected a positive timedelta, e.g. timedelta(seconds=1); '
        "using datetime.timedelta(seconds=1) instead. Run manage.py check for details."
    ) in lines


def test_get_config__invalid_token_fails_closed(settings, caplog):
    """An auth token that is not a string is never shown and never opens the endpoints: nobody is let in."""
    from django.test import Client

    settings.HEALTH_CHECK = {"STORE": "memory", "POLLER_AUTOSTART": False, "AUTH_TOKEN": 123456789}
    caplog.set_level(logging.DEBUG, logger="health_check.conf")
    response = Client().get("/health/steady/")
    assert response.status_code == 403
    assert "123456789" not in " ".join(record.getMessage() for record in caplog.records)
    assert 'HEALTH_CHECK["AUTH_TOKEN"] is a int' in caplog.records[0].getMessage()


@pytest.mark.slow
def test_bad_election_retry__no_busy_loop_under_gunicorn(tmp_path):
    """``ELECTION_RETRY: -1`` under gunicorn (no system checks) does not spin: the workers stay idle."""
    server = serve(tmp_path, {"ELECTION_RETRY": -1}, workers=2)
    try:
        assert http_get(f"http://127.0.0.1:{server.port}/bare/").status == 200
        workers = psutil.Process(server.process.pid).children()
        assert len(workers) == 2
        before = sum(sum(worker.cpu_times()[:2]) for worker in workers)
        time.sleep(3)
        used = sum(sum(worker.cpu_times()[:2]) for worker in workers) - before
    finally:
        server.stop()
    assert used < 0.6, f"the two workers used {used:.2f} s of CPU in 3 s while idle"
    assert server.output.count('HEALTH_CHECK["ELECTION_RETRY"] is -1') == 2, server.output  # once per worker
    assert "Traceback" not in server.output
