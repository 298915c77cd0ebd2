"""Statuspage providers against fixture pages served by a real loopback server, through the real runner."""

from __future__ import annotations

import datetime
import inspect

import pytest

from health_check.contrib import atlassian
from health_check.contrib.atlassian import GitHub, Npm, PyPI
from tests.support import FakeUpstream, FrozenClock, Reply, fixture

SUMMARY = "/api/v2/summary.json"


def serve(server: FakeUpstream, name: str, content_type: str = "application/json") -> None:
    server.routes[SUMMARY] = Reply(fixture(name), content_type=content_type)


def github(server: FakeUpstream, **options) -> GitHub:
    return GitHub(base_url=server.url, clock=FrozenClock(), **options)


def test_atlassian__healthy_page(upstream, run_check):
    """An all-operational page is OK, keeps no incidents and was asked once with our User-Agent."""
    serve(upstream, "statuspage/summary.all-operational.json")
    snapshot = run_check(github(upstream))
    assert (snapshot.status, snapshot.message) == ("ok", "OK")
    assert snapshot.details == {"source": f"{upstream.url}{SUMMARY}", "page": upstream.url, "incidents": []}
    assert upstream.count(SUMMARY) == 1
    assert upstream.requests[0].headers["user-agent"] == "django-health-snapshot/0.1.0 (+health check)"


def test_atlassian__minor_incident_is_a_warning_with_the_incident_kept(upstream, run_check):
    """A degraded component with a minor incident warns, names both, and keeps the incident for the feed."""
    serve(upstream, "statuspage/summary.minor-actions-degraded.json")
    snapshot = run_check(github(upstream, component="Actions"))
    assert snapshot.status == "warning"
    assert snapshot.message == (
        "Warning: GitHub: Actions degraded performance; Actions jobs are slow to start: "
        "https://stspg.io/3q8vzk1mnd7w (minor, identified)"
    )
    assert snapshot.details["incidents"] == [
        {
            "id": "y4mq9x2hz7td",
            "name": "Actions jobs are slow to start",
            "impact": "minor",
            "status": "identified",
            "link": "https://stspg.io/3q8vzk1mnd7w",
            "started_at": "2025-03-12T13:20:51Z",
            "updated_at": "2025-03-12T13:48:39Z",
        }
    ]


def test_atlassian__other_component_is_ok(upstream, run_check):
    """An incident on Actions does not concern a check watching Git Operations."""
    serve(upstream, "statuspage/summary.minor-actions-degraded.json")
    assert run_check(github(upstream, component="Git Operations")).message == "OK"


def test_atlassian__major_outage_is_a_warning_by_default(upstream, run_check):
    """A major incident is a StatusPageWarning, as in django-health-check, with every affected component named."""
    serve(upstream, "statuspage/summary.major-outage.json")
    snapshot = run_check(github(upstream))
    assert snapshot.status == "warning"
    assert snapshot.message == (
        "Warning: GitHub: Git Operations major outage; API Requests partial outage; "
        "Git operations and API requests failing: https://stspg.io/m7w2r9d4h1xq (major, investigating)"
    )


def test_atlassian__major_outage_fails_with_fail_on_outage(upstream, run_check):
    """fail_on_outage=True turns partial and major outages into a failing check."""
    serve(upstream, "statuspage/summary.major-outage.json")
    snapshot = run_check(github(upstream, fail_on_outage=True))
    assert snapshot.status == "error"
    assert snapshot.message == (
        "Unavailable: GitHub: Git Operations major outage; API Requests partial outage; "
        "Git operations and API requests failing: https://stspg.io/m7w2r9d4h1xq (major, investigating)"
    )


def test_atlassian__critical_outage_fails(upstream, run_check):
    """With fail_on_outage, a critical incident fails the check and is kept in the details."""
    serve(upstream, "statuspage/summary.critical-outage.json")
    snapshot = run_check(github(upstream, component="Git Operations", fail_on_outage=True))
    assert snapshot.status == "error"
    assert snapshot.message == (
        "Unavailable: GitHub: Git Operations major outage; GitHub.com unavailable: "
        "https://stspg.io/k2p8v5n0s6dc (critical, identified)"
    )
    assert [incident["impact"] for incident in snapshot.details["incidents"]] == ["critical"]


def test_atlassian__maintenance_in_progress(upstream, run_check):
    """A component under maintenance warns with its own message and the window's end."""
    serve(upstream, "statuspage/summary.maintenance-in-progress.json")
    snapshot = run_check(github(upstream, component="Packages"))
    assert snapshot.status == "warning"
    assert snapshot.message == (
        'Warning: GitHub: Packages under maintenance; maintenance "Packages registry database maintenance" '
        "in progress until 2025-03-12T15:00:00Z https://stspg.io/w5h8d2j6f0lc"
    )
    assert snapshot.details["incidents"][0]["impact"] == "maintenance"


def test_atlassian__upcoming_maintenance_elsewhere_is_ok(upstream, run_check):
    """A scheduled (not started) maintenance is not trouble yet."""
    serve(upstream, "statuspage/summary.maintenance-in-progress.json")
    assert run_check(github(upstream, component="Codespaces")).message == "OK"


def test_atlassian__indicator_none_with_open_incident_still_warns(upstream, run_check):
    """The page indicator says "none" while an incident is open: the incident wins."""
    serve(upstream, "statuspage/summary.indicator-none-open-incident.json")
    snapshot = run_check(github(upstream))
    assert snapshot.status == "warning"
    assert snapshot.message == (
        "Warning: GitHub: Search results for Issues may be stale: https://stspg.io/j4g7f1d9s3aq (minor, investigating)"
    )


def test_atlassian__group_child_degraded(upstream, run_check):
    """Watching a component group covers its children: a degraded child and its incident warn."""
    serve(upstream, "statuspage/summary.grouped-child-degraded.json")
    snapshot = run_check(PyPI(base_url=upstream.url, clock=FrozenClock()))
    assert snapshot.status == "warning"
    assert snapshot.message == (
        "Warning: Python Infrastructure: PyPI degraded performance; Uploads degraded performance; "
        "Package uploads are slow: https://stspg.io/v8c5x2z9b6nm (minor, investigating)"
    )
    assert snapshot.details["incidents"][0]["started_at"] == "2025-03-12T13:25:00Z"  # -04:00 offset read


def test_atlassian__incidentio_healthy(upstream, run_check):
    """An incident.io page with null lists and no group fields is read as healthy."""
    serve(upstream, "statuspage/summary.incidentio-compat.healthy.json")
    assert run_check(github(upstream)).message == "OK"


def test_atlassian__incidentio_incident(upstream, run_check):
    """An incident.io incident without components or shortlink is reported with a link built from its id."""
    serve(upstream, "statuspage/summary.incidentio-compat.incident.json")
    snapshot = run_check(github(upstream))
    assert snapshot.status == "warning"
    assert snapshot.message == (
        "Warning: OpenAI: APIs partial outage; Elevated error rates on the Responses API: "
        f"{upstream.url}/incidents/01JP2KX7M9Q4T8V1Z5C3F6H0J2 (major, investigating)"
    )


def test_atlassian__unknown_component_lists_names(upstream, run_check):
    """A component name the page does not have is an error listing the names it has."""
    serve(upstream, "statuspage/summary.minor-actions-degraded.json")
    snapshot = run_check(github(upstream, component="actions"))
    assert snapshot.message == (
        f"Unexpected Result: Component 'actions' not found at {upstream.url}{SUMMARY} (GitHub); components: "
        "API Requests, Actions, Codespaces, Copilot, Git Operations, Issues, Packages, Pages, Pull Requests, Webhooks"
    )


MALFORMED = {
    "malformed/summary.truncated.json": (
        "error",
        "Unavailable: Failed to parse JSON response from {url}: invalid JSON (cut off?): Unterminated string starting at (line 177, column 11)",
    ),
    "malformed/summary.utf8-bom.json": ("ok", "OK"),
    "malformed/empty-body.txt": ("error", "Unavailable: Failed to parse JSON response from {url}: empty response body"),
    "malformed/html-error-200.html": (
        "error",
        'Unavailable: Failed to parse JSON response from {url}: returned an HTML page ("Just a moment...") instead of JSON '
        "(a bot check, login or maintenance page?)",
    ),
    "malformed/html-maintenance-200.html": (
        "error",
        'Unavailable: Failed to parse JSON response from {url}: returned an HTML page ("Status page temporarily '
        'unavailable") instead of JSON '
        "(a bot check, login or maintenance page?)",
    ),
    "malformed/summary.missing-keys.json": ("warning", "Warning: GitHub: Actions degraded performance"),
    "malformed/summary.incident-missing-fields.json": (
        "warning",
        "Warning: GitHub: Actions degraded performance; Unnamed incident y4mq9x2hz7td: {base}/incidents/y4mq9x2hz7td "
        "(minor, investigating); Webhook deliveries delayed: https://stspg.io/q9w8e7r6t5yu (none, investigating)",
    ),
    "malformed/summary.wrong-types.json": (
        "error",
        "Unexpected Result: Unexpected API response structure: {url}: 'components' is an object, expected a list",
    ),
    "malformed/summary.unknown-enums.json": (
        "warning",
        "Warning: GitHub: Actions has unknown status 'partial_degradation'; Actions jobs are slow to start: "
        "https://stspg.io/3q8vzk1mnd7w (unknown impact 'moderate', mitigated); "
        "unknown page indicator 'degraded' (Elevated Error Rates)",
    ),
    "malformed/summary.bad-timestamps.json": (
        "warning",
        "Warning: GitHub: Actions degraded performance; Actions jobs are slow to start: https://stspg.io/3q8vzk1mnd7w "
        "(minor, investigating); Webhook deliveries delayed: https://stspg.io/q9w8e7r6t5yu (minor, identified); "
        "Copilot completions slow: https://stspg.io/z1x2c3v4b5nm (minor, monitoring)",
    ),
    "malformed/json-top-level-array.json": (
        "error",
        "Unexpected Result: Unexpected API response structure: {url}: the JSON is a list, expected an object",
    ),
    "malformed/json-with-trailing-garbage.json": (
        "error",
        "Unavailable: Failed to parse JSON response from {url}: invalid JSON: Extra data (line 2, column 1)",
    ),
    "malformed/invalid.xml": (
        "error",
        "Unavailable: Failed to parse JSON response from {url}: returned an RSS or Atom feed instead of JSON",
    ),
    "malformed/s3-access-denied.xml": (
        "error",
        "Unavailable: Failed to parse JSON response from {url}: returned an S3 error document "
        "(AccessDenied: Access Denied) instead of JSON",
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_atlassian__malformed_fixture(upstream, run_check, name):
    """Every malformed page yields a snapshot whose message says what was wrong and where."""
    content_type = "text/html" if name.endswith(".html") else "application/json"
    serve(upstream, name, content_type)
    status, message = MALFORMED[name]
    snapshot = run_check(github(upstream))
    assert (snapshot.status, snapshot.message) == (
        status,
        message.format(url=f"{upstream.url}{SUMMARY}", base=upstream.url),
    )


def test_atlassian__bad_timestamps_are_not_trusted(upstream, run_check):
    """Unreadable and far-future times are dropped; naive ones are read as UTC."""
    serve(upstream, "malformed/summary.bad-timestamps.json")
    incidents = run_check(github(upstream)).details["incidents"]
    assert [(i["started_at"], i["updated_at"]) for i in incidents] == [
        ("2025-03-12T13:21:04Z", "2025-03-12T13:21:04Z"),
        ("2025-03-12T13:30:00Z", "2025-03-12T13:45:00Z"),
        ("2025-03-12T06:30:00Z", "2025-03-12T06:30:00Z"),
    ]


def test_atlassian__defaults_match_django_health_check():
    """Default pages, components, argument order and names are the ones django-health-check users have."""
    expected = {
        "Cloudflare": "https://www.cloudflarestatus.com",
        "DigitalOcean": "https://status.digitalocean.com",
        "FlyIo": "https://status.flyio.net",
        "Npm": "https://status.npmjs.org",
        "PlatformSh": "https://status.platform.sh",
        "PyPI": "https://status.python.org",
        "Render": "https://status.render.com",
        "Sentry": "https://status.sentry.io",
        "Vercel": "https://www.vercel-status.com",
    }
    for name, url in expected.items():
        check = getattr(atlassian, name)()
        assert check.source_url == f"{url}/api/v2/summary.json"
    assert GitHub().source_url == "https://www.githubstatus.com/api/v2/summary.json"
    assert GitHub("eu").source_url == "https://eu.githubstatus.com/api/v2/summary.json"
    assert repr(GitHub(component="Actions")) == "GitHub(enterprise_region=None, component='Actions')"
    assert repr(Npm()) == "Npm(component='Package installation')"
    assert repr(PyPI()) == "PyPI(component='PyPI')"
    assert list(inspect.signature(GitHub).parameters)[:3] == ["enterprise_region", "timeout", "component"]
    assert GitHub.default_poll_interval == datetime.timedelta(minutes=5)


def test_atlassian__bad_enterprise_region():
    """An unknown GitHub region is refused with the valid choices."""
    with pytest.raises(ValueError) as error:
        GitHub(enterprise_region="mars")
    assert (
        str(error.value)
        == "GitHub(enterprise_region='mars') is not a region; use one of 'au', 'eu', 'jp', 'us' or None"
    )


def test_atlassian__title_names_provider_and_component():
    """Feed items call a check "GitHub Actions"; the generic class, told apart only by its URL, keeps its repr."""
    assert GitHub(component="Actions").title == "GitHub Actions"
    assert GitHub().title == "GitHub"
    assert GitHub("eu", component="Actions").title == "GitHub Enterprise (eu) Actions"
    assert PyPI().title == "PyPI"
    assert Npm().title == "npm Package installation"
    assert atlassian.FlyIo().title == "Fly.io"
    generic = atlassian.AtlassianStatusPage(base_url="https://status.example.com")
    assert generic.title == repr(generic) == "AtlassianStatusPage()"


def test_atlassian__a_new_provider_is_its_address(upstream, run_check):
    """The documented two-line provider polls its own page; feeds call it by its class name."""
    import dataclasses

    from health_check.contrib.atlassian import StatusPageProvider

    @dataclasses.dataclass
    class Linear(StatusPageProvider):
        """Linear status."""

        home = upstream.url

    serve(upstream, "statuspage/summary.major-outage.json")
    check = Linear(component="Git Operations", clock=FrozenClock())
    assert check.base_url == upstream.url
    snapshot = run_check(check)
    assert snapshot.status == "warning"
    # The page names itself in messages (this fixture is a GitHub-like page).
    assert snapshot.message.startswith("Warning: GitHub: Git Operations major outage; ")
    assert check.title == "Linear Git Operations"
    assert upstream.count(SUMMARY) == 1
