"""A fleet of three pretend hosts on one machine: each a ``health_check_poller`` and a gunicorn serving the
views, with its own HOST_ID, all sharing one redis-server this module starts (and kills), and a fake
Statuspage upstream that counts requests.

The tests run in order on the same fleet: steady state, then the leader killed, then Redis killed.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from tests.scheduler.conftest import ROOT
from tests.support import FakeUpstream, Process, RedisServer, Reply, Server, fixture, http_get, start_server, wait_for

pytestmark = pytest.mark.slow

HOSTS = ("host-1", "host-2", "host-3")
LEASE = 2.0  # seconds (ELECTION_LEASE in the fleet settings)
RETRY = 0.2  # ELECTION_RETRY
INTERVAL = 1.0  # poll interval of the upstream check
SUMMARY = "/api/v2/summary.json"
LEASE_KEY = "health_check:lock:poller-fleet"
NODE_NAME = "WhoAmI()"
UPSTREAM_NAME = "FakeProvider()"


@dataclass
class Host:
    name: str
    poller: Process
    web: Server

    def get(self, path: str) -> tuple[int, dict[str, str], float]:
        """GET ``path`` as JSON: status, body and seconds taken."""
        started = time.monotonic()
        response = http_get(
            f"http://127.0.0.1:{self.web.port}{path}", headers={"Accept": "application/json"}, timeout=10
        )
        return response.status, json.loads(response.body), time.monotonic() - started


@dataclass
class Fleet:
    redis_server: RedisServer
    upstream: FakeUpstream
    hosts: list[Host]

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_server.url, socket_timeout=2)

    def leader_pid(self) -> int | None:
        """The pid in the fleet lease's value (``host/pid/nonce``), or None when nobody holds it."""
        try:
            token = self.client().get(LEASE_KEY)
        except redis.RedisError:
            return None
        return int(token.decode().split("/")[1]) if token else None

    def logs(self) -> str:
        return "\n".join(f"--- {host.name} poller ---\n{host.poller.output[-3000:]}" for host in self.hosts)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Iterator[Fleet]:
    # Everything that can fail (a missing fixture, a port) comes before the redis-server starts, or
    # inside the try: a failing fixture must not leave a redis-server running into later tests.
    summary = Reply(body=fixture("statuspage/summary.all-operational.json"))
    server = RedisServer()
    upstream = FakeUpstream()
    upstream.routes[SUMMARY] = summary
    hosts: list[Host] = []
    try:
        server.start()
        for name in HOSTS:
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "DJANGO_SETTINGS_MODULE": "tests.fleet.settings",
                "HS_FLEET_REDIS": server.url,
                "HS_FLEET_DIR": str(tmp_path_factory.mktemp(name)),
                "HS_FLEET_HOST": name,
                "HS_FLEET_UPSTREAM": upstream.url,
                "HS_FLEET_LEASE": str(LEASE),
            }
            env.pop("PYTEST_CURRENT_TEST", None)
            poller = Process([sys.executable, "-m", "django", "health_check_poller"], env=env)
            web = start_server(
                "gunicorn",
                "tests.testapp.wsgi:application",
                {k: env[k] for k in env if k.startswith(("HS_", "DJANGO"))},
            )
            hosts.append(Host(name, poller, web))
        built = Fleet(server, upstream, hosts)
        for host in hosts:
            wait_for(
                lambda: (
                    host.get("/health/node/")[1] == {NODE_NAME: f"Warning: polled on {host.name}"}
                    and host.get("/health/upstream/")[1] == {UPSTREAM_NAME: "OK"}
                ),
                timeout=30,
                what=lambda: f"{host.name} reporting its node and the upstream\n{built.logs()}",
            )
        yield built
    finally:
        for host in hosts:
            host.poller.stop()
            host.web.stop()
        upstream.stop()
        server.stop()


def requests_over(fleet: Fleet, seconds: float) -> int:
    before = fleet.upstream.count(SUMMARY)
    time.sleep(seconds)
    return fleet.upstream.count(SUMMARY) - before


def test_fleet__upstream_polled_once_per_interval(fleet):
    """Three hosts, one upstream check every second: the provider sees about one request a second, not three."""
    window = 8.0
    seen = requests_over(fleet, window)
    assert window / INTERVAL * 0.5 <= seen <= window / INTERVAL * 1.5, f"{seen} requests in {window} s\n{fleet.logs()}"
    assert fleet.leader_pid() in {host.poller.pid for host in fleet.hosts}


def test_fleet__each_host_reads_its_own_node_snapshot(fleet):
    """Every host's node endpoint shows the snapshot its own poller took, and all show the one upstream snapshot."""
    for host in fleet.hosts:
        assert host.get("/health/node/")[:2] == (200, {NODE_NAME: f"Warning: polled on {host.name}"})
        assert host.get("/health/upstream/")[:2] == (200, {UPSTREAM_NAME: "OK"})
    keys = sorted(key.decode() for key in fleet.client().scan_iter("health_check:snapshot:*"))
    assert [key.rpartition("@")[2] for key in keys if "WhoAmI" in key] == list(HOSTS)
    assert [key for key in keys if "FakeProvider" in key and "@" not in key] != []


def test_fleet__killed_leader_hands_over_within_lease(fleet):
    """SIGKILL the fleet leader: another host holds the lease within one lease period (plus a retry) and
    polls the upstream once per interval again."""
    leader = fleet.leader_pid()
    victim = next(host for host in fleet.hosts if host.poller.pid == leader)
    victim.poller.process.send_signal(signal.SIGKILL)
    victim.poller.process.wait(timeout=10)
    killed_at = time.monotonic()
    survivors = {host.poller.pid for host in fleet.hosts if host is not victim}
    wait_for(
        lambda: fleet.leader_pid() in survivors,
        timeout=LEASE + RETRY + 5,
        what=lambda: f"a survivor taking the lease\n{fleet.logs()}",
    )
    took = time.monotonic() - killed_at
    assert took <= LEASE + RETRY + 1.0, f"took {took:.1f} s over a {LEASE} s lease"
    count = fleet.upstream.count(SUMMARY)
    wait_for(
        lambda: fleet.upstream.count(SUMMARY) > count,
        timeout=5,
        what=lambda: f"the new leader polling the upstream\n{fleet.logs()}",
    )
    window = 6.0
    seen = requests_over(fleet, window)
    assert window / INTERVAL * 0.5 <= seen <= window / INTERVAL * 1.5, (
        f"{seen} requests in {window} s after the handover\n{fleet.logs()}"
    )
    assert time.monotonic() - killed_at < 30
    fleet.hosts.remove(victim)
    victim.poller.stop()
    victim.web.stop()


def test_fleet__redis_down_views_answer_then_pollers_resume(fleet):
    """Redis killed: every view keeps answering fast from the last snapshots seen, marked; the upstream
    check turns stale once its allowance passes; Redis back: the pollers write again, the marks go away."""
    where = fleet.redis_server.url
    # Probes came in just before: each process has seen a fresh upstream snapshot (what it serves next).
    for host in fleet.hosts:
        wait_for(
            lambda: host.get("/health/upstream/")[:2] == (200, {UPSTREAM_NAME: "OK"}),
            timeout=5,
            what=f"{host.name} fresh",
        )
    fleet.redis_server.kill()
    slowest = 0.0

    answers: dict[str, object] = {}

    def marked(host: Host) -> bool:
        nonlocal slowest
        status, body, took = host.get("/health/upstream/")
        slowest = max(slowest, took)
        answers[host.name] = (status, body)
        return status == 200 and body == {UPSTREAM_NAME: f"OK (last seen: the Redis store at {where} does not answer)"}

    # Each view's read cache lives a second; the upstream snapshot stays fresh for 4 s: all hosts at once.
    wait_for(
        lambda: all([marked(host) for host in fleet.hosts]),
        timeout=3.5,
        what=lambda: f"every host serving the last upstream snapshot, marked: {answers}",
    )
    assert len(answers) == len(fleet.hosts), answers

    def stale(host: Host) -> bool:
        nonlocal slowest
        status, body, took = host.get("/health/upstream/")
        slowest = max(slowest, took)
        return status == 500 and body[UPSTREAM_NAME].startswith("Unavailable: stale, last result is ")

    # Allowance: 1 s interval x 3 + 1 s timeout.
    for host in fleet.hosts:
        wait_for(lambda: stale(host), timeout=15, what=f"{host.name} reporting the upstream stale")
        status, body, took = host.get("/health/node/")
        slowest = max(slowest, took)
        assert status == 200 and body[NODE_NAME].startswith(f"Warning: polled on {host.name}")
    assert slowest < 2.0, f"a view took {slowest:.2f} s while Redis was down"
    assert all(host.poller.alive() for host in fleet.hosts), fleet.logs()

    fleet.redis_server.start()  # same port, empty
    for host in fleet.hosts:
        wait_for(
            lambda: (
                host.get("/health/node/")[1] == {NODE_NAME: f"Warning: polled on {host.name}"}
                and host.get("/health/upstream/")[:2] == (200, {UPSTREAM_NAME: "OK"})
            ),
            timeout=20,
            what=lambda: f"{host.name} recovering once Redis was back\n{fleet.logs()}",
        )
    assert fleet.leader_pid() in {host.poller.pid for host in fleet.hosts}
