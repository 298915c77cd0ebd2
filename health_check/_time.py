"""Moments as we keep and show them: aware, in UTC, written ``2025-03-12T14:00:00Z``.

Snapshot details, messages, feeds and journal ids all write times; one writer keeps them alike.
Nothing here reads settings or a clock other than the system's, so every stage may import it.
"""

from __future__ import annotations

import datetime
from typing import overload

__all__ = ["UTC", "describe_age", "isoformat", "parse_iso", "utcnow"]

UTC = datetime.UTC


def utcnow() -> datetime.datetime:
    """Now, aware, in UTC: the default clock of checks that date what they saw."""
    return datetime.datetime.now(UTC)


@overload
def isoformat(moment: datetime.datetime, *, timespec: str = ..., suffix: str = ...) -> str: ...
@overload
def isoformat(moment: None, *, timespec: str = ..., suffix: str = ...) -> None: ...
@overload
def isoformat(moment: datetime.datetime | None, *, timespec: str = ..., suffix: str = ...) -> str | None: ...


def isoformat(moment: datetime.datetime | None, *, timespec: str = "seconds", suffix: str = "Z") -> str | None:
    """``2025-03-12T14:00:00Z`` (``None`` stays ``None``): the form of details, messages and feeds.

    ``timespec`` is ``datetime.isoformat``'s (digits are cut, never rounded). ``suffix="+00:00"``
    keeps Python's own offset, for texts that must read as they always did (digests of ids).
    """
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat(timespec=timespec)
    return text if suffix == "+00:00" else text.removesuffix("+00:00") + suffix


def parse_iso(value: object) -> datetime.datetime | None:
    """An aware moment from an ISO 8601 text (``Z`` or an offset; naive is UTC); ``None`` if unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def describe_age(seconds: float) -> str:
    """A short human age: ``"42 s"``, ``"7 min"``, ``"3 h"``, ``"2 d"``."""
    if seconds < 120:
        return f"{max(seconds, 0):.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"
