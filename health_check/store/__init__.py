"""Snapshot stores. ``get_store()`` builds the one ``HEALTH_CHECK["STORE"]`` names, once per process."""

from __future__ import annotations

import os
import socket
import threading

from django.utils.module_loading import import_string

from health_check.store.base import ElectionLock, Store, StoreError

__all__ = ["REDIS_SCHEMES", "ElectionLock", "Store", "StoreError", "build_store", "get_store", "reset_store"]

_store: Store | None = None
_guard = threading.Lock()
# Stores inherited across fork are dropped, never closed: closing would touch the parent's SQLite handles.
_abandoned: list[Store] = []


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def build_store(spec: str, location: str, *, host_id: str | None = None, lease_seconds: float = 10.0) -> Store:
    """Build a store from its setting value: ``"diskcache"``, ``"memory"``, a Redis URL or a dotted class path.

    ``host_id`` and ``lease_seconds`` only matter to a store shared by hosts (Redis); ``location`` is
    then the directory of the per-host election lock.
    """
    if spec.startswith(REDIS_SCHEMES):
        try:
            from health_check.store.redis import RedisStore
        except ImportError as error:
            raise StoreError(
                f'HEALTH_CHECK["STORE"] is a Redis URL but the redis package is not installed ({error}); '
                'pip install "django-health-snapshot[redis]"'
            ) from error
        return RedisStore(spec, location=location, host_id=host_id or socket.gethostname(), lease_seconds=lease_seconds)
    if spec == "diskcache":
        from health_check.store.diskcache import DiskcacheStore

        return DiskcacheStore(location)
    if spec == "memory":
        from health_check.store.memory import MemoryStore

        return MemoryStore()
    try:
        store_class = import_string(spec)
    except ImportError as error:
        raise StoreError(f'HEALTH_CHECK["STORE"] is {spec!r}, which cannot be imported: {error}') from error
    return store_class(location)


def get_store() -> Store:
    """The process-wide store of the current settings."""
    global _store
    store = _store
    if store is None:
        with _guard:
            if _store is None:
                from health_check.conf import get_config, seconds

                config = get_config()
                _store = build_store(
                    config["STORE"],
                    config["STORE_LOCATION"],
                    host_id=config["HOST_ID"],
                    lease_seconds=seconds(config["ELECTION_LEASE"]),
                )
            store = _store
    return store


def reset_store() -> None:
    """Close and forget the current store, so the next ``get_store()`` follows changed settings."""
    global _store
    with _guard:
        store, _store = _store, None
    if store is not None:
        store.close()


def _after_fork_in_child() -> None:
    # No locking here: the parent may have been holding _guard in another thread when it forked.
    global _store, _guard
    if _store is not None:
        _abandoned.append(_store)
    _store = None
    _guard = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
