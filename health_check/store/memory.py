"""In-process store: for tests and for development setups that run the poller inline."""

from __future__ import annotations

import threading
from collections.abc import Iterable

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

    def write(self, snapshot: Snapshot) -> None:
        self._snapshots[snapshot.key] = snapshot

    def read(self, keys: Iterable[str]) -> dict[str, Snapshot]:
        snapshots = self._snapshots
        return {key: snapshots[key] for key in keys if key in snapshots}

    def lock(self, name: str) -> ElectionLock:
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        return _ThreadElectionLock(lock)

    def clear(self) -> None:
        """Forget every snapshot (tests)."""
        self._snapshots.clear()
