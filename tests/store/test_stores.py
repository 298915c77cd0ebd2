"""The store contract, run against every backend: memory, diskcache (in ``tmp_path``) and Redis (db 14)."""

from __future__ import annotations

import contextlib
import datetime
import gc
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from health_check.snapshot import Snapshot, Status
from health_check.store import StoreError, build_store
from health_check.store.base import Store
from health_check.store.diskcache import DiskcacheStore

ROOT = Path(__file__).resolve().parents[2]
UTC = datetime.UTC


def snapshot(
    key: str = "check-a", *, message: str = "OK", status: Status = Status.OK, seconds_ago: float = 1.0
) -> Snapshot:
    """A snapshot with overridable defaults; the other fields carry distinct values to catch mix-ups."""
    return Snapshot(
        key=key,
        status=status,
        message=message,
        checked_at=datetime.datetime.now(UTC).replace(microsecond=0) - datetime.timedelta(seconds=seconds_ago),
        duration_seconds=0.25,
        interval_seconds=10.0,
        timeout_seconds=5.0,
    )


@pytest.fixture(params=["memory", "diskcache", "redis"])
def store(request, tmp_path) -> Iterator[Store]:
    """Each backend, fresh: the memory store, a diskcache store in its own directory, Redis under its own prefix."""
    if request.param == "redis":
        from tests.store.test_redis import redis_store

        yield from redis_store(tmp_path)
        return
    built = build_store(request.param, str(tmp_path / "store"))
    yield built
    built.close()


def test_store__round_trip(store):
    """What is written is read back unchanged, field for field."""
    written = snapshot(status=Status.WARNING, message="Warning: disk 91 % full")
    store.write(written)
    assert store.read(["check-a"]) == {"check-a": written}


def test_store__missing_key_absent(store):
    """A key never written is simply absent from the result (the reader reports it pending)."""
    store.write(snapshot("check-a"))
    assert store.read(["check-a", "never-written"]).keys() == {"check-a"}
    assert store.read(["never-written"]) == {}


def test_store__last_write_wins(store):
    """A second write of a key replaces the first; other keys are untouched."""
    other = snapshot("check-b")
    store.write(other)
    store.write(snapshot("check-a", message="OK", seconds_ago=20))
    store.read(["check-a"])  # the reader's cache must not hide the next write
    newer = snapshot("check-a", status=Status.ERROR, message="Unavailable: connection refused")
    store.write(newer)
    assert store.read(["check-a", "check-b"]) == {"check-a": newer, "check-b": other}


def test_store__election_lock_exclusive(store):
    """One lock object holds the lock at a time; release lets another take it."""
    first, second = store.lock("poller"), store.lock("poller")
    assert first.acquire() is True
    assert first.acquire() is True, "acquire() is idempotent for the holder"
    assert second.acquire() is False
    assert (first.held, second.held) == (True, False)
    first.release()
    assert second.acquire() is True
    second.release()
    first.release()  # releasing a lock not held never raises


# -- diskcache only ----------------------------------------------------------------------------------


def test_diskcache__second_instance_sees_writes(tmp_path):
    """Another instance on the same directory sees each new write: the generation marker drops its cache."""
    writer, reader = DiskcacheStore(str(tmp_path)), DiskcacheStore(str(tmp_path))
    first = snapshot(message="OK")
    writer.write(first)
    assert reader.read(["check-a"]) == {"check-a": first}
    second = snapshot(status=Status.ERROR, message="Unavailable: refused")
    writer.write(second)
    assert reader.read(["check-a"]) == {"check-a": second}
    writer.close()
    reader.close()


def test_diskcache__key_written_after_absent_read(tmp_path):
    """A key another instance read as absent appears as soon as it is written."""
    writer, reader = DiskcacheStore(str(tmp_path)), DiskcacheStore(str(tmp_path))
    assert reader.read(["check-a"]) == {}
    written = snapshot()
    writer.write(written)
    assert reader.read(["check-a"]) == {"check-a": written}
    writer.close()
    reader.close()


def test_diskcache__unreadable_snapshot_ignored(tmp_path, caplog):
    """Foreign or corrupt data under a key reads as absent, with a warning naming the key and the store."""
    store = DiskcacheStore(str(tmp_path))
    store.write(snapshot("good"))
    payloads = {
        "not-json": "{not json",
        "not-a-dict": "[1, 2]",
        "bad-status": json.dumps({**snapshot("bad-status").to_dict(), "status": "purple"}),
        "far-future": json.dumps({**snapshot("far-future").to_dict(), "checked_at": 1e20}),
    }
    for key, payload in payloads.items():
        store._cache.set("snapshot:" + key, payload)
    store._bump_generation()
    with caplog.at_level(logging.WARNING, logger="health_check.store.diskcache"):
        assert store.read(["good", *payloads]).keys() == {"good"}
        assert store.read(["good", *payloads]).keys() == {"good"}, "logged once per write, not per read"
    assert [record.getMessage() for record in caplog.records] == [
        f"Ignoring an unreadable snapshot for {key} in the diskcache store at {tmp_path}" for key in payloads
    ]
    store.close()


def test_diskcache__location_not_creatable(tmp_path):
    """A location under a regular file raises StoreError naming the location and the setting to change."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    location = blocker / "store"
    with pytest.raises(StoreError) as raised:
        DiskcacheStore(str(location))
    message = str(raised.value)
    assert message.startswith(f"cannot open the diskcache store at {location}: ")
    assert 'Set HEALTH_CHECK["STORE_LOCATION"] to a directory every web and poller process can write.' in message


def test_diskcache__corrupt_database_raises_store_error(tmp_path):
    """A database file that is not SQLite raises StoreError on open, not a raw sqlite3 error."""
    (tmp_path / "cache.db").write_bytes(b"this is not an SQLite database" * 100)
    with pytest.raises(StoreError) as raised:
        DiskcacheStore(str(tmp_path))
    assert str(raised.value).startswith(f"cannot open the diskcache store at {tmp_path}: ")


def test_diskcache__thread_connections_closed_when_the_thread_ends(tmp_path):
    """A thread that wrote to the store (a poller's job thread) leaves no SQLite connection to the garbage collector."""
    store = DiskcacheStore(str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for number in range(5):
            writer = threading.Thread(target=store.write, args=(snapshot(message=f"run {number}"),))
            writer.start()
            writer.join()
        gc.collect()
    assert store.read(["check-a"])["check-a"].message == "run 4"
    store.close()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_diskcache__corrupt_database_leaves_no_file_open(tmp_path):
    """A store that fails to open closes the SQLite file it opened, though its StoreError (kept for retries) lives on."""
    database = tmp_path / "cache.db"
    database.write_bytes(b"this is not an SQLite database" * 100)
    with pytest.raises(StoreError) as raised:
        DiskcacheStore(str(tmp_path))
    fds = Path("/proc/self/fd")
    still_open = [fd.name for fd in fds.iterdir() if os.path.realpath(fd) == str(database.resolve())]
    assert still_open == [], f"{database} is still open after {raised.value}"


@pytest.mark.slow
def test_diskcache__another_process_writes(tmp_path):
    """A snapshot written by another process is read here, also after this process cached an older one."""
    reader = DiskcacheStore(str(tmp_path))
    writer_code = textwrap.dedent(
        """
        import datetime, sys
        from health_check.snapshot import Snapshot, Status
        from health_check.store.diskcache import DiskcacheStore

        DiskcacheStore(sys.argv[1]).write(Snapshot(
            key="check-a", status=Status(sys.argv[2]), message=sys.argv[3],
            checked_at=datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
            duration_seconds=0.5, interval_seconds=10.0, timeout_seconds=5.0,
        ))
        """
    )

    def write_in_child(status: str, message: str) -> None:
        done = subprocess.run(
            [sys.executable, "-c", writer_code, str(tmp_path), status, message],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert done.returncode == 0, done.stderr

    write_in_child("ok", "OK")
    assert reader.read(["check-a"])["check-a"].message == "OK"
    write_in_child("error", "Unavailable: connection refused")
    got = reader.read(["check-a"])["check-a"]
    assert (got.status, got.message, got.checked_at) == (
        Status.ERROR,
        "Unavailable: connection refused",
        datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    reader.close()


def _fds_pointing_at(path: str, pid: int | str = "self") -> list[str]:
    """Descriptors of process ``pid`` open on ``path`` (Linux /proc)."""
    directory = f"/proc/{pid}/fd"
    found = []
    for name in os.listdir(directory):
        try:
            if os.readlink(os.path.join(directory, name)) == path:
                found.append(name)
        except OSError:
            continue
    return found


@pytest.mark.skipif(not hasattr(os, "fork") or not os.path.isdir("/proc/self/fd"), reason="needs fork and /proc")
def test_diskcache__forked_child_drops_lock(tmp_path):
    """A child forked while the lock is held closes its inherited descriptor and never releases the parent's."""
    store = DiskcacheStore(str(tmp_path))
    lock = store.lock("poller")
    assert lock.acquire()
    path = str(tmp_path / "poller.lock")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 0
        try:
            if _fds_pointing_at(path):
                code = 10  # inherited descriptor still open: the child would keep the lock alive
            elif lock.held:
                code = 11
            elif store.lock("poller").acquire():
                code = 12  # the parent's lock was lost
            lock.release()  # must not unlock the parent's open file description
        except BaseException:
            code = 13
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert lock.held
    assert store.lock("poller").acquire() is False, "the parent still holds the lock after the child exits"
    lock.release()
    store.close()


# -- the endpoint index ------------------------------------------------------------------------------

INDEX = {"version": 1, "host": None, "endpoints": {"health_check-node": {"checks": [["CPU()", "cpu:1", {}]]}}}


def test_store__index_absent_reads_none(store):
    """A store nobody wrote an index to answers None (the command then imports the URLconf)."""
    assert store.read_index() is None


def test_store__index_round_trip_and_replace(store):
    """The index is read back as written; a second write replaces it; changing the given dict changes nothing."""
    given = json.loads(json.dumps(INDEX))
    store.write_index(given)
    given["endpoints"].clear()
    assert store.read_index() == INDEX
    store.write_index({"version": 1, "endpoints": {}})
    assert store.read_index() == {"version": 1, "endpoints": {}}


def test_store__index_over_the_bound_is_refused(store):
    """An index whose JSON is over MAX_INDEX_BYTES raises ValueError and leaves the stored one in place."""
    from health_check.store.base import MAX_INDEX_BYTES

    store.write_index(INDEX)
    with pytest.raises(ValueError, match=rf"the endpoint index is \d+ bytes, over the {MAX_INDEX_BYTES} a store keeps"):
        store.write_index({"files": {"/srv": ["x" * MAX_INDEX_BYTES]}})
    assert store.read_index() == INDEX


def test_diskcache__index_seen_by_another_instance(tmp_path):
    """The index is shared by every process of the host: a second store on the directory reads it."""
    with (
        contextlib.closing(DiskcacheStore(str(tmp_path))) as writer,
        contextlib.closing(DiskcacheStore(str(tmp_path))) as reader,
    ):
        writer.write_index(INDEX)
        assert reader.read_index() == INDEX


def test_diskcache__unreadable_index_ignored(tmp_path, caplog):
    """A corrupt or foreign index reads as None, with a warning naming the store."""
    store = DiskcacheStore(str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="health_check.store.base"):
        for payload in ("{not json", "[1, 2]"):
            store._cache.set("endpoint-index", payload)
            assert store.read_index() is None
    store.close()
    assert [record.getMessage() for record in caplog.records] == [
        f"Ignoring an unreadable endpoint index in the diskcache store at {tmp_path}"
    ] * 2


def test_diskcache__unreadable_database_raises_store_error_for_the_index(tmp_path):
    """A database that cannot be read raises StoreError for the index too, naming the store."""
    store = DiskcacheStore(str(tmp_path))
    store.close()
    (tmp_path / "cache.db").write_bytes(b"this is not an SQLite database" * 100)
    with pytest.raises(StoreError) as raised:
        store.read_index()
    store.close()  # the read opened the file again
    assert str(raised.value).startswith(f"cannot read the endpoint index from the diskcache store at {tmp_path}: ")


def _entry(key: str, at: float, number: int) -> dict:
    return {"id": f"id-{number}", "key": key, "at": at, "seq": 0, "title": f"entry {number}"}


def test_store__journal_kept_for_max_age(store):
    """Entries older than max_age before the newest go when the check next changes state, except the
    newest of them (the state the kept span starts in); the count bound still holds; other keys are untouched."""
    import time

    now = time.time()
    day = 86400.0
    old = [_entry("check-a", now - days * day, number) for number, days in enumerate((40, 35, 32), 1)]
    store.append_journal(old, retention=1000)  # no max_age: all kept (a caller without one, as before)
    store.append_journal([_entry("check-b", now - 50 * day, 9)], retention=1000, max_age=30 * day)
    assert [e["id"] for e in store.read_journal(["check-a"], 100)] == ["id-3", "id-2", "id-1"]
    store.append_journal(
        [_entry("check-a", now - 29 * day, 4), _entry("check-a", now - 1 * day, 5)], retention=1000, max_age=30 * day
    )
    # id-3 (31 days before id-5) stays: the state at the start of the 30 days; id-1 and id-2 go.
    assert [e["id"] for e in store.read_journal(["check-a"], 100)] == ["id-5", "id-4", "id-3"]
    assert [e["id"] for e in store.read_journal(["check-b"], 100)] == ["id-9"], "a lone old entry stays"
    store.append_journal([_entry("check-a", now, 6)], retention=2, max_age=30 * day)
    assert [e["id"] for e in store.read_journal(["check-a"], 100)] == ["id-6", "id-5"], "the count bound too"


def test_store__silences_kept_replaced_dropped(store):
    """Every backend keeps silences by id, replaces one with the same id, drops ended ones as it writes,
    refuses past MAX_SILENCES, and deletes one (saying whether it was there)."""
    import time

    from health_check.store.base import MAX_SILENCES

    now = time.time()
    store.write_silence({"id": "a", "target": "db", "ends_at": now + 3600, "reason": "upgrade"})
    store.write_silence({"id": "b", "target": "cache", "ends_at": now + 60})
    store.write_silence({"id": "a", "target": "db", "ends_at": now + 7200, "reason": "longer"})
    assert sorted((s["id"], s.get("reason")) for s in store.read_silences()) == [("a", "longer"), ("b", None)]
    store.write_silence({"id": "old", "target": "x", "ends_at": now - 1})  # already over: not kept
    assert sorted(s["id"] for s in store.read_silences()) == ["a", "b"]
    assert store.delete_silence("b") is True
    assert store.delete_silence("b") is False
    for number in range(MAX_SILENCES - 1):
        store.write_silence({"id": f"n{number}", "target": "x", "ends_at": now + 60})
    with pytest.raises(ValueError, match=f"at most {MAX_SILENCES} silences"):
        store.write_silence({"id": "one-more", "target": "x", "ends_at": now + 60})
    with pytest.raises(ValueError, match="string id and a numeric ends_at"):
        store.write_silence({"id": "no-end", "target": "x"})
    assert len(store.read_silences()) == MAX_SILENCES
