"""The ``HEALTH_CHECK`` settings dict: defaults in one literal, read through a cached ``get_config()``.

Nothing reads settings at import time, and a ``setting_changed`` receiver clears the cache, so
``override_settings(HEALTH_CHECK=...)`` works in tests. Validation lives in ``system_checks.py``.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import os
import tempfile
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

__all__ = ["DEFAULTS", "LEGACY_KEYS", "default_store_location", "get_config", "seconds"]

DEFAULTS: dict[str, Any] = {
    # Where snapshots live: "diskcache" (one host, no server), "memory" (one process: tests),
    # "redis://host:6379/0" or "rediss://..." (a fleet of hosts sharing one Redis: docs/fleet.md),
    # or a dotted path to a health_check.store.base.Store subclass.
    "STORE": "diskcache",
    # Directory of the diskcache store and its lock file (with Redis: of the per-host election lock);
    # None derives one per project under the temp dir.
    "STORE_LOCATION": None,
    # This host's identity in a Redis store: host-scoped snapshots are kept per host. None: the hostname
    # (a Kubernetes pod's name). Every process of one host must agree on it.
    "HOST_ID": None,
    # Redis store: the fleet poller's lease; if its holder dies, another host takes over within this
    # (plus ELECTION_RETRY). The holder renews it every third of it.
    "ELECTION_LEASE": datetime.timedelta(seconds=10),
    # Which checks this host's pollers campaign for with a Redis store: "host", "fleet" or both.
    # ("host",) on web pods leaves the fleet checks to a dedicated poller deployment.
    "POLLER_SCOPES": ("host", "fleet"),
    # Start the poller inside web server processes (one per host wins the election).
    "POLLER_AUTOSTART": True,
    # A snapshot is stale once older than poll interval × this + the check's timeout.
    "STALE_AFTER_INTERVALS": 3,
    # Warnings answer HTTP 500 like django-health-check; False maps them to 200 (still shown as warnings).
    "WARNINGS_AS_ERRORS": True,
    # Random delay added to each run, as a fraction of the interval, so hosts do not poll in lockstep.
    "POLL_JITTER": 0.1,
    # How often a process that lost the election tries again (seconds): the takeover delay.
    "ELECTION_RETRY": datetime.timedelta(seconds=1),
    # Hung synchronous checks keep their thread; past this many, further runs are refused and reported.
    "MAX_STUCK_RUNS": 8,
    # Threads the scheduler uses to supervise runs (each run also gets its own worker thread).
    "POLLER_THREADS": 10,
    # Bearer token required by every endpoint without its own auth_token; falls back to HEALTH_CHECK_AUTH_TOKEN.
    "AUTH_TOKEN": None,
    # Journal entries (transitions) kept per check in the store; feeds and the status page read them.
    "JOURNAL_RETENTION": 200,
    # What requests without a valid bearer token see: "full" (messages, as django-health-check),
    # "names" (check names and states, no messages) or "status" (the overall status only).
    "ANONYMOUS_DETAIL": "full",
}

# Keys django-health-check 3.x read from the same dict; reported by system check health_check.W002.
LEGACY_KEYS = frozenset({"DISK_USAGE_MAX", "MEMORY_MIN", "SUBSETS"})


def default_store_location() -> str:
    """A per-project directory every process of the project on this host agrees on."""
    anchor = f"{getattr(settings, 'BASE_DIR', '')}|{getattr(settings, 'ROOT_URLCONF', '')}"
    digest = hashlib.blake2b(anchor.encode(), digest_size=6).hexdigest()
    user = os.getuid() if hasattr(os, "getuid") else "user"
    return os.path.join(tempfile.gettempdir(), f"django-health-snapshot-{user}-{digest}")


def seconds(value: datetime.timedelta | float) -> float:
    """A duration setting in seconds: system checks accept a timedelta or a plain number of seconds."""
    return value.total_seconds() if isinstance(value, datetime.timedelta) else float(value)


@functools.cache
def get_config() -> dict[str, Any]:
    """The merged settings: defaults, then ``settings.HEALTH_CHECK``, then the legacy auth token setting."""
    user = getattr(settings, "HEALTH_CHECK", None)
    config = dict(DEFAULTS)
    if isinstance(user, dict):
        config.update(user)
    if config.get("AUTH_TOKEN") is None:
        config["AUTH_TOKEN"] = getattr(settings, "HEALTH_CHECK_AUTH_TOKEN", None)
    if not config.get("STORE_LOCATION"):
        config["STORE_LOCATION"] = default_store_location()
    return config


@receiver(setting_changed)
def _clear_config(*, setting: str, **kwargs: Any) -> None:
    if setting in ("HEALTH_CHECK", "HEALTH_CHECK_AUTH_TOKEN", "BASE_DIR", "ROOT_URLCONF"):
        get_config.cache_clear()
        from health_check.store import reset_store

        reset_store()
