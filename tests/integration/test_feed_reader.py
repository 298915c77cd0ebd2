"""Slack and Matrix: feed readers following the pipeline tier through a real upstream outage.

Slack's RSS app and Matrix RSS bridges (matrix-hookshot, maubot's rss plugin, the cookbook's
``[[bridge]]`` config) all work the same way: fetch the feed every few minutes, remember the guids
already posted, post every item whose guid is new. Here such a reader (RSS, for Slack) and a second
one (Atom) poll the example's pipeline tier, served by gunicorn with the poller in its own process,
while a fake GitHub status page goes healthy -> minor incident -> resolved. Each change must be
posted exactly once, and nothing while nothing changes (conditional GETs then get 304).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator

import feedparser
import pytest

from tests.integration.conftest import ExampleSite
from tests.support import FakeUpstream, Reply, fixture, http_get, try_get, wait_for

pytestmark = pytest.mark.slow


PIPELINE_SETTINGS = "tests.integration.pipeline_settings"
GITHUB_SUMMARY = "/github/api/v2/summary.json"
HEALTHY = "statuspage/summary.all-operational.json"
MINOR_INCIDENT = "statuspage/summary.minor-actions-degraded.json"
#: The incident in MINOR_INCIDENT, and its Statuspage short link.
INCIDENT = "Actions jobs are slow to start"
INCIDENT_LINK = "https://stspg.io/3q8vzk1mnd7w"
#: Seconds between two fetches of a reader (Slack: minutes; the checks here poll every second).
READER_EVERY = 0.5


class FeedReader(threading.Thread):
    """Fetches ``url`` every ``every`` seconds, conditionally, and posts the items whose guid is new.

    ``posted`` holds (title, link, guid) oldest first; ``statuses`` the HTTP status of each fetch.
    """

    def __init__(self, name: str, url: str, every: float) -> None:
        super().__init__(name=f"feed reader {name}", daemon=True)
        self.url = url
        self.every = every
        self.seen: set[str] = set()
        self.posted: list[tuple[str, str, str]] = []
        self.statuses: list[int] = []
        self.errors: list[str] = []
        self.etag: str | None = None
        self.last_modified: str | None = None
        self.guard = threading.Lock()
        self.stopping = threading.Event()

    def fetch(self) -> None:
        headers = {"Host": "localhost", "User-Agent": "feed-reader-test/1.0"}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        response = http_get(self.url, headers=headers)
        fields = {name.lower(): value for name, value in response.headers.items()}
        new: list[tuple[str, str, str]] = []
        if response.status == 200:
            feed = feedparser.parse(response.body)
            if feed.bozo:
                raise AssertionError(f"{self.url}: not a valid feed: {feed.get('bozo_exception')}")
            # Feeds list newest first; a channel shows a change after the one before it.
            for entry in reversed(feed.entries):
                if entry.id not in self.seen:
                    new.append((entry.title, entry.link, entry.id))
            self.etag, self.last_modified = fields.get("etag"), fields.get("last-modified")
        elif response.status != 304:
            raise AssertionError(f"{self.url}: HTTP {response.status}: {response.body[:200]!r}")
        with self.guard:
            self.statuses.append(response.status)
            self.seen.update(guid for _, _, guid in new)
            self.posted += new

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.fetch()
            except (AssertionError, OSError) as error:
                with self.guard:
                    self.errors.append(str(error))
            self.stopping.wait(self.every)

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)

    def snapshot(self) -> tuple[list[tuple[str, str, str]], list[int]]:
        with self.guard:
            return list(self.posted), list(self.statuses)

    def wait_posted(self, count: int, *, timeout: float = 40) -> float:
        """Wait until ``count`` items were posted; returns the time it happened."""
        wait_for(
            lambda: len(self.snapshot()[0]) >= count, timeout=timeout, what=f"{self.name}: {count} posts", interval=0.05
        )
        return time.time()

    def quiet_fetches(self, count: int, *, timeout: float = 30) -> list[int]:
        """The statuses of the next ``count`` fetches, and fails if anything was posted meanwhile."""
        posted, statuses = self.snapshot()
        wait_for(
            lambda: len(self.snapshot()[1]) >= len(statuses) + count,
            timeout=timeout,
            what=f"{self.name}: {count} more fetches",
        )
        now_posted, now_statuses = self.snapshot()
        assert now_posted == posted, f"{self.name} posted while nothing changed: {now_posted[len(posted) :]}"
        return now_statuses[len(statuses) :]


@pytest.fixture
def fake_providers(upstream: FakeUpstream) -> FakeUpstream:
    """GitHub, Cloudflare and AWS status pages on one loopback server (``upstream``), all healthy to begin with."""
    upstream.routes[GITHUB_SUMMARY] = Reply(fixture(HEALTHY))
    upstream.routes["/cloudflare/api/v2/summary.json"] = Reply(fixture(HEALTHY))
    upstream.routes["/aws/rss/s3-eu-west-1.rss"] = Reply(
        fixture("aws/s3-eu-west-1.empty-channel.rss"), content_type="application/rss+xml"
    )
    return upstream


@pytest.fixture
def start_reader() -> Iterator[Callable[..., FeedReader]]:
    readers: list[FeedReader] = []

    def start(name: str, url: str) -> FeedReader:
        reader = FeedReader(name, url, READER_EVERY)
        readers.append(reader)
        reader.start()
        return reader

    yield start
    for reader in readers:
        reader.stop()


def serve_github(server: FakeUpstream, name: str) -> float:
    server.routes[GITHUB_SUMMARY] = Reply(fixture(name))
    return time.time()


def recovered_after(title: str) -> int:
    match = re.search(r": recovered after (\d+) s - ", title)
    assert match, f"no duration in {title!r}"
    return int(match.group(1))


def test_feed_reader__slack_and_matrix_post_each_change_of_an_upstream_outage_once(
    make_site: Callable[..., ExampleSite], fake_providers: FakeUpstream, start_reader: Callable[..., FeedReader]
) -> None:
    """Healthy -> minor GitHub incident -> resolved: RSS and Atom readers each post 2 items, 304s in between."""
    site = make_site(
        sidecar=True, env={"DJANGO_SETTINGS_MODULE": PIPELINE_SETTINGS, "FAKE_UPSTREAM_URL": fake_providers.url}
    )
    pipeline = site.url(f"/health/{site.secret}/pipeline/")

    def all_checks_ok() -> bool:
        site.gunicorn.assert_running()
        response = try_get(f"{pipeline}?format=json", headers={"Host": "localhost"})
        return response is not None and response.status == 200

    wait_for(all_checks_ok, timeout=40, what="every pipeline check reporting OK")
    slack = start_reader("Slack (RSS)", f"{pipeline}?format=rss")
    matrix = start_reader("Matrix (Atom)", f"{pipeline}?format=atom")
    readers = (slack, matrix)

    # Subscribed while all is well: nothing to post, and the unchanged feed answers 304 from then on.
    for reader in readers:
        assert reader.quiet_fetches(4) in ([200, 304, 304, 304], [304, 304, 304, 304])
        assert reader.snapshot()[1][0] == 200

    # GitHub reports a minor incident on Actions: one post, however often the readers come back.
    incident_served = serve_github(fake_providers, MINOR_INCIDENT)
    incident_posted = min(reader.wait_posted(1) for reader in readers)
    for reader in readers:
        statuses = reader.quiet_fetches(4)
        assert statuses[-3:] == [304, 304, 304], statuses

    # The page is all green again (Statuspage drops resolved incidents): one more post.
    resolution_served = serve_github(fake_providers, HEALTHY)
    resolution_posted = max(reader.wait_posted(2) for reader in readers)
    for reader in readers:
        statuses = reader.quiet_fetches(4)
        assert statuses[-3:] == [304, 304, 304], statuses

    rss_posts, atom_posts = slack.snapshot()[0], matrix.snapshot()[0]
    assert [reader.errors for reader in readers] == [[], []]
    assert rss_posts == atom_posts  # same titles, links and guids in both formats
    # The outage lasted from the run that saw the incident to the run that saw it gone.
    seconds = recovered_after(rss_posts[1][0])
    assert resolution_served - incident_posted - 1 <= seconds <= resolution_posted - incident_served + 1
    assert [(title, link) for title, link, _ in rss_posts] == [
        (f"GitHub Actions: degraded - Incident: {INCIDENT}", INCIDENT_LINK),
        (f"GitHub Actions: recovered after {seconds} s - Resolved: {INCIDENT}", INCIDENT_LINK),
    ]
    assert all(guid.startswith("urn:uuid:") for _, _, guid in rss_posts)
    for reader in readers:  # the feed changed twice: three full answers in all, every other fetch a 304
        statuses = reader.snapshot()[1]
        assert (statuses.count(200), set(statuses)) == (3, {200, 304}), statuses
