"""The small shared helpers of the "what to check" stage: times, incidents, first lines of errors, the HTTP GET."""

from __future__ import annotations

import asyncio
import datetime
import gzip

import httpx
import pytest

from health_check._http import BodyTooLarge, Response, UnreadableBody, fetch
from health_check._incidents import CLOSED_STATUSES, DETAIL_FIELDS, ERROR, Incident, is_closed
from health_check._time import isoformat, parse_iso
from health_check._urls import first_line

UTC = datetime.UTC
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
    incident = Incident(
        "a1", "Delayed jobs", "major", "https://x/a1", start, start, severity=ERROR, status="identified"
    )
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


def _get(handler, **kwargs) -> Response:
    """``fetch`` of a URL that ``handler`` answers, with small bounds."""
    options = {"headers": {}, "timeout": 5.0, "max_bytes": 1024, "transport": httpx.MockTransport(handler)}
    return asyncio.run(fetch("http://upstream.test/x", **{**options, **kwargs}))


def _reply(status: int, body: bytes, **headers: str) -> httpx.Response:
    # A stream, as the network gives: fetch reads raw bytes and decodes them itself.
    return httpx.Response(status, stream=httpx.ByteStream(body), headers=headers)


def test_fetch__gzip_is_cut_on_decoded_bytes():
    """A small gzip body that inflates past max_bytes is refused with its status; a fitting one is decoded."""
    bomb = gzip.compress(b"0" * 1_000_000)
    with pytest.raises(BodyTooLarge) as caught:
        _get(lambda request: _reply(503, bomb, **{"Content-Encoding": "gzip"}))
    assert caught.value.status_code == 503
    small = gzip.compress(b'{"ok": true}')
    assert _get(lambda request: _reply(200, small, **{"Content-Encoding": "gzip"})).body == b'{"ok": true}'


def test_fetch__read_body_sees_the_status_first():
    """``read_body`` returning False skips the body; the request asks only for encodings we can undo."""
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.headers)
        return _reply(304, b"ignored")

    response = _get(handler, headers={"User-Agent": "probe"}, read_body=lambda response: response.status_code == 200)
    assert (response.status_code, response.body) == (304, b"")
    assert (seen["user-agent"], seen["accept-encoding"]) == ("probe", "gzip, deflate")


def test_fetch__unknown_encoding_is_unreadable():
    """A body in an encoding we did not ask for is refused, not read undecoded."""
    with pytest.raises(UnreadableBody, match="unsupported Content-Encoding 'br'"):
        _get(lambda request: _reply(200, b"x", **{"Content-Encoding": "br"}))
