"""In-process store: for tests and for development setups that run the poller inline."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from health_check.snapshot import Snapshot
from health_check.store.base import (
    ElectionLock,
    JournalEntry,
    Store,
    decode_index,
    encode_index,
    kept_silences,
    newest_first,
    trimmed,
)

__all__ = ["MemoryStore"]


class _ThreadElectionLock(ElectionLock):
    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._held = False

    def acquire(self) -> bool:
        if not self._held:
            self._held = self._lock.acquire(blocking=False)
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()

    @property
    def held(self) -> bool:
        return self._held


class MemoryStore(Store):
    """Snapshots in a dict of this process: nothing is shared with other processes."""

    description = "memory store (this process only)"

    def __init__(self) -> None:
        self._snapshots: dict[str, Snapshot] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._journal: dict[str, list[JournalEntry]] = {}
        self._seq = 0
        self._index: str | None = None  # kept as JSON, so a caller changing its dict changes nothing here
        self._silences: dict[str, dict[str, Any]] = {}

    def write(self, snapshot: Snapshot) -> None:
        self._snapshots[snapshot.key] = snapshot

    def read(self, keys: Iterable[str]) -> dict[str, Snapshot]:
        snapshots = self._snapshots
        return {key: snapshots[key] for key in keys if key in snapshots}

    def append_journal(
        self, entries: Sequence[Mapping[str, Any]], *, retention: int, max_age: float | None = None
    ) -> list[JournalEntry]:
        stored: list[JournalEntry] = []
        with self._guard:
            for given in entries:
                kept = self._journal.setdefault(given["key"], [])
                if any(entry["id"] == given["id"] for entry in kept):
                    continue
                self._seq += 1
                entry = {**given, "seq": self._seq}
                kept.append(entry)
                kept[:] = trimmed(kept, retention, max_age, float(given["at"]))
                stored.append(dict(entry))
        return stored

    def read_journal(self, keys: Iterable[str], limit: int) -> list[JournalEntry]:
        journal = self._journal
        # Copies: a caller changing what it was given must not change the journal.
        return [
            dict(entry) for entry in newest_first(entry for key in keys for entry in list(journal.get(key, ())))[:limit]
        ]

    def write_silence(self, silence: Mapping[str, Any]) -> None:
        with self._guard:
            self._silences = kept_silences(self._silences, json.loads(json.dumps(silence)), time.time())

    def read_silences(self) -> list[dict[str, Any]]:
        return [dict(silence) for silence in self._silences.values()]

    def delete_silence(self, silence_id: str) -> bool:
        with self._guard:
            return self._silences.pop(silence_id, None) is not None

    def write_index(self, index: Mapping[str, Any]) -> None:
        self._index = encode_index(index)

    def read_index(self) -> dict[str, Any] | None:
        return decode_index(self._index, self)

    def lock(self, name: str) -> ElectionLock:
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        return _ThreadElectionLock(lock)

    def clear(self) -> None:
        """Forget every snapshot, journal entry and the index (tests)."""
        self._snapshots.clear()
        self._journal.clear()
        self._silences.clear()
        self._index = None
