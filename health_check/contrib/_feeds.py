"""RSS and Atom status feeds: reading a feed, finding its open events, and what they mean for a check.

The provider classes in ``contrib/rss.py`` only say where a feed is and how long silence lasts; this
module reads the body (``parse_feed``), finds the open events (``recent_items``, and ``aws_events``
for AWS's one-item-per-update feeds) and turns them into a verdict (``judge_feed``). An event is open
until the feed resolves it or its last update is older than ``max_age``; items whose dates cannot be
read (or lie more than an hour in the future) are never incidents by themselves.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime
import re
import xml.sax
from collections.abc import Callable, Iterable
from typing import Any

try:
    import feedparser
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError('health_check.contrib.rss needs feedparser: pip install "django-health-snapshot[rss]"') from error

from health_check._incidents import ERROR, WARNING, Incident, is_closed
from health_check._time import UTC, isoformat
from health_check.contrib._upstream import describe_markup
from health_check.exceptions import ServiceReturnedUnexpectedResult, ServiceUnavailable, StatusPageWarning

__all__ = [
    "Document",
    "Item",
    "aws_events",
    "describe_aws_event",
    "describe_event",
    "judge_feed",
    "parse_feed",
    "recent_items",
    "resolved",
]

#: Items dated later than now plus this are misdated (a wrong zone, a typo), never incidents.
FUTURE_TOLERANCE = datetime.timedelta(hours=1)
#: Events kept in a snapshot's details.
MAX_INCIDENTS = 20

_RESOLVED_TITLE = re.compile(r"\[resolved\]|^\s*resolved\b|operating normally", re.IGNORECASE)
# Statuspage and similar feeds write the latest update first: "<strong>Resolved</strong> - ...".
_LATEST_STATUS = re.compile(r"<(?:strong|b)>\s*([A-Za-z][A-Za-z ]{1,30}?)\s*</(?:strong|b)>", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Item:
    """One feed entry, as much of it as the verdict needs."""

    id: str
    title: str
    link: str | None
    published_at: datetime.datetime | None  # None: missing, unreadable or far in the future
    summary: str


@dataclasses.dataclass(frozen=True)
class Document:
    """A parsed feed: its title and items."""

    title: str | None
    items: tuple[Item, ...]
    undated: int


def _moment(entry: Any) -> datetime.datetime | None:
    # dict.get: feedparser's own get() maps a missing "updated" to "published" with a DeprecationWarning.
    parsed = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    if not parsed:
        return None
    try:
        return datetime.datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def parse_feed(body: bytes, content_type: str, url: str) -> Document:
    """Read an RSS/Atom body; raise ``ServiceReturnedUnexpectedResult`` saying what it is instead."""
    if not body.strip():
        raise ServiceReturnedUnexpectedResult(f"{url}: empty response body, expected an RSS or Atom feed")
    parsed = feedparser.parse(body, response_headers={"content-type": content_type or "application/xml"})
    problem = parsed.get("bozo_exception")
    if not parsed.get("version"):
        what = describe_markup(body)
        if what is not None:
            hint = " (a bot check, login or maintenance page?)" if "HTML" in what else ""
            raise ServiceReturnedUnexpectedResult(f"{url}: returned {what} instead of a feed{hint}")
        if body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
            raise ServiceReturnedUnexpectedResult(f"{url}: returned JSON instead of an RSS or Atom feed")
        raise ServiceReturnedUnexpectedResult(f"{url}: not an RSS or Atom feed")
    if isinstance(problem, xml.sax.SAXParseException):
        # A feed that is not well-formed may be cut short: its missing part could be the resolution.
        raise ServiceReturnedUnexpectedResult(
            f"{url}: feed is not well-formed XML (line {problem.getLineNumber()}: {problem.getMessage()}); "
            "cut off or broken upstream"
        )
    items = []
    undated = 0
    for index, entry in enumerate(parsed.entries):
        moment = _moment(entry)
        if moment is None:
            undated += 1
        items.append(
            Item(
                id=str(entry.get("id") or entry.get("link") or f"item-{index}"),
                title=" ".join(str(entry.get("title") or "").split())[:200],
                link=entry.get("link") or None,
                published_at=moment,
                summary=str(entry.get("summary") or "")[:4000],
            )
        )
    title = " ".join(str(parsed.feed.get("title") or "").split()) or None
    return Document(title=title, items=tuple(items), undated=undated)


def resolved(item: Item) -> bool:
    """Whether ``item`` says its event is over: ``[RESOLVED]`` in the title, or a closed latest status."""
    if _RESOLVED_TITLE.search(item.title):
        return True
    match = _LATEST_STATUS.search(item.summary)
    return bool(match and is_closed(match.group(1)))


# AWS writes "<kind>: <subject>"; the kind says how bad it is.
_AWS_TITLE = re.compile(r"^\s*(?P<kind>[^:\[]{3,40}):\s*(?P<subject>.*)$")
_AWS_FAILING = ("service disruption", "service impact")
_AWS_KEY = re.compile(r"#(?P<key>[a-z0-9-]+)_\d+$")


def recent_items(items: Iterable[Item], now: datetime.datetime, max_age: datetime.timedelta) -> list[Incident]:
    """Open events of a feed that posts one item per event: each dated, recent item not resolved."""
    events = []
    for item in items:
        if item.published_at is None or item.published_at > now + FUTURE_TOLERANCE:
            continue
        if now - item.published_at > max_age or resolved(item):
            continue
        events.append(
            Incident(
                id=item.id,
                name=item.title or "Unknown Incident",
                impact="incident",
                link=item.link,
                started_at=item.published_at,
                updated_at=item.published_at,
                severity=WARNING,
            )
        )
    return events


def aws_events(
    items: Iterable[Item], now: datetime.datetime, *, service: str, region: str, max_age: datetime.timedelta
) -> list[Incident]:
    """Open events of an AWS Health Dashboard feed, which posts one item per update.

    Items are grouped by service key and subject; an event is the run of updates since the last
    ``[RESOLVED]`` one, open while its latest update is younger than ``max_age``. ``Service
    disruption`` and ``Service impact`` weigh as outages; other kinds warn.
    """
    wanted = f"{service}-{region}"
    groups: dict[tuple[str, str], list[Item]] = {}
    for item in items:
        if item.published_at is None or item.published_at > now + FUTURE_TOLERANCE:
            continue  # cannot be placed in time: not an incident by itself
        key = _AWS_KEY.search(item.id)
        if key and key.group("key") != wanted:
            continue  # an all-services feed: someone else's event
        match = _AWS_TITLE.match(item.title)
        subject = match.group("subject") if match else item.title
        subject = re.sub(r"\[resolved\]\s*", "", subject, flags=re.IGNORECASE).strip()
        groups.setdefault((key.group("key") if key else wanted, subject.lower()), []).append(item)
    events = []
    for updates in groups.values():
        updates.sort(key=lambda item: item.published_at)  # type: ignore[arg-type, return-value]
        # The same subject recurs across months: an event is the run of updates since the last resolution.
        current: list[Item] = []
        for item in updates:
            current = [] if resolved(item) else [*current, item]
        if not current or now - current[-1].published_at > max_age:  # type: ignore[operator]
            continue
        first, latest = current[0], current[-1]
        match = _AWS_TITLE.match(latest.title)
        kind = match.group("kind").strip() if match else "Event"
        subject = match.group("subject").strip() if match else latest.title
        events.append(
            Incident(
                id=first.id.rsplit("#", 1)[-1],
                name=subject or "untitled event",
                impact=kind,
                link=latest.link,
                started_at=first.published_at,
                updated_at=latest.published_at,
                severity=ERROR if kind.lower() in _AWS_FAILING else WARNING,
            )
        )
    return events


def describe_event(event: Incident, source_url: str) -> str:
    """django-health-check's ``"<title>: <link>"`` (the feed's URL when the item has no link), then since when."""
    return f"{event.name}: {event.link or source_url} (since {isoformat(event.started_at)})"


def describe_aws_event(event: Incident, source_url: str, key: str) -> str:
    """``"<kind>: <subject>: <link> (<service>-<region>, since ..., last update ...)"``."""
    return (
        f"{event.impact}: {event.name}: {event.link or source_url} ({key}, "
        f"since {isoformat(event.started_at)}, last update {isoformat(event.updated_at)})"
    )


def judge_feed(
    events: Iterable[Incident],
    document: Document,
    *,
    source_url: str,
    fail_on_outage: bool,
    describe: Callable[[Incident], str],
    unnamed: str,
) -> dict[str, Any]:
    """The snapshot details when no event is open, or the ``HealthCheckError`` of the open ones.

    Args:
        events: The open events (``recent_items``, ``aws_events`` or a check's own ``events()``).
        document: The parsed feed: its title names the provider in messages, its undated items are counted.
        source_url: The feed's URL, in details.
        fail_on_outage: Raise ``ServiceUnavailable`` for an outage instead of ``StatusPageWarning``.
        describe: One event as a message phrase.
        unnamed: What messages call a feed that gives no title (the check's class name).
    """
    events = sorted(events, key=lambda event: event.updated_at, reverse=True)  # type: ignore[arg-type, return-value]
    details = {"source": source_url, "incidents": [event.details() for event in events[:MAX_INCIDENTS]]}
    if not events:
        return details
    texts = [describe(event) for event in events]
    shown = "; ".join(texts[:6]) + (f"; and {len(texts) - 6} more" if len(texts) > 6 else "")
    if document.undated:
        shown += f" ({document.undated} items with unreadable dates ignored)"
    message = f"{document.title or unnamed}: {shown}"
    if max(event.severity for event in events) >= ERROR and fail_on_outage:
        raise ServiceUnavailable(message, details=details)
    raise StatusPageWarning(message, timestamp=events[0].updated_at, details=details)
