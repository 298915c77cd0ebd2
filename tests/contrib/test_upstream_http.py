"""The polite fetcher behind every upstream check, against a real loopback server.

Conditional requests, 429 + Retry-After, backoff, hard limits (time, size, gzip bombs, slow drips,
redirect loops), proxies from the environment, and one upstream request per poll however often the
endpoint is asked.
"""

from __future__ import annotations

import datetime
import json
import threading
import types

import pytest
from django.test import Client
from django.urls import clear_url_caches, path

from health_check.contrib import _upstream
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


def poll(check, clock: FrozenClock, run_check, upstream: FakeUpstream, *, every: float, times: int) -> list:
    """Run ``check`` ``times`` polls ``every`` seconds apart, as the poller would; (second, snapshot, asked) each."""
    seen = []
    for _ in range(times):
        clock.advance(seconds=every)
        before = upstream.count(SUMMARY)
        snapshot = run_check(check)
        seen.append((clock.now, snapshot, upstream.count(SUMMARY) > before))
    return seen


def worst_jitter(monkeypatch) -> None:
    """The backoff's jitter always at its top: the longest pauses the fetcher can choose."""
    monkeypatch.setattr(_upstream, "random", types.SimpleNamespace(uniform=lambda low, high: high))


def test_upstream_http__backs_off_while_the_provider_fails(upstream, run_check, monkeypatch):
    """A 2 s check skips polls, the message says when it asks next, never more than 15 s beyond a poll;
    once the provider is back the first attempt after it reports OK (15 s later at worst, not 32)."""
    worst_jitter(monkeypatch)
    upstream.routes[SUMMARY] = Reply(b"down", status=503, content_type="text/plain")
    clock = FrozenClock()
    start = clock.now
    check = github(upstream, clock, poll_interval=datetime.timedelta(seconds=2))
    url = f"{upstream.url}{SUMMARY}"
    failing = f"Unavailable: HTTP error 503 fetching API from {url!r} (Service Unavailable)"
    assert run_check(check).message == failing
    seen = poll(check, clock, run_check, upstream, every=2, times=36)
    asked = [0] + [(at - start).total_seconds() for at, _, was_asked in seen if was_asked]
    assert asked == [0, 2, 4, 10, 24, 40, 56, 72]
    upstream.routes[SUMMARY] = Reply(fixture("statuspage/summary.all-operational.json"))
    back = clock.now  # right after the attempt at 72 s: the worst moment to come back
    seen = poll(check, clock, run_check, upstream, every=2, times=10)
    waiting = f"{failing}; next attempt after 2025-03-12T14:01:27Z"  # 72 + 15 s; the poll at 88 s asks
    assert [snapshot.message for _, snapshot, _ in seen] == [waiting] * 7 + ["OK"] * 3
    first_ok = next(at for at, snapshot, _ in seen if snapshot.status == "ok")
    assert (first_ok - back).total_seconds() == 16  # at most the 2 s interval + 15 s
    assert upstream.count(SUMMARY) == len(asked) + 3


@pytest.mark.parametrize(
    "reply",
    [
        Reply(b"down", status=503, content_type="text/plain"),
        Reply(b"slow down", status=429, content_type="text/plain"),
    ],
    ids=["503", "429-without-retry-after"],
)
def test_upstream_http__backoff_never_waits_more_than_15_s_beyond_the_interval(upstream, run_check, reply):
    """15 minutes of failures polled every 2 s: far fewer requests than polls, but never more than
    17 s between two, and the provider's recovery shows at the first attempt after it."""
    upstream.routes[SUMMARY] = reply
    clock = FrozenClock()
    check = github(upstream, clock, poll_interval=datetime.timedelta(seconds=2))
    seen = poll(check, clock, run_check, upstream, every=2, times=450)
    asked = [at for at, _, was_asked in seen if was_asked]
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(asked, asked[1:])]
    assert max(gaps) <= 17
    assert len(asked) < 450 / 5
    assert seen[-1][1].status == "error"
    if seen[-1][2] is False:
        assert "; next attempt after " in seen[-1][1].message
    upstream.routes[SUMMARY] = Reply(fixture("statuspage/summary.all-operational.json"))
    back = clock.now
    seen = poll(check, clock, run_check, upstream, every=2, times=9)
    first_ok = next(at for at, snapshot, _ in seen if snapshot.message == "OK")
    assert (first_ok - back).total_seconds() <= 17


def test_upstream_http__5_minute_check_asks_a_failing_provider_at_every_poll(upstream, run_check, monkeypatch):
    """At the default 5-minute interval the 15 s extra wait never skips a poll: an hour of failures is
    12 requests, and the poll after the provider is back says OK."""
    worst_jitter(monkeypatch)
    upstream.routes[SUMMARY] = Reply(b"down", status=503, content_type="text/plain")
    clock = FrozenClock()
    check = github(upstream, clock)
    seen = poll(check, clock, run_check, upstream, every=300, times=12)
    assert [was_asked for _, _, was_asked in seen] == [True] * 12
    assert all(snapshot.status == "error" for _, snapshot, _ in seen)
    upstream.routes[SUMMARY] = Reply(fixture("statuspage/summary.all-operational.json"))
    assert poll(check, clock, run_check, upstream, every=300, times=1)[0][1].message == "OK"


def test_upstream_http__retry_after_is_honoured_beyond_the_backoff_cap(upstream, run_check):
    """A 2 s check told Retry-After: 60 asks nothing for 60 s (past the 17 s cap), then reports OK."""
    upstream.routes[SUMMARY] = Reply(b"slow down", status=429, content_type="text/plain", headers={"Retry-After": "60"})
    clock = FrozenClock()
    check = github(upstream, clock, poll_interval=datetime.timedelta(seconds=2))
    url = f"{upstream.url}{SUMMARY}"
    limited = f"Unavailable: HTTP error 429 fetching API from {url!r}: rate limited until 2025-03-12T14:01:00Z"
    assert run_check(check).message == limited
    upstream.routes[SUMMARY] = Reply(fixture("statuspage/summary.all-operational.json"))
    seen = poll(check, clock, run_check, upstream, every=2, times=30)
    assert [snapshot.message for _, snapshot, _ in seen] == [limited] * 29 + ["OK"]
    assert upstream.count(SUMMARY) == 2


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


def _frames(error: BaseException) -> int:
    count, traceback = 0, error.__traceback__
    while traceback is not None:
        count, traceback = count + 1, traceback.tb_next
    return count


def test_upstream_http__a_wait_keeps_no_frames_of_past_runs(upstream):
    """While a 429's Retry-After lasts, every poll raises a fresh error: the kept one never grows a traceback.

    Raising the same exception object at every poll prepends that poll's frames to its traceback (the
    poller's RSS grew with them, issue 16); and the error kept between runs holds no traceback, cause
    or context, which would keep the failed run's frames, client and event loop alive.
    """
    upstream.routes[SUMMARY] = Reply(b"slow down", status=429, content_type="text/plain", headers={"Retry-After": "60"})
    clock = FrozenClock()
    check = github(upstream, clock, poll_interval=datetime.timedelta(seconds=2))
    raised, depths = [], []
    for _ in range(20):
        with pytest.raises(_upstream.ServiceUnavailable) as caught:
            check.run()
        raised.append(caught.value)
        depths.append(_frames(caught.value))
        clock.advance(seconds=2)
    assert upstream.count(SUMMARY) == 1
    assert all("rate limited until 2025-03-12T14:01:00Z" in error.message for error in raised)
    assert depths[-1] == depths[1]  # the 20th poll's error has as many frames as the 2nd's
    assert len({id(error) for error in raised}) == len(raised)
    kept = check.fetcher.last_error
    assert kept is not None and kept not in raised
    assert (kept.__traceback__, kept.__cause__, kept.__context__) == (None, None, None)


def test_upstream_http__a_failed_fetch_is_kept_without_its_frames(upstream):
    """After an HTTP 500 the fetcher keeps the error's class, message and details, not the run's frames."""
    upstream.routes[SUMMARY] = Reply(b"internal error", status=500, content_type="text/plain")
    check = github(upstream)
    with pytest.raises(_upstream.ServiceUnavailable) as caught:
        check.run()
    kept = check.fetcher.last_error
    assert kept is not caught.value
    assert (type(kept), kept.message, kept.details) == (type(caught.value), caught.value.message, None)
    assert (kept.__traceback__, kept.__cause__, kept.__context__) == (None, None, None)


def test_upstream_http__the_ca_bundle_is_loaded_once_for_every_run(upstream, run_check, monkeypatch):
    """Runs share one TLS context: httpx's own, built per client, loaded the CA bundle into OpenSSL every run.

    That is about a megabyte of C allocations per run, freed at once, in whichever malloc arena the
    run's thread had: the poller's RSS crept up by ~1.5 MiB a minute (issue 16).
    """
    import ssl

    loaded = []
    original = ssl.SSLContext.load_verify_locations

    def counting(self, *args, **kwargs):
        loaded.append(args or kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    upstream.routes[SUMMARY] = Reply(fixture("statuspage/summary.all-operational.json"))
    for _ in range(5):
        assert run_check(github(upstream)).message == "OK"
    assert upstream.count(SUMMARY) == 5
    assert len(loaded) <= 1
