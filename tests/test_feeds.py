"""RSS and Atom feeds of the journal: valid, stable, cacheable, and what a feed reader would post over a day."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from typing import Any

import feedparser
import pytest
from django.test import RequestFactory
from django.utils.http import http_date

from health_check import signals
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable, ServiceWarning
from health_check.journal import append_transitions, read_transitions, stale_transition
from health_check.recorder import store_runner
from health_check.specs import CheckSpec
from health_check.store import get_store
from health_check.store.diskcache import DiskcacheStore
from health_check.views import HealthCheckView
from scheduler.jobs import CheckRunner

UTC = datetime.UTC
DAY = datetime.datetime(2025, 3, 4, tzinfo=UTC)
MINUTE = datetime.timedelta(minutes=1)
INCIDENT_LINK = "https://stspg.io/kctbh9vrtdwd"


class Clock:
    def __init__(self, now: datetime.datetime) -> None:
        self.now = now

    def __call__(self) -> datetime.datetime:
        return self.now


class ClockedView(HealthCheckView):
    """The real view, evaluated at a moment the test chooses (``clock=``, not a patch)."""


@dataclasses.dataclass
class Scripted(HealthCheck):
    """Asks ``script(minute of the day)`` what to report: (status, message, details)."""

    script: Callable[[int], tuple[str, str, dict[str, Any]]] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )
    clock: Clock | None = dataclasses.field(default=None, repr=False, compare=False)

    def run(self) -> dict[str, Any]:
        assert self.script is not None and self.clock is not None
        minute = int((self.clock.now - DAY).total_seconds() // 60)
        status, message, details = self.script(minute)
        if status == "error":
            raise ServiceUnavailable(message, details=details)
        if status == "warning":
            raise ServiceWarning(message, details=details)
        return details


@dataclasses.dataclass
class GitHub(Scripted):
    component: str = "Actions"

    @property
    def title(self) -> str:
        """Titled like ``health_check.contrib.atlassian.GitHub``: "GitHub Actions"."""
        return f"GitHub {self.component}"


@dataclasses.dataclass
class Database(Scripted):
    alias: str = "default"


@dataclasses.dataclass
class Cache(Scripted):
    alias: str = "default"


def at(hours: int, minutes: int) -> int:
    return hours * 60 + minutes


def incident(status: str, updated: str) -> dict[str, Any]:
    return {
        "id": "kctbh9vrtdwd",
        "name": "Delayed job starts",
        "impact": "minor",
        "status": status,
        "link": INCIDENT_LINK,
        "started_at": "2025-03-04T09:02:00+00:00",
        "updated_at": updated,
    }


def github_script(minute: int) -> tuple[str, str, dict[str, Any]]:
    """A minor incident: opened 09:02 (seen 09:05), identified 09:38 (seen 09:40), gone from the page at 10:30."""
    if at(9, 5) <= minute < at(9, 40):
        found = incident("investigating", "2025-03-04T09:02:00+00:00")
    elif at(9, 40) <= minute < at(10, 30):
        found = incident("identified", "2025-03-04T09:38:00+00:00")
    else:
        return "ok", "OK", {"incidents": []}
    text = f'incident "Delayed job starts" (minor, {found["status"]}) {INCIDENT_LINK}'
    return "warning", text, {"incidents": [found]}


def database_script(minute: int) -> tuple[str, str, dict[str, Any]]:
    """An outage from 13:00 that flaps every minute until 13:14, then holds."""
    if at(13, 0) <= minute < at(13, 14) and (minute - at(13, 0)) % 2 == 0:
        return "error", "connection refused", {}
    return "ok", "OK", {}


def cache_script(minute: int) -> tuple[str, str, dict[str, Any]]:
    return "ok", "OK", {}


#: The poller is down 17:00-17:29: every check goes stale as readers see it.
POLLER_DOWN = range(at(17, 0), at(17, 30))
#: Feed readers poll every few minutes; ours every 5 minutes, 30 s after the poll.
READER_EVERY = 5


@pytest.fixture
def day(memory_store):
    """Three checks as an endpoint lists them, a runner on a moving clock, and the endpoint itself."""
    clock = Clock(DAY)
    checks = [
        GitHub(script=github_script, clock=clock, poll_interval=MINUTE),
        Database(script=database_script, clock=clock, poll_interval=MINUTE, success_threshold=3),
        Cache(script=cache_script, clock=clock, poll_interval=MINUTE),
    ]
    runner = store_runner(memory_store, clock=clock)
    endpoint = ClockedView.as_view(checks=checks, clock=clock)
    return clock, checks, runner, endpoint


def fetch(endpoint: Any, fmt: str = "rss", **meta: str) -> Any:
    return endpoint(RequestFactory().get(f"/health/?format={fmt}", **meta))


def replay_day(clock: Clock, checks: list[Scripted], runner: CheckRunner, endpoint: Any) -> tuple[list[str], int]:
    """Poll each minute (except while the poller is down); a reader posts unseen guids every 5 minutes.

    Returns what our reader posted (titles, oldest first within a fetch) and how many items a reader
    of django-health-check 4.x would have posted: one per failing check per fetch, since its failing
    items are dated "now" when the checks run on each request.
    """
    specs = [CheckSpec.of(check) for check in checks]
    seen: set[str] = set()
    posted: list[str] = []
    legacy_posts = 0
    for minute in range(24 * 60):
        clock.now = DAY + minute * MINUTE
        if minute not in POLLER_DOWN:
            for spec in specs:
                runner.run(spec)
        if minute % READER_EVERY == 0:
            clock.now += datetime.timedelta(seconds=30)
            response = fetch(endpoint)
            assert response.status_code == 200
            feed = feedparser.parse(response.content)
            assert not feed.bozo, feed.get("bozo_exception")
            new = [entry for entry in feed.entries if entry.id not in seen]
            seen.update(entry.id for entry in new)
            posted += [entry.title for entry in sorted(new, key=lambda e: (e.published_parsed, e.title))]
            legacy_posts += sum(1 for check in checks if check.script(minute)[0] != "ok")  # type: ignore[misc]
    return posted, legacy_posts


def test_feeds__scripted_day_reader_posts_each_change_once(day, capsys):
    """Over a scripted day the reader posts exactly one item per change: 11 items, where DHC 4.x would post 19.

    The incident that degrades GitHub Actions and its resolution that brings it back are one item each,
    not a status item plus an incident item; the incident's own update in between is an item of its own.
    """
    posted, legacy = replay_day(*day)
    github, database, cache = "GitHub Actions", "Database(alias='default')", "Cache(alias='default')"
    stale = "stale - no result for 3 min; is the poller running?"
    assert posted == [
        f"{github}: degraded - Incident: Delayed job starts",
        f"{github}: identified - Incident: Delayed job starts",
        f"{github}: recovered after 85 min - Resolved: Delayed job starts",
        f"{database}: failing - Unavailable: connection refused",
        f"{database}: recovered after 15 min",
        f"{cache}: {stale}",
        f"{database}: {stale}",
        f"{github}: {stale}",
        f"{cache}: recovered after 28 min",
        f"{database}: recovered after 28 min",
        f"{github}: recovered after 28 min",
    ]
    assert legacy == 19
    with capsys.disabled():
        print(f"\nscripted day: django-health-snapshot posts {len(posted)} items, django-health-check 4.x {legacy}")


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_feeds__valid_with_stable_guids_and_dates(day, fmt):
    """Both formats parse cleanly; each item's guid is urn:uuid, dated by its transition, the same from another store."""
    clock, checks, runner, endpoint = day
    for minute in range(at(12, 59), at(13, 4)):
        clock.now = DAY + minute * MINUTE
        runner.run(CheckSpec.of(checks[1]))
    clock.now += datetime.timedelta(seconds=30)
    feed = feedparser.parse(fetch(endpoint, fmt).content)
    assert not feed.bozo, feed.get("bozo_exception")
    titles = [entry.title for entry in feed.entries]
    assert titles == [
        "Database(alias='default'): failing - Unavailable: connection refused",
    ]
    assert [entry.id for entry in feed.entries] == [
        f"urn:uuid:{t.id}" for t in read_transitions(get_store(), [CheckSpec.of(checks[1]).key], 9)
    ]
    assert [entry.published_parsed[3:5] for entry in feed.entries] == [(13, 0)]
    assert [[tag.term for tag in entry.tags] for entry in feed.entries] == [["error", "status"]]


def test_feeds__guids_identical_from_another_store(tmp_path):
    """The same runs written to a diskcache store (another process's view) give the same guids as in memory."""
    stores = [DiskcacheStore(str(tmp_path / "a")), DiskcacheStore(str(tmp_path / "b"))]
    ids = []
    for store in stores:
        clock = Clock(DAY)
        check = Database(script=database_script, clock=clock, poll_interval=MINUTE)
        runner = store_runner(store, clock=clock)
        for minute in range(at(12, 58), at(13, 5)):
            clock.now = DAY + minute * MINUTE
            runner.run(CheckSpec.of(check))
        ids.append([t.id for t in read_transitions(store, [CheckSpec.of(check).key], 50)])
        store.close()
    assert len(ids[0]) == 5 and ids[0] == ids[1]


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_feeds__refetch_is_byte_identical(day, fmt):
    """An unchanged feed, empty or not, gives the same bytes a minute later (no build date from "now")."""
    clock, checks, runner, endpoint = day
    empty = fetch(endpoint, fmt).content
    clock.now += MINUTE
    assert fetch(endpoint, fmt).content == empty
    clock.now = DAY + at(13, 0) * MINUTE
    runner.run(CheckSpec.of(checks[1]))
    first = fetch(endpoint, fmt)
    clock.now += datetime.timedelta(seconds=40)
    again = ClockedView.as_view(checks=checks, clock=clock)  # another worker's view instance
    assert fetch(again, fmt).content == first.content != empty


def test_feeds__etag_last_modified_and_304(day):
    """ETag and Last-Modified are set; If-None-Match or If-Modified-Since answer 304 with no body; a change gives 200."""
    clock, checks, runner, endpoint = day
    clock.now = DAY + at(13, 0) * MINUTE
    runner.run(CheckSpec.of(checks[1]))
    clock.now += datetime.timedelta(seconds=10)
    first = fetch(endpoint)
    assert first.status_code == 200
    etag = first["ETag"]
    assert etag.startswith('"') and len(etag) == 34
    assert first["Last-Modified"] == http_date((DAY + at(13, 0) * MINUTE).timestamp())
    not_modified = fetch(endpoint, HTTP_IF_NONE_MATCH=etag)
    assert (not_modified.status_code, not_modified.content, not_modified["ETag"]) == (304, b"", etag)
    assert fetch(endpoint, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 304
    assert fetch(endpoint, HTTP_IF_NONE_MATCH='"other"').status_code == 200
    clock.now = DAY + at(13, 1) * MINUTE
    runner.run(CheckSpec.of(checks[1]))  # still failing as reported (success_threshold=3): nothing new
    assert fetch(endpoint, HTTP_IF_NONE_MATCH=etag).status_code == 304
    clock.now = DAY + at(13, 2) * MINUTE
    runner.run(CheckSpec.of(checks[2]))  # first run of the cache: nothing to say either
    for minute in range(at(13, 2), at(13, 16)):  # the flapping ends: recovered at 13:15
        clock.now = DAY + minute * MINUTE
        runner.run(CheckSpec.of(checks[1]))
    changed = fetch(endpoint, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert changed["Last-Modified"] == http_date((DAY + at(13, 15) * MINUTE).timestamp())


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_feeds__200_while_failing(day, fmt):
    """Feeds answer 200 while a check fails and its JSON answers 500: readers must not treat it as a broken feed."""
    clock, checks, runner, endpoint = day
    clock.now = DAY + at(13, 0) * MINUTE
    for check in checks:
        runner.run(CheckSpec.of(check))
    assert fetch(endpoint, "json").status_code == 500
    response = fetch(endpoint, fmt)
    assert response.status_code == 200
    assert [e.title for e in feedparser.parse(response.content).entries] == [
        "Database(alias='default'): failing - Unavailable: connection refused"
    ]


def test_feeds__incident_item_links_the_incident(day):
    """The item for GitHub degrading links the provider's incident and is filed under warning, status and incident."""
    clock, checks, runner, endpoint = day
    for minute in range(at(9, 4), at(9, 6)):
        clock.now = DAY + minute * MINUTE
        runner.run(CheckSpec.of(checks[0]))
    entries = feedparser.parse(fetch(endpoint).content).entries
    assert [(e.title, e.link, [tag.term for tag in e.tags]) for e in entries] == [
        ("GitHub Actions: degraded - Incident: Delayed job starts", INCIDENT_LINK, ["warning", "status", "incident"]),
    ]


@pytest.mark.parametrize("fmt", ["rss", "atom"])
@pytest.mark.parametrize("detail", ["status", "full"])
def test_feeds__feed_without_items_dated_by_the_last_change(day, settings, fmt, detail):
    """No item to date the feed (ANONYMOUS_DETAIL="status", or nothing changed yet): the last change dates it, never 1970."""
    settings.HEALTH_CHECK = {**settings.HEALTH_CHECK, "ANONYMOUS_DETAIL": detail}
    clock, checks, _, endpoint = day
    runner = store_runner(get_store(), clock=clock)  # the settings change gave the project a new store
    # The cache passes from its first run on (no journal entry); at "status" GitHub also degrades at
    # 09:05, an entry readers at that level do not see.
    polled = [checks[2], checks[0]] if detail == "status" else [checks[2]]
    for minute in range(at(9, 0), at(9, 6)):
        clock.now = DAY + minute * MINUTE
        for check in polled:
            runner.run(CheckSpec.of(check))
    changed = DAY + (at(9, 5) if detail == "status" else at(9, 0)) * MINUTE
    clock.now += datetime.timedelta(seconds=20)
    response = fetch(endpoint, fmt)
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.entries == []
    assert feed.feed.updated_parsed[:6] == changed.timetuple()[:6]
    assert response["Last-Modified"] == http_date(changed.timestamp())
    clock.now += MINUTE
    assert fetch(ClockedView.as_view(checks=checks, clock=clock), fmt).content == response.content


def feed_items(endpoint: Any) -> list[tuple[str, str]]:
    response = fetch(endpoint)
    assert response.status_code == 200
    return [(entry.id, entry.title) for entry in feedparser.parse(response.content).entries]


def test_feeds__stale_item_recorded_and_followed_by_its_recovery(memory_store):
    """The stale item a reader shows is recorded and stays; the poller's next run follows it with its recovery,
    also when the poller saw no gap itself: here a snapshot it took at 00:03 reached the store only after
    the reader called the check stale (kept during a store outage, flushed late), and the poller restarted."""
    clock = Clock(DAY)
    check = Cache(script=cache_script, clock=clock, poll_interval=MINUTE)
    spec = CheckSpec.of(check)
    endpoint = ClockedView.as_view(checks=[check], clock=clock)
    store_runner(memory_store, clock=clock).run(spec)
    clock.now = DAY + 4 * MINUTE
    [(stale_guid, stale_title)] = feed_items(endpoint)
    assert stale_title == "Cache(alias='default'): stale - no result for 3 min; is the poller running?"
    assert [entry.to_state for entry in read_transitions(memory_store, [spec.key], 10)] == ["stale"], "recorded"
    first = memory_store.read([spec.key])[spec.key]
    memory_store.write_if_newer([dataclasses.replace(first, checked_at=DAY + 3 * MINUTE)])  # the late write
    clock.now = DAY + 4 * MINUTE + datetime.timedelta(seconds=30)
    runner = store_runner(memory_store, clock=clock)  # the poller, restarted: 90 s after its last snapshot
    heard: list[str] = []

    def receiver(sender: Any, transition: Any, **kwargs: Any) -> None:
        heard.append(transition.title)

    signals.transition.connect(receiver, weak=False, dispatch_uid="test-feeds-receiver")
    try:
        runner.run(spec)
    finally:
        signals.transition.disconnect(dispatch_uid="test-feeds-receiver")
    assert heard == [stale_title, "Cache(alias='default'): recovered after 85 s"], "the signal: each entry once"
    items = feed_items(endpoint)
    assert [title for _, title in items] == ["Cache(alias='default'): recovered after 85 s", stale_title]
    assert items[1][0] == stale_guid, "the item a reader may have posted is still there, same guid"
    runner.run(spec)  # the next run adds nothing: the stale period ended once
    assert len(read_transitions(memory_store, [spec.key], 10)) == 2


def test_feeds__one_guid_per_stale_outage(memory_store):
    """Another worker (or host) recorded this outage's stale entry from an older snapshot: the feed lists that
    one, not a second stale item with a guid of its own."""
    clock = Clock(DAY)
    check = Cache(script=cache_script, clock=clock, poll_interval=MINUTE)
    spec = CheckSpec.of(check)
    runner = store_runner(memory_store, clock=clock)
    endpoint = ClockedView.as_view(checks=[check], clock=clock)
    runner.run(spec)
    older = dataclasses.replace(get_store().read([spec.key])[spec.key], checked_at=DAY - datetime.timedelta(seconds=5))
    recorded = stale_transition(spec.name, older, 2.0, title=spec.title or spec.name)
    append_transitions(get_store(), [recorded], retention=200)
    clock.now = DAY + 4 * MINUTE
    assert [guid for guid, _ in feed_items(endpoint)] == [f"urn:uuid:{recorded.id}"]


def test_feeds__no_stale_item_after_the_pollers_return(memory_store):
    """A reader whose snapshot is older than the journal (another worker's read cache, a store that answers
    an older copy) infers a stale entry the poller's recorded recovery already answered: it neither lists
    nor records a stale item after the recovery (one that no recovery would ever follow)."""
    clock = Clock(DAY)
    check = Cache(script=cache_script, clock=clock, poll_interval=MINUTE)
    spec = CheckSpec.of(check)
    endpoint = ClockedView.as_view(checks=[check], clock=clock)
    store_runner(memory_store, clock=clock).run(spec)
    old = memory_store.read([spec.key])[spec.key]
    clock.now = DAY + 5 * MINUTE
    store_runner(memory_store, clock=clock).run(spec)  # the poller is back: stale, then recovered
    recorded = [entry.id for entry in read_transitions(memory_store, [spec.key], 10)]
    assert len(recorded) == 2
    memory_store.write(dataclasses.replace(old, checked_at=old.checked_at + datetime.timedelta(seconds=1)))
    assert [guid for guid, _ in feed_items(endpoint)] == [f"urn:uuid:{entry}" for entry in recorded]
    assert [entry.id for entry in read_transitions(memory_store, [spec.key], 10)] == recorded
