"""Maintenance: when a check's failures are expected, so its reading says so and nobody is paged.

Two sources, one effect:

- a **silence** is set by an operator for a while (``manage.py health_check_silence``) and kept in the
  store, so every process and, with Redis, every host of a fleet shares it;
- a **window** recurs, from ``HEALTH_CHECK["MAINTENANCE_WINDOWS"]``: weekdays and a time range in a
  time zone (``{"checks": ["replica"], "weekdays": ["sun"], "start": "02:00", "end": "04:00",
  "timezone": "Europe/Berlin"}``), computed in local time, so it follows daylight saving time.

Both name their **targets**: a check's name (its ``repr()``, as every output shows it), its title, or the
URL name of an endpoint (all of its checks). The poller stamps a run's snapshot with the ``Maintenance``
under way (``snapshot.maintenance``); readers then report the check ``maintenance`` until it ends,
and the journal records its start and its end, nothing in between. Whether the check still fails its
probes meanwhile is each silence's and window's choice (``fail_probes``, default ``False``).

Pure: no store and no settings here; ``recorder.py`` joins them.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import re
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "MAX_REASON",
    "MAX_SILENCES",
    "Maintenance",
    "Silence",
    "Window",
    "active_maintenance",
    "parse_duration",
    "parse_windows",
]

UTC = datetime.UTC

#: Longest reason kept (characters); a longer one is cut with "…".
MAX_REASON = 200
#: Silences a store keeps at most (ended ones are dropped first); a new one beyond is refused.
MAX_SILENCES = 100
#: Longest silence: longer planned work is a window, or a check to remove.
MAX_SILENCE = datetime.timedelta(days=30)

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*(?:(\d+)\s*s)?\s*$", re.I)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def clean_reason(reason: Any) -> str:
    """A reason as shown: one line, no control characters, at most ``MAX_REASON`` characters."""
    text = _CONTROL.sub(" ", str(reason or "")).strip() or "planned maintenance"
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def parse_duration(text: str) -> datetime.timedelta:
    """``"90m"``, ``"1h"``, ``"2h30m"``, ``"1d"``, ``"45s"`` as a ``timedelta``; ``ValueError`` otherwise."""
    found = _DURATION.match(text or "")
    if not found or not any(found.groups()):
        raise ValueError(f"{text!r} is not a duration; use e.g. 30m, 1h, 2h30m or 1d")
    days, hours, minutes, seconds = (int(part or 0) for part in found.groups())
    duration = datetime.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if duration <= datetime.timedelta(0):
        raise ValueError(f"{text!r} is no time at all; use e.g. 30m, 1h, 2h30m or 1d")
    return duration


def _time(value: float | None) -> datetime.datetime | None:
    return None if value is None else datetime.datetime.fromtimestamp(float(value), tz=UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class Maintenance:
    """The maintenance a check's snapshot was taken in: what its reading shows until ``until``.

    Args:
        reason: Why, as the operator put it.
        started_at: When it began (the silence's or the window's start).
        until: When it ends; after that readers ignore it, whatever the snapshot says.
        fail_probes: Whether the check still fails its probes meanwhile (``False``: it answers 200).
        source: ``"silence <id>"`` or ``"window <name>"``: what to end or edit.
    """

    reason: str
    started_at: datetime.datetime
    until: datetime.datetime
    fail_probes: bool = False
    source: str = ""

    def covers(self, moment: datetime.datetime) -> bool:
        return self.started_at <= moment < self.until

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "started_at": self.started_at.timestamp(),
            "until": self.until.timestamp(),
            "fail_probes": self.fail_probes,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Maintenance:
        """Rebuild from ``to_dict()``; raises ``ValueError``, ``KeyError`` or ``TypeError`` on foreign data."""
        return cls(
            reason=clean_reason(data["reason"]),
            started_at=datetime.datetime.fromtimestamp(float(data["started_at"]), tz=UTC),
            until=datetime.datetime.fromtimestamp(float(data["until"]), tz=UTC),
            fail_probes=bool(data.get("fail_probes", False)),
            source=str(data.get("source") or ""),
        )

    def describe(self) -> str:
        """``"Maintenance: <reason> (until 2026-12-04 21:00 UTC)"``: the line readings and feeds show."""
        return f"Maintenance: {self.reason} (until {self.until:%Y-%m-%d %H:%M} UTC)"


@dataclasses.dataclass(frozen=True, slots=True)
class Silence:
    """A maintenance an operator set for a while; kept in the store as ``to_dict()``."""

    id: str
    target: str
    reason: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    fail_probes: bool = False
    created_by: str = ""

    @classmethod
    def new(
        cls,
        target: str,
        duration: datetime.timedelta,
        reason: str,
        *,
        now: datetime.datetime,
        fail_probes: bool = False,
        created_by: str = "",
    ) -> Silence:
        """A silence of ``target`` from ``now`` for ``duration`` (at most ``MAX_SILENCE``; ``ValueError``)."""
        if duration <= datetime.timedelta(0) or duration > MAX_SILENCE:
            raise ValueError(f"a silence lasts more than no time and at most {MAX_SILENCE.days} days")
        if not target.strip():
            raise ValueError("a silence names a check or an endpoint")
        digest = hashlib.sha256(f"{target}\0{now.timestamp()}\0{reason}".encode()).hexdigest()[:8]
        return cls(digest, target.strip(), clean_reason(reason), now, now + duration, fail_probes, created_by[:100])

    def covers(self, moment: datetime.datetime) -> bool:
        return self.starts_at <= moment < self.ends_at

    def maintenance(self) -> Maintenance:
        return Maintenance(self.reason, self.starts_at, self.ends_at, self.fail_probes, f"silence {self.id}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "target": self.target,
            "reason": self.reason,
            "starts_at": self.starts_at.timestamp(),
            "ends_at": self.ends_at.timestamp(),
            "fail_probes": self.fail_probes,
            "created_by": self.created_by,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Silence:
        """Rebuild from ``to_dict()``; raises ``ValueError``, ``KeyError`` or ``TypeError`` on foreign data."""
        starts_at, ends_at = _time(data["starts_at"]), _time(data["ends_at"])
        if starts_at is None or ends_at is None or not isinstance(data["id"], str):
            raise ValueError("not a silence")
        return cls(
            id=data["id"],
            target=str(data["target"]),
            reason=clean_reason(data.get("reason")),
            starts_at=starts_at,
            ends_at=ends_at,
            fail_probes=bool(data.get("fail_probes", False)),
            created_by=str(data.get("created_by") or ""),
        )


def _clock(value: Any, what: str) -> datetime.time:
    """A local time of day; one with its own offset is refused: the window's ``timezone`` says where."""
    found = None
    if isinstance(value, datetime.time):
        found = value
    elif isinstance(value, str):
        try:
            found = datetime.time.fromisoformat(value.strip())
        except ValueError:
            found = None
    if found is None or found.tzinfo is not None:
        raise ValueError(f'{what} is {value!r}, expected a time of day such as "02:30" (the zone goes in "timezone")')
    return found


@dataclasses.dataclass(frozen=True, slots=True)
class Window:
    """A recurring maintenance: on ``weekdays``, from ``start`` to ``end`` local time in ``timezone``.

    An ``end`` at or before ``start`` ends on the next day (``"23:00"`` to ``"01:00"``); the weekday is
    the one it starts on. Local times follow the zone's daylight saving time: a window at 02:00 in
    Europe/Berlin starts at 01:00 UTC in winter and at 00:00 UTC in summer.
    """

    name: str
    targets: tuple[str, ...]
    weekdays: frozenset[int]
    start: datetime.time
    end: datetime.time
    timezone: datetime.tzinfo
    reason: str
    fail_probes: bool = False

    @classmethod
    def parse(cls, data: Any, position: int) -> Window:
        """A window from its settings entry; ``ValueError`` saying what is wrong with which entry."""
        label = f"MAINTENANCE_WINDOWS[{position}]"
        if not isinstance(data, Mapping):
            raise ValueError(f"{label} is {type(data).__name__}, expected a dict")
        unknown = set(data) - {"name", "checks", "weekdays", "start", "end", "timezone", "reason", "fail_probes"}
        if unknown:
            raise ValueError(f"{label} has unknown keys {', '.join(sorted(map(str, unknown)))}")
        targets = data.get("checks")
        if isinstance(targets, str):
            targets = [targets]
        if not (isinstance(targets, (list, tuple)) and targets and all(isinstance(t, str) and t for t in targets)):
            raise ValueError(f'{label}["checks"] must name the checks or endpoints (URL names) it silences')
        days = data.get("weekdays", _WEEKDAYS)
        if isinstance(days, str):
            days = [days]
        weekdays = set()
        for day in days if isinstance(days, (list, tuple)) else [days]:
            word = str(day).strip().lower()[:3]
            if word not in _WEEKDAYS:
                raise ValueError(f'{label}["weekdays"] has {day!r}, expected names such as "mon" or "sunday"')
            weekdays.add(_WEEKDAYS.index(word))
        zone_name = data.get("timezone", "UTC")
        try:
            zone = zoneinfo.ZoneInfo(str(zone_name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f'{label}["timezone"] is {zone_name!r}, expected a zone such as "Europe/Berlin"') from None
        fail_probes = data.get("fail_probes", False)
        if not isinstance(fail_probes, bool):
            raise ValueError(f'{label}["fail_probes"] must be True or False')
        return cls(
            name=str(data.get("name") or f"window {position}"),
            targets=tuple(t.strip() for t in targets),
            weekdays=frozenset(weekdays),
            start=_clock(data.get("start"), f'{label}["start"]'),
            end=_clock(data.get("end"), f'{label}["end"]'),
            timezone=zone,
            reason=clean_reason(data.get("reason") or f"maintenance window {data.get('name') or position}"),
            fail_probes=fail_probes,
        )

    def occurrence(self, moment: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime] | None:
        """The occurrence (start, end, in UTC) under way at ``moment``, or ``None``."""
        local = moment.astimezone(self.timezone)
        for days_back in (0, 1):  # an occurrence that began yesterday may still run past midnight
            day = local.date() - datetime.timedelta(days=days_back)
            if day.weekday() not in self.weekdays:
                continue
            start = datetime.datetime.combine(day, self.start, tzinfo=self.timezone)
            end_day = day if self.end > self.start else day + datetime.timedelta(days=1)
            end = datetime.datetime.combine(end_day, self.end, tzinfo=self.timezone)
            start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
            if start_utc <= moment < end_utc:
                return start_utc, end_utc
        return None

    def maintenance(self, moment: datetime.datetime) -> Maintenance | None:
        found = self.occurrence(moment)
        if found is None:
            return None
        return Maintenance(self.reason, found[0], found[1], self.fail_probes, f"window {self.name}")


def parse_windows(value: Any) -> list[Window]:
    """``HEALTH_CHECK["MAINTENANCE_WINDOWS"]`` as windows; ``ValueError`` naming the first wrong entry."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"MAINTENANCE_WINDOWS is {type(value).__name__}, expected a list of dicts")
    return [Window.parse(entry, position) for position, entry in enumerate(value)]


def active_maintenance(
    targets: Iterable[str],
    moment: datetime.datetime,
    silences: Sequence[Silence],
    windows: Sequence[Window],
) -> Maintenance | None:
    """The maintenance a check named by any of ``targets`` is in at ``moment``, or ``None``.

    Several at once: the one that ends last, failing probes if any of them does (the stricter choice
    wins), its reason the first silence's (an operator's words over a window's).
    """
    names = set(targets)
    found = [s.maintenance() for s in silences if s.target in names and s.covers(moment)]
    found += [m for w in windows if names.intersection(w.targets) and (m := w.maintenance(moment)) is not None]
    if not found:
        return None
    last = max(found, key=lambda m: m.until)
    return dataclasses.replace(
        last,
        reason=found[0].reason,
        started_at=min(m.started_at for m in found),
        fail_probes=any(m.fail_probes for m in found),
        source=found[0].source,
    )
