"""One pretend host of a fleet (gunicorn with two workers, a poller) against a redis-server the test
kills: Redis restarted empty recovers in seconds whatever the intervals, and during an outage every
worker of the host gives the same answer.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from tests.scheduler.conftest import ROOT
from tests.support import Process, RedisServer, Server, free_port, http_get, wait_for

pytestmark = pytest.mark.slow

HOST = "host-1"
NODE, UPSTREAM = "HostSteady()", "FleetSteady()"


def get(port: int, path: str) -> tuple[int, dict[str, str]]:
    """GET ``path`` as JSON: status and body."""
    response = http_get(f"http://127.0.0.1:{port}{path}", headers={"Accept": "application/json"}, timeout=10)
    return response.status, json.loads(response.body)


class Host:
    """A gunicorn with two workers and, unless the workers poll themselves, a ``health_check_poller``."""

    def __init__(self, redis_url: str, directory: str, *, interval: float, autostart: bool) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "tests.fleet.settings_outage",
            "HS_FLEET_REDIS": redis_url,
            "HS_FLEET_DIR": directory,
            "HS_FLEET_HOST": HOST,
            "HS_FLEET_LEASE": "2",
            "HS_OUTAGE_INTERVAL": str(interval),
            "HS_OUTAGE_AUTOSTART": "1" if autostart else "0",
        }
        env.pop("PYTEST_CURRENT_TEST", None)
        self.poller = None if autostart else Process([sys.executable, "-m", "django", "health_check_poller"], env=env)
        self.port = free_port()
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "tests.testapp.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "2",
        ]
        self.web = Server(argv, self.port, env=env, cwd=ROOT)

    def logs(self) -> str:
        poller = self.poller.output[-3000:] if self.poller else ""
        return f"--- poller ---\n{poller}\n--- web ---\n{self.web.output[-3000:]}"

    def stop(self) -> None:
        if self.poller is not None:
            self.poller.stop()
        self.web.stop()


@pytest.fixture
def start_host(tmp_path) -> Iterator[Callable[..., tuple[RedisServer, Host]]]:
    """Start a redis-server and a host on it; both always stopped afterwards."""
    started: list[tuple[RedisServer, Host | None]] = []

    def start(*, interval: float, autostart: bool) -> tuple[RedisServer, Host]:
        server = RedisServer()
        started.append((server, None))
        server.start()
        host = Host(server.url, str(tmp_path / "host"), interval=interval, autostart=autostart)
        started[-1] = (server, host)
        host.web.wait_ready()
        wait_for(
            lambda: get(host.port, "/health/both/") == (200, {NODE: "OK", UPSTREAM: "OK"}),
            timeout=30,
            what=lambda: f"the host answering OK\n{host.logs()}",
            interval=0.02,
        )
        return server, host

    yield start
    for server, host in started:
        if host is not None:
            host.stop()
        server.stop()


def snapshots_in(server: RedisServer) -> dict[str, dict]:
    client = redis.Redis.from_url(server.url, socket_timeout=2)
    try:
        return {
            key.decode().rpartition(":")[2]: json.loads(client.get(key))
            for key in client.scan_iter("health_check:snapshot:*")
        }
    finally:
        client.close()


def test_redis_store__empty_restart_recovers_in_seconds(start_host):
    """Redis killed for 3 s and restarted empty, checks polled every 30 s: within a few seconds every
    endpoint answers 200 and Redis holds every snapshot again, each as old as it was (not re-dated)."""
    server, host = start_host(interval=30, autostart=False)
    wait_for(
        lambda: len(snapshots_in(server)) == 2,
        timeout=10,
        what=lambda: f"snapshots reaching Redis\n{host.logs()}",
        interval=0.02,
    )
    before = snapshots_in(server)
    server.kill()
    time.sleep(3)
    server.start()  # same port, empty: this is "Redis accepts connections"
    back = time.monotonic()
    endpoints = ("/health/node/", "/health/upstream/", "/health/both/")
    answers: dict[str, object] = {}

    def all_green() -> bool:
        answers.update({path: get(host.port, path) for path in endpoints})
        return all(status == 200 for status, _ in answers.values())

    wait_for(all_green, timeout=30, what=lambda: f"endpoints recovering: {answers}\n{host.logs()}", interval=0.02)
    green = time.monotonic() - back
    wait_for(
        lambda: len(snapshots_in(server)) == 2,
        timeout=30,
        what=lambda: f"snapshots written back\n{host.logs()}",
        interval=0.02,
    )
    restored = time.monotonic() - back - green
    total = time.monotonic() - back
    after = snapshots_in(server)
    print(
        f"\nempty Redis restart, 30 s intervals: endpoints 200 after {green:.2f} s, Redis holds every snapshot after {total:.2f} s"
    )
    assert total < 5.0, f"recovery took {total:.1f} s\n{host.logs()}"
    assert {key: value["checked_at"] for key, value in after.items()} == {
        key: value["checked_at"] for key, value in before.items()
    }, "written back as old as they are: no check ran again, no snapshot made to look newer"
    assert answers["/health/both/"] == (200, {NODE: "OK", UPSTREAM: "OK"})
    client = redis.Redis.from_url(server.url, socket_timeout=2)
    asked = time.monotonic()
    wait_for(
        lambda: client.get("health_check:lock:poller-fleet"),
        timeout=10,
        what="somebody holding the fleet lease",
        interval=0.02,
    )
    lease = time.monotonic() - asked
    assert restored >= 0 and lease < 10
    client.close()


def _normalised(answer: tuple[int, dict[str, str]]) -> tuple[int, str]:
    # A stale message counts its age; a second ticking by is not a different answer.
    return answer[0], re.sub(r"\d+(\.\d+)?", "N", json.dumps(answer[1], sort_keys=True))


def test_redis_outage__workers_of_a_host_answer_alike(start_host):
    """Redis killed under a gunicorn with two workers, one of which polls: probed over and over, the
    endpoint never goes back to an answer it left (no flipping between one worker's and the other's)."""
    server, host = start_host(interval=1, autostart=True)
    time.sleep(1.5)  # both workers have read Redis since the poller started
    server.kill()
    deadline = time.monotonic() + 9

    def probe() -> list[tuple[int, str]]:
        answers = []
        while time.monotonic() < deadline:
            answers.append(_normalised(get(host.port, "/health/both/")))
        return answers

    # Two clients at once, so both workers serve (one client alone tends to meet the same worker);
    # each client's own probes are in order, so a change back and forth is one client seeing a flip.
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        clients = list(pool.map(lambda _: probe(), range(6)))
    for answers in clients:
        runs = [answer for index, answer in enumerate(answers) if index == 0 or answers[index - 1] != answer]
        distinct = list(dict.fromkeys(runs))
        assert len(answers) > 100
        assert runs == distinct, (
            f"{len(runs) - 1} changes between {len(distinct)} answers in {len(answers)} probes: {runs[:12]}"
        )
    assert get(host.port, "/health/both/") == (200, {NODE: "OK", UPSTREAM: "OK"}), (
        "what this host's own pollers took is fresh, unmarked, for every worker"
    )
