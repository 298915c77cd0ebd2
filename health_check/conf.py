"""The ``HEALTH_CHECK`` settings dict: defaults in one literal, read through a cached ``get_config()``.

Nothing reads settings at import time, and a ``setting_changed`` receiver clears the cache, so
``override_settings(HEALTH_CHECK=...)`` works in tests. Every value is validated here, where it is
read, as well as by the system checks (``system_checks.py`` reports the same ``VALIDATORS``): system
checks do not run under gunicorn, and a bad number (``ELECTION_RETRY: -1``) must not make a server
loop. A bad value is logged once and replaced by its default. ``STORE`` is the exception: a store we
cannot read is reported by every endpoint (``health_check.store``), never swapped for another one.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import logging
import os
import secrets
import tempfile
import urllib.parse
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

__all__ = [
    "CONFIG_SETTINGS",
    "DEFAULTS",
    "LEGACY_KEYS",
    "SECRET_KEYS",
    "VALIDATORS",
    "default_store_location",
    "get_config",
    "seconds",
]

logger = logging.getLogger(__name__)

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
    # How long the store keeps each check's journal (its changes of state): uptime over 30 days, the
    # status page's daily bars and `health_check_report --days N` read it. The newest older entry stays
    # too: it tells the state the kept span starts in.
    "JOURNAL_MAX_AGE": datetime.timedelta(days=30),
    # Recurring maintenance: [{"checks": [...], "weekdays": [...], "start": "02:00", "end": "04:00",
    # "timezone": "Europe/Berlin", "reason": "...", "fail_probes": False}]; see health_check.maintenance.
    "MAINTENANCE_WINDOWS": [],
    # Journal entries kept per check at most, whatever their age: the bound on the store's journal
    # (1000 covers 30 days of a check that changes state up to 33 times a day).
    "JOURNAL_RETENTION": 1000,
    # What requests without a valid bearer token see: "full" (messages, as django-health-check),
    # "names" (check names and states, no messages) or "status" (the overall status only).
    "ANONYMOUS_DETAIL": "full",
    # Scheme and host that feed links and ids start with, e.g. "https://status.example.com". None: the
    # request's host when ALLOWED_HOSTS admits it, else the links are relative (never an unvalidated Host).
    "BASE_URL": None,
    # Bearer token (or a list of tokens being rotated) a beat POSTed to HeartbeatView must carry, unless
    # the view has its own token=. None: every POSTed beat is refused (system check health_check.E007).
    "HEARTBEAT_TOKEN": None,
}

# Keys django-health-check 3.x read from the same dict; reported by system check health_check.W002.
LEGACY_KEYS = frozenset({"DISK_USAGE_MAX", "MEMORY_MIN", "SUBSETS"})

# Keys whose value no message, log line or system check may show.
SECRET_KEYS = frozenset({"AUTH_TOKEN", "HEARTBEAT_TOKEN"})


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # not NaN


def _positive_number(value: Any) -> bool:
    return _number(value) and 0 < value < float("inf")


def _positive_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _duration(value: Any) -> bool:
    if isinstance(value, datetime.timedelta):
        return value > datetime.timedelta(0)
    return _positive_number(value)


def _windows(value: Any) -> bool:
    """The shape only: each window's content is checked where it is read (``maintenance.parse_windows``)
    and by system check E003, which this leaf module cannot import."""
    return isinstance(value, (list, tuple)) and all(isinstance(entry, dict) for entry in value)


def _origin(value: Any) -> bool:
    """An http(s) scheme and host (and port), nothing else: the request's path is appended to it."""
    if value is None:
        return True
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return False
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and parts.path in ("", "/")
        and not (parts.query or parts.fragment or parts.username or parts.password)
        and "?" not in value
        and "#" not in value
    )


# key -> (accepts the value, what is expected: said by the log line and the system check).
# STORE is read by health_check.store, which says precisely what is wrong with it.
VALIDATORS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "STORE": (lambda v: isinstance(v, str) and bool(v.strip()), "a store name, a redis:// URL or a dotted path"),
    "STORE_LOCATION": (lambda v: v is None or (isinstance(v, str) and bool(v)), "a directory path or None"),
    "HOST_ID": (
        lambda v: v is None or (isinstance(v, str) and bool(v) and not any(c.isspace() for c in v)),
        "None (the hostname) or a non-empty string without spaces",
    ),
    "ELECTION_LEASE": (_duration, "a positive timedelta, e.g. timedelta(seconds=10)"),
    "POLLER_SCOPES": (
        lambda v: isinstance(v, (list, tuple)) and bool(v) and set(v) <= {"host", "fleet"},
        'a non-empty list of "host" and/or "fleet"',
    ),
    "POLLER_AUTOSTART": (lambda v: isinstance(v, bool), "True or False"),
    "STALE_AFTER_INTERVALS": (_positive_number, "a number above 0, e.g. 3"),
    "WARNINGS_AS_ERRORS": (lambda v: isinstance(v, bool), "True or False"),
    "POLL_JITTER": (lambda v: _number(v) and 0 <= v <= 1, "0 to 1"),
    "ELECTION_RETRY": (_duration, "a positive timedelta, e.g. timedelta(seconds=1)"),
    "MAX_STUCK_RUNS": (_positive_integer, "a positive integer"),
    "POLLER_THREADS": (_positive_integer, "a positive integer"),
    "AUTH_TOKEN": (
        lambda v: v is None or (isinstance(v, str) and bool(v.strip())) or _token_list(v),
        "a non-empty string, a list of them (tokens being rotated) or None",
    ),
    # Not a number of seconds, as other durations may be: 30 would mean 30 seconds of history, not days.
    "JOURNAL_MAX_AGE": (
        lambda v: isinstance(v, datetime.timedelta) and v > datetime.timedelta(0),
        "a positive timedelta, e.g. timedelta(days=30)",
    ),
    "JOURNAL_RETENTION": (_positive_integer, "a positive integer (transitions kept per check)"),
    "MAINTENANCE_WINDOWS": (
        _windows,
        'a list of windows such as {"checks": ["replica"], "weekdays": ["sun"], "start": "02:00", '
        '"end": "04:00", "timezone": "Europe/Berlin"}',
    ),
    "ANONYMOUS_DETAIL": (lambda v: v in ("full", "names", "status"), '"full", "names" or "status"'),
    "BASE_URL": (_origin, 'None or a scheme and host without a path, e.g. "https://status.example.com"'),
    "HEARTBEAT_TOKEN": (
        lambda v: v is None or (isinstance(v, str) and bool(v.strip())) or _token_list(v),
        "a non-empty string, a list of them (tokens being rotated) or None",
    ),
}


def _token_list(value: Any) -> bool:
    """Tokens being rotated: a list of strings with at least one not blank (a blank one is an unset variable)."""
    return (
        isinstance(value, (list, tuple))
        and all(isinstance(token, str) for token in value)
        and any(token.strip() for token in value)
    )


def journal_bounds(config: dict[str, Any] | None = None) -> tuple[int, float]:
    """How much journal the store keeps per check: (``JOURNAL_RETENTION`` entries, ``JOURNAL_MAX_AGE`` in seconds)."""
    config = get_config() if config is None else config
    return int(config["JOURNAL_RETENTION"]), config["JOURNAL_MAX_AGE"].total_seconds()


def shown_value(key: str, value: Any) -> str:
    """``value`` as a message may show it: a secret setting by its type only."""
    if key in SECRET_KEYS:
        return f"a {type(value).__name__}" if value else "empty"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr() raises is still reported
        return f"a {type(value).__name__}"
    return text if len(text) <= 80 else text[:77] + "..."


def default_store_location() -> str:
    """A per-project directory every process of the project on this host agrees on."""
    anchor = f"{getattr(settings, 'BASE_DIR', '')}|{getattr(settings, 'ROOT_URLCONF', '')}"
    digest = hashlib.blake2b(anchor.encode(), digest_size=6).hexdigest()
    user = os.getuid() if hasattr(os, "getuid") else "user"
    return os.path.join(tempfile.gettempdir(), f"django-health-snapshot-{user}-{digest}")


def seconds(value: datetime.timedelta | float) -> float:
    """A duration setting in seconds: system checks accept a timedelta or a plain number of seconds."""
    return value.total_seconds() if isinstance(value, datetime.timedelta) else float(value)


# Settings that guard what anonymous requests see: a value we cannot read never opens more than it
# closes. Other keys fall back to their default.
_FAIL_CLOSED: dict[str, tuple[Callable[[], Any], str]] = {
    "AUTH_TOKEN": (lambda: secrets.token_urlsafe(32), "a token nobody knows (every request is refused)"),
    "ANONYMOUS_DETAIL": (lambda: "status", '"status" (anonymous requests see the overall status only)'),
    "HEARTBEAT_TOKEN": (lambda: secrets.token_urlsafe(32), "a token nobody knows (every POSTed beat is refused)"),
}


@functools.cache
def get_config() -> dict[str, Any]:
    """The merged settings: defaults, then ``settings.HEALTH_CHECK``, then the legacy auth token setting.

    Invalid values are logged once (per process and settings) and replaced by their default, except
    those that guard what anonymous requests see, which fail closed: a token nobody knows replaces a
    bad auth token (the endpoints refuse every request instead of opening up), "status" a bad
    ``ANONYMOUS_DETAIL``.
    """
    user = getattr(settings, "HEALTH_CHECK", None)
    config = dict(DEFAULTS)
    if isinstance(user, dict):
        config.update(user)
    elif user is not None:
        logger.error(
            "HEALTH_CHECK must be a dict, got %s; using the defaults. Run manage.py check for details.",
            type(user).__name__,
        )
    if config.get("AUTH_TOKEN") is None:
        config["AUTH_TOKEN"] = getattr(settings, "HEALTH_CHECK_AUTH_TOKEN", None)
    for key in ("AUTH_TOKEN", "HEARTBEAT_TOKEN"):
        if _token_list(config[key]):
            # Tokens being rotated: blank entries (an unset environment variable) are dropped. A list with
            # no token left is invalid below and fails closed: a list says tokens are wanted.
            rotated = tuple(token for token in config[key] if token.strip())
            config[key] = rotated[0] if len(rotated) == 1 else rotated
        if isinstance(config[key], str) and not config[key].strip():
            config[key] = None  # e.g. an unset environment variable: no token, as before (system check E001/E003)
    for key, (valid, expected) in VALIDATORS.items():
        value = config[key]
        if key == "STORE" or valid(value):
            continue
        replacement, said = _FAIL_CLOSED.get(key, (lambda key=key: DEFAULTS[key], None))
        config[key] = replacement()
        logger.error(
            'HEALTH_CHECK["%s"] is %s, expected %s; using %s instead. Run manage.py check for details.',
            key,
            shown_value(key, value),
            expected,
            said or repr(config[key]),
        )
    if config["BASE_URL"]:
        config["BASE_URL"] = config["BASE_URL"].rstrip("/")  # request paths start with one
    if not config.get("STORE_LOCATION"):
        config["STORE_LOCATION"] = default_store_location()
    return config


#: Django settings ``get_config()`` depends on; a change of one (``override_settings``) clears it.
CONFIG_SETTINGS = frozenset({"HEALTH_CHECK", "HEALTH_CHECK_AUTH_TOKEN", "BASE_DIR", "ROOT_URLCONF"})


@receiver(setting_changed)
def _clear_config(*, setting: str, **kwargs: Any) -> None:
    # What depends on the config (the store) listens for the same signal itself: conf imports nothing of ours.
    if setting in CONFIG_SETTINGS:
        get_config.cache_clear()
