"""health_check.contrib.redis.Redis against the local Redis and redis-servers the tests start and kill."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
import redis
from redis.asyncio import Redis as RedisClient
from redis.asyncio import RedisCluster, Sentinel
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from health_check.base import HealthCheck
from health_check.contrib.redis import Redis
from health_check.recorder import store_runner
from health_check.specs import CheckSpec
from tests.conftest import require_service
from tests.contrib.conftest import latest, seconds
from tests.support import wait_for


def connected_clients(port: int) -> int:
    """Client connections the server holds now, not counting the one asking."""
    with redis.Redis(host="127.0.0.1", port=port) as observer:
        return len(observer.client_list()) - 1


def connections_received(port: int) -> int:
    with redis.Redis(host="127.0.0.1", port=port) as observer:
        return int(observer.info("stats")["total_connections_received"])


def test_redis__ok_with_the_cookbook_async_client(run_check):
    """The cookbook's redis.asyncio client_factory against the local Redis gives OK."""
    host, port = require_service("redis")
    check = Redis(client_factory=lambda: RedisClient.from_url(f"redis://{host}:{port}"))
    snapshot = run_check(check)
    assert (snapshot.status, snapshot.message) == ("ok", "OK")


def test_redis__ok_with_a_sync_client(run_check):
    """A sync redis.Redis from the factory works too."""
    host, port = require_service("redis")
    snapshot = run_check(Redis(client_factory=lambda: redis.Redis(host=host, port=port)))
    assert (snapshot.status, snapshot.message) == ("ok", "OK")


def test_redis__repr_and_labels_name_the_server():
    """repr and labels show host, port and db, never the password."""
    check = Redis(client_factory=lambda: RedisClient.from_url("redis://:s3cret@cache.example:6380/2"))
    assert repr(check) == "Redis(db=2, host='cache.example', port=6380)"
    assert check.labels == {"check": "Redis", "db": "2", "host": "cache.example", "port": "6380"}
    assert "s3cret" not in CheckSpec.of(check).name + CheckSpec.of(check).key


def test_redis__sentinel_and_cluster_by_shape():
    """Sentinel and cluster clients are named by their service and their startup nodes."""
    sentinel = Redis(client_factory=lambda: Sentinel([("127.0.0.1", 26379)]).master_for("mymaster"))
    assert repr(sentinel) == "Redis(sentinels=['127.0.0.1:26379'], service_name='mymaster')"
    cluster = Redis(client_factory=lambda: RedisCluster(host="127.0.0.1", port=7000))
    assert repr(cluster) == "Redis(client=RedisCluster(hosts=['127.0.0.1:7000']))"
    assert cluster.labels == {"check": "Redis", "hosts": "['127.0.0.1:7000']"}


def test_redis__sentinel_without_master_fails_clearly(run_check, closed_port):
    """A Sentinel that cannot be reached says which service has no master."""
    check = Redis(
        client_factory=lambda: Sentinel([("127.0.0.1", closed_port)], socket_timeout=1).master_for("mymaster")
    )
    snapshot = run_check(check)
    assert snapshot.message == (
        "Unavailable: Unable to connect to Redis: Connection Error (Redis Sentinel service 'mymaster': "
        "no Sentinel answered with its master; check the sentinels and the service name)"
    )


def test_redis__cluster_client_on_a_plain_server_fails_clearly(run_check):
    """A cluster client pointed at a non-cluster server says so."""
    host, port = require_service("redis")
    snapshot = run_check(Redis(client_factory=lambda: RedisCluster(host=host, port=port)))
    assert snapshot.message == (
        f"Unavailable: Unable to connect to Redis: Connection Error (Redis cluster {host}:{port}: "
        "the server is not in cluster mode; use a plain client for it)"
    )


def test_redis__exactly_one_of_client_and_factory():
    """Neither or both arguments is a ValueError that names both."""
    with pytest.raises(ValueError, match=r"^You must provide either `client` \(deprecated\) or `client_factory`"):
        Redis()
    with pytest.raises(ValueError, match=r"^Provide exactly one of `client` or `client_factory`, not both\.$"):
        Redis(client=RedisClient(), client_factory=RedisClient)


def test_redis__client_argument_is_deprecated():
    """client= warns and names the replacement."""
    with pytest.warns(DeprecationWarning, match=r"pass client_factory=lambda: <your client> instead"):
        Redis(client=RedisClient(host="127.0.0.1"))


def test_redis__connection_refused(run_check, closed_port):
    """Nothing listening: one line naming the server, at once (not after redis-py's ten retries)."""
    snapshot = run_check(Redis(client_factory=lambda: RedisClient(host="127.0.0.1", port=closed_port)))
    assert (
        snapshot.message
        == f"Unavailable: Unable to connect to Redis: Connection was refused. (Redis at 127.0.0.1:{closed_port}; is the server running?)"
    )
    assert snapshot.duration_seconds < 3


def test_redis__client_timeout_reports_timeout(run_check, silent_listener):
    """A client with its own socket timeout (and no retries) reports it before the run budget."""
    port = silent_listener.port
    check = Redis(
        client_factory=lambda: RedisClient(host="127.0.0.1", port=port, socket_timeout=0.5, retry=Retry(NoBackoff(), 0))
    )
    snapshot = run_check(check)
    assert snapshot.message == f"Unavailable: Unable to connect to Redis: Timeout. (Redis at 127.0.0.1:{port})"
    assert snapshot.duration_seconds < 5


@dataclasses.dataclass
class Tick(HealthCheck):
    """Counts its runs; always OK."""

    runs: list = dataclasses.field(default_factory=list, repr=False)

    def run(self) -> None:
        self.runs.append(time.monotonic())


def test_redis__hanging_server_times_out_and_others_stay_on_schedule(start_poller, memory_store, silent_listener):
    """A server that accepts and never answers gives "Timed out after 5 seconds"; a 0.2 s check keeps running."""
    port = silent_listener.port
    hanging = Redis(client_factory=lambda: RedisClient(host="127.0.0.1", port=port), poll_interval=seconds(1))
    tick = Tick(poll_interval=seconds(0.2))
    started = time.monotonic()
    start_poller(hanging, tick)
    snapshot = wait_for(lambda: latest(memory_store, hanging), timeout=15, what="a snapshot of the hanging check")
    assert snapshot.message == "Unavailable: Timed out after 5 seconds"
    assert time.monotonic() - started < 10
    # While the Redis run hung for 5 s, the fast check went on: at least one run per second.
    during = [moment for moment in tick.runs if started + 1 <= moment <= started + 5]
    assert len(during) >= 4, tick.runs


def test_redis__down_then_back_within_one_interval(start_poller, memory_store, redis_server):
    """Killing the server fails the snapshot within one interval; restarting it heals it within one."""
    interval = 1.0
    check = Redis(client_factory=lambda: RedisClient.from_url(redis_server.url), poll_interval=seconds(interval))
    start_poller(check)
    wait_for(lambda: (s := latest(memory_store, check)) and s.status == "ok", timeout=10, what="the check reporting OK")

    redis_server.kill()
    killed = time.monotonic()
    down = wait_for(
        lambda: (s := latest(memory_store, check)) and s.status == "error" and s,
        timeout=10,
        what="an error while Redis is down",
    )
    # One interval, plus the run itself and the scheduler's wake-up, on a noisy machine.
    assert time.monotonic() - killed < interval + 2
    assert (
        down.message
        == f"Unavailable: Unable to connect to Redis: Connection was refused. (Redis at 127.0.0.1:{redis_server.port}; is the server running?)"
    )

    redis_server.start()
    restarted = time.monotonic()
    wait_for(lambda: (s := latest(memory_store, check)) and s.status == "ok", timeout=10, what="the check reporting OK")
    assert time.monotonic() - restarted < interval + 2


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["async factory", "sync factory", "deprecated async client", "deprecated sync client"])
def test_redis__connection_count_stays_flat_over_1000_polls(redis_server, memory_store, kind):
    """CLIENT LIST shows no more connections after 1000 runs than after 10, whichever client shape is used."""
    url = redis_server.url
    if kind == "async factory":
        check = Redis(client_factory=lambda: RedisClient.from_url(url))
    elif kind == "sync factory":
        check = Redis(client_factory=lambda: redis.Redis.from_url(url))
    else:
        client = RedisClient.from_url(url) if kind == "deprecated async client" else redis.Redis.from_url(url)
        with pytest.warns(DeprecationWarning):
            check = Redis(client=client)
    runner = store_runner(memory_store)
    spec = CheckSpec.of(check)
    peak = 0
    for index in range(1000):
        assert runner.run(spec).message == "OK"
        if index % 100 == 0:
            peak = max(peak, connected_clients(redis_server.port))
    after = connected_clients(redis_server.port)
    assert peak <= 1 and after <= 1, (peak, after)
    assert threading.active_count() < 50


def test_redis__factory_error_is_one_log_line_without_the_password(run_check, caplog):
    """A factory whose URL has an unescaped "/" in its password: a clear message, one log line, no traceback, no password."""
    import logging

    caplog.set_level(logging.DEBUG)
    snapshot = run_check(Redis(client_factory=lambda: RedisClient.from_url("redis://:Zq/Wv@127.0.0.1:6379/0")))
    assert snapshot.message == "Unavailable: Redis client_factory failed to build a client (see the server log)"
    [record] = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert record.getMessage().startswith(
        "Redis client_factory raised ValueError: Port could not be cast to integer value as '…' (raised at urllib.parse:"
    )
    assert record.exc_info is None
    assert "Zq" not in caplog.text and "Wv" not in caplog.text
