"""What ``HEALTH_CHECK["STORE"]`` says, read once and strictly, for ``build_store()`` and the system checks.

One parser serves both, so what ``manage.py check`` reports is exactly what stops the store from being
built under gunicorn, where system checks do not run. A value we cannot read is never guessed at: a
mistyped scheme must not turn a Redis URL, password included, into an import path or an error message.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import urllib.parse

from health_check._urls import redact_url as shown

__all__ = ["NAMES", "REDIS_SCHEMES", "StoreSetting", "StoreSettingError", "parse_store_setting"]

#: Stores named by a word.
NAMES = ("diskcache", "memory")
#: URL schemes of a Redis store (RFC 3986 §3.1: schemes are case-insensitive, so ``Redis://`` is one too).
REDIS_SCHEMES = ("redis", "rediss", "unix")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$", re.DOTALL)
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
_HINT = (
    'Use "diskcache" (one host, the default), "redis://host:6379/0" (a fleet; rediss:// for TLS), '
    '"memory" (one process, tests) or the dotted path of a health_check.store.base.Store subclass.'
)


class StoreSettingError(ValueError):
    """``HEALTH_CHECK["STORE"]`` cannot be read; ``message`` and ``hint`` never hold a credential."""

    def __init__(self, message: str, hint: str = _HINT) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclasses.dataclass(frozen=True)
class StoreSetting:
    """A readable store setting.

    Args:
        kind: ``"diskcache"``, ``"memory"``, ``"redis"`` or ``"class"``.
        value: What builds it: the Redis URL (scheme in lower case) or the dotted path.
        shown: The value as messages may show it: a URL without user name, password and query.
    """

    kind: str
    value: str
    shown: str


def parse_store_setting(value: object) -> StoreSetting:
    """Read the setting; raises ``StoreSettingError`` saying what is wrong and what to write instead."""
    if not isinstance(value, str):
        raise StoreSettingError(
            f'HEALTH_CHECK["STORE"] is {type(value).__name__} {_short_repr(value)}, not a store: it must be a string.'
        )
    text = value.strip()
    if not text:
        raise StoreSettingError('HEALTH_CHECK["STORE"] is empty.')
    if text.lower() in NAMES:
        return StoreSetting(kind=text.lower(), value=text.lower(), shown=text.lower())
    match = _SCHEME.match(text)
    if match is not None and not _DOTTED.match(text):
        return _parse_url(text, *match.groups())
    if "@" in text or "/" in text:
        raise StoreSettingError(
            f'HEALTH_CHECK["STORE"] is "{shown(text)}", which is neither a store name, a URL nor a dotted path.'
        )
    if _DOTTED.match(text):
        return StoreSetting(kind="class", value=text, shown=text)
    if text.lower() in REDIS_SCHEMES:
        raise StoreSettingError(
            f'HEALTH_CHECK["STORE"] is "{text}", which is not a store.',
            hint="A Redis store is named by its URL: redis://host:6379/0 (rediss:// for TLS).",
        )
    close = difflib.get_close_matches(text.lower(), NAMES, n=1)
    raise StoreSettingError(
        f'HEALTH_CHECK["STORE"] is "{text}", which is not a store.',
        hint=f'Did you mean "{close[0]}"? {_HINT}' if close else _HINT,
    )


def _parse_url(text: str, scheme: str, rest: str) -> StoreSetting:
    safe = shown(text)
    if scheme.lower() not in REDIS_SCHEMES:
        close = difflib.get_close_matches(scheme.lower(), REDIS_SCHEMES, n=1)
        raise StoreSettingError(
            f'HEALTH_CHECK["STORE"] is "{safe}", whose scheme "{scheme}" is not a store.',
            hint=f'Did you mean "{close[0]}://"? {_HINT}' if close else _HINT,
        )
    url = f"{scheme.lower()}:{rest}"
    if not rest.startswith("//"):
        raise StoreSettingError(
            f'HEALTH_CHECK["STORE"] is "{safe}", which is not a Redis URL: the scheme must be followed by "//".',
            hint="Write it as redis://host:6379/0 (rediss:// for TLS, unix:///path/to/redis.sock for a socket).",
        )
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 0 < port < 65536:
        raise StoreSettingError(
            f'HEALTH_CHECK["STORE"] is "{safe}", which has no valid port.',
            hint="Write it as redis://host:6379/0 (rediss:// for TLS); the port is a number from 1 to 65535.",
        )
    if scheme.lower() == "unix" and not parts.path:
        raise StoreSettingError(
            f'HEALTH_CHECK["STORE"] is "{safe}", which names no socket.',
            hint="Write it as unix:///path/to/redis.sock.",
        )
    return StoreSetting(kind="redis", value=url, shown=shown(url))


def _short_repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr() raises is still reported
        return "(unprintable)"
    return text if len(text) <= 60 else text[:57] + "..."
