"""The store contract: where the poller writes snapshots and every reader finds them.

Contract every backend keeps:

- ``write()`` replaces the snapshot of one key atomically: a reader sees the old or the new snapshot,
  never a mix. Writes of different keys are independent; the last write of a key wins.
- ``read()`` returns the latest snapshots of the keys asked for that exist; a missing key is simply
  absent (the reader reports it pending). It must be cheap: it runs on every probe request, so
  backends cache in-process and re-read only when a write happened (``generation``).
- Both are thread safe and safe across the processes that share the backend's location.
- Failures raise ``StoreError`` with a message naming the backend and location, never a credential.
- ``append_journal()`` adds journal entries: plain JSON-safe dicts the store does not interpret beyond
  ``id``, ``key`` (the check's key) and ``at`` (a POSIX timestamp). It sets each entry's ``seq``, growing
  across the store, skips an entry whose ``id`` the key's journal already holds, and keeps at most
  ``retention`` entries per key (oldest dropped); given ``max_age`` (seconds), it also drops the entries
  older than that before the appended entry's ``at``, except the newest of them, which tells the state
  the kept span starts in (``trimmed()`` says which). ``read_journal()`` returns the newest entries of the
  keys asked for, newest first (``at``, then ``seq``); cheap like ``read()``. Entries outlive restarts
  exactly as long as snapshots do. A store without a journal keeps the defaults: nothing stored, nothing read.
- ``lock(name)`` returns an ``ElectionLock`` scoped like the store itself (one host for diskcache,
  one fleet for a server-backed store): the poller holds it while it polls. ``host_lock(name)`` is
  scoped to this host whatever the store; for a single-host store it is ``lock(name)``.
- ``write_if_newer()`` never replaces a snapshot taken at the same moment or later; ``renew_marker()``
  tells whether a marker this writer set is still there (a server that restarted empty says no).
- A store whose server can lose what was written behind the writer's back (Redis restarted without
  persistence) finds out in ``watch()``, which the poller calls every second: it writes back the last
  snapshot of each key this process wrote (``last_written()``), never over a newer one and with its
  own ``checked_at``, and counts the loss in ``losses``; the poller then runs again the checks it had
  nothing fresh for. Other stores keep the defaults: nothing to watch.
- A store shared by several hosts sets ``host_id`` (this host's identity); readers and the poller then
  qualify host-scoped keys with it (``endpoints.CheckSpec.of``), so each host keeps its own snapshots.
- ``write_index()`` replaces this host's endpoint index: one JSON-safe dict the store does not interpret
  (the poller's map of endpoint URL names to check keys, which ``health_check --no-http`` reads instead
  of importing the URLconf). Scoped like ``host_lock()``: one per host, also in a store shared by
  hosts. Its JSON is at most ``MAX_INDEX_BYTES`` (``ValueError`` beyond); a store shared by hosts
  keeps at most ``MAX_INDEXES`` of them, dropping the least recently written. ``read_index()``
  returns it, or ``None`` when none was written or it is unreadable (foreign or corrupt data,
  logged). It outlives restarts exactly as long as snapshots do. A store without an index keeps the
  defaults: nothing stored, ``None`` read; the command then imports the URLconf.
- ``write_silence()`` keeps one silence (``health_check.maintenance``): a JSON-safe dict the store reads
  only the ``id`` and ``ends_at`` (a POSIX time) of, replacing one with the same ``id``; ended ones
  are dropped as it writes, and beyond ``MAX_SILENCES`` it refuses (``ValueError``). Scoped like
  ``lock()``: a fleet's store shares them. ``read_silences()`` returns those kept (ended ones may be
  among them: readers compare times), ``delete_silence()`` drops one and says whether it was there.
  A store without silences keeps the defaults: ``write_silence()`` raises ``StoreError``, nothing read.
"""

from __future__ import annotations

import abc
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from health_check.snapshot import Snapshot

__all__ = [
    "MAX_INDEXES",
    "MAX_INDEX_BYTES",
    "MAX_SILENCES",
    "ElectionLock",
    "JournalEntry",
    "Store",
    "StoreError",
    "decode_index",
    "decode_snapshot",
    "encode_index",
    "kept_silences",
    "newest_first",
    "trimmed",
]

#: A journal entry as stores keep it: JSON-safe; the store reads ``id``, ``key`` and ``at``, sets ``seq``.
JournalEntry = dict[str, Any]

logger = logging.getLogger(__name__)

#: Largest endpoint index a store keeps, in bytes of its JSON: it lists endpoints, check keys and the
#: project's source files (a few kilobytes to a few hundred for a large project).
MAX_INDEX_BYTES = 512 * 1024
#: Endpoint indexes a store shared by hosts keeps at most (one per host; hosts that come and go, such
#: as Kubernetes pods, leave theirs behind): the least recently written are dropped.
MAX_INDEXES = 256
#: Silences (``health_check.maintenance``) a store keeps under way at most.
MAX_SILENCES = 100


def decode_snapshot(payload: bytes | str | None, key: str, store: Store) -> Snapshot | None:
    """A stored snapshot from its JSON; ``None`` when absent or unreadable (foreign or corrupt data).

    Unreadable data is logged and skipped rather than raised: the reader reports the check pending,
    and the next write replaces it.
    """
    if payload is None:
        return None
    try:
        return Snapshot.from_dict(json.loads(payload))
    except (ValueError, KeyError, TypeError, OverflowError):
        logger.warning("Ignoring an unreadable snapshot for %s in the %s", key, store.description)
        return None


def encode_index(index: Mapping[str, Any]) -> str:
    """The index as stores keep it: compact JSON; ``ValueError`` when over ``MAX_INDEX_BYTES`` or not JSON-safe."""
    payload = json.dumps(index, separators=(",", ":"), allow_nan=False)
    if len(payload.encode()) > MAX_INDEX_BYTES:
        raise ValueError(
            f"the endpoint index is {len(payload.encode())} bytes, over the {MAX_INDEX_BYTES} a store keeps"
        )
    return payload


def decode_index(payload: bytes | str | None, store: Store) -> dict[str, Any] | None:
    """A stored index from its JSON; ``None`` when absent or unreadable (logged: foreign or corrupt data)."""
    if payload is None:
        return None
    try:
        index = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        index = None
    if not isinstance(index, dict):
        logger.warning("Ignoring an unreadable endpoint index in the %s", store.description)
        return None
    return index


def is_entry(entry: object) -> bool:
    """Whether ``entry`` has what a store reads off a journal entry (stored data may be foreign or corrupt)."""
    return (
        isinstance(entry, Mapping)
        and isinstance(entry.get("id"), str)
        and isinstance(entry.get("key"), str)
        and isinstance(entry.get("at"), (int, float))
        and not isinstance(entry.get("at"), bool)
    )


def kept_silences(
    stored: Mapping[str, Any], silence: Mapping[str, Any] | None, now: float
) -> dict[str, dict[str, Any]]:
    """The silences a store keeps after writing ``silence`` (``None``: only dropping the ended ones).

    Raises ``ValueError`` for a silence without an ``id`` or ``ends_at`` and beyond ``MAX_SILENCES``."""
    kept = {
        str(id_): dict(found) for id_, found in stored.items() if isinstance(found, Mapping) and _ends_at(found) > now
    }
    if silence is not None:
        if not isinstance(silence.get("id"), str) or _ends_at(silence) == float("-inf"):
            raise ValueError("a silence has a string id and a numeric ends_at")
        if _ends_at(silence) <= now:  # over already (or ended early by rewriting it): nothing to keep
            kept.pop(silence["id"], None)
            return kept
        kept[silence["id"]] = dict(silence)
        if len(kept) > MAX_SILENCES:
            raise ValueError(f"the store keeps at most {MAX_SILENCES} silences under way; end some first")
    return kept


def _ends_at(silence: Mapping[str, Any]) -> float:
    at = silence.get("ends_at")
    return float(at) if isinstance(at, (int, float)) and not isinstance(at, bool) else float("-inf")


def trimmed(kept: list[JournalEntry], retention: int, max_age: float | None, now: float) -> list[JournalEntry]:
    """One key's journal, oldest first, as a store keeps it after appending an entry at ``now`` (that
    entry's ``at``, so the bound follows the journal's own clock): at most ``retention`` entries, and
    none older than ``max_age`` seconds but the newest of those (the state at the start of the kept
    span, which uptime needs to count the first hours of its window)."""
    kept = kept[-max(1, retention) :]
    if max_age is not None:
        cutoff = now - max_age
        start = 0
        # As the Redis script: an entry without a numeric ``at`` (foreign data) stops the trimming.
        while start + 1 < len(kept) and (at := _at(kept[start + 1])) is not None and at < cutoff:
            start += 1
        kept = kept[start:]
    return kept


def _at(entry: Mapping[str, Any]) -> float | None:
    at = entry.get("at")
    return float(at) if isinstance(at, (int, float)) and not isinstance(at, bool) else None


def newest_first(entries: Iterable[JournalEntry]) -> list[JournalEntry]:
    """Journal entries newest first: by ``at``, then ``seq`` (recording order), then ``id``."""
    return sorted(entries, key=lambda entry: (entry["at"], entry.get("seq") or 0, entry["id"]), reverse=True)


class StoreError(Exception):
    """Raised when the store cannot be read or written; the message says which store and why.

    ``reason`` is the why alone (``"Connection refused"``), for messages that name the store themselves.
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = message if reason is None else reason


class ElectionLock(abc.ABC):
    """A lock held by the one active poller; released when its holder stops or dies."""

    @abc.abstractmethod
    def acquire(self) -> bool:
        """Try once, without waiting; ``True`` when this process now holds the lock. Idempotent."""

    #: Seconds between renewals while held, for locks that expire unless renewed (a lease); ``None``
    #: for locks held until released. A lease that cannot be renewed reports ``held`` as ``False``
    #: once it may have expired, so its holder stops polling before anybody else can start.
    renew_interval: float | None = None

    @abc.abstractmethod
    def release(self) -> None:
        """Give the lock up if held; never raises."""

    @property
    @abc.abstractmethod
    def held(self) -> bool:
        """Whether this process believes it holds the lock."""


class Store(abc.ABC):
    """Snapshot storage shared by the poller (writer) and the views and command (readers)."""

    #: Human description for messages, e.g. ``"diskcache store at /tmp/..."``.
    description: str = "store"
    #: This host's identity when the store is shared by hosts (Redis); ``None`` for a single-host store.
    host_id: str | None = None

    @abc.abstractmethod
    def write(self, snapshot: Snapshot) -> None:
        """Store ``snapshot`` under ``snapshot.key``, replacing the previous one."""

    @abc.abstractmethod
    def read(self, keys: Iterable[str]) -> dict[str, Snapshot]:
        """Latest snapshots of ``keys`` that exist. Raises ``StoreError`` when the backend is unreadable."""

    #: Whether the server can lose what was written behind the writer's back; the poller then calls ``watch()``.
    can_lose_writes: bool = False
    #: How many times this store found that its server lost what this process wrote (see ``watch()``).
    losses: int = 0

    def watch(self) -> int:
        """Find out whether the server lost what this process wrote and write it back; returns ``losses``.

        Called by the poller every second, so it must be cheap; never raises.
        """
        return self.losses

    def write_if_newer(self, snapshots: Sequence[Snapshot]) -> None:
        """Write each snapshot unless the stored one of its key was taken at the same moment or later.

        For writes kept while the store did not answer: they must not replace what another writer
        wrote meanwhile. Servers do it atomically (``RedisStore``); this default reads, then writes.
        """
        current = self.read([snapshot.key for snapshot in snapshots])
        for snapshot in snapshots:
            stored = current.get(snapshot.key)
            if stored is None or stored.checked_at < snapshot.checked_at:
                self.write(snapshot)

    def renew_marker(self, name: str) -> bool:
        """Set this writer's marker ``name`` (gone a minute after its last renewal); whether it was still set.

        A marker set a second ago and now missing tells that the server lost what was written. A
        store that cannot lose writes keeps the default: always ``True``.
        """
        return True

    def last_written(self, key: str) -> Snapshot | None:
        """The last snapshot of ``key`` this process wrote, when the store keeps it for ``watch()``."""
        return None

    def append_journal(
        self, entries: Sequence[Mapping[str, Any]], *, retention: int, max_age: float | None = None
    ) -> list[JournalEntry]:
        """Add journal entries; returns those stored (not skipped), with their ``seq``. Raises ``StoreError``.

        ``retention`` bounds the entries kept per key; ``max_age`` (seconds, ``None``: no limit) drops
        older ones as ``trimmed()`` does.
        """
        return []

    def read_journal(self, keys: Iterable[str], limit: int) -> list[JournalEntry]:
        """The newest ``limit`` entries of ``keys``, newest first. Raises ``StoreError``."""
        return []

    def write_silence(self, silence: Mapping[str, Any]) -> None:
        """Keep ``silence`` (replacing one with its ``id``). Raises ``ValueError`` (see above) and ``StoreError``."""
        raise StoreError(f"the {self.description} keeps no silences")

    def read_silences(self) -> list[dict[str, Any]]:
        """The silences kept, in no order. Raises ``StoreError``."""
        return []

    def delete_silence(self, silence_id: str) -> bool:
        """Drop the silence ``silence_id``; whether it was kept. Raises ``StoreError``."""
        return False

    def write_index(self, index: Mapping[str, Any]) -> None:
        """Replace this host's endpoint index. Raises ``ValueError`` (too large) and ``StoreError``."""
        encode_index(index)  # the same bound for a store that keeps none

    def read_index(self) -> dict[str, Any] | None:
        """This host's endpoint index, or ``None``. Raises ``StoreError`` when the backend is unreadable."""
        return None

    @abc.abstractmethod
    def lock(self, name: str) -> ElectionLock:
        """The election lock ``name`` for pollers sharing this store."""

    def host_lock(self, name: str) -> ElectionLock:
        """The election lock ``name`` of this host's pollers; ``lock(name)`` unless the store spans hosts."""
        return self.lock(name)

    def close(self) -> None:  # noqa: B027 - optional: a store without resources keeps this no-op
        """Release resources (connections, files). Called at shutdown and in tests."""
