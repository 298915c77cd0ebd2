"""Renderers turn a Report into bytes; every format against the same snapshot sets, without a request."""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import ClassVar

import feedparser
import pytest
from django.test import RequestFactory
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from health_check.journal import changes, newest_first
from health_check.renderers import (
    DEFAULT_RENDERERS,
    AtomRenderer,
    HTMLRenderer,
    JSONRenderer,
    OpenMetricsRenderer,
    RenderContext,
    Renderer,
    RSSRenderer,
    TextRenderer,
)
from health_check.snapshot import Reading, Report, State
from health_check.status_page import MIN_SEGMENT, NO_DATA, timeline
from health_check.store import get_store
from health_check.views import HealthCheckView
from tests.conftest import make_snapshot
from tests.scenarios import (
    LABELS,
    NAMES,
    REFUSED,
    SCENARIOS,
    build_report,
    expected_messages,
    expected_text,
    write_scenario,
)
from tests.testapp.probes import Sample

NOW = datetime.datetime(2026, 3, 1, 12, 0, 0, tzinfo=datetime.UTC)
CONTEXT = RenderContext(endpoint_url="https://example.test/health/", feed_url="https://example.test/health/?format=rss")


def render(renderer: type[Renderer], report: Report, context: RenderContext = CONTEXT) -> str:
    return renderer().render(report, context).decode()


def one_reading(name: str, message: str, state: State = State.WARNING, **labels: str) -> Report:
    snapshot = make_snapshot("k", status="warning", message=message, age_seconds=5, now=NOW)
    reading = Reading(name=name, state=state, message=message, snapshot=snapshot, age_seconds=5.0, labels=labels)
    return Report(readings=(reading,), generated_at=NOW)


def test_renderers__registry():
    """django-health-check's six formats in its order, then health+json, the badges and uptime; feeds,
    OpenMetrics, badges and uptime are always 200."""
    assert [(r.format, r.media_type, r.always_ok) for r in DEFAULT_RENDERERS] == [
        ("text", "text/plain", False),
        ("html", "text/html", False),
        ("json", "application/json", False),
        ("atom", "application/atom+xml", True),
        ("rss", "application/rss+xml", True),
        ("openmetrics", "application/openmetrics-text", True),
        ("health+json", "application/health+json", False),
        ("svg", "image/svg+xml", True),
        ("shields", "application/json", True),
        ("uptime", "application/json", True),
    ]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_json_renderer__scenarios(name):
    """The body is exactly what Django's JsonResponse would write for {repr: "OK" or "<Type>: msg"}."""
    body = render(JSONRenderer, build_report(name, now=NOW))
    assert body == json.dumps(expected_messages(name))
    assert list(json.loads(body)) == [NAMES[label] for label in LABELS]


def test_json_renderer__non_ascii_escaped():
    """Non-ASCII is escaped like JsonResponse does (ensure_ascii), so bytes match django-health-check."""
    body = render(JSONRenderer, one_reading("CPU(hostname='h')", "Warning: CPU 91.0\u202f%"))
    assert body == '{"CPU(hostname=\'h\')": "Warning: CPU 91.0\\u202f%"}'


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_text_renderer__scenarios(name):
    """One "<repr>: <message>" line per check, newline-terminated."""
    assert render(TextRenderer, build_report(name, now=NOW)) == expected_text(name)


def test_text_renderer__multiline_message_kept():
    """A multi-line message (status-page incidents) is written as is, like django-health-check."""
    body = render(TextRenderer, one_reading("GitHub()", "Warning: Incident A: https://a\nIncident B: https://b"))
    assert body == "GitHub(): Warning: Incident A: https://a\nIncident B: https://b\n"


def test_openmetrics_renderer__exact_failing():
    """The whole exposition for the failing set: status, run time, snapshot age, state set, overall, # EOF."""
    body = render(OpenMetricsRenderer, build_report("failing", now=NOW))
    assert body == (
        "# HELP django_health_check_status Health check status (1 = healthy, 0 = unhealthy)\n"
        "# TYPE django_health_check_status gauge\n"
        'django_health_check_status{check="Sample",label="alpha"} 1\n'
        'django_health_check_status{check="Sample",label="beta"} 0\n'
        'django_health_check_status{check="Sample",label="gamma"} 1\n'
        "# HELP django_health_check_response_time_seconds Health check response time in seconds\n"
        "# TYPE django_health_check_response_time_seconds gauge\n"
        'django_health_check_response_time_seconds{check="Sample",label="alpha"} 0.012500\n'
        'django_health_check_response_time_seconds{check="Sample",label="beta"} 0.012500\n'
        'django_health_check_response_time_seconds{check="Sample",label="gamma"} 0.012500\n'
        "# HELP django_health_check_snapshot_age_seconds Age of the snapshot each check is reported from\n"
        "# TYPE django_health_check_snapshot_age_seconds gauge\n"
        'django_health_check_snapshot_age_seconds{check="Sample",label="alpha"} 12.000\n'
        'django_health_check_snapshot_age_seconds{check="Sample",label="beta"} 12.000\n'
        'django_health_check_snapshot_age_seconds{check="Sample",label="gamma"} 12.000\n'
        "# HELP django_health_check_state State each check is reported in\n"
        "# TYPE django_health_check_state stateset\n"
        'django_health_check_state{check="Sample",label="alpha",django_health_check_state="ok"} 1\n'
        'django_health_check_state{check="Sample",label="alpha",django_health_check_state="warning"} 0\n'
        'django_health_check_state{check="Sample",label="alpha",django_health_check_state="error"} 0\n'
        'django_health_check_state{check="Sample",label="alpha",django_health_check_state="stale"} 0\n'
        'django_health_check_state{check="Sample",label="alpha",django_health_check_state="pending"} 0\n'
        'django_health_check_state{check="Sample",label="alpha",django_health_check_state="maintenance"} 0\n'
        'django_health_check_state{check="Sample",label="beta",django_health_check_state="ok"} 0\n'
        'django_health_check_state{check="Sample",label="beta",django_health_check_state="warning"} 0\n'
        'django_health_check_state{check="Sample",label="beta",django_health_check_state="error"} 1\n'
        'django_health_check_state{check="Sample",label="beta",django_health_check_state="stale"} 0\n'
        'django_health_check_state{check="Sample",label="beta",django_health_check_state="pending"} 0\n'
        'django_health_check_state{check="Sample",label="beta",django_health_check_state="maintenance"} 0\n'
        'django_health_check_state{check="Sample",label="gamma",django_health_check_state="ok"} 1\n'
        'django_health_check_state{check="Sample",label="gamma",django_health_check_state="warning"} 0\n'
        'django_health_check_state{check="Sample",label="gamma",django_health_check_state="error"} 0\n'
        'django_health_check_state{check="Sample",label="gamma",django_health_check_state="stale"} 0\n'
        'django_health_check_state{check="Sample",label="gamma",django_health_check_state="pending"} 0\n'
        'django_health_check_state{check="Sample",label="gamma",django_health_check_state="maintenance"} 0\n'
        "# HELP django_health_check_overall_status Overall health check status "
        "(1 = all healthy, 0 = at least one unhealthy)\n"
        "# TYPE django_health_check_overall_status gauge\n"
        "django_health_check_overall_status 0\n"
        "# EOF\n"
    )


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_openmetrics_renderer__parses(name):
    """Every set parses as OpenMetrics; stale ages are the snapshot's real age, pending ones NaN without run time."""
    families = {
        family.name: {s.labels.get("label"): s.value for s in family.samples}
        for family in text_string_to_metric_families(render(OpenMetricsRenderer, build_report(name, now=NOW)))
    }
    states = {label: build_report(name, now=NOW).readings[i].state for i, label in enumerate(LABELS)}
    for label, state in states.items():
        assert families["django_health_check_status"][label] == (1.0 if state is State.OK else 0.0)
        age = families["django_health_check_snapshot_age_seconds"][label]
        if state is State.PENDING:
            assert age != age  # NaN
            assert label not in families["django_health_check_response_time_seconds"]
        else:
            assert age == (3600.0 if state is State.STALE else 12.0)
    assert families["django_health_check_overall_status"][None] == (1.0 if name == "fresh" else 0.0)


def test_openmetrics_renderer__warning_not_failing_when_lenient():
    """With warnings_as_errors=False a warning counts as healthy (1) and the overall status stays 1."""
    body = render(OpenMetricsRenderer, build_report("warning", warnings_as_errors=False, now=NOW))
    assert 'django_health_check_status{check="Sample",label="beta"} 1\n' in body
    assert "django_health_check_overall_status 1\n" in body


def test_openmetrics_renderer__label_escaping():
    """Backslash, double quote and newline in label values are escaped and read back intact."""
    report = one_reading("Disk()", "Warning: full", path='C:\\data "x"\nnext', check="Disk")
    body = render(OpenMetricsRenderer, report)
    assert 'django_health_check_status{path="C:\\\\data \\"x\\"\\nnext",check="Disk"} 0\n' in body
    (status,) = [f for f in text_string_to_metric_families(body) if f.name == "django_health_check_status"]
    assert status.samples[0].labels == {"path": 'C:\\data "x"\nnext', "check": "Disk"}


@pytest.mark.parametrize("renderer", [RSSRenderer, AtomRenderer])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_feed_renderers__scenarios(renderer, name):
    """Feeds: title and links from the context; one entry per journal entry, none from the readings themselves."""
    report = build_report(name, now=NOW)
    failed = changes(None, make_snapshot("k", status="error", message=REFUSED, now=NOW), "Db()", stale_intervals=3)
    transitions = tuple(newest_first(failed))
    context = dataclasses.replace(CONTEXT, feed_author="Ops", transitions=transitions)
    feed = feedparser.parse(render(renderer, report, context))
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.title == "Health Check Status"
    assert feed.feed.link == "https://example.test/health/"
    # Django's Atom1Feed writes no subtitle for a description; RSS carries it (as django-health-check's feeds).
    expected_description = "Current status of system health checks" if renderer is RSSRenderer else None
    assert feed.feed.get("subtitle") == expected_description
    (entry,) = feed.entries
    assert entry.title == f"Db(): failing - {REFUSED}"
    assert entry.summary == REFUSED
    assert entry.link == "https://example.test/health/"
    assert entry.author == "Ops"
    assert entry.id == f"urn:uuid:{transitions[0].id}"
    assert [tag.term for tag in entry.tags] == ["error", "status"]
    dated = entry.get("published_parsed") or entry.updated_parsed
    assert datetime.datetime(*dated[:6], tzinfo=datetime.UTC) == transitions[0].at.replace(microsecond=0)
    assert feedparser.parse(render(renderer, report, CONTEXT)).entries == []


def test_rss_renderer__self_link():
    """The RSS feed points at itself with the query string (feed_url)."""
    body = render(RSSRenderer, build_report("fresh", now=NOW))
    assert '<atom:link href="https://example.test/health/?format=rss" rel="self"' in body


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_html_renderer__rows_and_summary(name):
    """The page lists every check with state, message and age, and counts states in its summary."""
    report = build_report(name, now=NOW)
    body = render(HTMLRenderer, report)
    counts = {state.value: 0 for state in State}
    for reading in report.readings:
        counts[reading.state.value] += 1
        failing = " failing" if reading.state is not State.OK else " "
        assert f'<tr class="check{failing}" data-state="{reading.state.value}">' in body
    assert (
        f"{counts['ok']} ok · {counts['warning']} warning · {counts['error']} error · "
        f"{counts['stale']} stale · {counts['pending']} pending"
    ) in body
    assert ('<thead class="failing">' in body) is (name != "fresh")


def test_html_renderer__escapes_and_breaks_lines():
    """Names and messages are HTML-escaped; a multi-line message gets <br>."""
    body = render(HTMLRenderer, one_reading("<b>X</b>", "Warning: <script>alert(1)</script>\nsecond line"))
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;<br>second line" in body
    assert "&lt;b&gt;X&lt;/b&gt;" in body


def test_html_renderer__custom_template(tmp_path, settings):
    """template_name selects another template, which receives rows, errors and counts."""
    (tmp_path / "mine.html").write_text("{% for row in rows %}{{ row.name }}={{ row.state }};{% endfor %}{{ errors }}")
    settings.TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [tmp_path]}]
    context = dataclasses.replace(CONTEXT, template_name="mine.html")
    body = render(HTMLRenderer, build_report("failing", now=NOW), context)
    assert body == (
        "Sample(label=&#x27;alpha&#x27;)=ok;Sample(label=&#x27;beta&#x27;)=error;"
        "Sample(label=&#x27;gamma&#x27;)=ok;True"
    )


class CSVRenderer(Renderer):
    """A renderer a project adds: selected by ?format=csv or Accept: text/csv."""

    format: ClassVar[str] = "csv"
    media_type: ClassVar[str] = "text/csv"
    accepts: ClassVar[frozenset[str]] = frozenset({"text/csv"})
    content_type: ClassVar[str] = "text/csv; charset=utf-8"

    def render(self, report: Report, context: RenderContext) -> bytes:
        return "".join(f"{r.name};{r.state.value}\n" for r in report.readings).encode()


@pytest.mark.urls("tests.testapp.urls_views")
def test_renderers__custom_renderer_in_view(memory_store):
    """A view's renderers= accepts a project's own renderer; the 406 message lists it."""
    write_scenario(get_store(), "failing")
    checks = [Sample(label) for label in LABELS]
    endpoint = HealthCheckView.as_view(checks=checks, renderers=(CSVRenderer, JSONRenderer))
    response = endpoint(RequestFactory().get("/health/", HTTP_ACCEPT="text/csv"))
    assert response.status_code == 500
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.decode() == "".join(
        f"{NAMES[label]};{'error' if label == 'beta' else 'ok'}\n" for label in LABELS
    )
    refused = endpoint(RequestFactory().get("/health/", HTTP_ACCEPT="text/html"))
    assert refused.status_code == 406
    assert refused.content.decode() == "Not Acceptable: Supported content types: text/csv, application/json"


def _entry(key: str, from_state: str, to_state: str, at: datetime.datetime):
    previous = make_snapshot(key, status=from_state if from_state in ("ok", "warning", "error") else "ok", now=at)
    current = make_snapshot(key, status=to_state, now=at, age_seconds=0)
    [entry] = changes(None if from_state == "pending" else previous, current, "Sample", stale_intervals=1e9)
    return entry


def test_timeline__young_check_has_no_history_before_its_first_run():
    """A check first seen 5 min ago: 24 h of "no data", then its state; never a day painted in the current state."""
    observed = NOW - datetime.timedelta(minutes=5)
    segments = timeline(State.OK, [], NOW, observed_since=observed)
    assert [(s["state"], s["at"], s["end"]) for s in segments] == [
        (NO_DATA, NOW - datetime.timedelta(hours=24), observed),
        ("ok", observed, NOW),
    ]
    assert segments[1]["width"] == 6.0 and segments[0]["width"] + segments[1]["width"] == 1000.0


def test_timeline__first_failure_starts_the_history():
    """pending -> error 2 h ago, ok since 1 h: no data, error, ok; the state before observation is never guessed."""
    entries = newest_first(
        [
            _entry("k", "pending", "error", NOW - datetime.timedelta(hours=2)),
            _entry("k", "error", "ok", NOW - datetime.timedelta(hours=1)),
        ]
    )
    segments = timeline(State.OK, entries, NOW)  # a snapshot written before observed_since existed
    assert [s["state"] for s in segments] == [NO_DATA, "error", "ok"]
    assert [s["width"] for s in segments] == [916.7, 41.7, 41.6]


def test_timeline__segments_tile_the_box_exactly():
    """Many short states: every segment at least MIN_SEGMENT wide, each starting where the last ended, ending at 1000."""
    moments = [NOW - datetime.timedelta(minutes=minute) for minute in range(60, 0, -2)]
    states = ["error", "ok"] * 15
    entries = newest_first(
        [
            _entry("k", "ok" if index == 0 else states[index - 1], state, moment)
            for index, (state, moment) in enumerate(zip(states, moments))
        ]
    )
    segments = timeline(State.OK, entries, NOW, observed_since=NOW - datetime.timedelta(hours=30))
    assert len(segments) == 31
    assert all(segment["width"] >= MIN_SEGMENT for segment in segments)
    assert segments[0]["x"] == 0.0
    for left, right in zip(segments, segments[1:]):
        assert right["x"] == round(left["x"] + left["width"], 1)
    assert round(segments[-1]["x"] + segments[-1]["width"], 1) == 1000.0
