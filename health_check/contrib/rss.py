"""Provider status from RSS and Atom feeds: AWS, Azure, Google Cloud, Heroku, Hetzner.

Same classes, arguments and defaults as django-health-check 4.x. A feed lists events; an event is
open until the feed resolves it or its last update is older than ``max_age`` (8 hours by default:
providers post updates at least every few hours while an event lasts, so silence that long means
the event is over or forgotten). Items whose dates cannot be read (or lie more than an hour in the
future) are never incidents by themselves.

AWS feeds carry one item per update, so items are grouped into events by service and subject, and
an event ends with its ``Service is operating normally: [RESOLVED] ...`` item.

Polled every 5 minutes by default. Point ``feed_url=`` (or ``base_url=`` for AWS) at a mirror to test
or run offline. Needs feedparser: ``pip install "django-health-snapshot[rss]"``.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime
import re
import xml.sax
from collections.abc import Iterable
from typing import Any, ClassVar

try:
    import feedparser
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError('health_check.contrib.rss needs feedparser: pip install "django-health-snapshot[rss]"') from error

from health_check.contrib._upstream import UpstreamCheck, describe_markup, isoformat
from health_check.exceptions import ServiceReturnedUnexpectedResult, ServiceUnavailable, StatusPageWarning

__all__ = ["AWS", "Azure", "Document", "Feed", "FeedProvider", "GoogleCloud", "Heroku", "Hetzner", "Item", "parse_feed"]

UTC = datetime.timezone.utc
_TEN_SECONDS = datetime.timedelta(seconds=10)
_EIGHT_HOURS = datetime.timedelta(hours=8)
#: Items dated later than now plus this are misdated (a wrong zone, a typo), never incidents.
FUTURE_TOLERANCE = datetime.timedelta(hours=1)
#: Events kept in a snapshot's details.
MAX_INCIDENTS = 20

_RESOLVED_TITLE = re.compile(r"\[resolved\]|^\s*resolved\b|operating normally", re.IGNORECASE)
# Statuspage and similar feeds write the latest update first: "<strong>Resolved</strong> - ...".
_LATEST_STATUS = re.compile(r"<(?:strong|b)>\s*([A-Za-z][A-Za-z ]{1,30}?)\s*</(?:strong|b)>", re.IGNORECASE)
_CLOSED_STATUSES = frozenset({"resolved", "completed", "postmortem"})
#: How people write the providers whose class names are identifiers.
PROVIDER_NAMES = {"GoogleCloud": "Google Cloud"}


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


@dataclasses.dataclass(frozen=True)
class _Event:
    id: str
    name: str
    impact: str
    link: str | None
    started_at: datetime.datetime
    updated_at: datetime.datetime
    severity: int  # 1 warning, 2 failing


@dataclasses.dataclass
class Feed(UpstreamCheck):
    """Base of checks that read a provider's RSS or Atom status feed.

    Use it directly with ``feed_url=`` for any feed; named providers subclass ``FeedProvider``.

    Args:
        feed_url: The feed's URL; pass a mirror's to test or run offline. Keyword only, hidden from ``repr``.
    """

    timeout = _TEN_SECONDS  # type: ignore[assignment]
    max_age = _EIGHT_HOURS
    fetch_noun = "feed"
    feed_url: str | None = dataclasses.field(default=None, repr=False, kw_only=True)

    @property
    def source_url(self) -> str:
        if not self.feed_url:
            raise ValueError(f"{type(self).__name__} needs feed_url=, the URL of the provider's feed")
        return self.feed_url

    def parse(self, body: bytes, content_type: str, url: str) -> Document:
        return parse_feed(body, content_type, url)

    @property
    def title(self) -> str:
        """What feed items and messages call the check: ``"Google Cloud"``, ``"Heroku"``.

        The generic ``Feed``, which only its ``feed_url`` tells apart, keeps its ``repr()``.
        """
        if type(self) is Feed:
            return repr(self)
        return PROVIDER_NAMES.get(type(self).__name__, type(self).__name__)

    def events(self, items: Iterable[Item], now: datetime.datetime) -> list[_Event]:
        """Open events: here one per item, open unless it says it is resolved; dated and recent."""
        events = []
        for item in items:
            if item.published_at is None or item.published_at > now + FUTURE_TOLERANCE:
                continue
            if now - item.published_at > self.max_age or _resolved(item):
                continue
            events.append(
                _Event(
                    id=item.id,
                    name=item.title or "Unknown Incident",
                    impact="incident",
                    link=item.link,
                    started_at=item.published_at,
                    updated_at=item.published_at,
                    severity=1,
                )
            )
        return events

    def describe(self, event: _Event) -> str:
        # django-health-check's "<title>: <link>" first (the feed's URL when the item has no link).
        return f"{event.name}: {event.link or self.source_url} (since {isoformat(event.started_at)})"

    def judge(self, document: Document, now: datetime.datetime) -> dict[str, Any]:
        events = sorted(self.events(document.items, now), key=lambda event: event.updated_at, reverse=True)
        details = {
            "source": self.source_url,
            "incidents": [
                {
                    "id": event.id,
                    "name": event.name,
                    "impact": event.impact,
                    "status": "open",
                    "link": event.link,
                    "started_at": isoformat(event.started_at),
                    "updated_at": isoformat(event.updated_at),
                }
                for event in events[:MAX_INCIDENTS]
            ],
        }
        if not events:
            return details
        texts = [self.describe(event) for event in events]
        shown = "; ".join(texts[:6]) + (f"; and {len(texts) - 6} more" if len(texts) > 6 else "")
        if document.undated:
            shown += f" ({document.undated} items with unreadable dates ignored)"
        message = f"{document.title or type(self).__name__}: {shown}"
        if max(event.severity for event in events) >= 2 and self.fail_on_outage:
            raise ServiceUnavailable(message, details=details)
        raise StatusPageWarning(message, timestamp=events[0].updated_at, details=details)


def _resolved(item: Item) -> bool:
    if _RESOLVED_TITLE.search(item.title):
        return True
    match = _LATEST_STATUS.search(item.summary)
    return bool(match and match.group(1).strip().lower() in _CLOSED_STATUSES)


# AWS writes "<kind>: <subject>"; the kind says how bad it is.
_AWS_TITLE = re.compile(r"^\s*(?P<kind>[^:\[]{3,40}):\s*(?P<subject>.*)$")
_AWS_FAILING = ("service disruption", "service impact")
_AWS_KEY = re.compile(r"#(?P<key>[a-z0-9-]+)_\d+$")


@dataclasses.dataclass
class AWS(Feed):
    """Amazon Web Services status of one service in one region (AWS Health Dashboard feed).

    Items are grouped into events by service and subject. An event is open until its
    ``Service is operating normally: [RESOLVED] ...`` item, or until its last update is older than
    ``max_age``. ``Service disruption`` and ``Service impact`` fail; other kinds warn.

    Args:
        region: The region code, e.g. ``"eu-west-1"``.
        service: The service code, e.g. ``"s3"``, ``"ec2"``.
        timeout: Budget of one fetch (10 s).
        max_age: How long an event without updates stays open (8 h).
        base_url: Root of the dashboard, ``https://status.aws.amazon.com``; a mirror for tests or offline use.
    """

    region: str
    service: str
    timeout: datetime.timedelta = dataclasses.field(default=_TEN_SECONDS, repr=False)
    max_age: datetime.timedelta = dataclasses.field(default=_EIGHT_HOURS, repr=False)
    base_url: str = dataclasses.field(default="https://status.aws.amazon.com", repr=False, kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()  # the thresholds' and scope's validation
        for name in ("region", "service"):
            value = getattr(self, name)
            if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9-]+", value):
                raise ValueError(f"AWS({name}={value!r}): expected a lowercase AWS code such as 'eu-west-1' or 's3'")
        if not self.feed_url:
            # django-health-check's attribute: the address in use.
            self.feed_url = f"{self.base_url.rstrip('/')}/rss/{self.service}-{self.region}.rss"

    @property
    def source_url(self) -> str:
        return self.feed_url or f"{self.base_url.rstrip('/')}/rss/{self.service}-{self.region}.rss"

    @property
    def title(self) -> str:
        return f"AWS {self.service} {self.region}"

    def events(self, items: Iterable[Item], now: datetime.datetime) -> list[_Event]:
        wanted = f"{self.service}-{self.region}"
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
                current = [] if _resolved(item) else [*current, item]
            if not current or now - current[-1].published_at > self.max_age:  # type: ignore[operator]
                continue
            first, latest = current[0], current[-1]
            match = _AWS_TITLE.match(latest.title)
            kind = match.group("kind").strip() if match else "Event"
            subject = match.group("subject").strip() if match else latest.title
            events.append(
                _Event(
                    id=first.id.rsplit("#", 1)[-1],
                    name=subject or "untitled event",
                    impact=kind,
                    link=latest.link,
                    started_at=first.published_at,  # type: ignore[arg-type]
                    updated_at=latest.published_at,  # type: ignore[arg-type]
                    severity=2 if kind.lower() in _AWS_FAILING else 1,
                )
            )
        return events

    def describe(self, event: _Event) -> str:
        return (
            f"{event.impact}: {event.name}: {event.link or self.source_url} ({self.service}-{self.region}, "
            f"since {isoformat(event.started_at)}, last update {isoformat(event.updated_at)})"
        )


@dataclasses.dataclass
class FeedProvider(Feed):
    """A provider's status feed at a known address: the base of every named feed provider below.

    A new provider takes two lines::

        @dataclasses.dataclass
        class Linode(FeedProvider):
            home = "https://status.linode.com/history.atom"

    Args:
        timeout: Budget of one fetch (10 s).
        max_age: How long an item stays an incident without being resolved (8 h).
        feed_url: The feed's URL, ``home`` by default; a mirror for tests or offline use.
    """

    #: The provider's public feed.
    home: ClassVar[str] = ""

    timeout: datetime.timedelta = dataclasses.field(default=_TEN_SECONDS, repr=False)
    max_age: datetime.timedelta = dataclasses.field(default=_EIGHT_HOURS, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()  # the thresholds' and scope's validation
        if not self.feed_url:
            # django-health-check's attribute: the address in use, whether given or the provider's own.
            self.feed_url = self.home

    @property
    def source_url(self) -> str:
        return self.feed_url or self.home


@dataclasses.dataclass
class Azure(FeedProvider):
    """Microsoft Azure status (its feed lists active events only)."""

    home = "https://rssfeed.azure.status.microsoft/en-us/status/feed/"


@dataclasses.dataclass
class GoogleCloud(FeedProvider):
    """Google Cloud status."""

    home = "https://status.cloud.google.com/en/feed.atom"


@dataclasses.dataclass
class Heroku(FeedProvider):
    """Heroku status."""

    home = "https://status.heroku.com/feed"


@dataclasses.dataclass
class Hetzner(FeedProvider):
    """Hetzner status."""

    home = "https://status.hetzner.com/en.atom"
