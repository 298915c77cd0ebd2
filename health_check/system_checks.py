"""Start-up checks of our settings and of every endpoint's ``checks=``: id, message, hint.

Ids are stable and documented (docs/reference/system-checks.md):

- ``health_check.E001``: ``HEALTH_CHECK_AUTH_TOKEN`` is set but is not a non-empty string (a bad
  ``HEALTH_CHECK["AUTH_TOKEN"]`` is an E003 like any other ``HEALTH_CHECK`` value).
- ``health_check.E002``: a ``checks=`` entry of an endpoint cannot be imported or built.
- ``health_check.E003``: a ``HEALTH_CHECK`` value has the wrong type or range.
- ``health_check.E004``: the snapshot store cannot be opened.
- ``health_check.E005``: ``HEALTH_CHECK["STORE"]`` is a Redis URL but the redis package is missing.
- ``health_check.W001``: an unknown ``HEALTH_CHECK`` key (probably a typo).
- ``health_check.W002``: a django-health-check 3.x key this package ignores.
"""

from __future__ import annotations

import datetime
import difflib
import urllib.parse
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from health_check.conf import DEFAULTS, LEGACY_KEYS
from health_check.store import REDIS_SCHEMES

__all__ = ["check_endpoints", "check_settings", "check_store"]

_STORES = ("diskcache", "memory")


def _positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _duration(value: Any) -> bool:
    if isinstance(value, datetime.timedelta):
        return value > datetime.timedelta(0)
    return _positive_number(value)


_VALIDATORS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "STORE": (
        lambda v: isinstance(v, str) and bool(v),
        f'one of {", ".join(map(repr, _STORES))}, a redis:// URL or a dotted path',
    ),
    "STORE_LOCATION": (lambda v: v is None or (isinstance(v, str) and bool(v)), "a directory path or None"),
    "POLLER_AUTOSTART": (lambda v: isinstance(v, bool), "True or False"),
    "STALE_AFTER_INTERVALS": (_positive_number, "a number above 0, e.g. 3"),
    "WARNINGS_AS_ERRORS": (lambda v: isinstance(v, bool), "True or False"),
    "POLL_JITTER": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1, "0 to 1"),
    "ELECTION_RETRY": (_duration, "a positive timedelta, e.g. timedelta(seconds=1)"),
    "MAX_STUCK_RUNS": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a positive integer"),
    "POLLER_THREADS": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a positive integer"),
    "AUTH_TOKEN": (lambda v: v is None or (isinstance(v, str) and bool(v.strip())), "a non-empty string or None"),
    "JOURNAL_RETENTION": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
        "a positive integer (transitions kept per check)",
    ),
    "ANONYMOUS_DETAIL": (lambda v: v in ("full", "names", "status"), '"full", "names" or "status"'),
    "HOST_ID": (
        lambda v: v is None or (isinstance(v, str) and bool(v) and not any(c.isspace() for c in v)),
        "None (the hostname) or a non-empty string without spaces",
    ),
    "ELECTION_LEASE": (_duration, "a positive timedelta, e.g. timedelta(seconds=10)"),
    "POLLER_SCOPES": (
        lambda v: isinstance(v, (list, tuple)) and bool(v) and set(v) <= {"host", "fleet"},
        'a non-empty list of "host" and/or "fleet"',
    ),
}


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Validate ``HEALTH_CHECK`` and ``HEALTH_CHECK_AUTH_TOKEN``."""
    messages: list[CheckMessage] = []
    if hasattr(settings, "HEALTH_CHECK_AUTH_TOKEN"):
        token = settings.HEALTH_CHECK_AUTH_TOKEN
        if not isinstance(token, str) or not token.strip():
            messages.append(
                Error(
                    "HEALTH_CHECK_AUTH_TOKEN must be a non-empty string.",
                    hint="Set a non-empty string or remove the setting to disable authentication.",
                    id="health_check.E001",
                )
            )
    user = getattr(settings, "HEALTH_CHECK", {})
    if not isinstance(user, dict):
        return messages + [
            Error(
                f"HEALTH_CHECK must be a dict, got {type(user).__name__}.",
                hint='Write HEALTH_CHECK = {"STORE": "diskcache", ...}; see the settings reference.',
                id="health_check.E003",
            )
        ]
    for key, value in user.items():
        if key in LEGACY_KEYS:
            messages.append(
                Warning(
                    f'HEALTH_CHECK["{key}"] is a django-health-check 3.x setting and is ignored.',
                    hint="Thresholds are check arguments now, e.g. "
                    '("health_check.contrib.psutil.Disk", {"max_disk_usage_percent": 90}).',
                    id="health_check.W002",
                )
            )
        elif key not in DEFAULTS:
            close = difflib.get_close_matches(str(key).upper(), DEFAULTS, n=1)  # keys are upper case
            messages.append(
                Warning(
                    f'HEALTH_CHECK["{key}"] is not a known setting and is ignored.',
                    hint=f'Did you mean "{close[0]}"?' if close else f"Known keys: {', '.join(sorted(DEFAULTS))}.",
                    id="health_check.W001",
                )
            )
        else:
            valid, expected = _VALIDATORS[key]
            if not valid(value):
                messages.append(
                    Error(
                        f'HEALTH_CHECK["{key}"] is {value!r}, expected {expected}.',
                        hint="Fix the value or remove the key to use the default "
                        f"({DEFAULTS[key]!r}).",
                        id="health_check.E003",
                    )
                )
    store = user.get("STORE")
    if isinstance(store, str) and store.startswith(REDIS_SCHEMES):
        messages += _check_redis_url(store)
    elif isinstance(store, str) and store not in _STORES and "." not in store:
        messages.append(
            Error(
                f'HEALTH_CHECK["STORE"] is {store!r}, which is not a store.',
                hint='Use "diskcache" (one host, the default), "redis://host:6379/0" (a fleet), '
                '"memory" (one process, tests) or a dotted path.',
                id="health_check.E003",
            )
        )
    return messages


def _check_redis_url(url: str) -> list[CheckMessage]:
    from health_check.store._urls import redact_url

    shown = redact_url(url)
    try:
        import redis  # noqa: F401
    except ImportError:
        return [
            Error(
                f'HEALTH_CHECK["STORE"] is "{shown}" but the redis package is not installed.',
                hint='pip install "django-health-snapshot[redis]", or use the default diskcache store on a single host.',
                id="health_check.E005",
            )
        ]
    try:
        port = urllib.parse.urlsplit(url).port
    except ValueError:
        port = -1
    if port is not None and not 0 < port < 65536:
        return [
            Error(
                f'HEALTH_CHECK["STORE"] is "{shown}", which has no valid port.',
                hint="Write it as redis://host:6379/0 (rediss:// for TLS).",
                id="health_check.E003",
            )
        ]
    return []


@register(Tags.compatibility)
def check_store(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The configured store opens (its directory exists or can be made, and is writable)."""
    from health_check.store import StoreError, get_store

    if any(message.is_serious() for message in check_settings()):
        return []  # the settings error says it better
    try:
        get_store()
    except StoreError as error:
        return [
            Error(
                f"The health check snapshot store cannot be opened: {error}",
                hint='Set HEALTH_CHECK["STORE_LOCATION"] to a directory writable by the web and poller processes.',
                id="health_check.E004",
            )
        ]
    return []


@register(Tags.urls)
def check_endpoints(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every ``checks=`` entry of every ``HealthCheckView`` endpoint imports and builds."""
    from health_check.autostart import collect_checks

    try:
        _, errors = collect_checks()
    except Exception:  # a broken URLconf is reported by Django's own URL checks
        return []
    return [
        Error(
            f"Health check endpoint {endpoint.label}: entry {error.entry}: {error.message}.",
            hint="Fix the dotted path or the keyword arguments of this entry in your urls.py; "
            "until then the endpoint reports it as a failing check.",
            obj=endpoint.route,
            id="health_check.E002",
        )
        for endpoint, error in errors
    ]
