"""The HTML status page in a real browser: headless Chromium (Debian's) driven by Playwright, over a real server."""

from __future__ import annotations

import dataclasses
import datetime
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import path

from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable, ServiceWarning
from health_check.recorder import store_runner
from health_check.specs import CheckSpec
from health_check.views import HealthCheckView
from tests.conftest import REQUIRE_SERVICES

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "artifacts")
# Design note 8: no GPU, no network of its own (updates, sync, background fetches), no first-run UI.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
UTC = datetime.UTC


@dataclasses.dataclass
class Replay(HealthCheck):
    """Reports what ``OUTCOMES[service]`` says ("ok", "warn" or "fail"); kept outside so the key never moves."""

    service: str = "db"

    @property
    def outcome(self) -> str:
        return OUTCOMES[self.service]

    def run(self) -> None:
        if self.outcome == "fail":
            raise ServiceUnavailable(f"{self.service} at 10.0.0.7:5432: connection refused")
        if self.outcome == "warn":
            raise ServiceWarning(f"{self.service}: replication lag 40 s")


OUTCOMES: dict[str, str] = {}
DATABASE = Replay("database", poll_interval=datetime.timedelta(minutes=1))
CACHE = Replay("cache", poll_interval=datetime.timedelta(minutes=1))
QUEUE = Replay("queue", poll_interval=datetime.timedelta(minutes=1))
#: Added to the project 4 minutes ago: its history starts there, not 24 h back.
SEARCH = Replay("search", poll_interval=datetime.timedelta(minutes=1))

urlpatterns = [path("status/", HealthCheckView.as_view(checks=[DATABASE, CACHE, QUEUE, SEARCH]))]


def _sync_playwright() -> Any:
    """Playwright and Debian's chromium, or a skip (a failure in CI) saying what to install."""
    missing = []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append('the playwright package (pip install "django-health-snapshot[dev]")')
        sync_playwright = None
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    if missing:
        message = "the status page test needs " + " and ".join(missing)
        if REQUIRE_SERVICES:
            pytest.fail(f"{message}; CI requires it")
        pytest.skip(message)
    return sync_playwright


def history(store: Any) -> None:
    """Five hours of runs: the database failed for 20 min 5 h ago and fails again now; the queue warns.

    The search check joined 4 minutes ago and has passed ever since.
    """
    now = datetime.datetime.now(UTC)
    clock = {"now": now}
    runner = store_runner(store, clock=lambda: clock["now"])
    script = [
        (-300, "ok", "ok", "ok"),
        (-299, "fail", "ok", "ok"),
        (-280, "ok", "ok", "ok"),
        (-4, "fail", "ok", "warn"),
    ]
    for index, (offset, database, cache, queue) in enumerate(script):
        # One run a minute from each point until the next, so no gap looks stale.
        end = script[index + 1][0] if index + 1 < len(script) else 0
        OUTCOMES.update(database=database, cache=cache, queue=queue, search="ok")
        for minute in range(offset, end + 1 if end == 0 else end):
            clock["now"] = now + datetime.timedelta(minutes=minute)
            for check in (DATABASE, CACHE, QUEUE, SEARCH) if minute >= -4 else (DATABASE, CACHE, QUEUE):
                runner.run(CheckSpec.of(check))


#: Each timeline's box, its cell's box, and each segment's box and fill, in CSS pixels.
TIMELINE_BOXES = """() => [...document.querySelectorAll('tr.check svg.timeline')].map(svg => {
    const box = element => { const r = element.getBoundingClientRect(); return {left: r.left, right: r.right, width: r.width}; };
    return {
        svg: box(svg),
        cell: box(svg.closest('td')),
        track: getComputedStyle(svg).backgroundColor,
        segments: [...svg.querySelectorAll('rect')].map(rect => ({
            class: rect.getAttribute('class'), fill: getComputedStyle(rect).fill, ...box(rect),
        })),
    };
})"""


def assert_inside(row: dict[str, Any]) -> None:
    """Segments tile their timeline exactly (no overflow, no overlap, no gap); the timeline fits its cell."""
    svg, cell, segments = row["svg"], row["cell"], row["segments"]
    assert cell["left"] - 0.5 <= svg["left"] and svg["right"] <= cell["right"] + 0.5, row
    assert segments[0]["left"] == pytest.approx(svg["left"], abs=0.5), row
    assert segments[-1]["right"] == pytest.approx(svg["right"], abs=0.5), row
    for left, right in zip(segments, segments[1:]):
        assert right["left"] == pytest.approx(left["right"], abs=0.5), row
    for segment in segments:
        assert svg["left"] - 0.5 <= segment["left"] and segment["right"] <= svg["right"] + 0.5, row
        assert segment["width"] >= 1, row  # a short state stays visible


@pytest.fixture
def server(memory_store) -> Iterator[str]:
    """This process's Django behind a real HTTP server on 127.0.0.1 (threads), so it shares the memory store."""
    import socketserver
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from django.core.handlers.wsgi import WSGIHandler

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    class ThreadedServer(socketserver.ThreadingMixIn, WSGIServer):
        daemon_threads = True

    httpd = make_server("127.0.0.1", 0, WSGIHandler(), server_class=ThreadedServer, handler_class=QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_playwright = _sync_playwright()
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.mark.urls("tests.test_status_page")
def test_status_page__in_chromium(memory_store, server, browser):
    """Renders every check; failing rows are visibly marked; phone width without horizontal scroll; dark mode; no requests."""
    history(memory_store)
    url = f"{server}/status/"
    requests: list[str] = []
    console: list[str] = []
    for scheme, viewport in (("light", {"width": 1200, "height": 800}), ("dark", {"width": 375, "height": 740})):
        context = browser.new_context(viewport=viewport, color_scheme=scheme)
        page = context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        response = page.goto(url)
        assert response is not None and response.status == 500  # the database fails now
        assert "style-src 'sha256-" in response.headers["content-security-policy"]
        rows = page.locator("tr.check")
        assert rows.count() == 4
        names = rows.locator("td[data-label=Service]").all_inner_texts()
        assert names == [
            "Replay(service='database')",
            "Replay(service='cache')",
            "Replay(service='queue')",
            "Replay(service='search')",
        ]
        states = [rows.nth(i).get_attribute("data-state") for i in range(4)]
        assert states == ["error", "ok", "warning", "ok"]
        styles = page.evaluate(
            """() => [...document.querySelectorAll('tr.check')].map(row => {
                const cell = row.querySelector('td');
                const style = getComputedStyle(row), first = getComputedStyle(cell);
                return [style.backgroundColor, first.borderLeftWidth, first.borderLeftColor];
            })"""
        )
        assert styles[0] != styles[1], f"a failing row looks like a healthy one: {styles}"
        assert styles[0][1] == "4px"
        # The database's timeline: nothing before its first run 5 h ago, then the old outage and the current one.
        timelines = page.evaluate(TIMELINE_BOXES)
        assert [[segment["class"] for segment in row["segments"]] for row in timelines] == [
            ["seg-nodata", "seg-ok", "seg-error", "seg-ok", "seg-error"],
            ["seg-nodata", "seg-ok"],
            ["seg-nodata", "seg-ok", "seg-warning"],
            ["seg-nodata", "seg-ok"],
        ]
        for row in timelines:
            assert_inside(row)
        # History starts where observation started: 19 h of nothing, then 5 h; for search, 4 min of a day.
        database, search = timelines[0], timelines[3]
        assert database["segments"][0]["width"] / database["svg"]["width"] == pytest.approx(19 / 24, abs=0.01)
        assert search["segments"][1]["width"] / search["svg"]["width"] < 0.02
        # "No data" is the empty track, neither green nor the colour of the current state.
        assert search["segments"][0]["fill"] == search["track"] != search["segments"][1]["fill"]
        fill = page.evaluate("() => getComputedStyle(document.querySelector('rect.seg-error')).fill")
        assert fill == "rgb(198, 40, 40)"  # styled: the inline style passed the CSP
        since = rows.nth(0).locator("td[data-label=Since]").inner_text()
        assert since in ("4 min", "5 min")
        page.screenshot(path=os.path.join(ARTIFACTS, f"status-page-{scheme}.png"), full_page=True)
        if scheme == "dark":
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"the page scrolls sideways on a phone by {overflow}px"
            background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
            red, green, blue = (int(part) for part in background[4:-1].split(","))
            assert max(red, green, blue) < 64, f"dark mode background is {background}"
        context.close()
    assert requests == [url, url], "the page must not load anything but itself"
    # The only console errors: the page's own 500 (the database fails). Nothing refused by the CSP.
    assert [line for line in console if line.startswith("error") and "status of 500" not in line] == []


#: The 30-day bars' colours, as the page's stylesheet draws them.
DAY_FILLS = {"ok": "rgb(46, 125, 50)", "warning": "rgb(249, 168, 37)", "error": "rgb(198, 40, 40)"}
DAY_BARS = """() => [...document.querySelectorAll('tr.check svg.days')].map(svg =>
    [...svg.querySelectorAll('rect')].map(rect => [rect.querySelector('title').textContent, getComputedStyle(rect).fill]))"""


def month(store: Any, *, outage: bool) -> datetime.datetime:
    """Every check observed for 3 days and ok now; with ``outage``, the database failed from 20:00 to 22:00 UTC
    yesterday. Returns "now"."""
    from health_check.journal import STATUS, Transition, append_transitions
    from tests.conftest import make_snapshot

    now = datetime.datetime.now(UTC)
    observed = now - datetime.timedelta(days=3)
    for check in (DATABASE, CACHE, QUEUE, SEARCH):
        store.write(
            dataclasses.replace(
                make_snapshot(CheckSpec.of(check).key, age_seconds=5.0, interval_seconds=60.0), observed_since=observed
            )
        )
    if outage:
        midnight = datetime.datetime.combine(now.date(), datetime.time(), tzinfo=UTC)
        key, name = CheckSpec.of(DATABASE).key, repr(DATABASE)
        changes = [
            (midnight - datetime.timedelta(hours=4), "ok", "error"),
            (midnight - datetime.timedelta(hours=2), "error", "ok"),
        ]
        entries = [
            Transition(
                id=f"m{n}",
                key=key,
                name=name,
                kind=STATUS,
                from_state=a,
                to_state=b,
                at=at,
                message="",
                title=f"{name}: {b}",
            )
            for n, (at, a, b) in enumerate(changes)
        ]
        append_transitions(store, entries, retention=200)
    return now


@pytest.mark.urls("tests.test_status_page")
@pytest.mark.parametrize("outage", [False, True], ids=["healthy", "outage-yesterday"])
def test_status_page__thirty_days_and_uptime_in_chromium(memory_store, server, browser, outage):
    """30 daily bars per check (yesterday red after an outage, green today), uptime matching the journal."""
    now = month(memory_store, outage=outage)
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    response = page.goto(f"{server}/status/")
    assert response is not None and response.status == 200
    bars = page.evaluate(DAY_BARS)
    assert [len(row) for row in bars] == [30, 30, 30, 30]
    today, yesterday = now.date(), now.date() - datetime.timedelta(days=1)
    for row in bars:
        assert row[-1] == [f"{today:%Y-%m-%d}: ok", DAY_FILLS["ok"]]
        assert row[-5][0].endswith(": no data")  # before the first observation, 3 days ago
    database = bars[0]
    assert database[-2] == (
        [f"{yesterday:%Y-%m-%d}: error", DAY_FILLS["error"]]
        if outage
        else [f"{yesterday:%Y-%m-%d}: ok", DAY_FILLS["ok"]]
    )
    # By hand: 2 h of outage; the part of it inside the last 24 h; 3 days known.
    midnight = datetime.datetime.combine(today, datetime.time(), tzinfo=UTC)
    start, end = midnight - datetime.timedelta(hours=4), midnight - datetime.timedelta(hours=2)
    overlap = max(0.0, (end - max(start, now - datetime.timedelta(hours=24))).total_seconds()) if outage else 0.0
    down = 7200.0 if outage else 0.0
    expected = (
        f"Uptime 24h {(1 - overlap / 86400) * 100:.2f}\u202f% · "
        f"7d {(1 - down / (3 * 86400)) * 100:.2f}\u202f% · 30d {(1 - down / (3 * 86400)) * 100:.2f}\u202f%"
    )
    # The days with trouble, reachable by keyboard: a <details> under the bars, only after an outage.
    trouble = page.locator("tr.check").nth(0).locator("td.history details summary", has_text="with trouble")
    if outage:
        trouble.focus()
        page.keyboard.press("Enter")
        items = page.locator("tr.check").nth(0).locator("td.history details[open] li").all_inner_texts()
        assert items == [f"{yesterday:%Y-%m-%d} error"]
    else:
        assert trouble.count() == 0
    uptimes = page.locator("tr.check p.uptime").all_inner_texts()
    assert uptimes[0].replace("\u202f", " ") == expected.replace("\u202f", " ")
    assert all(text.startswith("Uptime 24h 100.00") for text in uptimes[1:])
    page.screenshot(
        path=os.path.join(ARTIFACTS, f"status-page-{'outage-yesterday' if outage else 'healthy'}.png"), full_page=True
    )
    context.close()
    assert requests == [f"{server}/status/"]
