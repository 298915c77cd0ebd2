"""Snapshot stores. ``get_store()`` builds the one ``HEALTH_CHECK["STORE"]`` names, once per process."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from health_check._fork import reset_after_fork
from health_check._urls import first_line
from health_check.conf import CONFIG_SETTINGS, get_config, seconds
from health_check.store._setting import REDIS_SCHEMES as _REDIS_SCHEME_NAMES
from health_check.store._setting import StoreSetting, StoreSettingError, parse_store_setting
from health_check.store.base import ElectionLock, Store, StoreError

__all__ = ["REDIS_SCHEMES", "ElectionLock", "Store", "StoreError", "build_store", "get_store", "reset_store"]

_store: Store | None = None
_guard = threading.Lock()
# Stores inherited across fork are dropped, never closed: closing would touch the parent's SQLite handles.
_abandoned: list[Store] = []


#: URL prefixes of a Redis store, as written in lower case (``Redis://`` is one too: schemes are case-insensitive).
REDIS_SCHEMES = tuple(f"{scheme}://" for scheme in _REDIS_SCHEME_NAMES)

#: How long a store that could not be built is not tried again (seconds): every request in between
#: answers with the same error at the cost of a lookup, and a fixed setting or directory is picked up
#: this soon after, without a restart.
RETRY_SECONDS = 1.0
_failure: tuple[float, StoreError] | None = None


def build_store(spec: object, location: str, *, host_id: str | None = None, lease_seconds: float = 10.0) -> Store:
    """Build a store from its setting value: ``"diskcache"``, ``"memory"``, a Redis URL or a dotted class path.

    ``host_id`` and ``lease_seconds`` only matter to a store shared by hosts (Redis); ``location`` is
    then the directory of the per-host election lock. Whatever goes wrong (a value that is no store, a
    class that cannot be imported or raises while it is built, a directory that cannot be written)
    raises ``StoreError`` with one line that names the setting and shows no credential.
    """
    try:
        setting = parse_store_setting(spec)
    except StoreSettingError as error:
        raise StoreError(f"{error.message} {error.hint}") from None
    try:
        return _build(setting, location, host_id=host_id, lease_seconds=lease_seconds)
    except StoreError:
        raise
    except Exception as error:  # noqa: BLE001 - a store that cannot be built must never stop the site
        raise StoreError(
            f'HEALTH_CHECK["STORE"] is "{setting.shown}", which could not be built: {_one_line(error)}'
        ) from None


def _build(setting: StoreSetting, location: str, *, host_id: str | None, lease_seconds: float) -> Store:
    if setting.kind == "redis":
        try:
            from health_check.store.redis import RedisStore
        except ImportError:
            raise StoreError(
                f'HEALTH_CHECK["STORE"] is "{setting.shown}" but the redis package is not installed; '
                'pip install "django-health-snapshot[redis]"'
            ) from None
        return RedisStore(
            setting.value, location=location, host_id=host_id or socket.gethostname(), lease_seconds=lease_seconds
        )
    if setting.kind == "diskcache":
        from health_check.store.diskcache import DiskcacheStore

        return DiskcacheStore(location)
    if setting.kind == "memory":
        from health_check.store.memory import MemoryStore

        return MemoryStore()
    return _build_class(setting.value, location)


def _build_class(path: str, location: str) -> Store:
    try:
        store_class = import_string(path)
    except ImportError as error:
        raise StoreError(f'HEALTH_CHECK["STORE"] is "{path}", which cannot be imported: {_one_line(error)}') from None
    if not (isinstance(store_class, type) and issubclass(store_class, Store)):
        raise StoreError(f'HEALTH_CHECK["STORE"] is "{path}", which is not a health_check.store.base.Store subclass.')
    factory: Any = store_class  # the contract builds a store with its location (base.Store takes none)
    return factory(location)


def _one_line(error: BaseException) -> str:
    """``TypeError: first line of the message``, with any URL's userinfo taken out."""
    message = first_line(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def get_store() -> Store:
    """The process-wide store of the current settings; ``StoreError`` when it cannot be built.

    A failure is remembered for ``RETRY_SECONDS``, so a misconfigured store costs a request nothing
    more than a working one, and is tried again after that.
    """
    global _store, _failure
    store = _store
    if store is None:
        with _guard:
            if _store is None:
                failure = _failure
                if failure is not None and time.monotonic() < failure[0]:
                    raise failure[1]
                config = get_config()
                try:
                    _store = build_store(
                        config["STORE"],
                        config["STORE_LOCATION"],
                        host_id=config["HOST_ID"],
                        lease_seconds=seconds(config["ELECTION_LEASE"]),
                    )
                except StoreError as error:
                    _failure = (time.monotonic() + RETRY_SECONDS, error)
                    raise
                _failure = None
            store = _store
    return store


def reset_store() -> None:
    """Close and forget the current store, so the next ``get_store()`` follows changed settings."""
    global _store, _failure
    with _guard:
        store, _store, _failure = _store, None, None
    if store is not None:
        store.close()


@reset_after_fork
def _after_fork_in_child() -> None:
    # No locking here: the parent may have been holding _guard in another thread when it forked.
    global _store, _guard, _failure
    _failure = None
    if _store is not None:
        _abandoned.append(_store)
    _store = None
    _guard = threading.Lock()


def _reset_on_settings_change(*, setting: str, **kwargs: object) -> None:
    if setting in CONFIG_SETTINGS:
        reset_store()


setting_changed.connect(_reset_on_settings_change, dispatch_uid="health_check.store.reset")
