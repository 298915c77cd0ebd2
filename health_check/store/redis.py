"""A fleet: snapshots in one Redis shared by every host, and a lease so one poller polls fleet checks.

``RedisBackend`` is a thin adapter: each contract method is one Redis round trip (``MGET``, ``SET``, a
pipeline, a Lua script from ``_redis_scripts``), bounded by socket timeouts, its failures raised as
``StoreError``. ``RedisStore`` is that backend inside ``ResilientStore`` (``_resilient``): the read
cache, the answers from the host's last-seen record while Redis does not answer, the writes kept
until it answers again, and the write-back after Redis lost what was written (docs/fleet.md). The
fleet poller's lease is ``RedisLease`` (``_redis_lease``); the host's poller of host-scoped checks
holds a file lock (``_locks``), which needs no Redis.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from health_check.snapshot import Snapshot
from health_check.store._locks import host_lock
from health_check.store._redis_lease import RedisLease
from health_check.store._redis_scripts import APPEND_TRANSITIONS, SET_IF_NEWER, SET_INDEX, describe
from health_check.store._resilient import MAX_PENDING_TRANSITIONS, ResilientStore
from health_check.store._urls import redact_url
from health_check.store.base import (
    MAX_INDEXES,
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
)

__all__ = ["MAX_PENDING_TRANSITIONS", "RedisBackend", "RedisLease", "RedisStore", "redact_url"]

logger = logging.getLogger(__name__)

#: A writer's own marker expires this long after its last ``watch()`` (a poller that stopped leaves none behind).
WATCH_KEY_TTL_MS = 60_000


def _dumps(data: object) -> str:
    return json.dumps(data, separators=(",", ":"))


class RedisBackend(Store):
    """The store contract on one Redis database, one round trip per call; no cache, no buffer.

    Args:
        url: ``redis://[user:password@]host:port/db``, ``rediss://...`` or ``unix://...``.
        host_id: This host's identity: host-scoped snapshots are kept per host.
        lease_seconds: The fleet poller's lease (``lock()``).
        prefix: Prefix of every Redis key.
        connect_timeout: Seconds to open a connection.
        socket_timeout: Seconds to wait for any answer.
    """

    can_lose_writes = True  # a restart without persistence, a flush, a failover to an empty replica

    def __init__(
        self,
        url: str,
        *,
        host_id: str,
        lease_seconds: float = 10.0,
        prefix: str = "health_check:",
        connect_timeout: float = 0.25,
        socket_timeout: float = 0.5,
    ) -> None:
        self.url = redact_url(url)
        self.description = f"Redis store at {self.url}"
        self.host_id = host_id
        self.lease_seconds = lease_seconds
        self.prefix = prefix
        try:
            self.client = redis.Redis.from_url(
                url,
                socket_connect_timeout=connect_timeout,
                socket_timeout=socket_timeout,
                retry=Retry(NoBackoff(), 0),  # the wrapper's own backoff: one bounded attempt per call
                health_check_interval=0,
            )
        except ValueError as error:
            raise StoreError(f"cannot use the {self.description}: {error}") from error
        self._set_if_newer = self.client.register_script(SET_IF_NEWER)
        self._append = self.client.register_script(APPEND_TRANSITIONS)
        self._set_index = self.client.register_script(SET_INDEX)
        self._journal_seq_key = f"{prefix}journal-seq"
        self._silences_key = f"{prefix}silences"  # fleet-wide, as the lease: one maintenance for every host
        self._index_key = f"{prefix}index:{host_id}"  # host-scoped: each host's code and settings are its own

    def _error(self, error: redis.RedisError, doing: str) -> StoreError:
        reason = describe(error)
        return StoreError(f"cannot {doing} the {self.description}: {reason}", reason=reason)

    def _snapshot_key(self, key: str) -> str:
        return f"{self.prefix}snapshot:{key}"

    def _journal_key(self, key: str) -> str:
        return f"{self.prefix}journal:{key}"

    def write(self, snapshot: Snapshot) -> None:
        try:
            self.client.set(self._snapshot_key(snapshot.key), _dumps(snapshot.to_dict()).encode())
        except redis.RedisError as error:
            raise self._error(error, "write to") from error

    def write_if_newer(self, snapshots: Sequence[Snapshot]) -> None:
        """One pipeline of the ``SET_IF_NEWER`` script: atomic per key, against every other writer."""
        pipe = self.client.pipeline(transaction=False)
        for snapshot in snapshots:
            self._set_if_newer(
                keys=[self._snapshot_key(snapshot.key)],
                args=[_dumps(snapshot.to_dict()), repr(snapshot.checked_at.timestamp())],
                client=pipe,
            )
        try:
            pipe.execute()
        except redis.RedisError as error:
            raise self._error(error, "write to") from error

    def read(self, keys: Iterable[str]) -> dict[str, Snapshot]:
        keys = list(keys)
        if not keys:
            return {}
        try:
            payloads = self.client.mget([self._snapshot_key(key) for key in keys])
        except redis.RedisError as error:
            raise self._error(error, "read") from error
        found = {key: decode_snapshot(payload, key, self) for key, payload in zip(keys, payloads)}
        return {key: snapshot for key, snapshot in found.items() if snapshot is not None}

    def renew_marker(self, name: str) -> bool:
        """``SET <marker> 1 PX ... GET``: the previous value is absent when Redis lost the marker."""
        try:
            return self.client.set(f"{self.prefix}{name}", b"1", px=WATCH_KEY_TTL_MS, get=True) is not None
        except redis.RedisError as error:
            raise self._error(error, "reach") from error

    # Journal entries are kept as "<seq>\t<id>\t<json>" in one list per key, the json with seq 0.

    def append_journal(
        self, entries: Sequence[Mapping[str, Any]], *, retention: int, max_age: float | None = None
    ) -> list[JournalEntry]:
        if not entries:
            return []
        args: list[str | int | float] = [max(1, retention)]
        for entry in entries:  # each entry's cutoff from its own ``at``, as ``base.trimmed()`` does
            cutoff = "" if max_age is None else float(entry["at"]) - max_age
            args += [entry["id"], _dumps({**entry, "seq": 0}), cutoff]
        keys = [self._journal_seq_key] + [self._journal_key(entry["key"]) for entry in entries]
        try:
            seqs = self._append(keys=keys, args=args, client=self.client)
        except redis.RedisError as error:
            raise self._error(error, "write the journal to") from error
        return [{**entry, "seq": int(seq)} for entry, seq in zip(entries, seqs) if int(seq)]

    def read_journal(self, keys: Iterable[str], limit: int) -> list[JournalEntry]:
        keys = list(dict.fromkeys(keys))
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.lrange(self._journal_key(key), -max(1, limit), -1)
        try:
            lists = pipe.execute()
        except redis.RedisError as error:
            raise self._error(error, "read the journal from") from error
        found = [entry for key, items in zip(keys, lists) for item in items if (entry := self._decode_entry(key, item))]
        return newest_first(found)[:limit]

    def _decode_entry(self, key: str, item: bytes) -> JournalEntry | None:
        try:
            seq, _, body = item.decode().split("\t", 2)
            entry = {**json.loads(body), "seq": int(seq)}
        except (ValueError, TypeError, UnicodeDecodeError):
            entry = None
        if not is_entry(entry):
            logger.warning("Ignoring an unreadable journal entry for %s in the %s", key, self.description)
            return None
        return entry

    # Silences: one hash, id -> JSON. Two operators writing at once each keep theirs (one field each).

    def write_silence(self, silence: Mapping[str, Any]) -> None:
        stored = self._hgetall_silences("write the silence to")
        kept = kept_silences(stored, silence, time.time())
        ended = [id_ for id_ in {*stored, silence["id"]} if id_ not in kept]  # the given one too, when over
        pipe = self.client.pipeline(transaction=True)
        if ended:
            pipe.hdel(self._silences_key, *ended)
        if silence["id"] in kept:
            pipe.hset(self._silences_key, silence["id"], _dumps(kept[silence["id"]]))
        try:
            pipe.execute()
        except redis.RedisError as error:
            raise self._error(error, "write the silence to") from error

    def read_silences(self) -> list[dict[str, Any]]:
        return list(self._hgetall_silences("read the silences from").values())

    def delete_silence(self, silence_id: str) -> bool:
        try:
            return bool(self.client.hdel(self._silences_key, silence_id))
        except redis.RedisError as error:
            raise self._error(error, "delete the silence from") from error

    def _hgetall_silences(self, what: str) -> dict[str, Any]:
        try:
            raw = self.client.hgetall(self._silences_key)
        except redis.RedisError as error:
            raise self._error(error, what) from error
        found = {}
        for id_, payload in raw.items():
            try:
                value = json.loads(payload)
            except (ValueError, UnicodeDecodeError):
                value = None
            if isinstance(value, dict):
                found[id_.decode(errors="replace") if isinstance(id_, bytes) else str(id_)] = value
            else:
                logger.warning("Ignoring an unreadable silence in the %s", self.description)
        return found

    def write_index(self, index: Mapping[str, Any]) -> None:
        payload = encode_index(index)
        try:
            self._set_index(
                keys=[self._index_key, f"{self.prefix}indexes"],
                args=[payload, repr(time.time()), MAX_INDEXES],
                client=self.client,
            )
        except redis.RedisError as error:
            raise self._error(error, "write the endpoint index to") from error

    def read_index(self) -> dict[str, Any] | None:
        try:
            payload = self.client.get(self._index_key)
        except redis.RedisError as error:
            raise self._error(error, "read the endpoint index from") from error
        return decode_index(payload, self)

    def lock(self, name: str) -> ElectionLock:
        return RedisLease(
            self.client,
            f"{self.prefix}lock:{name}",
            self.lease_seconds,
            owner=self.host_id or "host",
            description=self.description,
        )

    def close(self) -> None:
        self.client.close()


class RedisStore(ResilientStore):
    """Snapshots in a Redis database shared by every host of a fleet, answering while Redis does not.

    Args:
        url: ``redis://[user:password@]host:port/db``, ``rediss://...`` or ``unix://...``.
        location: Directory of this host's election lock file (host-scoped checks) and of the
            outage flag and last-seen snapshots its processes share.
        host_id: This host's identity: host-scoped snapshots are kept per host.
        lease_seconds: The fleet poller's lease.
        prefix: Prefix of every Redis key (one database per project avoids the need to change it).
        connect_timeout: Seconds to open a connection.
        socket_timeout: Seconds to wait for any answer.
        read_cache_seconds: How long a read is reused before Redis is asked again; 0 always asks.
        retry_seconds: How long the store stops asking after Redis failed to answer.
    """

    backend: RedisBackend

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
        read_cache_seconds: float = 0.5,
        retry_seconds: float = 1.0,
    ) -> None:
        backend = RedisBackend(
            url,
            host_id=host_id,
            lease_seconds=lease_seconds,
            prefix=prefix,
            connect_timeout=connect_timeout,
            socket_timeout=socket_timeout,
        )
        super().__init__(
            backend,
            location=location,
            read_cache_seconds=read_cache_seconds,
            retry_seconds=retry_seconds,
            record_name="redis",
            logger=logger,
        )

    @property
    def url(self) -> str:
        """The URL without user name and password."""
        return self.backend.url

    @property
    def client(self) -> redis.Redis:
        return self.backend.client

    @property
    def prefix(self) -> str:
        return self.backend.prefix

    @property
    def lease_seconds(self) -> float:
        return self.backend.lease_seconds

    @lease_seconds.setter
    def lease_seconds(self, value: float) -> None:
        self.backend.lease_seconds = value

    def host_lock(self, name: str) -> ElectionLock:
        """A file lock: it needs no Redis, so the host's own checks keep running when Redis is down."""
        return host_lock(self.location, name, self.host_id, self.description)
