"""Any store, kept answering while its server does not: a read cache, outage answers, buffered writes.

``ResilientStore`` wraps a store (the Redis backend; any ``Store`` a site wrote) and keeps the store
contract itself, so callers never know it is there.

A read costs one backend read at most, and usually none: one read of every key this process reads,
reused for ``read_cache_seconds``. A snapshot that did not change keeps its object, so views keep
reusing the frame they rendered from it.

When the backend raises ``StoreError``, the wrapper stops asking for ``retry_seconds`` (one thread
asks at a time), and meanwhile reads answer from the last snapshots the host saw (``HostRecord``:
shared by every process of the host, so all workers give the same answer), their message marked "last
seen" unless this host's own poller took them during the outage: they go stale by their own age, never
hang, never raise while something is known. Writes (the host's own checks keep running) stay in this
process, and are written when the backend answers again; a late write never replaces a newer snapshot
(``write_if_newer()``).

A server may also come back empty (no persistence, a flush, a failover to an empty replica). A poller
calls ``watch()`` every second: a marker of this process's own (``renew_marker()``, set before its
first write) tells whether the server still holds what it wrote. When it is gone, the wrapper writes
back the last snapshot of every key it wrote, with its own ``checked_at``, and the journal entries of
the host's journal record (what any process of the host appended or read; only this process's own
without a host record); the poller then runs again the checks it had nothing fresh to write back for.
Readers meanwhile answer a key the server lost from the host's last-seen record, and every journal
read merges the host's journal record, so no entry a feed listed disappears from it meanwhile.

The endpoint index is kept like a snapshot: written during an outage, it waits in this process and
is written when the backend answers; after a loss it is written back with the snapshots. Reading it
while the backend does not answer raises ``StoreError`` at once, never waits: its one reader,
``health_check --no-http``, then imports the URLconf and answers from the last-seen record as before.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from health_check.snapshot import Snapshot
from health_check.store._host import HostRecord
from health_check.store.base import ElectionLock, JournalEntry, Store, StoreError, encode_index, newest_first

T = TypeVar("T")

__all__ = ["MAX_PENDING_TRANSITIONS", "ResilientStore"]

#: Journal entries buffered while the backend is down, and kept to write back after it lost them, at most.
MAX_PENDING_TRANSITIONS = 1000
#: ``watch()`` asks the backend at most this often (seconds), however many pollers of the process call it.
WATCH_SECONDS = 1.0
#: Journal reads remembered for the read cache, at most (an endpoint asks with its own keys and limit).
_MAX_CACHED_JOURNALS = 64


class ResilientStore(Store):
    """``backend``, answering from what is known while it does not answer.

    Args:
        backend: The store that holds the data.
        location: The host's ``STORE_LOCATION``, where every process of the host shares its outage
            flag and last-seen snapshots; ``None``: each process answers from what it saw itself.
        read_cache_seconds: How long a read is reused before the backend is asked again; 0 always asks.
        retry_seconds: How long the wrapper stops asking after the backend failed to answer.
        record_name: First part of the host record's file names (``redis``: ``redis-down@<host>``).
        logger: Where the outage is told (the backend's module logger, so log filters keep working).
    """

    def __init__(
        self,
        backend: Store,
        *,
        location: str | None = None,
        read_cache_seconds: float = 1.0,
        retry_seconds: float = 1.0,
        record_name: str = "store",
        logger: logging.Logger | None = None,
    ) -> None:
        self.backend = backend
        self.description = backend.description
        self.host_id = backend.host_id
        self.can_lose_writes = backend.can_lose_writes
        self.location = location
        self.read_cache_seconds = read_cache_seconds
        self.retry_seconds = retry_seconds
        self.logger = logger or logging.getLogger(__name__)

        self._fetch_guard = threading.Lock()
        self._write_guard = threading.Lock()
        self._seen: dict[str, Snapshot | None] = {}  # None: known to be absent
        self._fetched_at = -math.inf
        self._down_until = 0.0
        self._down_reason: str | None = None
        self._marked: dict[str, tuple[Snapshot, Snapshot]] = {}  # key -> (last seen, its "last seen" copy)
        self._pending: dict[str, Snapshot] = {}  # written while the backend was down, newest per key
        self._pending_transitions: list[tuple[JournalEntry, int]] = []
        self._max_age: float | None = None  # the journal's age limit, as the last append gave it
        self._pending_index: dict[str, Any] | None = None  # written while the backend was down
        self._index: dict[str, Any] | None = None  # the last index this process wrote, for the write-back
        self._journals: dict[tuple[tuple[str, ...], int], tuple[float, list[JournalEntry]]] = {}
        # Shared by the host's processes: the outage flag and the last snapshots seen (None: per process).
        self._host = (
            HostRecord(location, self.host_id or "host", self.description, name=record_name) if location else None
        )
        # What this process wrote, to write back when the server lost it: one snapshot per key it polls.
        self._written: dict[str, Snapshot] = {}
        self._recent_transitions: deque[tuple[JournalEntry, int]] = deque(maxlen=MAX_PENDING_TRANSITIONS)
        self._watch_guard = threading.Lock()
        self._watched_at = -math.inf
        self._marker: tuple[int, str] | None = None  # (pid, name): a forked child needs its own
        self._marker_set = False
        #: How many times this process found the server had lost what it wrote (``watch()``).
        self.losses = 0

    # -- availability ------------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """``False`` while the wrapper waits before asking the backend again after a failure.

        Another process of the host that found the backend answering again ends the wait at once.
        """
        if time.monotonic() >= self._down_until:
            return True
        return self._host is not None and self._host.outage() is None

    def _down(self) -> str | None:
        """Why the backend does not answer, as the host sees it (every worker alike); ``None`` when it answers."""
        if self._host is not None:
            return self._host.outage()
        return self._down_reason

    def _failed(self, error: StoreError, doing: str) -> None:
        reason = error.reason
        if self._down_reason is None:
            self.logger.warning(
                "The %s does not answer (%s: %s); serving the last snapshots seen and keeping new ones "
                "in this process until it answers again",
                self.description,
                doing,
                reason,
            )
        self._down_reason = reason
        self._down_until = time.monotonic() + self.retry_seconds
        if self._host is not None:
            self._host.raise_outage(reason)

    def _recovered(self) -> None:
        """The backend answered: leave the outage answer and write what was kept. Raises ``StoreError``."""
        if self._down_reason is not None:
            self.logger.warning("The %s answers again", self.description)
            self._down_reason = None
            self._marked.clear()
        if self._host is not None and self._host.outage() is not None:
            self._host.clear_outage()
            self._marked.clear()
        if self._has_pending:
            self._flush()

    @property
    def _has_pending(self) -> bool:
        return bool(self._pending or self._pending_transitions) or self._pending_index is not None

    # -- writer side -------------------------------------------------------------------------------

    def write(self, snapshot: Snapshot) -> None:
        if self._host is not None:
            self._host.remember([(snapshot, True)])  # the host's own result: what its workers answer in an outage
        with self._write_guard:
            self._written[snapshot.key] = snapshot
            if self.available:
                try:
                    if self._has_pending:
                        self._pending[snapshot.key] = snapshot
                        self._flush()
                    else:
                        self._set_marker()
                        self.backend.write(snapshot)
                except StoreError as error:
                    self._failed(error, "writing")
                    self._pending[snapshot.key] = snapshot
                else:
                    self._recovered()
            else:
                self._pending[snapshot.key] = snapshot
        # This process reads its own write at once, whatever the read cache holds.
        self._seen[snapshot.key] = snapshot

    def _flush(self, why: str = "kept during the outage") -> None:
        """Write what was kept while the backend was down; raises ``StoreError``."""
        snapshots, transitions, index = dict(self._pending), list(self._pending_transitions), self._pending_index
        self._set_marker()
        if snapshots:
            self.backend.write_if_newer(list(snapshots.values()))
        for entry, retention in transitions:
            self._append([entry], retention)
        if index is not None:
            self.backend.write_index(index)
            if self._pending_index is index:
                self._pending_index = None
        for key, snapshot in snapshots.items():
            if self._pending.get(key) is snapshot:
                del self._pending[key]
        del self._pending_transitions[: len(transitions)]
        self.logger.info(
            "Wrote %d snapshots and %d journal entries %s to the %s",
            len(snapshots),
            len(transitions),
            why,
            self.description,
        )

    def write_if_newer(self, snapshots: Sequence[Snapshot]) -> None:
        self.backend.write_if_newer(snapshots)

    # -- after the server lost what was written ------------------------------------------------------

    def watch(self) -> int:
        """Find out (at most once a second) whether the server lost what this process wrote; returns ``losses``.

        One ``renew_marker()``: the marker is missing only when the server no longer holds what this
        process set a second ago. Then every snapshot this process wrote is written back (never over
        a newer one, with its own ``checked_at``) and so are its recent journal entries (entries the
        server still holds are skipped by id). Also a probe during an outage: what was kept meanwhile
        is written as soon as the backend answers. Never raises.
        """
        with self._watch_guard:
            started = time.monotonic()
            if started - self._watched_at < WATCH_SECONDS * 0.9 or not self.available:
                return self.losses
            self._watched_at = started
            marker = self._own_marker()
            try:
                still_set = self.backend.renew_marker(marker)
            except StoreError as error:
                with self._write_guard:
                    self._failed(error, "checking its snapshots")
                return self.losses
            with self._write_guard:
                try:
                    if not still_set and self._marker_set:
                        self.losses += 1
                        self._write_back()
                    self._marker_set = True
                    self._recovered()
                except StoreError as error:
                    self._failed(error, "writing back its snapshots")
            return self.losses

    def renew_marker(self, name: str) -> bool:
        return self.backend.renew_marker(name)

    def _own_marker(self) -> str:
        """This process's marker name (a forked child gets its own, not yet set)."""
        if self._marker is None or self._marker[0] != os.getpid():
            self._marker = (os.getpid(), f"writer:{self.host_id}/{os.getpid()}/{uuid.uuid4().hex}")
            self._marker_set = False
        return self._marker[1]

    def _set_marker(self) -> None:
        """Set the marker before this process's first write reaches the server; raises ``StoreError``.

        Without it, a server that went down after the first writes and before the first ``watch()``
        (a second later) and came back empty would not count as a loss: the marker was never set, so
        its absence proves nothing, and the snapshots stay missing until their next interval.
        """
        marker = self._own_marker()
        if not self._marker_set:
            self.backend.renew_marker(marker)
            self._marker_set = True

    def _write_back(self) -> None:
        """Queue every snapshot this process wrote and flush, then its recent journal entries; raises ``StoreError``."""
        self.logger.warning(
            "The %s lost what this process wrote (restarted empty or flushed): writing back %d snapshots "
            "and %d journal entries",
            self.description,
            len(self._written),
            len(self._host.journal()) if self._host is not None else len(self._recent_transitions),
        )
        for key, snapshot in self._written.items():
            self._pending.setdefault(key, snapshot)  # one kept during an outage is the newer
        if self._pending_index is None:
            self._pending_index = self._index
        self._flush("written back")
        recent = list(self._recent_transitions)
        if self._host is not None:  # the host's record: also what earlier pollers of the host wrote, and read
            ids = {entry["id"] for entry, _ in recent}
            recent = [item for item in self._host.journal() if item[0]["id"] not in ids] + recent
        for start in range(0, len(recent), 100):
            by_retention: dict[int, list[JournalEntry]] = {}
            for entry, retention in recent[start : start + 100]:
                by_retention.setdefault(retention, []).append(entry)
            for retention, entries in by_retention.items():
                self._append(entries, retention, remember=False)

    def last_written(self, key: str) -> Snapshot | None:
        """The last snapshot of ``key`` this process wrote (what ``watch()`` writes back), or ``None``."""
        return self._written.get(key)

    # -- reader side -------------------------------------------------------------------------------

    def read(self, keys: Iterable[str]) -> dict[str, Snapshot]:
        keys = tuple(keys)
        seen = self._seen
        cached = all(key in seen for key in keys)
        down = self._down()  # one stat(): every worker of the host enters and leaves an outage together
        if down is None and cached and time.monotonic() - self._fetched_at < self.read_cache_seconds:
            return {key: snapshot for key in keys if (snapshot := seen[key]) is not None}
        # One thread asks the backend; the others answer from what is known rather than queue behind it.
        if not self._fetch_guard.acquire(blocking=not cached and down is None):
            return self._known(keys)
        try:
            if not self.available:
                return self._known(keys)
            return self._fetch(keys)
        finally:
            self._fetch_guard.release()

    def _fetch(self, keys: tuple[str, ...]) -> dict[str, Snapshot]:
        wanted = list(dict.fromkeys((*keys, *self._seen)))
        started = time.monotonic()
        try:
            found = self.backend.read(wanted)
        except StoreError as error:
            self._failed(error, "reading")
            return self._known(keys)
        with self._write_guard:
            try:
                self._recovered()
            except StoreError as error:
                self._failed(error, "writing")
        seen = dict(self._seen)
        changed: list[tuple[Snapshot, bool]] = []
        for key in wanted:
            snapshot = found.get(key)
            if snapshot is None:
                seen[key] = None
            elif seen.get(key) != snapshot:  # an unchanged snapshot keeps its object
                seen[key] = snapshot
                changed.append((snapshot, False))
        if self._host is not None:
            if changed:
                self._host.remember(changed)
            # The host may know newer than the server: its poller's result kept during an outage and not
            # yet written (a flip back to the server's older snapshot would make a check look stale on
            # this worker and fresh on the next), or a key the server lost (restarted empty) or never
            # had, until its poller writes it back. What the host knows ages by its own checked_at.
            known = self._host.snapshots()
            for key in wanted:
                found_here = seen[key]
                if key in known and (found_here is None or known[key][0].checked_at > found_here.checked_at):
                    seen[key] = known[key][0]
        self._seen = seen
        self._fetched_at = started
        return {key: snapshot for key in keys if (snapshot := seen[key]) is not None}

    def _known(self, keys: tuple[str, ...]) -> dict[str, Snapshot]:
        """What is known while the backend does not answer: the host's last-seen record, the same for
        every worker; without one, this process's own writes, else the last it saw. Marked "last seen"
        unless this host's poller took it since the outage began."""
        down = self._down()
        if self._host is not None:
            known_to_host = self._host.snapshots()
            if known_to_host or not self._seen:
                answer: dict[str, Snapshot] = {}
                since = self._host.outage_since
                for key in keys:
                    if key in known_to_host:
                        snapshot, local = known_to_host[key]
                        # Taken here since the outage began: this host's own fresh result, not the server's last word.
                        own = local and since is not None and snapshot.checked_at.timestamp() >= since
                        answer[key] = snapshot if own or not down else self._mark(key, snapshot)
                if not answer and keys and down:
                    raise StoreError(f"cannot read the {self.description}: {down}", reason=down)
                return answer
        result: dict[str, Snapshot] = {}
        known = False
        for key in keys:
            if key in self._pending:
                result[key] = self._pending[key]
                known = True
                continue
            if key not in self._seen:
                continue
            known = True
            seen = self._seen[key]
            if seen is not None:
                result[key] = self._mark(key, seen) if self._down_reason else seen
        if not known and keys and self._down_reason:
            raise StoreError(f"cannot read the {self.description}: {self._down_reason}", reason=self._down_reason)
        return result

    def _mark(self, key: str, snapshot: Snapshot) -> Snapshot:
        marked = self._marked.get(key)
        if marked is None or marked[0] is not snapshot:
            # One copy per snapshot and outage: views compare snapshots to reuse their rendered frame.
            copy = dataclasses.replace(
                snapshot, message=f"{snapshot.message} (last seen: the {self.description} does not answer)"
            )
            marked = self._marked[key] = (snapshot, copy)
        return marked[1]

    # -- journal -----------------------------------------------------------------------------------

    def append_journal(
        self, entries: Sequence[Mapping[str, Any]], *, retention: int, max_age: float | None = None
    ) -> list[JournalEntry]:
        if not entries:
            return []
        with self._write_guard:
            # A setting, the same on every call: entries written back later are trimmed by the latest.
            self._max_age = max_age
            if self.available:
                try:
                    if self._pending_transitions:
                        self._flush()
                    return self._append(entries, retention)
                except StoreError as error:
                    self._failed(error, "writing the journal")
            # Kept for later, and reported as recorded: the transition did happen, receivers hear of it now.
            kept = [dict(entry) for entry in entries]
            self._pending_transitions += [(entry, retention) for entry in kept]
            del self._pending_transitions[:-MAX_PENDING_TRANSITIONS]
            self._journals.clear()
            self._share(kept, retention)  # every worker of the host lists it during the outage
            return [dict(entry) for entry in kept]

    def _append(
        self, entries: Sequence[Mapping[str, Any]], retention: int, *, remember: bool = True
    ) -> list[JournalEntry]:
        self._set_marker()
        stored = self.backend.append_journal(entries, retention=retention, max_age=self._max_age)
        self._journals.clear()
        if remember:
            self._recent_transitions.extend((dict(entry), retention) for entry in entries)
            self._share(entries, retention)
        return stored

    def _share(self, entries: Iterable[Mapping[str, Any]], retention: int) -> None:
        """Keep entries in the host's journal record: what its readers merge, and what is written back."""
        if self._host is not None:
            self._host.remember_journal((entry, retention) for entry in entries)

    def read_journal(self, keys: Iterable[str], limit: int) -> list[JournalEntry]:
        """The backend's entries, those kept in this process, and the host's journal record, merged by id.

        A cached read is reused only while no newer snapshot read happened: the poller appends a
        change's entries before it writes the snapshot, so a reader that sees the new snapshot also
        lists its entry, within the read cache's time.
        """
        keys = tuple(keys)
        cached = self._journals.get((keys, limit))
        found = cached[1] if cached is not None else []
        fresh = (
            cached is not None
            and cached[0] >= self._fetched_at
            and time.monotonic() - cached[0] < self.read_cache_seconds
        )
        if not fresh and self.available:
            started = time.monotonic()
            try:
                found = self.backend.read_journal(keys, limit)
            except StoreError as error:
                self._failed(error, "reading the journal")
            else:
                if len(self._journals) >= _MAX_CACHED_JOURNALS:
                    self._journals.clear()
                self._journals[(keys, limit)] = (started, found)
                # Entries another host's poller wrote: kept for this host's readers and its write-back.
                self._share(found, MAX_PENDING_TRANSITIONS)
        wanted = set(keys)
        merged: dict[str, JournalEntry] = {}
        for entry in found:
            merged.setdefault(entry["id"], entry)
        for entry, _ in self._pending_transitions:
            if entry["key"] in wanted:
                merged.setdefault(entry["id"], entry)
        if self._host is not None:
            # The backend trims each key's journal (retention, max_age): the host's record only fills in
            # what is newer than the oldest entry it returned, so a dropped entry does not come back.
            oldest: dict[str, float] = {}
            for entry in found:
                oldest[entry["key"]] = min(entry["at"], oldest.get(entry["key"], entry["at"]))
            for entry, _ in self._host.journal():
                if entry["key"] in wanted and entry.get("at", 0) >= oldest.get(entry["key"], float("-inf")):
                    merged.setdefault(entry["id"], entry)
        # Copies: what the caller does with them must not change the cache.
        return [dict(entry) for entry in newest_first(merged.values())[:limit]]

    # -- endpoint index ----------------------------------------------------------------------------

    def write_index(self, index: Mapping[str, Any]) -> None:
        kept = dict(index)
        encode_index(kept)  # too large: ValueError now, not when it is flushed
        with self._write_guard:
            self._index = kept
            if self.available:
                try:
                    self._set_marker()
                    self.backend.write_index(kept)
                except StoreError as error:
                    self._failed(error, "writing the endpoint index")
                    self._pending_index = kept
                else:
                    self._pending_index = None
                    self._recovered()
            else:
                self._pending_index = kept

    def read_index(self) -> dict[str, Any] | None:
        if not self.available:  # this process failed to reach it within retry_seconds: no second wait
            reason = self._down() or self._down_reason or "no answer"
            raise StoreError(f"cannot read the endpoint index from the {self.description}: {reason}", reason=reason)
        try:
            return self.backend.read_index()
        except StoreError as error:
            with self._write_guard:
                self._failed(error, "reading the endpoint index")
            raise

    # -- silences: straight to the backend (an operator's command says when it failed) ---------------

    def write_silence(self, silence: Mapping[str, Any]) -> None:
        self._passthrough("writing the silence", self.backend.write_silence, silence)

    def read_silences(self) -> list[dict[str, Any]]:
        return self._passthrough("reading the silences", self.backend.read_silences)

    def delete_silence(self, silence_id: str) -> bool:
        return self._passthrough("deleting the silence", self.backend.delete_silence, silence_id)

    def _passthrough(self, what: str, call: Callable[..., T], *args: Any) -> T:
        if not self.available:  # this process failed to reach it within retry_seconds: no second wait
            reason = self._down() or self._down_reason or "no answer"
            raise StoreError(f"{what} failed: the {self.description} does not answer ({reason})", reason=reason)
        try:
            return call(*args)
        except StoreError as error:
            with self._write_guard:
                self._failed(error, what)
            raise

    # -- election and the rest ---------------------------------------------------------------------

    def lock(self, name: str) -> ElectionLock:
        return self.backend.lock(name)

    def host_lock(self, name: str) -> ElectionLock:
        return self.backend.host_lock(name)

    def close(self) -> None:
        self.backend.close()
