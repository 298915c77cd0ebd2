"""The small shared helpers of the "what to check" stage: times, incidents, first lines of errors."""

from __future__ import annotations

import datetime

from health_check._incidents import CLOSED_STATUSES, DETAIL_FIELDS, ERROR, Incident, is_closed
from health_check._time import isoformat, parse_iso
from health_check._urls import first_line

UTC = datetime.timezone.utc
PARIS = datetime.timezone(datetime.timedelta(hours=1))


def test_isoformat__utc_seconds_with_z():
    """Any aware moment is written in UTC, to the second (cut, not rounded), with a ``Z``; None stays None."""
    moment = datetime.datetime(2025, 3, 12, 15, 0, 0, 999_999, tzinfo=PARIS)
    assert isoformat(moment) == "2025-03-12T14:00:00Z"
    assert isoformat(None) is None


def test_isoformat__keeps_python_offset_when_asked():
    """``suffix="+00:00"`` with microseconds is the text journal ids have always digested."""
    moment = datetime.datetime(2025, 3, 12, 14, 0, 0, 5, tzinfo=UTC)
    assert isoformat(moment, timespec="microseconds", suffix="+00:00") == moment.isoformat(timespec="microseconds")


def test_parse_iso__z_offsets_naive_and_junk():
    """``Z`` and offsets are read, naive is UTC, anything unreadable is None."""
    expected = datetime.datetime(2025, 3, 12, 14, 0, tzinfo=UTC)
    assert parse_iso("2025-03-12T14:00:00Z") == expected
    assert parse_iso(" 2025-03-12T15:00:00+01:00 ") == expected
    assert parse_iso("2025-03-12T14:00:00").tzinfo is not None
    assert [parse_iso(value) for value in (None, "", "yesterday", 17)] == [None, None, None, None]


def test_is_closed__statuses_that_end_an_incident():
    """resolved, postmortem and completed end an incident, in any case; anything else is open."""
    assert CLOSED_STATUSES == {"resolved", "postmortem", "completed"}
    assert all(is_closed(status) for status in ("resolved", "Postmortem", " COMPLETED "))
    assert not any(is_closed(status) for status in ("investigating", "open", "", None, 3))


def test_incident__details_are_the_json_record():
    """An incident's details hold exactly DETAIL_FIELDS, in order, with ISO times and no severity."""
    start = datetime.datetime(2025, 3, 12, 14, 0, tzinfo=UTC)
    incident = Incident("a1", "Delayed jobs", "major", "https://x/a1", start, start, severity=ERROR, status="identified")
    assert incident.details() == {
        "id": "a1",
        "name": "Delayed jobs",
        "impact": "major",
        "status": "identified",
        "link": "https://x/a1",
        "started_at": "2025-03-12T14:00:00Z",
        "updated_at": "2025-03-12T14:00:00Z",
    }
    assert tuple(incident.details()) == DETAIL_FIELDS


def test_first_line__scrubbed_bounded_first_line():
    """Only the first line, without any URL's password, cut with an ellipsis; empty when the error is silent."""
    error = OSError("cannot reach https://user:s3cret@host/x\nTraceback follows")
    assert first_line(error) == "cannot reach https://host/x"
    assert first_line("x" * 50, limit=10) == "x" * 9 + "…"
    assert first_line(TimeoutError()) == ""
