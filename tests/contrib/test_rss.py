"""RSS/Atom providers against fixture feeds served by a real loopback server, through the real runner."""

from __future__ import annotations

import inspect

import pytest

from health_check.contrib.rss import AWS, Azure, GoogleCloud, Heroku, Hetzner
from tests.support import FakeUpstream, FrozenClock, Reply, fixture

S3 = "/rss/s3-eu-west-1.rss"


def aws(server: FakeUpstream, name: str, clock: FrozenClock | None = None) -> AWS:
    server.routes[S3] = Reply(fixture(name), content_type="application/rss+xml")
    return AWS("eu-west-1", "s3", base_url=server.url, clock=clock or FrozenClock())


def test_rss__aws_resolved_only_is_ok(upstream, run_check):
    """Old, resolved events are not incidents."""
    snapshot = run_check(aws(upstream, "aws/s3-eu-west-1.resolved-only.rss"))
    assert (snapshot.status, snapshot.message) == ("ok", "OK")
    assert snapshot.details == {"source": f"{upstream.url}{S3}", "incidents": []}


def test_rss__aws_open_then_resolved(upstream, run_check):
    """An open disruption warns with its first and latest update; once resolved the same check is OK."""
    clock = FrozenClock()
    check = aws(upstream, "aws/s3-eu-west-1.open-incident.rss", clock)
    snapshot = run_check(check)
    assert snapshot.status == "warning"
    assert snapshot.message == (
        "Warning: Amazon Simple Storage Service (Ireland) Service Status: Service disruption: "
        "Increased Error Rates: https://status.aws.amazon.com/ (s3-eu-west-1, since 2025-03-12T13:05:12Z, "
        "last update 2025-03-12T13:41:30Z)"
    )
    assert snapshot.details["incidents"] == [
        {
            "id": "s3-eu-west-1_1741784712",
            "name": "Increased Error Rates",
            "impact": "Service disruption",
            "status": "open",
            "link": "https://status.aws.amazon.com/",
            "started_at": "2025-03-12T13:05:12Z",
            "updated_at": "2025-03-12T13:41:30Z",
        }
    ]
    upstream.routes[S3] = Reply(
        fixture("aws/s3-eu-west-1.open-incident-resolved.rss"), content_type="application/rss+xml"
    )
    clock.advance(hours=2)
    snapshot = run_check(check)
    assert (snapshot.status, snapshot.message, snapshot.details["incidents"]) == ("ok", "OK", [])
    assert upstream.count(S3) == 2


def test_rss__aws_event_closes_after_the_window(upstream, run_check):
    """An unresolved event without updates for longer than max_age (8 h) is no longer open."""
    clock = FrozenClock("2025-03-12T21:42:00+00:00")
    assert run_check(aws(upstream, "aws/s3-eu-west-1.open-incident.rss", clock)).message == "OK"


def test_rss__aws_all_services_feed_keeps_only_the_watched_service(upstream, run_check):
    """In an all-services feed, other services' and days-old events do not count."""
    snapshot = run_check(aws(upstream, "aws/all.global.rss"))
    assert [incident["id"] for incident in snapshot.details["incidents"]] == ["s3-eu-west-1_1741784712"]


def test_rss__aws_empty_channel_is_ok(upstream, run_check):
    """A legacy channel without items is healthy."""
    assert run_check(aws(upstream, "aws/s3-eu-west-1.empty-channel.rss")).message == "OK"


def test_rss__statuspage_history_feed(upstream, run_check):
    """A generic feed reports items whose latest update is not resolved or completed."""
    upstream.routes["/history.atom"] = Reply(fixture("statuspage/history.atom"), content_type="application/atom+xml")
    snapshot = run_check(Heroku(feed_url=f"{upstream.url}/history.atom", clock=FrozenClock()))
    assert snapshot.status == "warning"
    assert snapshot.message == (
        "Warning: GitHub Status - Incident History: Actions jobs are slow to start: "
        "https://www.githubstatus.com/incidents/y4mq9x2hz7td (since 2025-03-12T13:21:04Z); "
        "Packages registry database maintenance: https://www.githubstatus.com/incidents/v6n1b8x3k0qa "
        "(since 2025-03-12T13:00:41Z)"
    )


MALFORMED = {
    "malformed/invalid.xml": (
        "error",
        "Unexpected Result: {url}: feed is not well-formed XML (line 7: not well-formed (invalid token)); "
        "cut off or broken upstream",
    ),
    "malformed/rss-truncated.rss": (
        "error",
        "Unexpected Result: {url}: feed is not well-formed XML (line 24: unclosed token); cut off or broken upstream",
    ),
    "malformed/s3-access-denied.xml": (
        "error",
        "Unexpected Result: {url}: returned an S3 error document (AccessDenied: Access Denied) instead of a feed",
    ),
    "malformed/html-error-200.html": (
        "error",
        'Unexpected Result: {url}: returned an HTML page ("Just a moment...") instead of a feed '
        "(a bot check, login or maintenance page?)",
    ),
    "malformed/html-maintenance-200.html": (
        "error",
        'Unexpected Result: {url}: returned an HTML page ("Status page temporarily unavailable") instead of a feed '
        "(a bot check, login or maintenance page?)",
    ),
    "malformed/empty-body.txt": (
        "error",
        "Unexpected Result: {url}: empty response body, expected an RSS or Atom feed",
    ),
    "malformed/summary.truncated.json": (
        "error",
        "Unexpected Result: {url}: returned JSON instead of an RSS or Atom feed",
    ),
    "malformed/rss-odd-dates.rss": (
        "warning",
        "Warning: Example Provider Status: RFC 822 with US zone abbreviation (valid, PDT): {url} "
        "(since 2025-03-12T13:05:12Z); RFC 822 with numeric offset (valid): {url} (since 2025-03-12T13:05:12Z); "
        "ISO 8601 instead of RFC 822: {url} (since 2025-03-12T13:05:12Z); Wrong weekday for the date: {url} "
        "(since 2025-03-12T13:05:12Z) (6 items with unreadable dates ignored)",
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_rss__malformed_fixture(upstream, run_check, name):
    """Every malformed feed yields a snapshot whose message says what was wrong and where; HTML is never OK."""
    upstream.routes["/feed"] = Reply(
        fixture(name), content_type="text/html" if name.endswith(".html") else "application/rss+xml"
    )
    snapshot = run_check(Heroku(feed_url=f"{upstream.url}/feed", clock=FrozenClock()))
    status, message = MALFORMED[name]
    assert (snapshot.status, snapshot.message) == (status, message.format(url=f"{upstream.url}/feed"))


def test_rss__defaults_match_django_health_check():
    """Feed URLs, argument order and names are the ones django-health-check users have."""
    assert AWS("eu-west-1", "s3").source_url == "https://status.aws.amazon.com/rss/s3-eu-west-1.rss"
    assert repr(AWS(region="eu-west-1", service="s3")) == "AWS(region='eu-west-1', service='s3')"
    assert list(inspect.signature(AWS).parameters)[:4] == ["region", "service", "timeout", "max_age"]
    assert Heroku().source_url == "https://status.heroku.com/feed"
    assert Hetzner().source_url == "https://status.hetzner.com/en.atom"
    assert Azure().source_url == "https://rssfeed.azure.status.microsoft/en-us/status/feed/"
    assert GoogleCloud().source_url == "https://status.cloud.google.com/en/feed.atom"
    assert repr(Heroku()) == "Heroku()"


def test_rss__aws_rejects_bad_codes():
    """A region or service that cannot be part of the feed URL is refused at construction."""
    with pytest.raises(ValueError) as error:
        AWS(region="EU West", service="s3")
    assert str(error.value) == "AWS(region='EU West'): expected a lowercase AWS code such as 'eu-west-1' or 's3'"


def test_rss__title_names_the_provider():
    """Feed items call a check by its provider ("Google Cloud", "AWS s3 eu-west-1"); a bare Feed keeps its repr."""
    from health_check.contrib.rss import Feed

    assert GoogleCloud().title == "Google Cloud"
    assert Heroku().title == "Heroku"
    assert AWS(region="eu-west-1", service="s3").title == "AWS s3 eu-west-1"
    bare = Feed(feed_url="https://status.example.com/feed.atom")
    assert bare.title == repr(bare) == "Feed()"
