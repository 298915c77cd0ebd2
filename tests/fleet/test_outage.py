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

import feedparser
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
        self.env = env
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

    def new_poller(self, *, kill: bool = True) -> None:
        """The poller SIGKILLed (``kill``) or gone already, and a new one started: a poller restart."""
        assert self.poller is not None
        if kill:
            self.poller.kill()
        self.poller.stop()  # reaps it, keeps its output, closes its log file
        self.poller = Process([sys.executable, "-m", "django", "health_check_poller"], env=self.env)

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


def feed(port: int) -> list[tuple[str, str]]:
    """The ``/health/both/`` RSS feed's items, newest first: (guid, title)."""
    response = http_get(f"http://127.0.0.1:{port}/health/both/?format=rss", timeout=10)
    assert response.status in (200, 304), response.status
    return [(entry.id, entry.title) for entry in feedparser.parse(response.body).entries]


def journal_ids_in(server: RedisServer) -> set[str]:
    client = redis.Redis.from_url(server.url, socket_timeout=2)
    try:
        return {
            item.decode().split("\t")[1]
            for key in client.scan_iter("health_check:journal:*")
            if client.type(key) == b"list"
            for item in client.lrange(key, 0, -1)
        }
    finally:
        client.close()


def test_redis_store__journal_survives_poller_restarts_and_an_empty_restart(start_host):
    """The poller is killed (readers record "stale"), a second one records the recoveries and is killed too,
    a third one runs, then Redis restarts empty: no feed item disappears at any moment, and Redis holds
    them again, written back by the third poller from the host's journal record (it wrote none of them)."""
    server, host = start_host(interval=1, autostart=False)
    host.poller.kill()  # type: ignore[union-attr]
    wait_for(
        lambda: sum("stale" in title for _, title in feed(host.port)) == 2,
        timeout=30,
        what=lambda: f"two stale items\n{feed(host.port)}\n{host.logs()}",
        interval=0.2,
    )
    host.new_poller(kill=False)
    wait_for(
        lambda: sum("recovered" in title for _, title in feed(host.port)) == 2,
        timeout=30,
        what=lambda: f"two recovery items\n{feed(host.port)}\n{host.logs()}",
        interval=0.2,
    )
    # Both workers must list all four. A worker may answer from a read up to the read cache's 0.5 s old,
    # taken before the recoveries were written: past that, none can (two calls in a row may meet the
    # same worker, so they prove nothing about the other).
    time.sleep(0.6)
    wait_for(lambda: len(feed(host.port)) == 4 and len(feed(host.port)) == 4, timeout=10, what="four items")
    items = feed(host.port)
    assert len(items) == 4, items
    wait_for(
        lambda: journal_ids_in(server) >= {guid.removeprefix("urn:uuid:") for guid, _ in items},
        timeout=10,
        what="the entries in Redis",
    )
    host.new_poller()  # the one that recorded the recoveries is gone; its successor has nothing to say
    time.sleep(2)  # the third poller runs, and writes nothing new: everything is OK
    assert feed(host.port) == items
    server.kill()
    server.start()  # same port, empty
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # every answer meanwhile lists every item
        assert feed(host.port) == items, host.logs()
        time.sleep(0.1)
    wait_for(
        lambda: journal_ids_in(server) >= {guid.removeprefix("urn:uuid:") for guid, _ in items},
        timeout=10,
        what=lambda: f"the journal written back to Redis: {journal_ids_in(server)}\n{host.logs()}",
        interval=0.1,
    )
    assert feed(host.port) == items
