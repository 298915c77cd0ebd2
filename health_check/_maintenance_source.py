"""Which maintenance a check is in now: the store's silences and the settings' windows, for the poller.

The poller asks for every run (``of()``) and every second (``changed()``, through the poller's
``rerun``), so a silence set by ``manage.py health_check_silence`` or a window that opens at 02:00
reaches the check's snapshot within about a second, not at its next poll minutes later. Silences are
read from the store at most once a second; while the store does not answer, the last ones read stay
in force (an outage of the store must not end a maintenance and page everyone).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from health_check._urls import describe_error
from health_check.conf import get_config
from health_check.maintenance import Maintenance, Silence, Window, active_maintenance, parse_windows
from health_check.specs import CheckSpec
from health_check.store.base import Store, StoreError

__all__ = ["MaintenanceSource", "read_silences", "spec_targets"]

logger = logging.getLogger(__name__)

#: How long silences read from the store are reused (seconds).
READ_EVERY = 1.0


def read_silences(store: Store) -> list[Silence]:
    """The store's silences; one that is not one (foreign or corrupt data) is logged and skipped."""
    found = []
    for data in store.read_silences():
        try:
            found.append(Silence.from_dict(data))
        except (ValueError, KeyError, TypeError, OverflowError):
            logger.warning("Ignoring an unreadable silence in the %s", store.description)
    return found


def spec_targets(spec: CheckSpec, endpoints: Mapping[str, Iterable[str]] | None = None) -> frozenset[str]:
    """The names a silence, a window or a ``depends_on`` may call ``spec`` by: its name, its title, its
    key, its class (``Redis`` or ``health_check.contrib.redis.Redis``: every check of that class), and
    the URL names of the endpoints (``endpoints``: URL name -> check keys) that list it."""
    kind = type(spec.check)
    names = {
        spec.name,
        spec.key,
        spec.key.split("@", 1)[0],
        kind.__qualname__,
        f"{kind.__module__}.{kind.__qualname__}",
    }
    if spec.title:
        names.add(spec.title)
    for url_name, keys in (endpoints or {}).items():
        if spec.key in keys:
            names.add(url_name)
    return frozenset(names)


class MaintenanceSource:
    """Silences (the store) and windows (``HEALTH_CHECK["MAINTENANCE_WINDOWS"]``) of the checks a poller runs.

    Args:
        store: Where silences are kept.
        endpoints: URL name -> the check keys of that endpoint, so a silence may name an endpoint.
    """

    def __init__(self, store: Store, endpoints: Mapping[str, Iterable[str]] | None = None) -> None:
        self.store = store
        self.endpoints = {name: frozenset(keys) for name, keys in (endpoints or {}).items()}
        self._targets: dict[str, frozenset[str]] = {}
        self._silences: list[Silence] = []
        self._read_at = float("-inf")
        self._trouble: str | None = None
        self._windows_of: tuple[int, list[Window]] | None = None
        self._guard = threading.Lock()
        self._failed: str | None = None  # the last error of of(), logged once

    def silences(self) -> list[Silence]:
        """The store's silences, read at most once a second; the last ones read while it does not answer."""
        with self._guard:
            if time.monotonic() - self._read_at < READ_EVERY:
                return self._silences
            self._read_at = time.monotonic()
            try:
                self._silences = read_silences(self.store)
            except StoreError as error:
                if str(error) != self._trouble:
                    logger.warning("Cannot read the silences, keeping the last ones read: %s", error)
                self._trouble = str(error)
            else:
                self._trouble = None
            return self._silences

    def windows(self) -> list[Window]:
        """The settings' windows, parsed once per settings; wrong ones are logged (E003 says more) and ignored."""
        config = get_config()
        cached = self._windows_of
        if cached is not None and cached[0] == id(config):
            return cached[1]
        try:
            windows = parse_windows(config["MAINTENANCE_WINDOWS"])
        except ValueError as error:
            logger.error('HEALTH_CHECK["MAINTENANCE_WINDOWS"] is wrong: %s; no window applies', error)
            windows = []
        self._windows_of = (id(config), windows)
        return windows

    def targets(self, spec: CheckSpec) -> frozenset[str]:
        found = self._targets.get(spec.key)
        if found is None:
            found = self._targets[spec.key] = spec_targets(spec, self.endpoints)
        return found

    def of(self, spec: CheckSpec, moment: Any) -> Maintenance | None:
        """The maintenance ``spec`` is in at ``moment`` (an aware datetime), or ``None``. Never raises:
        whatever goes wrong (foreign data in the store) is logged once and no maintenance applies."""
        try:
            return active_maintenance(self.targets(spec), moment, self.silences(), self.windows())
        except Exception as error:  # noqa: BLE001 - the poller polls whatever happens to maintenance
            text = describe_error(error)
            if text != self._failed:
                logger.error("Cannot tell whether %s is in maintenance, so it is not: %s", spec.name, text)
            self._failed = text
            return None

    def changed(self, specs: Sequence[CheckSpec], recorded: Mapping[str, Maintenance | None], moment: Any) -> list:
        """The specs whose maintenance at ``moment`` is not the one their last snapshot recorded."""
        again = []
        for spec in specs:
            if spec.key not in recorded:
                continue  # not run yet: its first run asks
            now, before = self.of(spec, moment), recorded[spec.key]
            if _identity(now) != _identity(before):
                again.append(spec)
        return again


def _identity(maintenance: Maintenance | None) -> tuple | None:
    if maintenance is None:
        return None
    return (maintenance.source, maintenance.until, maintenance.fail_probes, maintenance.reason)
