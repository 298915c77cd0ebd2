"""django-health-check 4.11.1's public names and words on the contrib checks, used as its users use them.

Each test reads like code written against django-health-check: the attribute it reads, the subclass
it declares, the phrase a monitor greps. Upstream checks run against the fake provider on loopback.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

import psutil
import pytest

from health_check.contrib import atlassian, rss
from health_check.contrib import psutil as host
from health_check.exceptions import StatusPageWarning
from tests.support import FrozenClock, Reply, fixture

SUMMARY = "/api/v2/summary.json"

STATUS_PAGES = {
    atlassian.Cloudflare: "https://www.cloudflarestatus.com",
    atlassian.FlyIo: "https://status.flyio.net",
    atlassian.GitHub: "https://www.githubstatus.com",
    atlassian.Npm: "https://status.npmjs.org",
    atlassian.PlatformSh: "https://status.platform.sh",
    atlassian.PyPI: "https://status.python.org",
    atlassian.DigitalOcean: "https://status.digitalocean.com",
    atlassian.Render: "https://status.render.com",
    atlassian.Sentry: "https://status.sentry.io",
    atlassian.Vercel: "https://www.vercel-status.com",
}

FEEDS = {
    rss.Heroku: "https://status.heroku.com/feed",
    rss.Hetzner: "https://status.hetzner.com/en.atom",
    rss.Azure: "https://rssfeed.azure.status.microsoft/en-us/status/feed/",
    rss.GoogleCloud: "https://status.cloud.google.com/en/feed.atom",
}


@pytest.mark.parametrize(
    ("provider", "address"), STATUS_PAGES.items(), ids=lambda value: getattr(value, "__name__", "")
)
def test_drop_in__base_url_of_every_status_page(provider, address):
    """``base_url`` is the address in use, django-health-check's, and the API is under it."""
    check = provider()
    assert check.base_url == address
    assert check.source_url == f"{address}/api/v2/summary.json"


def test_drop_in__github_enterprise_base_url_and_a_mirror():
    """GitHub's base_url follows the enterprise region; a mirror given as base_url is the address in use."""
    assert (
        atlassian.GitHub(enterprise_region=atlassian.GitHub.EnterpriseRegion.eu).base_url
        == "https://eu.githubstatus.com"
    )
    assert atlassian.GitHub("jp").base_url == "https://jp.githubstatus.com"
    assert atlassian.Cloudflare(base_url="http://127.0.0.1:9/").base_url == "http://127.0.0.1:9/"


@pytest.mark.parametrize(("provider", "address"), FEEDS.items(), ids=lambda value: getattr(value, "__name__", ""))
def test_drop_in__feed_url_of_every_feed(provider, address):
    """``feed_url`` is the address in use, django-health-check's."""
    assert provider().feed_url == address


def test_drop_in__aws_feed_url():
    """AWS's feed_url is built from service and region, as in django-health-check."""
    assert rss.AWS("us-east-1", "ec2").feed_url == "https://status.aws.amazon.com/rss/ec2-us-east-1.rss"
    assert rss.AWS(region="eu-west-1", service="s3").feed_url == "https://status.aws.amazon.com/rss/s3-eu-west-1.rss"


def test_drop_in__status_page_subclass_as_documented_upstream(upstream, run_check):
    """The subclass django-health-check's docstring shows (base_url as an init=False field) polls its page."""

    @dataclasses.dataclass
    class Acme(atlassian.AtlassianStatusPage):
        timeout: datetime.timedelta = datetime.timedelta(seconds=10)
        base_url: str = dataclasses.field(default=upstream.url, init=False, repr=False)

    upstream.routes[SUMMARY] = Reply(fixture("statuspage/summary.critical-outage.json"))
    snapshot = run_check(Acme(clock=FrozenClock()))
    # A critical incident: still a StatusPageWarning, as in django-health-check.
    assert snapshot.status == "warning"
    assert "GitHub.com unavailable: https://stspg.io/k2p8v5n0s6dc" in snapshot.message
    assert upstream.count(SUMMARY) == 1


def test_drop_in__feed_subclass_as_documented_upstream(upstream, run_check):
    """The Feed subclass django-health-check's docstring shows (feed_url a ClassVar) polls its feed.

    Its one item has no title and no link: "Unknown Incident: <feed URL>", as django-health-check writes it.
    """
    address = f"{upstream.url}/feed"

    @dataclasses.dataclass
    class MyProviderStatus(rss.Feed):
        timeout: datetime.timedelta = dataclasses.field(default=datetime.timedelta(seconds=10), repr=False)
        max_age: datetime.timedelta = dataclasses.field(default=datetime.timedelta(hours=4), repr=False)
        feed_url: typing.ClassVar[str] = address

    upstream.routes["/feed"] = Reply(fixture("feeds/untitled-item.rss"), content_type="application/rss+xml")
    snapshot = run_check(MyProviderStatus(clock=FrozenClock()))
    assert (snapshot.status, snapshot.message) == (
        "warning",
        f"Warning: Example Provider Status: Unknown Incident: {address} (since 2025-03-12T13:30:00Z)",
    )


def test_drop_in__an_incident_is_a_status_page_warning(upstream):
    """Raised by the check itself (as users' tests call run()), an incident is a StatusPageWarning stamped with its update."""
    upstream.routes[SUMMARY] = Reply(fixture("statuspage/summary.major-outage.json"))
    with pytest.raises(StatusPageWarning) as raised:
        atlassian.GitHub(base_url=upstream.url, clock=FrozenClock()).run()
    assert raised.value.timestamp.tzinfo is not None
    assert "Git operations and API requests failing: https://stspg.io/m7w2r9d4h1xq" in raised.value.message


@pytest.mark.parametrize(
    ("make", "path", "noun"),
    [
        (lambda url: atlassian.GitHub(base_url=url, clock=FrozenClock()), SUMMARY, "API"),
        (lambda url: rss.Heroku(feed_url=f"{url}/feed", clock=FrozenClock()), "/feed", "feed"),
    ],
    ids=["statuspage", "feed"],
)
def test_drop_in__http_error_phrase(upstream, run_check, make, path, noun):
    """A 404 reads "HTTP error 404 fetching <API|feed> from '<url>'", as django-health-check words it."""
    upstream.routes[path] = Reply(b"gone", status=404, content_type="text/plain")
    snapshot = run_check(make(upstream.url))
    assert snapshot.message == f"Unavailable: HTTP error 404 fetching {noun} from '{upstream.url}{path}' (Not Found)"


def test_drop_in__feed_timeout_and_connect_phrases(upstream, run_check, closed_port):
    """A feed that hangs says "Feed request timed out"; one nobody serves says "Failed to fetch feed"."""
    upstream.routes["/feed"] = Reply(fixture("statuspage/history.atom"), hang_seconds=5)
    slow = rss.Heroku(feed_url=f"{upstream.url}/feed", timeout=datetime.timedelta(seconds=1), clock=FrozenClock())
    assert run_check(slow).message == f"Unavailable: Feed request timed out after 1 s: {upstream.url}/feed"
    gone = run_check(rss.Heroku(feed_url=f"http://127.0.0.1:{closed_port}/feed", clock=FrozenClock()))
    assert gone.message.startswith(
        f"Unavailable: Failed to fetch feed: cannot connect to http://127.0.0.1:{closed_port}/feed ("
    )


def test_drop_in__disk_value_error_is_an_unexpected_result(run_check):
    """psutil's ValueError (a path with a NUL byte) is "Unexpected Result: ValueError", as in django-health-check."""
    snapshot = run_check(host.Disk(path="/tmp/a\x00b"))
    assert snapshot.status == "error"
    # The reason is Python's own words, which vary by version ("embedded null byte", "... null character ...").
    assert snapshot.message.startswith(
        "Unexpected Result: ValueError: disk usage of '/tmp/a\\x00b' could not be read: "
    )
    assert "null" in snapshot.message


@pytest.mark.parametrize(
    ("check", "reader", "what"),
    [(host.Memory, "virtual_memory", "memory usage"), (host.Battery, "sensors_battery", "battery status")],
)
def test_drop_in__memory_and_battery_value_error(run_check, monkeypatch, check, reader, what):
    """When psutil cannot make sense of what the OS reports (a ValueError), the check says Unexpected Result."""

    def unreadable():
        raise ValueError("could not parse the kernel's answer")

    monkeypatch.setattr(psutil, reader, unreadable)
    snapshot = run_check(check())
    assert (
        snapshot.message
        == f"Unexpected Result: ValueError: {what} could not be read: could not parse the kernel's answer"
    )
