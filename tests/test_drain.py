"""Draining a host: readiness endpoints answer 503 while ``health_check_drain`` runs; others are unchanged.

Endpoints are called as a project's tests call them (memory store, ``RequestFactory``); the drain of a
real gunicorn behind HAProxy is in tests/integration/test_drain.py.
"""

from __future__ import annotations

import json
import time

import pytest
from django.core.management import call_command
from django.test import RequestFactory

from health_check._drain import drain_key, drain_snapshot, server_started_at
from health_check.store import get_store
from health_check.views import HealthCheckView
from tests.scenarios import LABELS, NAMES, write_scenario
from tests.testapp.probes import Sample

SAMPLES = [Sample(label) for label in LABELS]
rf = RequestFactory()


def drain(seconds: float, started: float | None = None) -> None:
    store = get_store()
    store.write(drain_snapshot(drain_key(store.host_id), time.time() if started is None else started, seconds))


@pytest.fixture
def fresh(memory_store):
    write_scenario(memory_store, "fresh")
    ready = HealthCheckView.as_view(checks=SAMPLES, readiness=True)
    live = HealthCheckView.as_view(checks=SAMPLES)
    return ready, live


def answer(endpoint, query: str = "?format=json"):
    response = endpoint(rf.get("/health/" + query))
    if hasattr(response, "render"):
        response.render()
    return response


def test_drain__readiness_answers_503_liveness_unchanged(fresh):
    ready, live = fresh
    assert (answer(ready).status_code, answer(live).status_code) == (200, 200)
    drain(30)
    response = answer(ready)
    body = json.loads(response.content)
    assert response.status_code == 503
    assert list(body) == [*(NAMES[label] for label in LABELS), "Drain"]
    assert body["Drain"].startswith("Unavailable: draining: this host is shutting down (health_check_drain, until ")
    assert answer(live).status_code == 200
    text = answer(ready, "?format=text").content.decode()
    assert text.endswith("Drain: " + body["Drain"] + "\n")
    assert answer(ready, "?format=html").status_code == 503


def test_drain__ends_by_itself_and_with_end(fresh):
    """A mark carries its end: past it the endpoint reports its checks again; --end ends it at once."""
    ready, _ = fresh
    drain(0.3)
    assert answer(ready).status_code == 503
    time.sleep(0.4)
    assert answer(ready).status_code == 200
    drain(30)
    assert answer(ready).status_code == 503
    call_command("health_check_drain", "--end")
    assert answer(ready).status_code == 200


def test_drain__a_drain_older_than_this_server_is_over(fresh):
    """The web processes restarted after the drain began: the mark is the old server's, not this one's."""
    ready, _ = fresh
    drain(3600, started=server_started_at() - 5)
    assert answer(ready).status_code == 200


def test_drain__subsets_cannot_leave_the_drain_out(fresh):
    ready, _ = fresh
    drain(30)
    excluded = answer(ready, f"?format=json&check={NAMES['alpha']}")
    assert (excluded.status_code, list(json.loads(excluded.content))) == (503, [NAMES["alpha"], "Drain"])
    assert answer(ready, "?format=json&exclude=Drain").status_code == 400


def test_drain__status_codes_may_say_another_code(memory_store):
    write_scenario(memory_store, "fresh")
    ready = HealthCheckView.as_view(checks=SAMPLES, readiness=True, status_codes={"draining": 500})
    drain(30)
    assert answer(ready).status_code == 500


def test_drain__command_rejects_odd_seconds():
    from django.core.management.base import CommandError

    for value in ("0", "-1", "86400"):
        with pytest.raises(CommandError, match="--seconds must be above 0 and at most 3600"):
            call_command("health_check_drain", "--seconds", value)


@pytest.mark.parametrize("kind", ["gunicorn", "uvicorn"])
def test_drain__real_servers(kind, tmp_path):
    """gunicorn and uvicorn: the command's mark turns the readiness endpoint 503 at once, liveness stays 200."""
    import os
    import subprocess
    import sys

    from health_check.store.diskcache import DiskcacheStore
    from tests.support import ROOT, http_get, serve_store

    store = DiskcacheStore(str(tmp_path))
    write_scenario(store, "fresh")
    env = {"DJANGO_SETTINGS_MODULE": "tests.testapp.settings_middleware", "HEALTH_SNAPSHOT_STORE_DIR": str(tmp_path)}
    server = serve_store(kind, str(tmp_path))
    try:
        url = f"http://127.0.0.1:{server.port}/health/"
        assert (http_get(url + "ready/").status, http_get(url + "live/").status) == (200, 200)
        command = subprocess.Popen(
            [sys.executable, "-m", "django", "health_check_drain", "--seconds", "2"],
            cwd=ROOT,
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert command.stdout.readline() == "Draining for 2 s: readiness endpoints answer 503.\n"
        ready = http_get(url + "ready/?format=json", timeout=30)
        assert (ready.status, http_get(url + "live/").status) == (503, 200)
        assert json.loads(ready.body)["Drain"].startswith("Unavailable: draining")
        rest, _ = command.communicate(timeout=30)
        assert (command.returncode, rest) == (0, "Drained.\n")
        assert http_get(url + "ready/").status == 200
    finally:
        server.stop()
        store.close()


def test_drain__redis_store_drains_one_host_only(settings, tmp_path):
    """In a store shared by hosts the mark is this host's: web-1 drains, web-2's readiness stays 200."""
    from health_check.specs import CheckSpec
    from health_check.store import reset_store
    from tests.conftest import make_snapshot, require_service

    require_service("redis")
    answers = {}
    try:
        for host in ("web-1", "web-2"):
            settings.HEALTH_CHECK = {
                "STORE": "redis://127.0.0.1:6379/14",
                "HOST_ID": host,
                "STORE_LOCATION": str(tmp_path / host),
                "POLLER_AUTOSTART": False,
            }
            reset_store()
            for check in SAMPLES:  # host-scoped checks: each host's own keys
                get_store().write(make_snapshot(CheckSpec.of(check, host=host).key, age_seconds=5.0))
            if host == "web-1":
                call_command("health_check_drain", "--end")  # what an earlier run may have left
                drain(30)
            ready = HealthCheckView.as_view(checks=SAMPLES, readiness=True)
            answers[host] = answer(ready).status_code
    finally:
        settings.HEALTH_CHECK = {**settings.HEALTH_CHECK, "HOST_ID": "web-1"}
        reset_store()
        call_command("health_check_drain", "--end")
        store = get_store()
        for name in store.client.scan_iter("*health_check.drain@web-*"):
            store.client.delete(name)
        reset_store()
    assert answers == {"web-1": 503, "web-2": 200}


def test_drain__container_healthcheck_command_sees_the_drain(tmp_path):
    """``health_check <readiness endpoint> --no-http`` run as ``docker exec`` runs it (a session of its own,
    started after the drain): the host drains, so it reports the drain and exits 1."""
    import os
    import subprocess
    import sys

    from health_check.store.diskcache import DiskcacheStore
    from tests.support import ROOT

    store = DiskcacheStore(str(tmp_path))
    write_scenario(store, "fresh")
    store.write(drain_snapshot(drain_key(store.host_id), time.time(), 60))
    store.close()
    time.sleep(0.05)  # the command starts after the mark, as in a container drained by its preStop hook
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.testapp.settings_middleware",
        "HEALTH_SNAPSHOT_STORE_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "django", "health_check", "views-ready", "--no-http"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("Drain: Unavailable: draining: this host is shutting down")
