"""Provider status from RSS and Atom feeds: AWS, Azure, Google Cloud, Heroku, Hetzner.

Same classes, arguments and defaults as django-health-check 4.x. A feed lists events; an event is
open until the feed resolves it or its last update is older than ``max_age`` (8 hours by default:
providers post updates at least every few hours while an event lasts, so silence that long means
the event is over or forgotten). Items whose dates cannot be read (or lie more than an hour in the
future) are never incidents by themselves.

AWS feeds carry one item per update, so items are grouped into events by service and subject, and
an event ends with its ``Service is operating normally: [RESOLVED] ...`` item.

Reading a feed and judging its events live in ``contrib/_feeds.py``; this module only declares feeds.
Polled every 5 minutes by default. Point ``feed_url=`` (or ``base_url=`` for AWS) at a mirror to test
or run offline. Needs feedparser: ``pip install "django-health-snapshot[rss]"``.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Iterable
from typing import Any, ClassVar

from health_check._incidents import Incident

# Item, Document and parse_feed stay importable from here, as they always were.
from health_check.contrib._feeds import (
    Document,
    Item,
    aws_events,
    describe_aws_event,
    describe_event,
    judge_feed,
    parse_feed,
    recent_items,
)
from health_check.contrib._upstream import UpstreamCheck

__all__ = ["AWS", "Azure", "Document", "Feed", "FeedProvider", "GoogleCloud", "Heroku", "Hetzner", "Item", "parse_feed"]

_TEN_SECONDS = datetime.timedelta(seconds=10)
_EIGHT_HOURS = datetime.timedelta(hours=8)
#: How people write the providers whose class names are identifiers.
PROVIDER_NAMES = {"GoogleCloud": "Google Cloud"}
#: What ``events()`` returns, by the name it had when feed events had their own type (keywords unchanged).
_Event = Incident


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

    def events(self, items: Iterable[Item], now: datetime.datetime) -> list[Incident]:
        """Open events: here one per item, open unless it says it is resolved; dated and recent."""
        return recent_items(items, now, self.max_age)

    def describe(self, event: Incident) -> str:
        return describe_event(event, self.source_url)

    def judge(self, document: Document, now: datetime.datetime) -> dict[str, Any]:
        return judge_feed(
            self.events(document.items, now),
            document,
            source_url=self.source_url,
            fail_on_outage=self.fail_on_outage,
            describe=self.describe,
            unnamed=type(self).__name__,
        )


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

    def events(self, items: Iterable[Item], now: datetime.datetime) -> list[Incident]:
        return aws_events(items, now, service=self.service, region=self.region, max_age=self.max_age)

    def describe(self, event: Incident) -> str:
        return describe_aws_event(event, self.source_url, f"{self.service}-{self.region}")


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
