"""HealthCheckView: every format, status, header and option, answered from snapshots only."""

from __future__ import annotations

import asyncio
import dataclasses
import html.parser
import inspect
import json
import math
import socket
import sys
from typing import Any

import feedparser
import pytest
from asgiref.sync import iscoroutinefunction as asgiref_iscoroutinefunction
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import AsyncClient, Client, RequestFactory
from django.urls import resolve
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from health_check.base import HealthCheck
from health_check.journal import append_transitions, changes
from health_check.store import StoreError, get_store
from health_check.store.memory import MemoryStore
from health_check.views import HealthCheckView
from tests.conftest import make_snapshot
from tests.scenarios import (
    DEGRADED,
    FRESH_AGE,
    LABELS,
    NAMES,
    PENDING,
    REFUSED,
    SCENARIOS,
    SPECS,
    expected_messages,
    expected_text,
    state_of,
    write_scenario,
)
from tests.support import http_get, start_server
from tests.testapp.urls_views import TOKEN

pytestmark = pytest.mark.urls("tests.testapp.urls_views")

CONTENT_TYPES = {
    "json": "application/json",
    "text": "text/plain; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "openmetrics": "application/openmetrics-text; version=1.0.0; charset=utf-8",
}
ALWAYS_OK = {"rss", "atom", "openmetrics"}
FORMATS = sorted(CONTENT_TYPES)
ALLOWED = "GET, HEAD, OPTIONS"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def scenario(memory_store):
    """Write a scenario's snapshots into the current store (looked up at call time: settings may reset it)."""

    def install(name: str) -> None:
        write_scenario(get_store(), name)

    return install


def expected_status(fmt: str, name: str) -> int:
    return 200 if fmt in ALWAYS_OK or name == "fresh" else 500


class _Rows(html.parser.HTMLParser):
    """The status table of the HTML page: one dict per ``<tr class="check ...">``."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "tr" and "check" in (attributes.get("class") or "").split():
            classes = (attributes["class"] or "").split()
            self.rows.append({"classes": classes, "state": attributes["data-state"], "cells": {}})
        elif tag == "td" and self.rows:
            self._cell = []
            self._label = attributes.get("data-label")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1]["cells"][self._label] = "".join(self._cell).strip()
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_rows(body: str) -> list[dict[str, Any]]:
    parser = _Rows()
    parser.feed(body)
    return parser.rows


# -- every format against every snapshot set ------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("fmt", FORMATS)
def test_view__format_status_and_headers(client, scenario, fmt, name):
    """Status 200/500 (feeds and OpenMetrics always 200), the format's Content-Type, Vary: Accept, no-store."""
    scenario(name)
    response = client.get(f"/health/?format={fmt}")
    assert response.status_code == expected_status(fmt, name), response.content
    assert response["Content-Type"] == CONTENT_TYPES[fmt]
    assert response["Vary"] == "Accept"
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_view__json_body(client, scenario, name):
    """JSON maps each check's repr to "OK" or "<Type>: message", in the endpoint's order."""
    scenario(name)
    response = client.get("/health/?format=json")
    assert list(response.json().items()) == list(expected_messages(name).items())


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_view__text_body(client, scenario, name):
    """Text has one "<repr>: <message>" line per check and a trailing newline."""
    scenario(name)
    response = client.get("/health/?format=text")
    assert response.content.decode() == expected_text(name)


def test_view__text_body_exact_failing(client, scenario):
    """The failing set's text body, spelled out once in full."""
    scenario("failing")
    assert client.get("/health/?format=text").content.decode() == (
        "Sample(label='alpha'): OK\nSample(label='beta'): Unavailable: connection refused\nSample(label='gamma'): OK\n"
    )


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_view__html_rows(client, scenario, name):
    """HTML has a row per check: failing rows carry class "failing", every row its data-state and age."""
    scenario(name)
    body = client.get("/health/").content.decode()
    rows = html_rows(body)
    assert [row["cells"]["Service"] for row in rows] == [NAMES[label] for label in LABELS]
    for label, row in zip(LABELS, rows):
        state = state_of(name, label)
        assert row["state"] == state
        assert ("failing" in row["classes"]) is (state != "ok")
        assert row["cells"]["Status"] == expected_messages(name)[NAMES[label]]
        expected_age = {"pending": "never", "stale": "60 min"}.get(state, f"{FRESH_AGE:.0f} s")
        assert row["cells"]["Age"] == expected_age
    failing = name != "fresh"
    assert ("🔥" in body) is failing
    assert ("<title>Failing · System status</title>" in body) is failing


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_view__openmetrics(client, scenario, name):
    """OpenMetrics parses; status gauge 1/0 per check, snapshot age per check (NaN while pending), overall."""
    scenario(name)
    body = client.get("/health/?format=openmetrics").content.decode()
    families = {family.name: family for family in text_string_to_metric_families(body)}
    assert set(families) == {
        "django_health_check_status",
        "django_health_check_response_time_seconds",
        "django_health_check_snapshot_age_seconds",
        "django_health_check_state",
        "django_health_check_uptime_ratio",
        "django_health_check_overall_status",
    }
    status = {s.labels["label"]: s.value for s in families["django_health_check_status"].samples}
    ages = {s.labels["label"]: s.value for s in families["django_health_check_snapshot_age_seconds"].samples}
    times = {s.labels["label"]: s.value for s in families["django_health_check_response_time_seconds"].samples}
    for label in LABELS:
        state = state_of(name, label)
        assert status[label] == (1.0 if state == "ok" else 0.0)
        if state == "pending":
            assert math.isnan(ages[label])
            assert label not in times
        else:
            expected = 3600.0 if state == "stale" else FRESH_AGE
            assert expected <= ages[label] < expected + 30  # generous: a shared, noisy machine
            assert times[label] == 0.0125
    for sample in families["django_health_check_status"].samples:
        assert sample.labels == {"check": "Sample", "label": sample.labels["label"]}
    (overall,) = families["django_health_check_overall_status"].samples
    assert overall.value == (1.0 if name == "fresh" else 0.0)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_view__feeds(client, scenario, fmt, name):
    """Feeds parse and list changes only: snapshots without a journal give no entries, except a stale one."""
    scenario(name)
    response = client.get(f"/health/?format={fmt}")
    assert response.status_code == 200
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.title == "Health Check Status"
    assert feed.feed.link == "http://testserver/health/"
    expected = [f"{NAMES['beta']}: stale - no result for 35 s; is the poller running?"] if name == "stale" else []
    assert [entry.title for entry in feed.entries] == expected
    for entry in feed.entries:
        assert entry.link == "http://testserver/health/"
        assert entry.author == "Django Health Check"
        assert [tag.term for tag in entry.tags] == ["stale", "status"]


# -- warnings --------------------------------------------------------------------------------------


def test_view__warning_fails_by_default(client, scenario):
    """A warning answers 500, like django-health-check."""
    scenario("warning")
    response = client.get("/health/?format=json")
    assert response.status_code == 500
    assert response.json()[NAMES["beta"]] == DEGRADED


def test_view__warnings_as_errors_false_kwarg(client, scenario):
    """warnings_as_errors=False answers 200 while the body still says "Warning: ..."."""
    scenario("warning")
    response = client.get("/health/lenient/?format=json")
    assert response.status_code == 200
    assert response.json() == expected_messages("warning")
    text = client.get("/health/lenient/?format=text")
    assert (text.status_code, text.content.decode()) == (200, expected_text("warning"))
    rows = html_rows(client.get("/health/lenient/").content.decode())
    assert [row["state"] for row in rows] == ["ok", "warning", "ok"]
    assert not any("failing" in row["classes"] for row in rows)


def test_view__warnings_as_errors_false_kwarg_still_fails_on_error(client, scenario):
    """warnings_as_errors=False only forgives warnings: an error still answers 500."""
    scenario("failing")
    assert client.get("/health/lenient/?format=json").status_code == 500


def test_view__warnings_as_errors_setting(client, settings, scenario):
    """HEALTH_CHECK["WARNINGS_AS_ERRORS"] = False answers 200 for a warning; the body still shows it."""
    settings.HEALTH_CHECK = {"STORE": "memory", "POLLER_AUTOSTART": False, "WARNINGS_AS_ERRORS": False}
    scenario("warning")
    response = client.get("/health/?format=json")
    assert response.status_code == 200
    assert response.json() == expected_messages("warning")


def test_view__settings_change_applies_to_next_request(client, settings, memory_store):
    """Changing WARNINGS_AS_ERRORS takes effect at once, even with identical snapshots in the same second."""
    found = {label: make_snapshot(SPECS[label].key) for label in LABELS}
    found["beta"] = make_snapshot(SPECS["beta"].key, status="warning", message=DEGRADED)
    for snapshot in found.values():
        get_store().write(snapshot)
    assert client.get("/health/?format=json").status_code == 500
    settings.HEALTH_CHECK = {"STORE": "memory", "POLLER_AUTOSTART": False, "WARNINGS_AS_ERRORS": False}
    for snapshot in found.values():
        get_store().write(snapshot)
    assert client.get("/health/?format=json").status_code == 200


def test_view__settings_change_applies_to_status_page(client, settings, memory_store):
    """The status page follows a WARNINGS_AS_ERRORS change too: no "Failing" title on a 200 with identical snapshots."""
    found = {label: make_snapshot(SPECS[label].key) for label in LABELS}
    found["beta"] = make_snapshot(SPECS["beta"].key, status="warning", message=DEGRADED)
    for snapshot in found.values():
        get_store().write(snapshot)
    strict = client.get("/health/?format=html")
    assert (strict.status_code, "<title>Failing · System status</title>" in strict.content.decode()) == (500, True)
    settings.HEALTH_CHECK = {"STORE": "memory", "POLLER_AUTOSTART": False, "WARNINGS_AS_ERRORS": False}
    for snapshot in found.values():
        get_store().write(snapshot)
    lenient = client.get("/health/?format=html")
    assert (lenient.status_code, "<title>System status</title>" in lenient.content.decode()) == (200, True)


def test_view__bodies_bounded_for_odd_hosts_and_queries(client, scenario):
    """Feeds asked for under 200 different hosts and query strings keep at most MAX_BODIES bodies, all correct."""
    from health_check.views import MAX_BODIES

    scenario("failing")
    first = client.get("/health/?format=atom", HTTP_HOST="a0.example")
    for index in range(200):
        response = client.get(f"/health/?format=atom&x={index}", HTTP_HOST=f"a{index}.example")
        assert response.status_code == 200
        assert f"http://a{index}.example/health/?format=atom&amp;x={index}".encode() in response.content
    state = resolve("/health/").func.responder._state
    assert len(state.bodies) <= MAX_BODIES
    assert client.get("/health/?format=atom", HTTP_HOST="a0.example").content == first.content


# -- stale, pending, empty -------------------------------------------------------------------------


def test_view__stale_snapshot_fails(client, memory_store):
    """A snapshot older than interval × 3 + timeout answers 500 and says how old it is and what is allowed."""
    for label in LABELS:
        memory_store.write(make_snapshot(SPECS[label].key, age_seconds=36 if label == "gamma" else 1))
    response = client.get("/health/?format=json")
    assert response.status_code == 500
    assert response.json()[NAMES["gamma"]] == (
        "Unavailable: stale, last result is 36 s old (allowed 35 s); is the poller running?"
    )


def test_view__stale_allowance_follows_interval_and_setting(client, settings, memory_store):
    """The allowance is interval × STALE_AFTER_INTERVALS + timeout: 40 × 2 + 30 = 110 s here."""
    settings.HEALTH_CHECK = {"STORE": "memory", "POLLER_AUTOSTART": False, "STALE_AFTER_INTERVALS": 2}
    store = get_store()
    store.write(make_snapshot(SPECS["alpha"].key, age_seconds=100, interval_seconds=40, timeout_seconds=30))
    store.write(make_snapshot(SPECS["beta"].key, age_seconds=600, interval_seconds=40, timeout_seconds=30))
    store.write(make_snapshot(SPECS["gamma"].key))
    assert client.get("/health/?format=json").json() == {
        NAMES["alpha"]: "OK",
        NAMES["beta"]: "Unavailable: stale, last result is 10 min old (allowed 110 s); is the poller running?",
        NAMES["gamma"]: "OK",
    }


def test_view__no_store_entries_fail(client, memory_store):
    """With an empty store (a poller that never ran) every check is pending and the answer is 500."""
    response = client.get("/health/?format=json")
    assert response.status_code == 500
    assert response.json() == {NAMES[label]: PENDING for label in LABELS}


# -- methods ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fresh", "failing"])
def test_view__head(client, scenario, name):
    """HEAD has GET's status and headers and an empty body."""
    scenario(name)
    get = client.get("/health/?format=json")
    request = RequestFactory().head("/health/?format=json")
    head = resolve("/health/").func(request)
    assert head.status_code == get.status_code
    assert head.content == b""
    for header in ("Content-Type", "Vary", "Cache-Control"):
        assert head[header] == get[header]


def test_view__options(client, scenario):
    """OPTIONS answers 200 with Allow and no body."""
    scenario("failing")
    response = client.options("/health/")
    assert response.status_code == 200
    assert response["Allow"] == ALLOWED
    assert response.content == b""
    assert response["Cache-Control"] == "no-store"
    assert response["Vary"] == "Accept"


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_view__other_methods_not_allowed(client, scenario, method):
    """POST, PUT, DELETE and PATCH answer 405 with Allow."""
    scenario("fresh")
    response = getattr(client, method)("/health/")
    assert response.status_code == 405
    assert response["Allow"] == ALLOWED
    assert response["Cache-Control"] == "no-store"
    assert response["Vary"] == "Accept"


# -- authentication and caching (django-health-check 4.11 §1) -------------------------------------


def test_view__token_required(client, scenario):
    """Without a token: 403, body exactly "Authentication failed", Vary: Authorization."""
    scenario("fresh")
    response = client.get("/health/token/?format=json")
    assert response.status_code == 403
    assert response.content == b"Authentication failed"
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Vary"] == "Authorization"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_view__token_accepted_any_case(client, scenario, scheme):
    """``<Bearer in any case> <token>`` is authorised; the answer varies on Accept and Authorization."""
    scenario("fresh")
    response = client.get("/health/token/?format=json", headers={"Authorization": f"{scheme} {TOKEN}"})
    assert response.status_code == 200
    assert response.json() == expected_messages("fresh")
    assert response["Vary"] == "Accept, Authorization"
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "header",
    ["Bearer wrong", f"Basic {TOKEN}", f"Bearer  {TOKEN}", f"Bearer {TOKEN} ", TOKEN, "Bearer", ""],
)
def test_view__wrong_token(client, scenario, header):
    """A wrong token, another scheme, extra spaces or an empty header answer 403 "Authentication failed"."""
    scenario("fresh")
    response = client.get("/health/token/", headers={"Authorization": header})
    assert (response.status_code, response.content) == (403, b"Authentication failed")


def test_view__token_checked_before_method(client, scenario):
    """An unauthorised POST gets 403, not 405: authentication comes first."""
    scenario("fresh")
    assert client.post("/health/token/").status_code == 403


def test_view__token_from_setting(client, settings, scenario):
    """HEALTH_CHECK_AUTH_TOKEN protects endpoints without their own auth_token."""
    settings.HEALTH_CHECK_AUTH_TOKEN = "from-settings-7"
    scenario("failing")
    assert client.get("/health/?format=json").status_code == 403
    response = client.get("/health/?format=json", headers={"Authorization": "Bearer from-settings-7"})
    assert response.status_code == 500
    assert response.json() == expected_messages("failing")


def test_view__token_kwarg_wins_over_setting(client, settings, scenario):
    """The view's auth_token wins over HEALTH_CHECK_AUTH_TOKEN."""
    settings.HEALTH_CHECK_AUTH_TOKEN = "from-settings-7"
    scenario("fresh")
    assert client.get("/health/token/", headers={"Authorization": "Bearer from-settings-7"}).status_code == 403
    assert client.get("/health/token/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


@pytest.mark.parametrize("fmt", FORMATS)
def test_view__token_never_in_body(client, settings, scenario, fmt):
    """No format, and no 403, ever echoes the token."""
    settings.HEALTH_CHECK_AUTH_TOKEN = TOKEN
    scenario("failing")
    for path in ("/health/", "/health/token/", "/health/anonymous/"):
        authorised = client.get(f"{path}?format={fmt}", headers={"Authorization": f"Bearer {TOKEN}"})
        refused = client.get(f"{path}?format={fmt}", headers={"Authorization": "Bearer nope"})
        assert authorised.status_code == expected_status(fmt, "failing")
        assert refused.status_code == 403
        for response in (authorised, refused):
            assert TOKEN.encode() not in response.content
            assert all(TOKEN not in value for value in response.headers.values())


@pytest.mark.parametrize(("name", "status"), [("fresh", 200), ("failing", 500)])
def test_view__anonymous_allowed_and_cached(client, scenario, name, status):
    """allow_anonymous: no header gets the full answer, publicly cacheable for max_age (200 and 500)."""
    scenario(name)
    response = client.get("/health/anonymous/?format=json")
    assert response.status_code == status
    assert response.json() == expected_messages(name)
    assert response["Cache-Control"] == "public, max-age=30"
    assert response["Vary"] == "Accept, Authorization"


def test_view__anonymous_wrong_token_refused(client, scenario):
    """allow_anonymous still refuses a wrong token or scheme."""
    scenario("fresh")
    assert client.get("/health/anonymous/", headers={"Authorization": "Bearer nope"}).status_code == 403
    assert client.get("/health/anonymous/", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 403


def test_view__authorised_answer_not_cached(client, scenario):
    """A request carrying Authorization always gets no-store, even where max_age is set."""
    scenario("fresh")
    response = client.get("/health/anonymous/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("name", "status"), [("fresh", 200), ("failing", 500)])
def test_view__max_age_get_and_head(client, scenario, name, status):
    """max_age gives anonymous GET and HEAD answers (200 or 500) ``public, max-age=N``."""
    scenario(name)
    for response in (client.get("/health/cached/?format=text"), client.head("/health/cached/?format=text")):
        assert response.status_code == status
        assert response["Cache-Control"] == "public, max-age=60"


def test_view__max_age_not_for_other_answers(client, scenario):
    """406, OPTIONS and 405 answers are never cacheable."""
    scenario("fresh")
    assert client.get("/health/cached/", headers={"Accept": "image/png"})["Cache-Control"] == "no-store"
    assert client.options("/health/cached/")["Cache-Control"] == "no-store"
    assert client.post("/health/cached/")["Cache-Control"] == "no-store"


# -- no database, no network ----------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything opens a network connection."""

    def refuse(self, address, *args, **kwargs):
        pytest.fail(f"the view opened a network connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["fresh", "failing", "empty"])
def test_view__no_database_no_network(client, scenario, django_assert_num_queries, no_network, name):
    """A request in any format makes no database query and opens no connection."""
    scenario(name)
    with django_assert_num_queries(0):
        for fmt in FORMATS:
            assert client.get(f"/health/?format={fmt}").status_code == expected_status(fmt, name)
        assert client.get("/health/token/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code in (200, 500)


@pytest.mark.anyio
async def test_view__no_database_no_network_asgi(scenario, no_network):
    """Under ASGI too, no query (pytest-django blocks database access here, so one would raise) and no connection."""
    scenario("failing")
    client = AsyncClient()
    for fmt in FORMATS:
        assert (await client.get(f"/health/?format={fmt}")).status_code == expected_status(fmt, "failing")


# -- misconfigured entries -------------------------------------------------------------------------

MISSING_MODULE = "'tests.testapp.no_such_module.Check'"
MISSING_KWARG = "('tests.testapp.probes.Sample', {})"
MISSING_MODULE_ERROR = (
    "cannot import 'tests.testapp.no_such_module.Check': No module named 'tests.testapp.no_such_module'. "
    'Install the extra that provides it, e.g. pip install "django-health-snapshot[psutil]"'
)
MISSING_KWARG_ERROR = "Sample cannot be built: Sample.__init__() missing 1 required positional argument: 'label'"


@pytest.mark.urls("tests.testapp.urls_broken")
def test_view__misconfigured_entries_shown_failing(client, memory_store):
    """Bad entries do not crash the endpoint: each is a failing "configuration error" row, and it answers 500."""
    memory_store.write(make_snapshot(SPECS["alpha"].key))
    response = client.get("/health/broken/?format=json")
    assert response.status_code == 500
    assert response.json() == {
        NAMES["alpha"]: "OK",
        MISSING_MODULE: f"Unavailable: configuration error: {MISSING_MODULE_ERROR}",
        MISSING_KWARG: f"Unavailable: configuration error: {MISSING_KWARG_ERROR}",
    }
    rows = html_rows(client.get("/health/broken/").content.decode())
    assert [(row["state"], "failing" in row["classes"]) for row in rows] == [
        ("ok", False),
        ("error", True),
        ("error", True),
    ]


@pytest.mark.urls("tests.testapp.urls_broken")
def test_view__misconfigured_entries_system_check(memory_store):
    """``manage.py check`` reports health_check.E002 naming the endpoint, its URL and each bad entry."""
    from django.core.checks import run_checks

    found = [m for m in run_checks() if m.id == "health_check.E002"]
    hint = (
        "Fix the dotted path or the keyword arguments of this entry in your urls.py; "
        "until then the endpoint reports it as a failing check."
    )
    assert [(m.msg, m.hint, m.obj) for m in found] == [
        (
            f"Health check endpoint 'health_check-broken' (/health/broken/): entry {MISSING_MODULE}: "
            f"{MISSING_MODULE_ERROR}.",
            hint,
            "/health/broken/",
        ),
        (
            f"Health check endpoint 'health_check-broken' (/health/broken/): entry {MISSING_KWARG}: "
            f"{MISSING_KWARG_ERROR}.",
            hint,
            "/health/broken/",
        ),
    ]


@pytest.mark.urls("tests.testapp.urls_broken")
def test_view__misconfigured_entries_check_command(memory_store):
    """``call_command("check")`` fails with the E002 errors in its output."""
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    with pytest.raises(SystemCheckError) as raised:
        call_command("check")
    text = str(raised.value)
    assert "health_check.E002" in text
    assert "'health_check-broken' (/health/broken/)" in text
    assert MISSING_KWARG in text


@dataclasses.dataclass
class _Unbuildable(HealthCheck):
    """A check whose own validation raises something other than TypeError or ValueError."""

    url: str = ""

    def __post_init__(self) -> None:
        raise ImproperlyConfigured("set HEALTH_REDIS_URL")

    def run(self) -> None:
        return None


def test_view__entry_raising_any_error_shown_failing(memory_store):
    """An entry whose constructor raises e.g. ImproperlyConfigured is a failing row (500 with JSON), not a crash."""
    memory_store.write(make_snapshot(SPECS["alpha"].key))
    endpoint = HealthCheckView.as_view(checks=[SPECS["alpha"].check, (_Unbuildable, {"url": "redis://secret@x"})])
    response = endpoint(RequestFactory().get("/health/?format=json"))
    assert response.status_code == 500
    assert json.loads(response.content) == {
        NAMES["alpha"]: "OK",
        "('tests.test_views._Unbuildable', {'url': …})": (
            "Unavailable: configuration error: _Unbuildable cannot be built: ImproperlyConfigured: set HEALTH_REDIS_URL"
        ),
    }


def test_view__sound_urlconf_has_no_e002(memory_store):
    """The scenario URLconf resolves every entry: no E002."""
    from django.core.checks import run_checks

    assert [m for m in run_checks() if m.id == "health_check.E002"] == []


# -- WSGI and ASGI ---------------------------------------------------------------------------------


def test_endpoint__sync_outside_event_loop(scenario):
    """Outside an event loop (WSGI) the endpoint is a plain function returning a response."""
    scenario("fresh")
    endpoint = resolve("/health/").func
    assert not inspect.iscoroutinefunction(endpoint)
    assert not asgiref_iscoroutinefunction(endpoint)
    if sys.version_info < (3, 14):  # asyncio.iscoroutinefunction is deprecated from 3.14
        assert not asyncio.iscoroutinefunction(endpoint)
    response = endpoint(RequestFactory().get("/health/?format=json"))
    assert isinstance(response, HttpResponse)
    assert response.status_code == 200


@pytest.mark.anyio
async def test_endpoint__async_inside_event_loop(scenario):
    """Inside a running loop (ASGI) the endpoint is a coroutine function, so Django awaits it directly."""
    scenario("failing")
    endpoint = resolve("/health/").func
    assert asgiref_iscoroutinefunction(endpoint)  # what Django's handler asks
    if sys.version_info >= (3, 12):
        assert inspect.iscoroutinefunction(endpoint)  # the marker asgiref relies on since 3.12
    else:
        assert asyncio.iscoroutinefunction(endpoint)  # Python 3.11: asgiref delegates to asyncio's marker
    pending = endpoint(RequestFactory().get("/health/?format=json"))
    assert inspect.iscoroutine(pending)
    response = await pending
    assert response.status_code == 500
    assert json.loads(response.content) == expected_messages("failing")


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["fresh", "failing", "pending"])
async def test_endpoint__asgi_same_answers(scenario, name):
    """AsyncClient (ASGI) gets the same status, headers and body as Client (WSGI) in every format."""
    scenario(name)
    async_client = AsyncClient()
    for fmt in FORMATS:
        if fmt in ("html", "rss", "atom"):
            continue  # these embed the render time or ages; compared structurally elsewhere
        wsgi = await asyncio.to_thread(Client().get, f"/health/?format={fmt}")
        asgi = await async_client.get(f"/health/?format={fmt}")
        assert asgi.status_code == wsgi.status_code == expected_status(fmt, name)
        assert asgi["Content-Type"] == wsgi["Content-Type"]
        assert asgi["Vary"] == wsgi["Vary"]
        if fmt == "openmetrics":
            continue  # ages move between the two requests
        assert asgi.content == wsgi.content


@pytest.mark.anyio
async def test_endpoint__asgi_html_and_feeds(scenario):
    """Under ASGI the HTML page renders the rows and the feed the journal's entries."""
    scenario("failing")
    client = AsyncClient()
    rows = html_rows((await client.get("/health/")).content.decode())
    assert [row["state"] for row in rows] == ["ok", "error", "ok"]
    append_transitions(
        get_store(),
        changes(
            None, make_snapshot(SPECS["beta"].key, status="error", message=REFUSED), NAMES["beta"], stale_intervals=3
        ),
        retention=10,
    )
    feed = feedparser.parse((await client.get("/health/?format=atom")).content)
    assert [entry.summary for entry in feed.entries] == [REFUSED]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "app"), [("uvicorn", "tests.testapp.asgi:application"), ("gunicorn", "tests.testapp.wsgi:application")]
)
def test_endpoint__real_servers(kind, app):
    """uvicorn (ASGI) and gunicorn (WSGI) really serve the node endpoint: pending checks, 500, DHC's JSON shape."""
    server = start_server(kind, app)
    try:
        base = f"http://127.0.0.1:{server.port}/health/node/"
        node = http_get(f"{base}?format=json", headers={"Accept": "*/*"}, timeout=30)
        text = http_get(base, headers={"Accept": "text/plain"}, timeout=30)
    finally:
        server.stop()
    assert node.status == 500, server.output
    assert node.headers["Content-Type"] == "application/json"
    assert node.headers["Vary"] == "Accept"
    found = json.loads(node.body)
    hostname = socket.gethostname()
    assert sorted(found) == sorted(
        [
            f"CPU(hostname={hostname!r})",
            f"Memory(hostname={hostname!r})",
            f"Disk(path={server_cwd()!r}, hostname={hostname!r})",
        ]
    )
    assert set(found.values()) == {PENDING}
    assert text.status == 500
    assert text.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert text.body.splitlines() == [f"{name}: {PENDING}" for name in found]


def server_cwd() -> str:
    import os

    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- an unreadable store ---------------------------------------------------------------------------


class UnreadableStore(MemoryStore):
    """A store whose reads fail, as a diskcache directory removed under a running server would."""

    def __init__(self, location: str) -> None:
        super().__init__()

    def read(self, keys):
        raise StoreError("cannot read the diskcache store at /srv/gone: No such file or directory")


@pytest.mark.parametrize("fmt", FORMATS)
def test_view__unreadable_store_fails(client, settings, fmt):
    """When the store cannot be read every check fails with the store's reason; no 500 from Django itself."""
    settings.HEALTH_CHECK = {"STORE": "tests.test_views.UnreadableStore", "POLLER_AUTOSTART": False}
    response = client.get(f"/health/?format={fmt}")
    assert response.status_code == expected_status(fmt, "failing")
    assert response["Content-Type"] == CONTENT_TYPES[fmt]
    message = (
        "Unavailable: cannot read snapshots: cannot read the diskcache store at /srv/gone: No such file or directory"
    )
    if fmt == "json":
        assert response.json() == {NAMES[label]: message for label in LABELS}
    elif fmt == "text":
        assert response.content.decode() == "".join(f"{NAMES[label]}: {message}\n" for label in LABELS)
    elif fmt == "html":
        assert [row["state"] for row in html_rows(response.content.decode())] == ["error"] * 3
    elif fmt == "openmetrics":
        assert "django_health_check_overall_status 0\n" in response.content.decode()


def _steady_key() -> str:
    from django.urls import resolve

    (spec,), _ = resolve("/health/steady/").func.view.get_check_specs()
    return spec.key


@pytest.mark.urls("tests.testapp.urls")
def test_view__new_run_with_same_verdict_shows_new_run_time_and_age(client, memory_store):
    """A probe after a re-run that changed nothing but times sees that run's time and age on the page."""
    from tests.conftest import make_snapshot

    key = _steady_key()
    memory_store.write(make_snapshot(key, age_seconds=30, duration_seconds=0.0125))
    first = client.get("/health/steady/", HTTP_ACCEPT="text/html").content.decode()
    assert "12.5\u202fms" in first and ">30 s<" in first
    memory_store.write(make_snapshot(key, age_seconds=3, duration_seconds=0.0421))
    second = client.get("/health/steady/", HTTP_ACCEPT="text/html").content.decode()
    assert "42.1\u202fms" in second and ">3 s<" in second
    assert "12.5\u202fms" not in second
    assert "\ue000" not in second  # no marker is ever left in a response


@pytest.mark.urls("tests.testapp.urls")
def test_view__reused_answer_turns_stale_on_time_without_new_writes(client, memory_store):
    """A snapshot that passes its allowance is reported stale even when nothing was written since."""
    import time

    from tests.conftest import make_snapshot

    key = _steady_key()
    # allowance = interval × 3 + timeout = 0.5 × 3 + 0.5 = 2 s; the snapshot is 1 s old.
    memory_store.write(make_snapshot(key, age_seconds=1.0, interval_seconds=0.5, timeout_seconds=0.5))
    assert client.get("/health/steady/?format=json").status_code == 200
    time.sleep(1.3)
    response = client.get("/health/steady/?format=json")
    assert response.status_code == 500
    assert list(response.json().values())[0].startswith("Unavailable: stale, last result is 2 s old")


def test_identity__field_whose_repr_raises_still_gets_a_key():
    """A check argument with a broken ``__repr__`` keys the check by its type instead of failing every request."""
    import dataclasses

    from health_check.base import HealthCheck
    from health_check.specs import CheckSpec

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    @dataclasses.dataclass
    class Uses(HealthCheck):
        thing: object = dataclasses.field(default_factory=Broken, repr=False)

        def run(self) -> None:
            pass

    spec = CheckSpec.of(Uses())
    assert spec.key.endswith(tuple("0123456789abcdef")) and ".Uses:" in spec.key
