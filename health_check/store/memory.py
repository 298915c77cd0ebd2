"""In-process store: for tests and for development setups that run the poller inline."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Sequence

from health_check.journal import Transition, newest_first
from health_check.snapshot import Snapshot
from health_check.store.base import ElectionLock, Store

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
        self._journal: dict[str, list[Transition]] = {}
        self._seq = 0

    def write(self, snapshot: Snapshot) -> None:
        self._snapshots[snapshot.key] = snapshot

    def read(self, keys: Iterable[str]) -> dict[str, Snapshot]:
        snapshots = self._snapshots
        return {key: snapshots[key] for key in keys if key in snapshots}

    def append_transitions(self, transitions: Sequence[Transition], *, retention: int) -> list[Transition]:
        stored: list[Transition] = []
        with self._guard:
            for transition in transitions:
                entries = self._journal.setdefault(transition.key, [])
                if any(entry.id == transition.id for entry in entries):
                    continue
                self._seq += 1
                entry = dataclasses.replace(transition, seq=self._seq)
                entries.append(entry)
                del entries[: max(0, len(entries) - max(1, retention))]
                stored.append(entry)
        return stored

    def read_transitions(self, keys: Iterable[str], limit: int) -> list[Transition]:
        journal = self._journal
        return newest_first(entry for key in keys for entry in list(journal.get(key, ())))[:limit]

    def lock(self, name: str) -> ElectionLock:
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        return _ThreadElectionLock(lock)

    def clear(self) -> None:
        """Forget every snapshot and journal entry (tests)."""
        self._snapshots.clear()
        self._journal.clear()
