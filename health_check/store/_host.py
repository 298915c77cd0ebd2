"""What every process of one host shares about a store's server: the last snapshots seen, and whether it is down.

Part of ``ResilientStore`` (``store._resilient``); the Redis store's files are named ``redis-...``.

Each web worker has its own connection and read cache, so without a shared record two workers of one
host notice an outage at different moments and answer it from different memories: one fresh, one
"last seen", flipping from probe to probe. Two small files in the host's ``STORE_LOCATION`` (the
directory of the host election lock, shared by every process of the host, a pod's ``emptyDir``) make
them one:

- ``redis-down@<host>`` exists while some process of the host found Redis not answering and nobody
  has found it answering since. Readers ``stat()`` it on every request: all workers switch to their
  outage answer, and back, at the same moment.
- ``redis-last-seen@<host>.json`` holds the newest snapshot of each key that any process of the host
  wrote (the host's poller: ``local``) or read from Redis (another host's poller). During an outage
  a snapshot is marked "last seen" unless the host's poller took it after the outage began. A worker writes it
  only when it read something newer than the file holds, so one change costs one small rewrite for
  the whole host. During an outage every worker answers from it, so they give the same answer.

Snapshots keep their own ``checked_at``: an answer from this file ages, and goes stale, as it would
have in Redis.

- ``redis-journal@<host>.json`` holds the newest journal entries the host appended or read
  (``MAX_JOURNAL_ENTRIES``), with the retention each was appended with. Readers merge it into every
  journal read, so an entry a feed showed never disappears from it (Redis down, or restarted empty
  and not yet written back), and every worker lists the same entries during an outage; after an
  empty restart the host's poller writes it back, so the journal survives a poller restart too.

Any failure of these files (a full disk, a read-only directory) is logged once and the
store falls back to what its own process knows.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from health_check.snapshot import Snapshot
from health_check.store._locks import safe_name

__all__ = ["HostRecord"]

logger = logging.getLogger(__name__)

#: Keys kept in the host's last-seen file at most (oldest ``checked_at`` dropped first).
MAX_ENTRIES = 1000
#: Journal entries kept in the host's journal file at most (oldest dropped first).
MAX_JOURNAL_ENTRIES = 1000


def _trimmed(items: list[tuple[dict[str, Any], int]]) -> list[tuple[dict[str, Any], int]]:
    """Oldest first, at most ``MAX_JOURNAL_ENTRIES``, and per key no more than its smallest retention, as the
    store trims it: an entry the store dropped must not come back through the host's record."""
    items = sorted(items, key=lambda item: (str(item[0].get("at")), str(item[0].get("id"))))[-MAX_JOURNAL_ENTRIES:]
    retention: dict[str, int] = {}
    for entry, kept_for in items:
        retention[entry["key"]] = min(retention.get(entry["key"], kept_for), kept_for)
    counts: dict[str, int] = {}
    kept = []
    for entry, kept_for in reversed(items):
        count = counts[entry["key"]] = counts.get(entry["key"], 0) + 1
        if count <= max(1, retention[entry["key"]]):
            kept.append((entry, kept_for))
    kept.reverse()
    return kept


class HostRecord:
    """The host-shared outage flag, last-seen snapshots and recent journal entries of one store.

    Args:
        directory: The host's ``STORE_LOCATION``.
        host_id: The host's identity (file names).
        description: The store's description, for log lines.
        name: First part of the file names: ``<name>-down@<host>``, ``<name>-last-seen@<host>.json``.
    """

    def __init__(self, directory: str, host_id: str, description: str, *, name: str = "redis") -> None:
        safe_host = safe_name(host_id)
        self.directory = directory
        self.description = description
        self.name = name
        self.flag_path = os.path.join(directory, f"{name}-down@{safe_host}")
        self.path = os.path.join(directory, f"{name}-last-seen@{safe_host}.json")
        self._lock_path = f"{self.path}.lock"
        self.journal_path = os.path.join(directory, f"{name}-journal@{safe_host}.json")
        self._journal_stat: tuple[int, int, int] | None = None
        self._journal: list[tuple[dict[str, Any], int]] = []
        self._journal_ids: set[str] = set()
        self._too_old: set[str] = set()  # read again, but older than what the record keeps: not offered again
        self._flag_stat: tuple[int, int, int] | None = None
        self._flag_reason: str | None = None
        #: When the outage began (the flag's mtime, wall clock), while ``outage()`` reports one.
        self.outage_since: float | None = None
        self._file_stat: tuple[int, int, int] | None = None
        self._raw: dict[str, dict] = {}
        self._entries: dict[str, tuple[Snapshot, bool]] = {}
        self._broken: str | None = None

    # -- the outage flag ---------------------------------------------------------------------------

    def outage(self) -> str | None:
        """The reason the server does not answer, as recorded by some process of the host; ``None`` when it answers."""
        try:
            found = os.stat(self.flag_path)
        except FileNotFoundError:
            self._flag_stat = self.outage_since = None
            return None
        except OSError as error:
            self._trouble(error)
            return None
        self.outage_since = found.st_mtime
        identity = (found.st_ino, found.st_mtime_ns, found.st_size)
        if identity != self._flag_stat:
            try:
                with open(self.flag_path, encoding="utf-8", errors="replace") as file:
                    self._flag_reason = file.read(1000) or "does not answer"
            except FileNotFoundError:
                return None
            except OSError as error:
                self._trouble(error)
                return None
            self._flag_stat = identity
        return self._flag_reason

    def raise_outage(self, reason: str) -> None:
        """Record that the server does not answer, unless another process already did (the first reason stays)."""
        if self.outage() is not None:
            return
        try:
            self._make_directory()
            with tempfile.NamedTemporaryFile(
                "w", dir=self.directory, prefix=f".{self.name}-down-", delete=False
            ) as file:
                file.write(reason)
            try:
                os.link(file.name, self.flag_path)  # atomic create-if-absent: readers never see half a file
            except FileExistsError:
                pass
            finally:
                os.unlink(file.name)
        except OSError as error:
            self._trouble(error)

    def clear_outage(self) -> None:
        """Record that the server answers again: every process of the host leaves its outage answer."""
        try:
            os.unlink(self.flag_path)
        except FileNotFoundError:
            pass
        except OSError as error:
            self._trouble(error)
        self._flag_stat = None

    # -- the last-seen snapshots -------------------------------------------------------------------

    def snapshots(self) -> dict[str, tuple[Snapshot, bool]]:
        """Key -> (newest snapshot the host knows, whether this host's own poller took it).

        One ``stat()`` when nothing changed; unchanged entries keep their objects (views reuse the
        frame they rendered from a snapshot object).
        """
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return self._entries
        except OSError as error:
            self._trouble(error)
            return self._entries
        identity = (found.st_ino, found.st_mtime_ns, found.st_size)
        if identity != self._file_stat:
            try:
                with open(self.path, "rb") as file:
                    raw = json.loads(file.read())
            except FileNotFoundError:
                return self._entries
            except (OSError, ValueError) as error:
                self._trouble(error)
                return self._entries
            self._load(raw if isinstance(raw, dict) else {})
            self._file_stat = identity
        return self._entries

    def remember(self, items: Iterable[tuple[Snapshot, bool]]) -> None:
        """Keep each snapshot unless the host already knows one at least as new (local wins a tie)."""
        newer = [(snapshot, local) for snapshot, local in items if self._is_newer(self.snapshots(), snapshot, local)]
        if not newer:
            return
        try:
            self._make_directory()
            with self._locked():
                self._file_stat = None
                current = self.snapshots()  # what other processes wrote since, read under the lock
                raw = dict(self._raw)
                changed = False
                for snapshot, local in newer:
                    if self._is_newer(current, snapshot, local):
                        raw[snapshot.key] = {"local": local, "snapshot": snapshot.to_dict()}
                        changed = True
                if not changed:
                    return
                if len(raw) > MAX_ENTRIES:
                    raw = dict(
                        sorted(raw.items(), key=lambda item: str(item[1]["snapshot"].get("checked_at")))[-MAX_ENTRIES:]
                    )
                self._write_atomically(raw, self.path)
        except OSError as error:
            self._trouble(error)

    # -- the journal -----------------------------------------------------------------------------

    def journal(self) -> list[tuple[dict[str, Any], int]]:
        """(entry, retention) of the newest entries the host appended or read, oldest first; one ``stat()``
        when nothing changed. Callers must not change the entries."""
        try:
            found = os.stat(self.journal_path)
        except FileNotFoundError:
            return self._journal
        except OSError as error:
            self._trouble(error)
            return self._journal
        identity = (found.st_ino, found.st_mtime_ns, found.st_size)
        if identity != self._journal_stat:
            try:
                with open(self.journal_path, "rb") as file:
                    raw = json.loads(file.read())
            except FileNotFoundError:
                return self._journal
            except (OSError, ValueError) as error:
                self._trouble(error)
                return self._journal
            self._load_journal(raw)
            self._journal_stat = identity
        return self._journal

    def remember_journal(self, items: Iterable[tuple[Mapping[str, Any], int]]) -> None:
        """Keep the entries the host does not hold yet (by ``id``); one small rewrite when any is new."""
        self.journal()
        known, too_old = self._journal_ids, self._too_old
        new = [
            (entry, retention)
            for entry, retention in items
            if (id_ := entry.get("id")) not in known and id_ not in too_old
        ]
        if not new:
            return
        try:
            self._make_directory()
            with self._locked():
                self._journal_stat = None
                kept = list(self.journal())  # what other processes wrote since, read under the lock
                ids = set(self._journal_ids)
                added = False
                for entry, retention in new:
                    if entry.get("id") not in ids:
                        ids.add(entry["id"])
                        kept.append(({key: value for key, value in entry.items() if key != "seq"}, int(retention)))
                        added = True
                if not added:
                    return
                kept = _trimmed(kept)
                kept_ids = {entry["id"] for entry, _ in kept}
                if kept_ids == self._journal_ids:  # all of them older than what the record keeps
                    if len(self._too_old) > MAX_JOURNAL_ENTRIES:
                        self._too_old.clear()
                    self._too_old.update(entry["id"] for entry, _ in new)
                    return
                self._write_atomically(
                    {"entries": [[entry, retention] for entry, retention in kept]}, self.journal_path
                )
                self._journal, self._journal_ids = kept, kept_ids
        except OSError as error:
            self._trouble(error)

    def _load_journal(self, raw: Any) -> None:
        kept: list[tuple[dict[str, Any], int]] = []
        items = raw.get("entries") if isinstance(raw, dict) else None
        for item in items if isinstance(items, list) else []:
            try:
                entry, retention = item
                if isinstance(entry, dict) and isinstance(entry["id"], str) and isinstance(entry["key"], str):
                    kept.append((entry, int(retention)))
            except (ValueError, KeyError, TypeError):
                continue  # a damaged entry is dropped
        self._journal, self._journal_ids = kept, {entry["id"] for entry, _ in kept}

    # -- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _is_newer(current: dict[str, tuple[Snapshot, bool]], snapshot: Snapshot, local: bool) -> bool:
        known = current.get(snapshot.key)
        if known is None:
            return True
        if snapshot.checked_at != known[0].checked_at:
            return snapshot.checked_at > known[0].checked_at
        return local and not known[1]

    def _load(self, raw: dict) -> None:
        entries: dict[str, tuple[Snapshot, bool]] = {}
        kept: dict[str, dict] = {}
        for key, item in raw.items():
            previous = self._raw.get(key)
            if previous == item and key in self._entries:
                entries[key], kept[key] = self._entries[key], item
                continue
            try:
                snapshot = Snapshot.from_dict(item["snapshot"])
            except (ValueError, KeyError, TypeError, OverflowError):
                continue  # a damaged entry is dropped; the next write of the key replaces it
            entries[key], kept[key] = (snapshot, bool(item.get("local"))), item
        self._raw, self._entries = kept, entries

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held for one small file write
            yield
        finally:
            os.close(fd)

    def _write_atomically(self, raw: dict, path: str) -> None:
        # Readers open the file without the lock: they see the old content or the new, never half.
        with tempfile.NamedTemporaryFile(
            "w", dir=self.directory, prefix=f".{self.name}-last-seen-", delete=False
        ) as file:
            try:
                json.dump(raw, file, separators=(",", ":"))
            except BaseException:
                os.unlink(file.name)
                raise
        try:
            os.replace(file.name, path)
        except OSError:
            os.unlink(file.name)
            raise

    def _make_directory(self) -> None:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)

    def _trouble(self, error: Exception) -> None:
        reason = getattr(error, "strerror", None) or str(error)
        if self._broken != reason:
            logger.warning(
                "Cannot share the last snapshots of the %s with the other processes of this host in %s: %s; "
                "during an outage each process answers from what it saw itself",
                self.description,
                self.directory,
                reason,
            )
            self._broken = reason
