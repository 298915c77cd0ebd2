"""The status page's model: what the HTML page shows per check, apart from how it is rendered.

Per check: its state and line, how old its snapshot is, since when it is in that state, the run's
duration, the 24 h timeline (bars of state, oldest first) and the changes of the last day. The ages and
durations are written by the renderer's ``format_age``/``format_duration``/``format_now`` (a project's
``HTMLRenderer`` subclass may override them), so this module takes them as arguments and knows no
renderer, request or setting.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import Any, Protocol

from health_check.journal import STATUS, Transition
from health_check.snapshot import Reading, Report, State

__all__ = [
    "DAY",
    "DEFAULT_TEMPLATE",
    "MIN_SEGMENT",
    "NO_DATA",
    "STYLESHEET",
    "Formats",
    "counts",
    "page_context",
    "reported_since",
    "timeline",
]

DEFAULT_TEMPLATE = "health_check/index.html"
#: The window of the timelines and of the recent changes listed per check.
DAY = datetime.timedelta(hours=24)
#: The default page's CSS, inlined in its ``<style>`` element (no outside asset; its hash is the page's CSP).
STYLESHEET = files("health_check").joinpath("status.css").read_text(encoding="utf-8")
#: The state of timeline segments before the check was first observed: drawn as the empty track.
NO_DATA = "nodata"
#: Width of one day's bar in the 30-day history (SVG units; 30 bars and their gaps fill 300).
DAY_BAR = 10
#: Narrowest segment, in per mille of the timeline: a 30 s blip in a day stays visible.
MIN_SEGMENT = 6.0


class Formats(Protocol):
    """How the page writes ages, durations and "now": the ``HTMLRenderer`` that renders it."""

    def format_age(self, seconds: float | None) -> str: ...

    def format_duration(self, seconds: float | None) -> str: ...

    def format_now(self, now: datetime.datetime) -> str: ...


def reported_since(reading: Reading, stale_intervals: float) -> datetime.datetime | None:
    """Since when the check is in the state it is reported in now."""
    snapshot = reading.snapshot
    if snapshot is None:
        return None
    if reading.state is State.STALE:
        return snapshot.checked_at + datetime.timedelta(seconds=snapshot.allowance_seconds(stale_intervals))
    return snapshot.since


def timeline(
    current: State,
    transitions: list[Transition],
    now: datetime.datetime,
    window: datetime.timedelta = DAY,
    *,
    observed_since: datetime.datetime | None = None,
) -> list[dict[str, Any]]:
    """Segments of the last ``window``, oldest first: state, start and width in per mille of the window.

    ``transitions`` are one check's status entries, newest first. Before the first entry of the
    window the check was in that entry's ``from_state``. Before ``observed_since`` (the first run
    the poller reported) and before a ``pending -> ...`` entry nothing was known: that part is
    ``NO_DATA``, never painted in the current state. Widths add up to exactly 1000: a segment is
    widened to ``MIN_SEGMENT`` at the expense of the others, so none overflows the box.
    """
    start = now - window
    inside = [t for t in reversed(transitions) if start < t.at <= now]
    before = next((t for t in transitions if t.at <= start), None)
    if before is not None:
        state = before.to_state
    elif inside:
        state = inside[0].from_state
    else:
        state = current.value
    points = [(start, state)] + [(t.at, t.to_state) for t in inside]
    first = observed_since
    if first is not None and transitions and transitions[-1].at < first:
        oldest = transitions[-1]  # the journal remembers earlier: trust it
        first = oldest.at if oldest.from_state == State.PENDING else None
    if first is not None and first > start:
        first = min(first, now)
        earlier = [point for point in points if point[0] <= first]
        points = [(start, NO_DATA), (first, earlier[-1][1])] + [point for point in points if point[0] > first]
    spans: list[dict[str, Any]] = []
    for index, (moment, segment_state) in enumerate(points):
        end = points[index + 1][0] if index + 1 < len(points) else now
        if end > moment:
            state_name = NO_DATA if segment_state == State.PENDING else segment_state
            if spans and spans[-1]["state"] == state_name:
                spans[-1]["end"] = end
            else:
                spans.append({"state": state_name, "at": moment, "end": end})
    widths = _widths([(span["end"] - span["at"]).total_seconds() for span in spans])
    x = 0.0
    for span, width in zip(spans, widths):
        right = round(x + width, 1) if span is not spans[-1] else 1000.0
        span["x"], span["width"] = x, round(right - x, 1)
        x = right
    return spans


def _widths(durations: list[float]) -> list[float]:
    """``durations`` scaled to add up to 1000, each at least ``MIN_SEGMENT`` (less only when too many)."""
    if not durations:
        return []
    total = sum(durations)
    units = [duration / total * 1000 for duration in durations]
    minimum = min(MIN_SEGMENT, 1000 / len(units))
    widened: set[int] = set()
    while True:
        rest = sum(unit for index, unit in enumerate(units) if index not in widened)
        if not rest:
            break
        scale = (1000 - minimum * len(widened)) / rest
        narrow = {index for index, unit in enumerate(units) if index not in widened and unit * scale < minimum}
        if not narrow:
            break
        widened |= narrow
    return [minimum if index in widened else unit * scale for index, unit in enumerate(units)]


def _seconds_since(moment: datetime.datetime | None, now: datetime.datetime) -> float | None:
    return None if moment is None else (now - moment).total_seconds()


def counts(report: Report) -> dict[str, int]:
    """How many readings are in each state (every state listed, zeros included)."""
    found = {state.value: 0 for state in State}
    for reading in report.readings:
        found[reading.state.value] += 1
    return found


def page_context(
    report: Report,
    transitions: tuple[Transition, ...],
    now: datetime.datetime,
    *,
    stale_intervals: float,
    stylesheet: str,
    formats: Formats,
    uptime: Mapping[str, Mapping[str, Any]] | None = None,
    days: Mapping[str, Sequence[tuple[datetime.date, str]]] | None = None,
) -> dict[str, Any]:
    """What the template sees: one row per reading, the state counts, and the moment it is read.

    ``transitions`` are the journal entries of the endpoint's checks, newest first, already redacted;
    ages are measured from ``now``. ``uptime`` (check name -> window -> ``health_check.uptime.Uptime``)
    and ``days`` (check name -> worst state per day of the last 30) come from the whole journal.
    """
    by_key: dict[str, list[Transition]] = {}
    for transition in transitions:
        by_key.setdefault(transition.key, []).append(transition)
    rows = []
    for reading in report.readings:
        key = reading.snapshot.key if reading.snapshot else None
        entries = by_key.get(key, []) if key else []
        status_entries = [t for t in entries if t.kind == STATUS]
        since = reported_since(reading, stale_intervals)
        checked_at = reading.checked_at
        rows.append(
            {
                "name": reading.name,
                "state": reading.state.value,
                "message": reading.message,
                "failing": report.counts_as_failing(reading),
                "age": formats.format_age(_seconds_since(checked_at, now)),
                "checked_at": checked_at,
                "checked_at_iso": checked_at.isoformat() if checked_at else "",
                "run_time": formats.format_duration(reading.duration_seconds),
                "since": since,
                "since_age": formats.format_age(_seconds_since(since, now)) if since else None,
                "duration_ms": None if reading.duration_seconds is None else reading.duration_seconds * 1000,
                "timeline": timeline(reading.state, status_entries, now, observed_since=reading.snapshot.observed_since)
                if reading.snapshot
                else [],
                "recent": [t for t in entries if now - t.at <= DAY][:5],
                "uptime": [
                    {"window": window, "percent": "–" if found.uptime is None else f"{found.uptime * 100:.2f}\u202f%"}
                    for window, found in (uptime or {}).get(reading.name, {}).items()
                ],
                # The same days a keyboard can reach (a bar's tooltip it cannot): those not ok, newest first.
                "trouble_days": [
                    {"date": day, "state": bucket}
                    for day, bucket in reversed((days or {}).get(reading.name, ()))
                    if bucket not in ("ok", "unknown", "maintenance")
                ],
                "days": [
                    {"date": day, "state": bucket, "x": index * DAY_BAR}
                    for index, (day, bucket) in enumerate((days or {}).get(reading.name, ()))
                ],
            }
        )
    return {
        "rows": rows,
        "errors": report.failing,
        "generated_at": report.generated_at,
        "now": formats.format_now(now),
        "counts": counts(report),
        "stylesheet": stylesheet or STYLESHEET,
    }
