"""Heartbeats: what a job pushes to say it ran, and where the ``Heartbeat`` check finds it.

A beat is a snapshot under the key ``heartbeat:<name>``, written through the public store API, so every
store (memory, diskcache, Redis) carries it as it carries check results. The key is never qualified
with a host: a beat sent from any host of a fleet is seen by every host, as the job it stands for is
one job for the whole fleet (``docs/heartbeats.md``).

A beat is written with ``write_if_newer()``: an older beat arriving late never replaces a newer one,
and a store that does not answer raises ``StoreError`` at once instead of keeping the beat in a
process that may exit right after (a cron job's ``manage.py health_check_beat``).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import unicodedata

from health_check._time import utcnow
from health_check._urls import scrub
from health_check.snapshot import Snapshot, Status
from health_check.store import get_store
from health_check.store.base import Store

__all__ = [
    "KEY_PREFIX",
    "MAX_MESSAGE_CHARS",
    "MAX_NAME_CHARS",
    "Beat",
    "beat",
    "beat_key",
    "clean_message",
    "describe_duration",
    "last_beat",
    "validate_name",
]

#: Store keys of beats start with this; no check's key does (theirs start with a module path).
KEY_PREFIX = "heartbeat:"
#: Longest message a beat keeps; longer ones are cut with "…". It is shown on one line of every output.
MAX_MESSAGE_CHARS = 200
#: Longest heartbeat name: it is part of a store key and of the beat URL.
MAX_NAME_CHARS = 100

_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_NAME_CHARS - 1}}}")
# Line and paragraph separators end a line as \n does; format characters can hide or reorder text.
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})


def validate_name(name: object) -> str:
    """``name`` when it can name a heartbeat; ``ValueError`` saying what is allowed otherwise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
        raise ValueError(
            f"heartbeat name {shown} is not valid: use 1 to {MAX_NAME_CHARS} letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. 'nightly-backup')"
        )
    return name


def beat_key(name: str) -> str:
    """The store key of ``name``'s beats: one for the whole fleet, never qualified with a host."""
    return KEY_PREFIX + validate_name(name)


def clean_message(message: object) -> str:
    """A beat's message as it is kept: one line without control characters or URL credentials, bounded.

    Whitespace runs (newlines included) become one space; other control and format characters are
    dropped; anything longer than ``MAX_MESSAGE_CHARS`` is cut with "…".
    """
    text = "" if message is None else str(message)
    kept = (" " if char.isspace() else char for char in text)
    text = "".join(char for char in kept if unicodedata.category(char) not in _INVISIBLE)
    text = scrub(" ".join(text.split()))
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def describe_duration(duration: datetime.timedelta) -> str:
    """A duration as a person says it: ``"25 hours"``, ``"90 minutes"``, ``"2 days"``, ``"1.5 seconds"``."""
    total = duration.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if total >= size and total % size == 0:
            count = int(total // size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{total:g} second{'' if total == 1 else 's'}"


@dataclasses.dataclass(frozen=True, slots=True)
class Beat:
    """One beat: a job saying it ran (or that it failed).

    Args:
        name: The heartbeat's name (``Heartbeat(name=...)``).
        at: When it arrived (aware, UTC).
        failed: Whether the job reported a failure; the check then reports an error with ``message``.
        message: What the job said, cleaned by ``clean_message()``; may be empty.
        via: How it arrived: ``"python"``, ``"command"``, ``"http"`` or ``"celery"``.
    """

    name: str
    at: datetime.datetime
    failed: bool = False
    message: str = ""
    via: str = "python"

    def to_snapshot(self) -> Snapshot:
        """The beat as stores keep it: a snapshot under ``beat_key(name)``."""
        return Snapshot(
            key=beat_key(self.name),
            status=Status.ERROR if self.failed else Status.OK,
            message=self.message or ("failed" if self.failed else "OK"),
            checked_at=self.at,
            duration_seconds=0.0,
            interval_seconds=1.0,
            timeout_seconds=0.0,
            details={"heartbeat": self.name, "failed": self.failed, "message": self.message, "via": self.via},
        )

    @classmethod
    def from_snapshot(cls, name: str, snapshot: Snapshot) -> Beat:
        details = snapshot.details
        message = details.get("message")
        via = details.get("via")
        return cls(
            name=name,
            at=snapshot.checked_at,
            failed=snapshot.status is not Status.OK,
            message=clean_message(message) if isinstance(message, str) else "",
            via=via if isinstance(via, str) else "unknown",
        )


def beat(
    name: str,
    *,
    failed: bool = False,
    message: str = "",
    via: str = "python",
    store: Store | None = None,
    at: datetime.datetime | None = None,
) -> Beat:
    """Record a beat of the heartbeat ``name`` in the snapshot store; returns what was stored.

    Call it at the end of the job the heartbeat watches, from any process whose settings name the same
    store (``HEALTH_CHECK["STORE"]``): a ``memory`` store only reaches checks of the same process.
    The poller watches beats every second and runs the ``Heartbeat`` check at once when one arrived.

    Args:
        name: The heartbeat's name: letters, digits, ``.``, ``_`` and ``-``.
        failed: The job failed: the check reports an error with ``message`` until the next good beat.
        message: A short line for operators (at most ``MAX_MESSAGE_CHARS``; control characters and URL
            credentials are taken out).
        via: How the beat arrived, kept with it (``"python"``, ``"command"``, ``"http"``, ``"celery"``).
        store: Where to write; ``get_store()`` when ``None``.
        at: When the beat happened; now when ``None``. A moment in the future (a clock ahead) is
            taken as now: a beat from the future would hide every real one until then.

    Raises:
        ValueError: ``name`` is not a valid heartbeat name.
        StoreError: the store cannot be built or written; the beat was not recorded.
    """
    now = utcnow()
    record = Beat(
        name=validate_name(name),
        at=min(at, now).astimezone(datetime.UTC) if at is not None else now,
        failed=bool(failed),
        message=clean_message(message),
        via=via,
    )
    (store or get_store()).write_if_newer([record.to_snapshot()])
    return record


def last_beat(name: str, store: Store | None = None) -> Beat | None:
    """The latest beat of ``name``, or ``None`` before the first. Raises ``StoreError`` when unreadable."""
    key = beat_key(name)
    snapshot = (store or get_store()).read([key]).get(key)
    return None if snapshot is None else Beat.from_snapshot(name, snapshot)
