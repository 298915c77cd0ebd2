"""ResilientStore around a store that fails on demand: outage answers, buffers and write-back, without Redis."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest

from health_check.snapshot import Snapshot, Status
from health_check.store._resilient import ResilientStore
from health_check.store.base import JournalEntry, StoreError
from health_check.store.memory import MemoryStore
from tests.store.test_stores import snapshot


class FlakyStore(MemoryStore):
    """A memory store that raises StoreError while ``down`` and can lose everything, as a restarted server does."""

    description = "flaky store"
    host_id = "host-a"
    can_lose_writes = True

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.reads = 0
        self._markers: set[str] = set()

    def _answer(self) -> None:
        if self.down:
            raise StoreError("cannot reach the flaky store: refused", reason="refused")

    def write(self, snapshot: Snapshot) -> None:
        self._answer()
        super().write(snapshot)

    def read(self, keys: Iterable[str]) -> dict[str, Snapshot]:
        self._answer()
        self.reads += 1
        return super().read(keys)

    def append_journal(
        self, entries: Sequence[Mapping[str, Any]], *, retention: int, max_age: float | None = None
    ) -> list[JournalEntry]:
        self._answer()
        return super().append_journal(entries, retention=retention, max_age=max_age)

    def read_journal(self, keys: Iterable[str], limit: int) -> list[JournalEntry]:
        self._answer()
        return super().read_journal(keys, limit)

    def write_index(self, index: Mapping[str, Any]) -> None:
        self._answer()
        super().write_index(index)

    def read_index(self) -> dict[str, Any] | None:
        self._answer()
        self.reads += 1
        return super().read_index()

    def write_silence(self, silence: Mapping[str, Any]) -> None:
        self._answer()
        super().write_silence(silence)

    def read_silences(self) -> list[dict[str, Any]]:
        self._answer()
        return super().read_silences()

    def renew_marker(self, name: str) -> bool:
        self._answer()
        held = name in self._markers
        self._markers.add(name)
        return held

    def lose_everything(self) -> None:
        self.clear()
        self._markers.clear()


def entry(key: str, number: int) -> dict[str, Any]:
    return {"id": f"id-{number}", "key": key, "at": 1_900_000_000.0 + number, "seq": 0, "title": f"entry {number}"}


@pytest.fixture
def backend() -> FlakyStore:
    return FlakyStore()


@pytest.fixture(params=["per-process", "host-record"])
def store(request, backend, tmp_path) -> ResilientStore:
    """The wrapper without a host record (each process on its own) and with one in ``tmp_path``."""
    location = str(tmp_path) if request.param == "host-record" else None
    return ResilientStore(backend, location=location, read_cache_seconds=0, retry_seconds=0.05)


def test_resilient_store__outage_answers_last_seen(store, backend):
    """Backend down: reads answer at once the last snapshot seen, marked, the same object each time; never raise."""
    backend.write(seen := snapshot("fleet-check", message="OK"))
    assert store.read(["fleet-check"]) == {"fleet-check": seen}
    backend.down = True
    during = store.read(["fleet-check"])["fleet-check"]
    assert during.message == "OK (last seen: the flaky store does not answer)"
    assert store.read(["fleet-check"])["fleet-check"] is during, "the same marked object: views reuse their frame"
    backend.down = False
    time.sleep(0.06)  # past retry_seconds
    assert store.read(["fleet-check"]) == {"fleet-check": seen}, "unmarked once the backend answers"


def test_resilient_store__nothing_known_raises(store, backend):
    """Backend down and nothing ever seen: StoreError naming the store and the reason."""
    backend.down = True
    with pytest.raises(StoreError) as raised:
        store.read(["check-a"])
    assert str(raised.value) == "cannot read the flaky store: refused"
    assert raised.value.reason == "refused"


def test_resilient_store__writes_kept_and_flushed(store, backend):
    """Writes during an outage are read back fresh, and written once the backend answers; never raise."""
    backend.down = True
    store.write(snapshot("before@host-a"))  # the outage begins
    time.sleep(1)  # this host's poller takes a snapshot a second later
    store.write(
        local := snapshot("host-check@host-a", status=Status.WARNING, message="Warning: disk 91 % full", seconds_ago=0)
    )
    assert store.read(["host-check@host-a"]) == {"host-check@host-a": local}
    assert store.append_journal([entry("host-check@host-a", 7)], retention=5) == [entry("host-check@host-a", 7)]
    assert [e["id"] for e in store.read_journal(["host-check@host-a"], 5)] == ["id-7"], "buffered entries are read"
    backend.down = False
    time.sleep(0.06)
    store.write(snapshot("other@host-a"))
    assert backend.read(["host-check@host-a"]) == {"host-check@host-a": local}
    assert [(e["id"], e["seq"]) for e in backend.read_journal(["host-check@host-a"], 5)] == [("id-7", 1)]


def test_resilient_store__flush_never_replaces_newer(store, backend):
    """A snapshot kept during an outage is not written over a newer one another writer wrote meanwhile."""
    backend.down = True
    store.write(snapshot("fleet-check", message="old", seconds_ago=30))
    backend.down = False
    backend.write(newer := snapshot("fleet-check", message="newer", seconds_ago=1))
    time.sleep(0.06)
    store.write(snapshot("unrelated"))  # flushes what was kept
    assert backend.read(["fleet-check"]) == {"fleet-check": newer}


def test_resilient_store__write_back_after_loss(store, backend):
    """The backend lost everything: watch() counts the loss and writes back the snapshots and journal entries."""
    store.write(written := snapshot("check-a"))
    store.append_journal([entry("check-a", 1)], retention=5)
    assert store.watch() == 0
    backend.lose_everything()
    time.sleep(1)  # watch() asks at most once a second
    assert store.watch() == 1
    assert store.last_written("check-a") == written
    assert backend.read(["check-a"]) == {"check-a": written}
    assert [e["id"] for e in backend.read_journal(["check-a"], 5)] == ["id-1"]


def test_resilient_store__loss_before_the_first_watch(store, backend):
    """Written, then the server goes down before watch() ever asked, and comes back empty: still a loss.

    The poller's first watch() runs a second after its first writes; a restart inside that second
    must not leave Redis without those snapshots until their next interval (minutes for upstreams).
    """
    store.write(written := snapshot("check-a"))
    store.append_journal([entry("check-a", 1)], retention=5)
    backend.down = True
    assert store.watch() == 0  # the outage: nothing known about the server yet
    backend.lose_everything()
    backend.down = False
    time.sleep(1)  # watch() asks at most once a second
    assert store.watch() == 1
    assert backend.read(["check-a"]) == {"check-a": written}
    assert [e["id"] for e in backend.read_journal(["check-a"], 5)] == ["id-1"]


def test_resilient_store__no_loss_without_one(store, backend):
    """A server that kept everything is never reported as lost, from the first watch() on."""
    store.write(snapshot("check-a"))
    assert store.watch() == 0
    time.sleep(1)
    assert store.watch() == 0


def test_resilient_store__read_cache(backend):
    """Within read_cache_seconds a read asks the backend nothing; an unchanged snapshot keeps its object."""
    store = ResilientStore(backend, read_cache_seconds=60)
    backend.write(snapshot("check-a"))
    first = store.read(["check-a"])["check-a"]
    reads = backend.reads
    for _ in range(5):
        assert store.read(["check-a"])["check-a"] is first
    assert backend.reads == reads
    store.read_cache_seconds = 0
    assert store.read(["check-a"])["check-a"] is first, "re-read, unchanged: the same object"
    assert backend.reads == reads + 1


def test_resilient_store__journal_survives_a_new_poller_and_an_empty_restart(backend, tmp_path):
    """The poller that wrote the entries is gone (restarted), then the server restarts empty: the host's
    record writes them back, with the entries its workers read from another host's poller."""
    old_poller = ResilientStore(backend, location=str(tmp_path), read_cache_seconds=0)
    old_poller.write(snapshot("check-a"))
    old_poller.append_journal([entry("check-a", 1), entry("check-a", 2)], retention=5)
    backend.append_journal([entry("fleet-check", 3)], retention=5)  # another host's poller
    worker = ResilientStore(backend, location=str(tmp_path), read_cache_seconds=0)
    assert [e["id"] for e in worker.read_journal(["fleet-check"], 5)] == ["id-3"]
    poller = ResilientStore(backend, location=str(tmp_path), read_cache_seconds=0)  # a new process
    poller.write(snapshot("check-a"))
    assert poller.watch() == 0
    backend.lose_everything()
    time.sleep(1)  # watch() asks at most once a second
    assert poller.watch() == 1
    assert [e["id"] for e in backend.read_journal(["check-a", "fleet-check"], 10)] == ["id-3", "id-2", "id-1"]


def test_resilient_store__journal_entries_never_vanish(backend, tmp_path):
    """Lost by the server and not yet written back, or during an outage: every worker still lists them."""
    poller = ResilientStore(backend, location=str(tmp_path), read_cache_seconds=0, retry_seconds=60)
    worker = ResilientStore(backend, location=str(tmp_path), read_cache_seconds=0, retry_seconds=60)
    poller.append_journal([entry("check-a", 1)], retention=5)
    assert [e["id"] for e in worker.read_journal(["check-a"], 5)] == ["id-1"]
    backend.lose_everything()
    assert [e["id"] for e in worker.read_journal(["check-a"], 5)] == ["id-1"], "an empty restart, before write-back"
    backend.down = True
    poller.append_journal([entry("check-a", 2)], retention=5)  # kept by the poller during the outage
    assert [e["id"] for e in worker.read_journal(["check-a"], 5)] == ["id-2", "id-1"], "the other process lists it"


def test_resilient_store__host_journal_keeps_the_retention(backend, tmp_path):
    """An entry the store trimmed (retention) does not come back through the host's record."""
    store = ResilientStore(backend, location=str(tmp_path), read_cache_seconds=0)
    store.append_journal([entry("check-a", number) for number in range(1, 5)], retention=2)
    assert [e["id"] for e in store.read_journal(["check-a"], 10)] == ["id-4", "id-3"]


def test_resilient_store__journal_read_follows_the_snapshot_read(backend):
    """A journal read cached before a newer snapshot read is read again: the new snapshot's entry is listed."""
    store = ResilientStore(backend, read_cache_seconds=60)
    backend.write(snapshot("check-a", seconds_ago=5))
    store.read(["check-a"])
    assert store.read_journal(["check-a"], 5) == []
    backend.append_journal([entry("check-a", 1)], retention=5)  # the poller: the entry, then the snapshot
    backend.write(snapshot("check-a", seconds_ago=0))
    store.read_cache_seconds = 0
    store.read(["check-a"])
    store.read_cache_seconds = 60
    assert [e["id"] for e in store.read_journal(["check-a"], 5)] == ["id-1"]


def test_resilient_store__no_flip_back_after_an_outage(backend, tmp_path):
    """The outage ends before the poller wrote what it kept: every worker answers the host's newer snapshot,
    not the server's older one (which would look stale on one worker and fresh on the next)."""
    poller = ResilientStore(backend, location=str(tmp_path), read_cache_seconds=0, retry_seconds=60)
    worker = ResilientStore(backend, location=str(tmp_path), read_cache_seconds=0, retry_seconds=0.05)
    backend.write(old := snapshot("fleet-check", message="old", seconds_ago=30))
    assert worker.read(["fleet-check"]) == {"fleet-check": old}
    backend.down = True
    poller.write(new := snapshot("fleet-check", message="new", seconds_ago=1))  # kept in the poller
    assert worker.read(["fleet-check"])["fleet-check"].message.startswith("new"), "during the outage: the host's"
    backend.down = False
    time.sleep(0.06)
    assert backend.read(["fleet-check"]) == {"fleet-check": old}, "not written yet"
    assert worker.read(["fleet-check"]) == {"fleet-check": new}, "after it: still the newer one"


# -- the endpoint index ------------------------------------------------------------------------------


def test_resilient_store__index_unreadable_raises_at_once(store, backend):
    """Backend down: read_index() raises StoreError naming the store, and asks nothing again within retry_seconds."""
    store.write_index({"host": "host-a"})
    assert store.read_index() == {"host": "host-a"}
    backend.down = True
    with pytest.raises(StoreError) as raised:
        store.read_index()
    assert str(raised.value) == "cannot reach the flaky store: refused"
    reads = backend.reads
    with pytest.raises(StoreError) as raised:
        store.read_index()
    assert str(raised.value) == "cannot read the endpoint index from the flaky store: refused"
    assert backend.reads == reads, "no second attempt while the wrapper waits"
    backend.down = False
    time.sleep(0.06)
    assert store.read_index() == {"host": "host-a"}


def test_resilient_store__index_written_during_an_outage_is_kept(store, backend):
    """An index written while the backend is down never raises, and reaches it once it answers."""
    backend.down = True
    store.write_index({"written": "during"})
    assert backend._index is None, "nothing reached the backend"
    backend.down = False
    time.sleep(0.06)
    store.write(snapshot("check-a"))  # the poller's next write flushes what was kept
    assert backend.read_index() == {"written": "during"}


def test_resilient_store__index_written_back_after_loss(store, backend):
    """The backend lost everything: watch() writes the index back with the snapshots."""
    store.write(snapshot("check-a"))
    store.write_index({"host": "host-a"})
    assert store.watch() == 0
    backend.lose_everything()
    time.sleep(1)  # watch() asks at most once a second
    assert store.watch() == 1
    assert backend.read_index() == {"host": "host-a"}


def test_resilient_store__index_over_the_bound_is_refused(store, backend):
    """The bound holds at the wrapper too: ValueError at once, not when a kept index is flushed."""
    from health_check.store.base import MAX_INDEX_BYTES

    backend.down = True
    with pytest.raises(ValueError):
        store.write_index({"files": ["x" * MAX_INDEX_BYTES]})


def test_resilient_store__journal_max_age_reaches_the_backend(store, backend):
    """max_age is the backend's to apply, also to entries written back after an outage."""
    day = 86400.0
    now = time.time()
    old = {"id": "id-old", "key": "check-a", "at": now - 40 * day, "seq": 0, "title": "old"}
    older = {"id": "id-older", "key": "check-a", "at": now - 50 * day, "seq": 0, "title": "older"}
    backend.append_journal([older, old], retention=5)
    backend.down = True
    store.append_journal([entry("check-a", 1) | {"at": now}], retention=5, max_age=30 * day)
    backend.down = False
    time.sleep(0.06)
    store.write(snapshot("other@host-a"))  # the backend answers again: what was kept is flushed
    assert [e["id"] for e in backend.read_journal(["check-a"], 10)] == ["id-1", "id-old"]


def test_resilient_store__silences_go_to_the_backend_or_fail_clearly(store, backend):
    """A silence is an operator's command: written through, or refused with why; never buffered."""
    silence = {"id": "s1", "target": "db", "ends_at": time.time() + 60}
    store.write_silence(silence)
    assert backend.read_silences() == [silence]
    backend.down = True
    with pytest.raises(StoreError, match="the flaky store"):
        store.write_silence({**silence, "id": "s2"})
    with pytest.raises(StoreError):
        store.read_silences()
    backend.down = False
    time.sleep(0.06)
    assert [s["id"] for s in store.read_silences()] == ["s1"]
    assert store.delete_silence("s1") is True


def test_resilient_store__an_entry_the_backend_trimmed_does_not_come_back(store, backend):
    """The host's record remembers what was read; once the backend trims an entry by age, reads through
    the wrapper do not list it again (only what is newer than the backend's oldest is filled in)."""
    day = 86400.0
    now = time.time()
    older = {"id": "id-older", "key": "check-a", "at": now - 50 * day, "seq": 0, "title": "older"}
    old = {"id": "id-old", "key": "check-a", "at": now - 40 * day, "seq": 0, "title": "old"}
    backend.append_journal([older, old], retention=5)
    assert [e["id"] for e in store.read_journal(["check-a"], 10)] == ["id-old", "id-older"]
    store.append_journal([entry("check-a", 1) | {"at": now}], retention=5, max_age=30 * day)
    assert [e["id"] for e in store.read_journal(["check-a"], 10)] == ["id-1", "id-old"]
