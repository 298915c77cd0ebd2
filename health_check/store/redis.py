"""A fleet: snapshots in one Redis shared by every host, and a lease so one poller polls fleet checks.

A read costs one round trip at most, and usually none: one ``MGET`` of every key this process reads,
reused for ``read_cache_seconds``. A payload that did not change keeps its decoded ``Snapshot`` object,
so views keep reusing the frame they rendered from it.

Every call is bounded by socket timeouts. When Redis does not answer, the store stops asking for
``retry_seconds`` (one thread asks at a time), and meanwhile reads answer from the last snapshots the
host saw (``_host``: shared by every process of the host, so all workers give the same answer), their
message marked "last seen" unless this host's own poller took them during the outage: they go stale by their own age,
never hang, never raise while something is known. Writes (the host's own checks keep running) stay in
this process, and are written when Redis answers again; a late write never replaces a newer snapshot.

Redis may also come back empty (no persistence, a flush, a failover to an empty replica). A poller
calls ``watch()`` every second: a key of this process's own (``SET ... GET``) tells whether Redis
still holds what it wrote. When it is gone, the store writes back the last snapshot of every key it
wrote, with its own ``checked_at``, and the journal entries it recently appended; the poller then runs
again the checks it had nothing fresh to write back for. Readers meanwhile answer a key Redis lost
from the host's last-seen record.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Sequence

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from health_check.journal import Transition, newest_first
from health_check.snapshot import Snapshot
from health_check.store._host import HostRecord
from health_check.store._locks import host_lock
from health_check.store._urls import redact_url
from health_check.store.base import ElectionLock, Store, StoreError, decode_snapshot

__all__ = ["RedisLease", "RedisStore", "redact_url"]

logger = logging.getLogger(__name__)

#: Journal entries buffered while Redis is down, and kept to write back after Redis lost them, at most.
MAX_PENDING_TRANSITIONS = 1000

#: ``watch()`` asks Redis at most this often (seconds), however many pollers of the process call it.
WATCH_SECONDS = 1.0
#: A writer's own key expires this long after its last ``watch()`` (a poller that stopped leaves none behind).
WATCH_KEY_TTL_MS = 60_000

# Writes a snapshot unless the stored one was taken at the same moment or later: buffered writes
# flushed after an outage must not replace what the fleet's poller wrote meanwhile.
_SET_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, stored = pcall(cjson.decode, current)
  if ok and type(stored) == 'table' and tonumber(stored['checked_at'])
     and tonumber(stored['checked_at']) >= tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""

# Appends journal entries "<seq>\\t<id>\\t<json>", skipping ids the list holds, trimming to the retention.
_APPEND_TRANSITIONS = """
local retention = tonumber(ARGV[1])
local result = {}
for i = 2, #KEYS do
  local id = ARGV[2 * (i - 1)]
  local body = ARGV[2 * (i - 1) + 1]
  local found = false
  for _, item in ipairs(redis.call('LRANGE', KEYS[i], 0, -1)) do
    if string.find(item, '\\t' .. id .. '\\t', 1, true) then found = true break end
  end
  if found then
    table.insert(result, 0)
  else
    local seq = redis.call('INCR', KEYS[1])
    redis.call('RPUSH', KEYS[i], seq .. '\\t' .. id .. '\\t' .. body)
    redis.call('LTRIM', KEYS[i], -retention, -1)
    table.insert(result, seq)
  end
end
return result
"""

# Compare-and-set on the lease token: only the holder renews or releases its lease. A lease that is
# gone altogether (Redis restarted empty) is held by nobody: its holder takes it again, atomically, so
# the fleet's checks keep their poller instead of waiting out an election.
_RENEW = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _describe(error: Exception) -> str:
    # redis-py's messages can embed the URL it was given; keep only the part after the address.
    text = str(error) or type(error).__name__
    return re.sub(r"\b(rediss?|unix)://[^\s@/]*@", r"\1://", text)


class RedisLease(ElectionLock):
    """A lease on one Redis key: ``SET NX PX`` to take it, a compare-and-set script to renew it.

    ``held`` turns ``False`` by itself once the lease may have expired without a renewal (Redis
    unreachable), measured from before the request that set or renewed it, so the holder stops
    before anybody else can have taken over.

    Args:
        store: The store whose client and description the lease uses.
        name: The Redis key.
        lease_seconds: How long the lease lasts without renewal.
    """

    def __init__(self, store: RedisStore, name: str, lease_seconds: float) -> None:
        self.store = store
        self.name = name
        self.lease_seconds = lease_seconds
        self.renew_interval = lease_seconds / 3
        self._token: str | None = None
        self._valid_until = 0.0
        self._pid = os.getpid()

    def acquire(self) -> bool:
        self._forget_if_forked()
        client = self.store.client
        started = time.monotonic()
        milliseconds = max(1, int(self.lease_seconds * 1000))
        try:
            if self._token is not None and started < self._valid_until:
                if self.store.renew_script(keys=[self.name], args=[self._token, milliseconds], client=client):
                    self._valid_until = started + self.lease_seconds
                    return True
                logger.warning("The fleet poller lease %s was taken over by another host", self.name)
                self._token = None
                return False
            # Who holds it, readable with redis-cli GET: host, pid, then a nonce only this holder knows.
            token = f"{self.store.host_id}/{os.getpid()}/{uuid.uuid4().hex}"
            if client.set(self.name, token, nx=True, px=milliseconds):
                self._token, self._valid_until = token, started + self.lease_seconds
                return True
            self._token = None
            return False
        except redis.RedisError as error:
            raise StoreError(f"cannot reach the {self.store.description} for lease {self.name}: {_describe(error)}") from error

    def release(self) -> None:
        self._forget_if_forked()
        token, self._token = self._token, None
        if token is not None:
            try:
                self.store.release_script(keys=[self.name], args=[token], client=self.store.client)
            except redis.RedisError as error:
                logger.warning("Cannot release lease %s in the %s: %s", self.name, self.store.description, _describe(error))

    @property
    def held(self) -> bool:
        self._forget_if_forked()
        return self._token is not None and time.monotonic() < self._valid_until

    def _forget_if_forked(self) -> None:
        if self._pid != os.getpid():  # a forked child never inherits its parent's lease
            self._token, self._pid = None, os.getpid()


@dataclasses.dataclass(slots=True)
class _Seen:
    payload: bytes | None
    snapshot: Snapshot | None


class RedisStore(Store):
    """Snapshots in a Redis database shared by every host of a fleet.

    Args:
        url: ``redis://[user:password@]host:port/db``, ``rediss://...`` or ``unix://...``.
        location: Directory of this host's election lock file (host-scoped checks).
        host_id: This host's identity: host-scoped snapshots are kept per host.
        lease_seconds: The fleet poller's lease.
        prefix: Prefix of every Redis key (one database per project avoids the need to change it).
        connect_timeout: Seconds to open a connection.
        socket_timeout: Seconds to wait for any answer.
        read_cache_seconds: How long a read is reused before Redis is asked again; 0 always asks.
        retry_seconds: How long the store stops asking after Redis failed to answer.
    """

    can_lose_writes = True  # a restart without persistence, a flush, a failover to an empty replica

    def __init__(
        self,
        url: str,
        *,
        location: str | None = None,
        host_id: str,
        lease_seconds: float = 10.0,
        prefix: str = "health_check:",
        connect_timeout: float = 0.25,
        socket_timeout: float = 0.5,
        read_cache_seconds: float = 1.0,
        retry_seconds: float = 1.0,
    ) -> None:
        self.url = redact_url(url)
        self.description = f"Redis store at {self.url}"
        self.location = location
        self.host_id = host_id
        self.lease_seconds = lease_seconds
        self.prefix = prefix
        self.read_cache_seconds = read_cache_seconds
        self.retry_seconds = retry_seconds
        try:
            self.client = redis.Redis.from_url(
                url,
                socket_connect_timeout=connect_timeout,
                socket_timeout=socket_timeout,
                retry=Retry(NoBackoff(), 0),  # our own backoff: one bounded attempt per call
                health_check_interval=0,
            )
        except ValueError as error:
            raise StoreError(f"cannot use the {self.description}: {error}") from error
        self.set_if_newer_script = self.client.register_script(_SET_IF_NEWER)
        self.append_script = self.client.register_script(_APPEND_TRANSITIONS)
        self.renew_script = self.client.register_script(_RENEW)
        self.release_script = self.client.register_script(_RELEASE)
        self._journal_seq_key = f"{prefix}journal-seq"

        self._fetch_guard = threading.Lock()
        self._write_guard = threading.Lock()
        self._seen: dict[str, _Seen] = {}
        self._fetched_at = -math.inf
        self._down_until = 0.0
        self._down_reason: str | None = None
        self._marked: dict[str, tuple[Snapshot, Snapshot]] = {}  # key -> (last seen, its "last seen" copy)
        self._pending: dict[str, Snapshot] = {}  # written while Redis was down, newest per key
        self._pending_transitions: list[tuple[Transition, int]] = []
        self._journal: dict[str, tuple[Transition, ...]] = {}
        self._journal_fetched_at = -math.inf
        self._journal_seq: bytes | None = None
        # Shared by the host's processes: the outage flag and the last snapshots seen (None: per process).
        self._host = HostRecord(location, host_id, self.description) if location else None
        # What this process wrote, to write back when Redis lost it: one snapshot per key it polls.
        self._written: dict[str, Snapshot] = {}
        self._recent_transitions: deque[tuple[Transition, int]] = deque(maxlen=MAX_PENDING_TRANSITIONS)
        self._watch_guard = threading.Lock()
        self._watched_at = -math.inf
        self._watch_key: tuple[int, str] | None = None  # (pid, key): a forked child needs its own
        self._watch_key_set = False
        #: How many times this process found Redis had lost what it wrote (``watch()``).
        self.losses = 0

    # -- availability ------------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """``False`` while the store waits before asking Redis again after a failure.

        Another process of the host that found Redis answering again ends the wait at once.
        """
        if time.monotonic() >= self._down_until:
            return True
        return self._host is not None and self._host.outage() is None

    def _down(self) -> str | None:
        """Why Redis does not answer, as the host sees it (every worker alike); ``None`` when it answers."""
        if self._host is not None:
            return self._host.outage()
        return self._down_reason

    def _failed(self, error: Exception, doing: str) -> None:
        reason = _describe(error)
        if self._down_reason is None:
            logger.warning(
                "The %s does not answer (%s: %s); serving the last snapshots seen and keeping new ones "
                "in this process until it answers again", self.description, doing, reason,
            )
        self._down_reason = reason
        self._down_until = time.monotonic() + self.retry_seconds
        if self._host is not None:
            self._host.raise_outage(reason)

    def _recovered(self) -> None:
        if self._down_reason is not None:
            logger.warning("The %s answers again", self.description)
            self._down_reason = None
            self._marked.clear()
        if self._host is not None and self._host.outage() is not None:
            self._host.clear_outage()
            self._marked.clear()
        if self._pending or self._pending_transitions:
            self._flush()

    def _snapshot_key(self, key: str) -> str:
        return f"{self.prefix}snapshot:{key}"

    # -- writer side -------------------------------------------------------------------------------

    def write(self, snapshot: Snapshot) -> None:
        payload = json.dumps(snapshot.to_dict(), separators=(",", ":")).encode()
        if self._host is not None:
            self._host.remember([(snapshot, True)])  # the host's own result: what its workers answer in an outage
        with self._write_guard:
            self._written[snapshot.key] = snapshot
            if self.available:
                try:
                    if self._pending or self._pending_transitions:
                        self._pending[snapshot.key] = snapshot
                        self._flush()
                    else:
                        self.client.set(self._snapshot_key(snapshot.key), payload)
                except redis.RedisError as error:
                    self._failed(error, "writing")
                    self._pending[snapshot.key] = snapshot
                else:
                    self._recovered()
            else:
                self._pending[snapshot.key] = snapshot
        # This process reads its own write at once, whatever the read cache holds.
        self._seen[snapshot.key] = _Seen(payload, snapshot)

    def _flush(self, why: str = "kept during the outage") -> None:
        """Write what was kept while Redis was down, in one pipeline; raises ``redis.RedisError``."""
        snapshots, transitions = dict(self._pending), list(self._pending_transitions)
        if snapshots:
            pipe = self.client.pipeline(transaction=False)
            for key, snapshot in snapshots.items():
                payload = json.dumps(snapshot.to_dict(), separators=(",", ":"))
                self.set_if_newer_script(
                    keys=[self._snapshot_key(key)], args=[payload, repr(snapshot.checked_at.timestamp())], client=pipe
                )
            pipe.execute()
        for transition, retention in transitions:
            self._append([transition], retention)
        for key, snapshot in snapshots.items():
            if self._pending.get(key) is snapshot:
                del self._pending[key]
        del self._pending_transitions[: len(transitions)]
        logger.info("Wrote %d snapshots and %d journal entries %s to the %s",
                    len(snapshots), len(transitions), why, self.description)

    # -- after Redis lost what was written -----------------------------------------------------------

    def watch(self) -> int:
        """Find out (at most once a second) whether Redis lost what this process wrote; returns ``losses``.

        One ``SET <own key> 1 PX ... GET``: the previous value is absent only when Redis no longer holds
        the key this process set a second ago. Then every snapshot this process wrote is written back
        (never over a newer one, with its own ``checked_at``) and so are its recent journal entries
        (entries Redis still holds are skipped by id). Also a Redis probe during an outage: what was
        kept meanwhile is written as soon as Redis answers. Never raises.
        """
        with self._watch_guard:
            started = time.monotonic()
            if started - self._watched_at < WATCH_SECONDS * 0.9 or not self.available:
                return self.losses
            self._watched_at = started
            if self._watch_key is None or self._watch_key[0] != os.getpid():
                self._watch_key = (os.getpid(), f"{self.prefix}writer:{self.host_id}/{os.getpid()}/{uuid.uuid4().hex}")
                self._watch_key_set = False
            try:
                previous = self.client.set(self._watch_key[1], b"1", px=WATCH_KEY_TTL_MS, get=True)
            except redis.RedisError as error:
                with self._write_guard:
                    self._failed(error, "checking its snapshots")
                return self.losses
            with self._write_guard:
                try:
                    if previous is None and self._watch_key_set:
                        self.losses += 1
                        self._write_back()
                    self._watch_key_set = True
                    self._recovered()
                except redis.RedisError as error:
                    self._failed(error, "writing back its snapshots")
            return self.losses

    def _write_back(self) -> None:
        """Queue every snapshot this process wrote and flush, then its recent journal entries; raises ``redis.RedisError``."""
        logger.warning(
            "The %s lost what this process wrote (restarted empty or flushed): writing back %d snapshots "
            "and %d journal entries", self.description, len(self._written), len(self._recent_transitions),
        )
        for key, snapshot in self._written.items():
            self._pending.setdefault(key, snapshot)  # one kept during an outage is the newer
        self._flush("written back")
        recent = list(self._recent_transitions)
        for start in range(0, len(recent), 100):
            batch = recent[start : start + 100]
            by_retention: dict[int, list[Transition]] = {}
            for transition, retention in batch:
                by_retention.setdefault(retention, []).append(transition)
            for retention, transitions in by_retention.items():
                self._append(transitions, retention, remember=False)

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
            return {key: snapshot for key in keys if (snapshot := seen[key].snapshot) is not None}
        # One thread asks Redis; the others answer from what is known rather than queue behind it.
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
            payloads = self.client.mget([self._snapshot_key(key) for key in wanted])
        except redis.RedisError as error:
            self._failed(error, "reading")
            return self._known(keys)
        with self._write_guard:
            try:
                self._recovered()
            except redis.RedisError as error:
                self._failed(error, "writing")
        seen = dict(self._seen)
        changed: list[tuple[Snapshot, bool]] = []
        lost = False
        for key, payload in zip(wanted, payloads):
            previous = seen.get(key)
            if payload is None:
                lost = True
                seen[key] = _Seen(None, None)
            elif previous is None or previous.payload != payload:
                seen[key] = _Seen(payload, decode_snapshot(payload, key, self))
                if seen[key].snapshot is not None:
                    changed.append((seen[key].snapshot, False))
        if self._host is not None:
            if changed:
                self._host.remember(changed)
            if lost:
                # Redis lost a key (restarted empty) or never had it: until its poller writes it back,
                # answer what the host last knew of it; it ages by its own checked_at.
                known = self._host.snapshots()
                for key in wanted:
                    if seen[key].payload is None and key in known:
                        seen[key] = _Seen(None, known[key][0])
        self._seen = seen
        self._fetched_at = started
        return {key: snapshot for key in keys if (snapshot := seen[key].snapshot) is not None}

    def _known(self, keys: tuple[str, ...]) -> dict[str, Snapshot]:
        """What is known while Redis does not answer: the host's last-seen record, the same for every
        worker; without one, this process's own writes, else the last it saw. Marked "last seen"
        unless this host's poller took it since the outage began."""
        down = self._down()
        if self._host is not None:
            known_to_host = self._host.snapshots()
            if known_to_host or not self._seen:
                result = {}
                since = self._host.outage_since
                for key in keys:
                    if key in known_to_host:
                        snapshot, local = known_to_host[key]
                        # Taken here since the outage began: this host's own fresh result, not Redis's last word.
                        own = local and since is not None and snapshot.checked_at.timestamp() >= since
                        result[key] = snapshot if own or not down else self._mark(key, snapshot)
                if not result and keys and down:
                    raise StoreError(f"cannot read the {self.description}: {down}")
                return result
        result: dict[str, Snapshot] = {}
        known = False
        for key in keys:
            if key in self._pending:
                result[key] = self._pending[key]
                known = True
                continue
            entry = self._seen.get(key)
            if entry is None:
                continue
            known = True
            if entry.snapshot is not None:
                result[key] = self._mark(key, entry.snapshot) if self._down_reason else entry.snapshot
        if not known and keys and self._down_reason:
            raise StoreError(f"cannot read the {self.description}: {self._down_reason}")
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

    def _journal_key(self, key: str) -> str:
        return f"{self.prefix}journal:{key}"

    def append_transitions(self, transitions: Sequence[Transition], *, retention: int) -> list[Transition]:
        if not transitions:
            return []
        with self._write_guard:
            if self.available:
                try:
                    if self._pending_transitions:
                        self._flush()
                    return self._append(transitions, retention)
                except redis.RedisError as error:
                    self._failed(error, "writing the journal")
            # Kept for later, and reported as recorded: the transition did happen, receivers hear of it now.
            self._pending_transitions += [(transition, retention) for transition in transitions]
            del self._pending_transitions[:-MAX_PENDING_TRANSITIONS]
            self._journal_fetched_at = -math.inf
            return list(transitions)

    def _append(self, transitions: Sequence[Transition], retention: int, *, remember: bool = True) -> list[Transition]:
        args: list[object] = [max(1, retention)]
        for transition in transitions:
            body = {**transition.to_dict(), "seq": 0}
            args += [transition.id, json.dumps(body, separators=(",", ":"))]
        keys = [self._journal_seq_key] + [self._journal_key(t.key) for t in transitions]
        seqs = self.append_script(keys=keys, args=args, client=self.client)
        self._journal_fetched_at = -math.inf
        if remember:
            self._recent_transitions.extend((transition, retention) for transition in transitions)
        return [dataclasses.replace(t, seq=int(seq)) for t, seq in zip(transitions, seqs) if int(seq)]

    def read_transitions(self, keys: Iterable[str], limit: int) -> list[Transition]:
        keys = tuple(keys)
        journal = self._journal
        fresh = time.monotonic() - self._journal_fetched_at < self.read_cache_seconds
        if not (fresh and all(key in journal for key in keys)) and self.available:
            journal = self._fetch_journal(keys, limit) or journal
        found = [entry for key in keys for entry in journal.get(key, ())]
        buffered = {key for key in keys}
        found += [transition for transition, _ in self._pending_transitions if transition.key in buffered]
        return newest_first(found)[:limit]

    def _fetch_journal(self, keys: tuple[str, ...], limit: int) -> dict[str, tuple[Transition, ...]] | None:
        wanted = list(dict.fromkeys((*keys, *self._journal)))
        started = time.monotonic()
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self._journal_seq_key)
        for key in wanted:
            pipe.lrange(self._journal_key(key), -max(1, limit), -1)
        try:
            seq, *lists = pipe.execute()
        except redis.RedisError as error:
            self._failed(error, "reading the journal")
            return None
        journal = dict(self._journal) if seq == self._journal_seq else {}
        for key, items in zip(wanted, lists):
            if key not in journal or len(journal[key]) < min(limit, len(items)):
                journal[key] = tuple(filter(None, (self._decode_entry(key, item) for item in items)))
        self._journal, self._journal_seq, self._journal_fetched_at = journal, seq, started
        return journal

    def _decode_entry(self, key: str, item: bytes) -> Transition | None:
        try:
            seq, _, body = item.decode().split("\t", 2)
            return Transition.from_dict({**json.loads(body), "seq": int(seq)})
        except (ValueError, KeyError, TypeError, OverflowError, UnicodeDecodeError):
            logger.warning("Ignoring an unreadable journal entry for %s in the %s", key, self.description)
            return None

    # -- election ----------------------------------------------------------------------------------

    def lock(self, name: str) -> ElectionLock:
        return RedisLease(self, f"{self.prefix}lock:{name}", self.lease_seconds)

    def host_lock(self, name: str) -> ElectionLock:
        """A file lock: it needs no Redis, so the host's own checks keep running when Redis is down."""
        return host_lock(self.location, name, self.host_id, self.description)

    def close(self) -> None:
        self.client.close()
