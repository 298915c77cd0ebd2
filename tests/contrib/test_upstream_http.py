"""The polite fetcher behind every upstream check, against a real loopback server.

Conditional requests, 429 + Retry-After, backoff, hard limits (time, size, gzip bombs, slow drips,
redirect loops), proxies from the environment, and one upstream request per poll however often the
endpoint is asked.
"""

from __future__ import annotations

import datetime
import json
import threading

import pytest
from django.test import Client
from django.urls import clear_url_caches, path

from health_check.contrib.atlassian import GitHub
from health_check.contrib.rss import AWS
from health_check.recorder import SnapshotRecorder
from health_check.specs import CheckSpec
from health_check.views import HealthCheckView
from scheduler.jobs import CheckRunner
from scheduler.poller import Poller
from tests.support import FakeUpstream, FrozenClock, Reply, fixture, free_port, wait_for

SUMMARY = "/api/v2/summary.json"
FIVE_MB = 5 * 1024 * 1024

#: Filled by the hammer test: this module is its URLconf.
urlpatterns: list = []


def github(server: FakeUpstream, clock: FrozenClock | None = None, **options) -> GitHub:
    return GitHub(base_url=server.url, clock=clock or FrozenClock(), **options)


def test_upstream_http__304_keeps_the_previous_result(upstream, run_check):
    """The second poll sends If-None-Match; on 304 the previous verdict and incidents are kept."""
    upstream.routes[SUMMARY] = Reply(fixture("statuspage/summary.minor-actions-degraded.json"), etag='"v1"')
    check = github(upstream)
    first = run_check(check)
    second = run_check(check)
    assert upstream.count(SUMMARY) == 2
    assert "if-none-match" not in upstream.requests[0].headers
    assert upstream.requests[1].headers["if-none-match"] == '"v1"'
    assert (second.status, second.message, second.details) == (first.status, first.message, first.details)
    assert second.status == "warning"


def test_upstream_http__429_waits_for_retry_after(upstream, run_check):
    """A 429 with Retry-After: no request before it passes, the snapshot says until when, then it asks again."""
    upstream.routes[SUMMARY] = Reply(
        b"slow down", status=429, content_type="text/plain", headers={"Retry-After": "120"}
    )
    clock = FrozenClock()
    check = github(upstream, clock)
    url = f"{upstream.url}{SUMMARY}"
    expected = f"Unavailable: HTTP error 429 fetching API from {url!r}: rate limited until 2025-03-12T14:02:00Z"
    assert run_check(check).message == expected
    upstream.routes[SUMMARY] = Reply(fixture("statuspage/summary.all-operational.json"))
    clock.advance(seconds=60)
    assert run_check(check).message == expected
    assert upstream.count(SUMMARY) == 1
    clock.advance(seconds=61)
    assert run_check(check).message == "OK"
    assert upstream.count(SUMMARY) == 2


def test_upstream_http__backs_off_while_the_provider_fails(upstream, run_check):
    """After two failures in a row polls are skipped (no request) and the message says when the next one is."""
    upstream.routes[SUMMARY] = Reply(b"down", status=503, content_type="text/plain")
    clock = FrozenClock()
    check = github(upstream, clock)
    url = f"{upstream.url}{SUMMARY}"
    assert run_check(check).message == f"Unavailable: HTTP error 503 fetching API from {url!r} (Service Unavailable)"
    clock.advance(minutes=5)
    run_check(check)
    assert upstream.count(SUMMARY) == 2
    not_before = check.fetcher.not_before
    assert clock.now + datetime.timedelta(minutes=5) <= not_before <= clock.now + datetime.timedelta(minutes=10)
    clock.advance(minutes=4)
    snapshot = run_check(check)
    assert upstream.count(SUMMARY) == 2
    stamp = not_before.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert snapshot.message == (
        f"Unavailable: HTTP error 503 fetching API from {url!r} (Service Unavailable); next attempt after {stamp}"
    )
    upstream.routes[SUMMARY] = Reply(fixture("statuspage/summary.all-operational.json"))
    clock.advance(minutes=7)
    assert run_check(check).message == "OK"
    assert upstream.count(SUMMARY) == 3


def test_upstream_http__hanging_server_times_out(upstream, run_check):
    """A server that never answers is reported within the check's timeout, naming the URL."""
    upstream.routes[SUMMARY] = Reply(fixture("statuspage/summary.all-operational.json"), hang_seconds=10)
    snapshot = run_check(github(upstream, timeout=datetime.timedelta(seconds=1)))
    assert snapshot.message == f"Unavailable: API request timed out after 1 s: {upstream.url}{SUMMARY}"
    assert snapshot.duration_seconds < 5


def test_upstream_http__slow_drip_is_bounded_by_the_total_deadline(upstream, run_check):
    """A body dripped 1 KB at a time never outlives the total timeout, although every read is quick."""
    body = fixture("statuspage/summary.all-operational.json")
    upstream.routes[SUMMARY] = Reply(body * 10, drip_seconds=0.1)
    snapshot = run_check(github(upstream, timeout=datetime.timedelta(seconds=1)))
    assert snapshot.message == f"Unavailable: API request timed out after 1 s: {upstream.url}{SUMMARY}"
    assert snapshot.duration_seconds < 5


def test_upstream_http__connection_refused(run_check):
    """Nothing listening: unavailable, naming the URL and the reason."""
    base = f"http://127.0.0.1:{free_port()}"
    snapshot = run_check(GitHub(base_url=base, clock=FrozenClock()))
    assert snapshot.status == "error"
    assert snapshot.message.startswith(f"Unavailable: Failed to fetch API: cannot connect to {base}{SUMMARY} (")


def test_upstream_http__redirect_loop(upstream, run_check):
    """A redirect loop stops after 3 redirects with a clear message."""
    upstream.routes[SUMMARY] = Reply(b"", status=302, headers={"Location": SUMMARY})
    snapshot = run_check(github(upstream))
    assert snapshot.message == (
        f"Unavailable: Failed to fetch API: more than 3 redirects from {upstream.url}{SUMMARY} (a redirect loop?)"
    )
    assert upstream.count(SUMMARY) == 4


def huge_summary() -> bytes:
    """Variant 1 of huge-payload.md, grown past the 5 MB cap."""
    base = json.loads(fixture("statuspage/summary.all-operational.json"))
    proto = base["components"][0]
    base["components"] = [dict(proto, id=f"c{i:011d}", name=f"Component {i}") for i in range(14_000)]
    body = json.dumps(base).encode()
    assert len(body) > FIVE_MB
    return body


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_upstream_http__huge_body_is_cut(upstream, run_check, chunked):
    """A body over 5 MB is cut and reported, whether or not its length was announced."""
    upstream.routes[SUMMARY] = Reply(huge_summary(), chunked=chunked)
    snapshot = run_check(github(upstream))
    assert snapshot.message == f"Unexpected Result: response from {upstream.url}{SUMMARY} exceeds 5 MB; not parsed"


def test_upstream_http__huge_single_string_is_cut(upstream, run_check):
    """Variant 2: one 6 MB string in an otherwise valid summary is cut, not parsed."""
    body = json.dumps(
        {"page": {"name": "x"}, "status": {"indicator": "none", "description": "A" * (6 * 1024 * 1024)}}
    ).encode()
    upstream.routes[SUMMARY] = Reply(body, chunked=True)
    snapshot = run_check(github(upstream))
    assert snapshot.message == f"Unexpected Result: response from {upstream.url}{SUMMARY} exceeds 5 MB; not parsed"


def test_upstream_http__huge_rss_is_cut(upstream, run_check):
    """Variant 3: an RSS feed with thousands of items past 5 MB is cut before feedparser sees it."""
    text = fixture("aws/s3-eu-west-1.resolved-only.rss").decode()
    start, end = text.index("<item>"), text.rindex("</item>") + len("</item>")
    item = text[start : text.index("</item>") + len("</item>")]
    items = "".join(item.replace("_1", f"_{i}_1") for i in range(10_000))
    body = (text[:start] + items + text[end:]).encode()
    assert len(body) > FIVE_MB
    upstream.routes["/rss/s3-eu-west-1.rss"] = Reply(body, content_type="application/rss+xml", chunked=True)
    snapshot = run_check(AWS("eu-west-1", "s3", base_url=upstream.url, clock=FrozenClock()))
    assert snapshot.message == (
        f"Unexpected Result: response from {upstream.url}/rss/s3-eu-west-1.rss exceeds 5 MB; not parsed"
    )


def test_upstream_http__gzip_bomb_is_cut_on_decoded_bytes(upstream, run_check):
    """Variant 4: 64 MB of zeros in ~64 KB of gzip is cut at 5 MB decoded, never fully inflated."""
    upstream.routes[SUMMARY] = Reply(bytes(64 * 1024 * 1024), gzip=True)
    snapshot = run_check(github(upstream))
    assert snapshot.message == f"Unexpected Result: response from {upstream.url}{SUMMARY} exceeds 5 MB; not parsed"


def test_upstream_http__gzip_body_is_read(upstream, run_check):
    """An ordinary gzip-encoded answer is decoded and judged."""
    upstream.routes[SUMMARY] = Reply(fixture("statuspage/summary.major-outage.json"), gzip=True)
    assert run_check(github(upstream, fail_on_outage=True)).status == "error"
    assert upstream.requests[0].headers["accept-encoding"] == "gzip, deflate"


def test_upstream_http__corrupt_gzip(upstream, run_check):
    """A body that claims gzip but is not is reported as corrupt."""
    upstream.routes[SUMMARY] = Reply(b"not gzip at all", headers={"Content-Encoding": "gzip"})
    snapshot = run_check(github(upstream))
    assert snapshot.message.startswith(f"Unexpected Result: {upstream.url}{SUMMARY}: corrupt compressed body (")


def test_upstream_http__proxy_from_the_environment(upstream, run_check, monkeypatch):
    """HTTP_PROXY is honoured like in any httpx client: the request goes to the proxy with the absolute URL."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", upstream.url)
    upstream.routes["http://status.invalid/api/v2/summary.json"] = Reply(
        fixture("statuspage/summary.all-operational.json")
    )
    snapshot = run_check(GitHub(base_url="http://status.invalid", clock=FrozenClock()))
    assert snapshot.message == "OK"
    assert [seen.path for seen in upstream.requests] == ["http://status.invalid/api/v2/summary.json"]


class CountingRunner(CheckRunner):
    """A real runner that counts its runs (polls)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.runs = 0
        self.guard = threading.Lock()

    def run(self, spec):
        snapshot = super().run(spec)
        with self.guard:
            self.runs += 1
        return snapshot


@pytest.mark.urls(__name__)
def test_upstream_http__one_request_per_poll_however_often_the_endpoint_is_asked(upstream, memory_store):
    """500 endpoint requests between polls cause no upstream request: requests to the provider equal polls."""
    upstream.routes[SUMMARY] = Reply(fixture("statuspage/summary.all-operational.json"), etag='"v1"')
    options = {"base_url": upstream.url, "component": "Actions", "poll_interval": datetime.timedelta(seconds=1)}
    urlpatterns[:] = [path("pipeline/", HealthCheckView.as_view(checks=[(GitHub, options)]))]
    clear_url_caches()
    runner = CountingRunner(SnapshotRecorder(memory_store).record)
    poller = Poller([CheckSpec.of(GitHub(**options))], runner, jitter=0.0)
    poller.start()
    try:
        wait_for(lambda: runner.runs >= 1, timeout=10, what="a first poll", interval=0.02)
        client = Client()
        statuses = {client.get("/pipeline/", HTTP_ACCEPT="application/json").status_code for _ in range(500)}
        wait_for(lambda: runner.runs >= 2, timeout=10, what="a second poll", interval=0.02)
    finally:
        poller.shutdown()
        urlpatterns.clear()
        clear_url_caches()
    # A run may still be finishing after shutdown: let its request and its count meet.
    wait_for(
        lambda: upstream.count(SUMMARY) == runner.runs,
        timeout=3,
        what="the provider's request count meeting the polls",
        interval=0.02,
    )
    polls = runner.runs
    assert statuses == {200}
    assert upstream.count(SUMMARY) == polls
    assert 2 <= polls <= 20
