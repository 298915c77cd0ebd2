"""RedisStore beyond the shared contract: reads across instances, the journal, outages, the lease."""

from __future__ import annotations

import dataclasses
import datetime
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from health_check.journal import Transition, append_transitions, read_transitions
from health_check.snapshot import Status
from health_check.store import StoreError, build_store
from health_check.store.redis import RedisStore
from tests.conftest import require_service
from tests.store.test_stores import snapshot
from tests.support import RedisServer, free_port

UTC = datetime.UTC
TEST_DB_URL = "redis://127.0.0.1:6379/14"


def redis_store(tmp_path: Path, url: str | None = None, **options) -> Iterator[RedisStore]:
    """A RedisStore on db 14 of the local Redis under a prefix of its own, whose keys are deleted afterwards."""
    if url is None:
        require_service("redis")
        url = TEST_DB_URL
    options.setdefault("prefix", f"hs-test-{uuid.uuid4().hex[:8]}:")
    options.setdefault("host_id", "host-a")
    store = RedisStore(url, location=str(tmp_path / "locks"), **options)
    yield store
    try:
        for name in store.client.scan_iter(f"{store.prefix}*"):
            store.client.delete(name)
    except redis.RedisError:
        pass  # a test that killed its own server
    store.close()


def transition(key: str, number: int) -> Transition:
    return Transition(
        id=f"00000000-0000-0000-0000-{number:012d}",
        key=key,
        name="Check()",
        kind="status",
        from_state="ok",
        to_state="error",
        at=datetime.datetime(2030, 1, 1, tzinfo=UTC) + datetime.timedelta(minutes=number),
        message="Unavailable: down",
        title=f"Check() is failing ({number})",
    )


@pytest.fixture
def store(tmp_path) -> Iterator[RedisStore]:
    yield from redis_store(tmp_path)


def command_counts(client: redis.Redis) -> dict[str, int]:
    """Calls per command since the server started (INFO commandstats), without INFO itself."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items() if name != "cmdstat_info"}


def test_redis_store__built_from_url(tmp_path, settings):
    """A redis:// STORE builds a RedisStore with the host identity and lease of the settings."""
    built = build_store("redis://user:s3cret@127.0.0.1:6379/14", str(tmp_path), host_id="web-7", lease_seconds=4.0)
    assert isinstance(built, RedisStore)
    assert (built.description, built.host_id, built.lease_seconds) == (
        "Redis store at redis://127.0.0.1:6379/14",
        "web-7",
        4.0,
    )
    built.close()


def test_redis_store__second_instance_sees_writes(tmp_path, store):
    """Another instance (another host) reads each new write once its read cache has expired."""
    reader = next(redis_store(tmp_path, prefix=store.prefix, read_cache_seconds=0))
    first = snapshot(message="OK")
    store.write(first)
    assert reader.read(["check-a"]) == {"check-a": first}
    second = snapshot(status=Status.ERROR, message="Unavailable: refused")
    store.write(second)
    assert reader.read(["check-a"]) == {"check-a": second}
    reader.close()


def test_redis_store__read_cache_reuses_objects(tmp_path, store):
    """Within the read cache's lifetime a read asks Redis nothing; after it, unchanged snapshots keep their object."""
    reader = next(redis_store(tmp_path, prefix=store.prefix, read_cache_seconds=60))
    store.write(snapshot("check-a"))
    first = reader.read(["check-a"])["check-a"]
    store.write(snapshot("check-a", status=Status.ERROR, message="Unavailable: refused"))
    assert reader.read(["check-a"])["check-a"] is first, "cached for read_cache_seconds"
    reader.read_cache_seconds = 0
    changed = reader.read(["check-a"])["check-a"]
    assert changed.message == "Unavailable: refused"
    assert reader.read(["check-a"])["check-a"] is changed, "an unchanged payload is not decoded again"
    reader.close()


def test_redis_store__one_round_trip_per_read(redis_server, tmp_path):
    """A read of several keys is one MGET, however many keys; a cached read is none."""
    for store in redis_store(tmp_path, url=redis_server.url, read_cache_seconds=0):
        keys = [f"check-{index}" for index in range(5)]
        for key in keys:
            store.write(snapshot(key))
        before = command_counts(store.client)
        for _ in range(10):
            assert store.read(keys).keys() == set(keys)
        after = command_counts(store.client)
        assert {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)} == {
            "mget": 10
        }
        store.read_cache_seconds = 60
        store.read(keys)
        before = command_counts(store.client)
        for _ in range(10):
            store.read(keys)
        assert command_counts(store.client) == before


def test_redis_store__journal(tmp_path, store):
    """Entries get growing seqs, a known id is skipped, retention keeps the newest, another instance reads them."""
    stored = append_transitions(store, [transition("check-a", 1), transition("check-b", 2)], retention=2)
    assert [(entry.id[-2:], entry.seq) for entry in stored] == [("01", 1), ("02", 2)]
    again = append_transitions(
        store, [transition("check-a", 1), transition("check-a", 3), transition("check-a", 4)], retention=2
    )
    assert [(entry.id[-2:], entry.seq) for entry in again] == [("03", 3), ("04", 4)]
    reader = next(redis_store(tmp_path, prefix=store.prefix, read_cache_seconds=0))
    entries = read_transitions(reader, ["check-a", "check-b"], limit=10)
    assert [(entry.key, entry.id[-2:], entry.seq) for entry in entries] == [
        ("check-a", "04", 4),
        ("check-a", "03", 3),
        ("check-b", "02", 2),
    ]
    assert entries[0] == dataclasses.replace(transition("check-a", 4), seq=4)
    assert [entry.id[-2:] for entry in read_transitions(reader, ["check-a", "check-b"], limit=2)] == ["04", "03"]
    reader.close()


def test_redis_store__credentials_never_shown(tmp_path):
    """With Redis unreachable, the error names the store by its URL without user and password."""
    port = RedisServer().port  # a free port nobody listens on
    for store in redis_store(tmp_path, url=f"redis://user:s3cret@127.0.0.1:{port}/0"):
        with pytest.raises(StoreError) as raised:
            store.read(["check-a"])
        message = str(raised.value)
        assert message.startswith(f"cannot read the Redis store at redis://127.0.0.1:{port}/0: ")
        assert "s3cret" not in message and "user" not in message


def test_redis_store__outage_serves_last_seen_and_flushes(redis_server, tmp_path, caplog):
    """Redis killed: reads answer at once from the last snapshots seen (another host's marked); own
    writes are kept and written when Redis is back."""
    for store in redis_store(tmp_path, url=redis_server.url, read_cache_seconds=0, retry_seconds=0.2):
        leader = next(redis_store(tmp_path / "leader", url=redis_server.url, prefix=store.prefix, host_id="host-b"))
        leader.write(leader_snapshot := snapshot("fleet-check", message="OK"))
        leader.close()
        assert store.read(["fleet-check"])["fleet-check"].message == "OK"
        redis_server.kill()

        started = time.monotonic()
        during = store.read(["fleet-check"])
        again = store.read(["fleet-check"])
        assert time.monotonic() - started < 1.0, "no hang while Redis is down"
        assert during["fleet-check"].message == (
            f"OK (last seen: the Redis store at {redis_server.url} does not answer)"
        )
        assert again["fleet-check"] is during["fleet-check"], "the same marked object: views reuse their frame"

        time.sleep(1)  # the outage began a second ago: this host's poller takes a snapshot now
        local = snapshot("host-check@host-a", status=Status.WARNING, message="Warning: disk 91 % full", seconds_ago=0)
        store.write(local)  # never raises
        assert store.read(["host-check@host-a"]) == {"host-check@host-a": local}, "own writes are fresh, unmarked"
        assert append_transitions(store, [transition("host-check@host-a", 7)], retention=5)[0].seq == 0

        redis_server.start()  # same port, empty: nothing survived the crash
        time.sleep(0.25)  # past retry_seconds
        store.write(snapshot("other@host-a"))
        for reader in redis_store(tmp_path, url=redis_server.url, prefix=store.prefix, read_cache_seconds=0):
            assert reader.read(["host-check@host-a"]) == {"host-check@host-a": local}
            assert [entry.id[-2:] for entry in read_transitions(reader, ["host-check@host-a"], 5)] == ["07"]
        lost = store.read(["fleet-check"])["fleet-check"]
        assert (lost.message, lost.checked_at) == ("OK", leader_snapshot.checked_at), (
            "a key Redis lost is answered from what the host last saw, as old as it is, until its poller writes it back"
        )
    assert "does not answer" in caplog.text and "answers again" in caplog.text


def test_redis_store__flush_never_replaces_newer(redis_server, tmp_path):
    """A snapshot kept during an outage is not written over a newer one another host wrote meanwhile."""
    for first in redis_store(tmp_path, url=redis_server.url, read_cache_seconds=0, retry_seconds=0.2):
        first.write(snapshot("fleet-check"))
        redis_server.kill()
        first.write(snapshot("fleet-check", message="old", seconds_ago=30))
        redis_server.start()
        for second in redis_store(tmp_path, url=redis_server.url, prefix=first.prefix, read_cache_seconds=0):
            newer = snapshot("fleet-check", message="newer", seconds_ago=1)
            second.write(newer)
            time.sleep(0.25)
            first.write(snapshot("unrelated"))  # flushes what was kept
            assert second.read(["fleet-check"]) == {"fleet-check": newer}


def test_redis_lease__exclusive_and_expires(store):
    """One holder at a time; a holder that stops renewing loses the lease after lease_seconds, and its
    next renewal finds it taken."""
    store.lease_seconds = 0.4
    first, second = store.lock("fleet"), store.lock("fleet")
    assert first.acquire() is True
    assert second.acquire() is False
    assert first.acquire() is True, "the holder renews"
    deadline = time.monotonic() + 5
    while not second.acquire():
        assert time.monotonic() < deadline, "the lease never expired"
        time.sleep(0.05)
    assert first.held is False, "the old holder knows its lease may have expired without asking Redis"
    assert first.acquire() is False
    assert second.held is True
    second.release()
    assert first.acquire() is True
    first.release()


def test_redis_lease__held_until_it_may_have_expired_when_redis_dies(redis_server, tmp_path):
    """Redis gone: the holder cannot renew (StoreError), keeps the lease only until it may have expired."""
    for store in redis_store(tmp_path, url=redis_server.url, lease_seconds=0.6):
        lease = store.lock("fleet")
        assert lease.acquire()
        redis_server.kill()
        with pytest.raises(StoreError) as raised:
            lease.acquire()
        assert str(raised.value).startswith(f"cannot reach the Redis store at {redis_server.url} for lease ")
        assert lease.held is True
        time.sleep(0.7)
        assert lease.held is False


def host_store(tmp_path: Path, store: RedisStore, host: str, url: str = TEST_DB_URL) -> RedisStore:
    """Another host's store on the same Redis and prefix (the ``store`` fixture deletes the keys afterwards)."""
    return RedisStore(url, location=str(tmp_path / host), prefix=store.prefix, host_id=host)


def test_redis_store__index_per_host(tmp_path, store):
    """Each host keeps its own index in the shared Redis: another host_id neither sees nor replaces it."""
    other = host_store(tmp_path, store, "host-b")
    store.write_index({"host": "host-a"})
    assert other.read_index() is None
    other.write_index({"host": "host-b"})
    assert (store.read_index(), other.read_index()) == ({"host": "host-a"}, {"host": "host-b"})
    assert host_store(tmp_path, store, "host-a").read_index() == {"host": "host-a"}, "a new process of host-a"
    other.close()


def test_redis_store__indexes_bounded(tmp_path, store, monkeypatch):
    """Hosts that come and go leave at most MAX_INDEXES indexes: the least recently written are dropped."""
    monkeypatch.setattr("health_check.store.redis.MAX_INDEXES", 3)
    hosts = [f"pod-{number}" for number in range(5)]
    for host in hosts:
        host_store(tmp_path, store, host).write_index({"host": host})
    kept = {host: host_store(tmp_path, store, host).read_index() for host in hosts}
    assert kept == {
        "pod-0": None,
        "pod-1": None,
        "pod-2": {"host": "pod-2"},
        "pod-3": {"host": "pod-3"},
        "pod-4": {"host": "pod-4"},
    }
    assert store.client.zcard(f"{store.prefix}indexes") == 3
    assert sorted(store.client.scan_iter(f"{store.prefix}index:*")) == [
        f"{store.prefix}index:pod-{number}".encode() for number in (2, 3, 4)
    ]


def test_redis_store__index_unreachable_raises_at_once(tmp_path):
    """Redis down: reading the index raises StoreError naming the store within the socket timeouts, never hangs."""
    port = free_port()
    store = RedisStore(f"redis://127.0.0.1:{port}/0", location=str(tmp_path), host_id="host-a")
    started = time.monotonic()
    with pytest.raises(StoreError) as raised:
        store.read_index()
    assert str(raised.value).startswith(
        f"cannot read the endpoint index from the Redis store at redis://127.0.0.1:{port}/0: "
    )
    with pytest.raises(StoreError):
        store.read_index()  # within retry_seconds: no second connection attempt
    assert time.monotonic() - started < 2
    store.close()


def test_redis_store__index_written_back_after_an_empty_restart(redis_server, tmp_path):
    """Redis restarted without persistence: the poller's watch() writes its index back with its snapshots."""
    store = RedisStore(redis_server.url, location=str(tmp_path), host_id="host-a")
    store.write(snapshot("check-a"))
    store.write_index({"host": "host-a"})
    assert store.watch() == 0
    redis_server.kill()
    redis_server.start()
    time.sleep(1)  # watch() asks at most once a second
    assert store.watch() == 1
    assert RedisStore(redis_server.url, location=str(tmp_path / "b"), host_id="host-a").read_index() == {
        "host": "host-a"
    }
    store.close()
