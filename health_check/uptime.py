"""Uptime and time in state, from the journal: what share of the last 24 h, 7 d and 30 d each state had.

The journal records every change of what readers are told, with its moment; between two entries a
check was in the state the first one changed it to. So time in state is a sum of intervals, computed
here from entries only (pure functions, no store):

- Time before a check's first entry is **unknown**, never "ok": the poller had not reported it (or the
  journal no longer holds that far back: it keeps ``JOURNAL_MAX_AGE``, 30 days, of entries per check,
  at most ``JOURNAL_RETENTION``).
- **stale** and **pending** count together (``stale_or_pending``): nobody vouched for the service.
- **maintenance** (a silence or window, ``health_check.maintenance``) is left out of uptime like
  unknown time and is no outage; a check that comes out of it failing starts an incident, as the
  feed announces it.
- **uptime** is the share of the *known* time spent ok or warning (a warning serves), maintenance
  left out; ``None`` when nothing of the window is known.
- An **incident** is a change from a serving state (ok, warning) to a failing one (error, stale,
  pending) inside the window; the **longest outage** is the longest failing stretch, cut at the window.
- The endpoint's own figures follow its worst check at every moment, unknown while any check is.

A reader computes them once per state of an endpoint (a new snapshot), not per request.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping, Sequence

from health_check.journal import STATUS, Transition

__all__ = ["BUCKETS", "WINDOWS", "Uptime", "daily", "endpoint_uptime", "uptime"]

#: The windows reported, longest last: name -> length.
WINDOWS: Mapping[str, datetime.timedelta] = {
    "24h": datetime.timedelta(hours=24),
    "7d": datetime.timedelta(days=7),
    "30d": datetime.timedelta(days=30),
}
#: The shares each window has; they add up to 1.
BUCKETS = ("ok", "warning", "error", "stale_or_pending", "maintenance", "unknown")
_BUCKET = {
    "ok": "ok",
    "warning": "warning",
    "error": "error",
    "stale": "stale_or_pending",
    "pending": "stale_or_pending",
    "maintenance": "maintenance",
}
_SERVING = frozenset({"ok", "warning"})
_FAILING = frozenset({"error", "stale_or_pending"})
#: Worst first: the endpoint is in the worst state any of its checks is in.
_RANK = {"unknown": 0, "error": 1, "stale_or_pending": 2, "maintenance": 3, "warning": 4, "ok": 5}


@dataclasses.dataclass(frozen=True, slots=True)
class Uptime:
    """One window of one check (or of the endpoint)."""

    shares: Mapping[str, float]
    incidents: int
    longest_outage_seconds: float

    @property
    def uptime(self) -> float | None:
        known = 1.0 - self.shares["unknown"] - self.shares["maintenance"]  # maintenance is left out
        if known <= 1e-12:
            return None
        return min(1.0, (self.shares["ok"] + self.shares["warning"]) / known)

    def as_dict(self) -> dict[str, object]:
        return {
            **{bucket: round(self.shares[bucket], 6) for bucket in BUCKETS},
            "uptime": None if self.uptime is None else round(self.uptime, 6),
            "incidents": self.incidents,
            "longest_outage_seconds": round(self.longest_outage_seconds, 3),
        }


Segment = tuple[datetime.datetime, datetime.datetime, str]  # start, end, bucket


def _segments(entries: Sequence[Transition], start: datetime.datetime, now: datetime.datetime) -> list[Segment]:
    """The check's buckets over [start, now] from its status entries, oldest first."""
    changes = sorted((entry for entry in entries if entry.kind == STATUS), key=lambda entry: (entry.at, entry.seq))
    segments: list[Segment] = []
    cursor, bucket = start, "unknown"
    for entry in changes:
        if entry.at > now:
            break
        if entry.at > cursor:
            segments.append((cursor, entry.at, bucket))
            cursor = entry.at
        bucket = _BUCKET.get(entry.to_state, "unknown")
    if now > cursor:
        segments.append((cursor, now, bucket))
    return segments


def _clip(segments: Sequence[Segment], start: datetime.datetime) -> list[Segment]:
    """``segments`` from ``start`` on: a shorter window of the same timeline, without sorting again."""
    clipped = []
    for begin, end, bucket in segments:
        if end <= start:
            continue
        clipped.append((max(begin, start), end, bucket))
    return clipped


def _summarise(segments: Sequence[Segment], start: datetime.datetime, now: datetime.datetime) -> Uptime:
    total = (now - start).total_seconds()
    spent = dict.fromkeys(BUCKETS, 0.0)
    longest = current = 0.0
    incidents = 0
    previous = "unknown"
    for begin, end, bucket in segments:
        seconds = (end - begin).total_seconds()
        spent[bucket] += seconds
        if bucket in _FAILING:
            if previous in _SERVING or previous == "maintenance":
                incidents += 1  # it stopped serving inside the window (or came out of maintenance broken)
            current = current + seconds if previous in _FAILING else seconds
            longest = max(longest, current)
        previous = bucket
    shares = {bucket: (spent[bucket] / total if total > 0 else 0.0) for bucket in BUCKETS}
    if total > 0:
        shares["unknown"] = max(0.0, 1.0 - sum(shares[bucket] for bucket in BUCKETS if bucket != "unknown"))
    return Uptime(shares=shares, incidents=incidents, longest_outage_seconds=longest)


def uptime(
    entries: Sequence[Transition], now: datetime.datetime, windows: Mapping[str, datetime.timedelta] = WINDOWS
) -> dict[str, Uptime]:
    """Window name -> the figures of one check whose journal entries (any order) are ``entries``."""
    if not windows:
        return {}
    base = _segments(entries, now - max(windows.values()), now)  # the longest window; the others are cut from it
    return {name: _summarise(_clip(base, now - length), now - length, now) for name, length in windows.items()}


def endpoint_uptime(
    journals: Iterable[Sequence[Transition]],
    now: datetime.datetime,
    windows: Mapping[str, datetime.timedelta] = WINDOWS,
) -> dict[str, Uptime]:
    """Window name -> the endpoint's figures: at every moment, the worst state of its checks."""
    if not windows:
        return {}
    longest = now - max(windows.values())
    bases = [_segments(entries, longest, now) for entries in journals]  # each check's timeline, once
    figures = {}
    for name, length in windows.items():
        start = now - length
        # One sweep over every check's boundaries, oldest first: (moment, check, bucket from then on).
        events = sorted(
            (begin, index, bucket) for index, base in enumerate(bases) for begin, _, bucket in _clip(base, start)
        )
        current = ["unknown"] * len(bases)
        merged: list[Segment] = []
        position = 0
        while position < len(events):
            moment = events[position][0]
            while position < len(events) and events[position][0] == moment:
                current[events[position][1]] = events[position][2]
                position += 1
            end = events[position][0] if position < len(events) else now
            if end > moment:
                worst = min(current, key=_RANK.__getitem__) if current else "unknown"
                merged.append((moment, end, worst))
        figures[name] = _summarise(merged or [(start, now, "unknown")], start, now)
    return figures


def daily(entries: Sequence[Transition], now: datetime.datetime, days: int = 30) -> list[tuple[datetime.date, str]]:
    """The last ``days`` UTC days, oldest first (today so far last): each day's worst bucket.

    A day is ``unknown`` only when none of it is known; an hour of error in a day of ok makes it
    ``error``, as on the status pages people know.
    """
    today = now.astimezone(datetime.UTC).date()
    first = today - datetime.timedelta(days=days - 1)
    start = datetime.datetime.combine(first, datetime.time(), tzinfo=datetime.UTC)
    worst: dict[datetime.date, str] = {}
    for begin, end, bucket in _segments(entries, start, now):
        if bucket == "unknown":
            continue
        day = begin.date()
        while day <= end.date() and day <= today:
            if datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC) < end:
                found = worst.get(day)
                if found is None or _RANK[bucket] < _RANK[found]:
                    worst[day] = bucket
            day += datetime.timedelta(days=1)
    return [
        (first + datetime.timedelta(days=n), worst.get(first + datetime.timedelta(days=n), "unknown"))
        for n in range(days)
    ]
