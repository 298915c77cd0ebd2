"""One host, no server: snapshots in a diskcache (SQLite) directory shared by every process.

Readers pay one ``stat()`` per request: the writer stamps a marker file's mtime with a strictly
increasing number after every write, and a reader re-reads SQLite only when that number moved.
The election lock is an ``flock`` on a file in the same directory, so the kernel releases it the
moment its holder dies, whatever killed it.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import diskcache

from health_check.snapshot import Snapshot
from health_check.store._locks import FileElectionLock
from health_check.store.base import (
    ElectionLock,
    JournalEntry,
    Store,
    StoreError,
    decode_index,
    decode_snapshot,
    encode_index,
    is_entry,
    kept_silences,
    newest_first,
    trimmed,
)

__all__ = ["DiskcacheStore", "FileElectionLock"]  # FileElectionLock: its import path before store._locks

logger = logging.getLogger(__name__)

_SIZE_LIMIT = 64 * 2**20  # snapshots are a few hundred bytes each; this bounds the directory anyway
_PREFIX = "snapshot:"
_JOURNAL_PREFIX = "journal:"
_JOURNAL_SEQ = "journal-seq"
_SILENCES = "silences"
_INDEX = "endpoint-index"
# diskcache lets SQLite's own errors through (a corrupt or foreign cache.db, a full disk).
_BACKEND_ERRORS = (OSError, sqlite3.Error, diskcache.Timeout)


class _ClosedWithItsThread:
    """Kept in one thread's slot of the cache's ``threading.local``: closes that thread's connection
    when the thread ends and its slot is dropped."""

    __slots__ = ("connection",)

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __del__(self) -> None:
        try:
            self.connection.close()
        except Exception:  # another thread's (the cache itself was dropped): left to SQLite's own cleanup
            pass


class _Cache(diskcache.Cache):
    """A ``diskcache.Cache`` whose SQLite connections are closed, not left to the garbage collector.

    diskcache opens one connection per thread and ``close()`` closes only the caller's. The others
    (the poller's job threads, a threaded server's request threads) are closed here when their
    thread ends. A cache that fails to open closes the connection it opened at once: the StoreError,
    kept while the store is retried every second, would hold it, and its file, open through the
    traceback. Python 3.13 reports each connection left to the collector as an unclosed database.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            if "_local" in vars(self):  # set before the first connection is opened
                self.close()
            raise

    @property
    def _con(self) -> sqlite3.Connection:
        connection = super()._con
        closer = getattr(self._local, "closer", None)
        if closer is None or closer.connection is not connection:
            self._local.closer = _ClosedWithItsThread(connection)
        return connection


class DiskcacheStore(Store):
    """Snapshots in a diskcache directory; every process of the host pointing at it shares them.

    Args:
        location: The directory (created if missing).
    """

    def __init__(self, location: str) -> None:
        self.location = location
        self.description = f"diskcache store at {location}"
        try:
            os.makedirs(location, mode=0o700, exist_ok=True)
            self._cache = _Cache(location, size_limit=_SIZE_LIMIT, timeout=2)
        except _BACKEND_ERRORS as error:
            raise StoreError(
                f"cannot open the {self.description}: {error}. "
                'Set HEALTH_CHECK["STORE_LOCATION"] to a directory every web and poller process can write.'
            ) from error
        self._marker = os.path.join(location, "generation")
        self._write_guard = threading.Lock()
        self._last_stamp = 0
        self._seen_generation: int | None = None
        self._local: dict[str, Snapshot | None] = {}
        self._journal_generation: int | None = None
        self._journal_local: dict[str, tuple[JournalEntry, ...]] = {}

    # -- writer side -------------------------------------------------------------------------------

    def write(self, snapshot: Snapshot) -> None:
        payload = json.dumps(snapshot.to_dict(), separators=(",", ":"))
        try:
            self._cache.set(_PREFIX + snapshot.key, payload)
            self._bump_generation()
        except _BACKEND_ERRORS as error:
            raise StoreError(f"cannot write to the {self.description}: {error}") from error

    def _bump_generation(self) -> None:
        with self._write_guard:
            stamp = max(time.time_ns(), self._last_stamp + 1)
            self._last_stamp = stamp
            try:
                os.utime(self._marker, ns=(stamp, stamp))
            except FileNotFoundError:
                with open(self._marker, "a"):
                    pass
                os.utime(self._marker, ns=(stamp, stamp))

    # -- reader side -------------------------------------------------------------------------------

    def _generation(self) -> int:
        try:
            return os.stat(self._marker).st_mtime_ns
        except FileNotFoundError:
            return 0
        except OSError as error:
            raise StoreError(f"cannot read the {self.description}: {error.strerror}") from error

    def read(self, keys: Iterable[str]) -> dict[str, Snapshot]:
        generation = self._generation()
        local = self._local
        if generation != self._seen_generation:
            local = self._local = {}
            self._seen_generation = generation
        result: dict[str, Snapshot] = {}
        for key in keys:
            # Absent and unreadable keys are remembered too (as None): every write moves the
            # generation, so they are looked up again, and an unreadable one is logged, once per write.
            if key in local:
                snapshot = local[key]
            else:
                snapshot = local[key] = self._load(key)
            if snapshot is not None:
                result[key] = snapshot
        return result

    def _load(self, key: str) -> Snapshot | None:
        try:
            payload = self._cache.get(_PREFIX + key)
        except _BACKEND_ERRORS as error:
            raise StoreError(f"cannot read the {self.description}: {error}") from error
        return decode_snapshot(payload, key, self)

    # -- journal -----------------------------------------------------------------------------------

    def append_journal(
        self, entries: Sequence[Mapping[str, Any]], *, retention: int, max_age: float | None = None
    ) -> list[JournalEntry]:
        stored: list[JournalEntry] = []
        try:
            with self._cache.transact():
                # Each key's journal is read and written once per call, however many of its entries come.
                journals: dict[str, tuple[list[JournalEntry], set[Any]]] = {}
                changed: set[str] = set()
                for given in entries:
                    name = _JOURNAL_PREFIX + given["key"]
                    if name not in journals:
                        loaded = self._load_journal_payload(name)
                        journals[name] = (loaded, {entry.get("id") for entry in loaded})
                    kept, ids = journals[name]
                    if given["id"] in ids:
                        continue
                    entry = {**given, "seq": self._cache.incr(_JOURNAL_SEQ)}
                    kept.append(entry)
                    ids.add(given["id"])
                    kept[:] = trimmed(kept, retention, max_age, float(given["at"]))
                    stored.append(dict(entry))
                    changed.add(name)
                for name in changed:
                    self._cache.set(name, json.dumps(journals[name][0], separators=(",", ":")))
            if stored:
                self._bump_generation()
        except _BACKEND_ERRORS as error:
            raise StoreError(f"cannot write the journal to the {self.description}: {error}") from error
        return stored

    def _load_journal_payload(self, name: str) -> list[dict]:
        payload = self._cache.get(name)
        if payload is None:
            return []
        try:
            entries = json.loads(payload)
        except ValueError:
            logger.warning("Ignoring an unreadable journal %s in the %s", name, self.description)
            return []
        return [entry for entry in entries if isinstance(entry, dict)] if isinstance(entries, list) else []

    def read_journal(self, keys: Iterable[str], limit: int) -> list[JournalEntry]:
        generation = self._generation()
        local = self._journal_local
        if generation != self._journal_generation:
            local = self._journal_local = {}
            self._journal_generation = generation
        found: list[JournalEntry] = []
        for key in keys:
            entries = local.get(key)
            if entries is None:
                entries = local[key] = self._load_journal(key)
            found.extend(entries)
        return [dict(entry) for entry in newest_first(found)[:limit]]

    def _load_journal(self, key: str) -> tuple[JournalEntry, ...]:
        try:
            raw = self._load_journal_payload(_JOURNAL_PREFIX + key)
        except _BACKEND_ERRORS as error:
            raise StoreError(f"cannot read the journal from the {self.description}: {error}") from error
        entries = []
        for item in raw:
            if is_entry(item):
                entries.append(item)
            else:
                logger.warning("Ignoring an unreadable journal entry for %s in the %s", key, self.description)
        return tuple(entries)

    # -- endpoint index ----------------------------------------------------------------------------

    def write_index(self, index: Mapping[str, Any]) -> None:
        # No generation stamp: the index is read once per command, never through the read cache.
        payload = encode_index(index)
        try:
            self._cache.set(_INDEX, payload)
        except _BACKEND_ERRORS as error:
            raise StoreError(f"cannot write the endpoint index to the {self.description}: {error}") from error

    # -- silences: one JSON object, id -> silence ---------------------------------------------------

    def write_silence(self, silence: Mapping[str, Any]) -> None:
        try:
            with self._cache.transact():
                kept = kept_silences(self._load_silences(), silence, time.time())
                self._cache.set(_SILENCES, json.dumps(kept, separators=(",", ":"), allow_nan=False))
        except _BACKEND_ERRORS as error:
            raise StoreError(f"cannot write the silence to the {self.description}: {error}") from error

    def read_silences(self) -> list[dict[str, Any]]:
        try:
            return list(self._load_silences().values())
        except _BACKEND_ERRORS as error:
            raise StoreError(f"cannot read the silences from the {self.description}: {error}") from error

    def delete_silence(self, silence_id: str) -> bool:
        try:
            with self._cache.transact():
                kept = self._load_silences()
                found = kept.pop(silence_id, None) is not None
                if found:
                    self._cache.set(_SILENCES, json.dumps(kept, separators=(",", ":")))
        except _BACKEND_ERRORS as error:
            raise StoreError(f"cannot delete the silence from the {self.description}: {error}") from error
        return found

    def _load_silences(self) -> dict[str, Any]:
        payload = self._cache.get(_SILENCES)
        if payload is None:
            return {}
        try:
            found = json.loads(payload)
        except ValueError:
            found = None
        if not isinstance(found, dict):
            logger.warning("Ignoring unreadable silences in the %s", self.description)
            return {}
        return {key: value for key, value in found.items() if isinstance(value, dict)}

    def read_index(self) -> dict[str, Any] | None:
        try:
            payload = self._cache.get(_INDEX)
        except _BACKEND_ERRORS as error:
            raise StoreError(f"cannot read the endpoint index from the {self.description}: {error}") from error
        return decode_index(payload, self)

    def lock(self, name: str) -> ElectionLock:
        return FileElectionLock(os.path.join(self.location, f"{name}.lock"))

    def close(self) -> None:
        self._cache.close()
