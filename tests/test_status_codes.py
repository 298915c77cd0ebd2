"""``status_codes=``: which HTTP status an endpoint answers for what its checks report.

Endpoints are called as a project's tests call them (``RequestFactory``, memory store); the last tests
ask gunicorn and uvicorn, which is what a load balancer or the kubelet reads.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.test import RequestFactory

from health_check.store import get_store
from health_check.store.diskcache import DiskcacheStore
from health_check.system_checks import check_endpoints
from health_check.views import HealthCheckView
from tests.scenarios import LABELS, write_scenario
from tests.support import TESTAPP, Server, http_get, serve_store
from tests.testapp.probes import Sample

SAMPLES = [Sample(label) for label in LABELS]
FORMATS = ("json", "text", "html", "health+json")
K8S = {"warning": 200, "error": 503}
rf = RequestFactory()


def codes(endpoint, query: str = "?format=json", **extra) -> int:
    response = endpoint(rf.get("/health/" + query, **extra))
    return response.status_code


@pytest.mark.parametrize(
    ("scenario", "default", "k8s"),
    [("fresh", 200, 200), ("failing", 500, 503), ("stale", 500, 503), ("pending", 500, 503), ("warning", 500, 200)],
)
def test_status_codes__mapping_per_state(memory_store, scenario, default, k8s):
    """Default 200/500 as django-health-check (a warning fails by default); {"warning": 200, "error": 503} remaps."""
    write_scenario(memory_store, scenario)
    plain = HealthCheckView.as_view(checks=SAMPLES)
    mapped = HealthCheckView.as_view(checks=SAMPLES, status_codes=K8S)
    for fmt in FORMATS:
        assert (codes(plain, f"?format={fmt}"), codes(mapped, f"?format={fmt}")) == (default, k8s), fmt
    # Feeds and metrics always answer 200: a reader must not drop a feed that reports trouble, nor
    # Prometheus a scrape that carries it.
    for fmt in ("rss", "atom", "openmetrics"):
        assert codes(mapped, f"?format={fmt}") == 200


def test_status_codes__stale_and_pending_have_their_own(memory_store):
    """stale and pending follow "error" unless given; a warning follows warnings_as_errors unless given."""
    write_scenario(memory_store, "stale")
    assert codes(HealthCheckView.as_view(checks=SAMPLES, status_codes={"error": 503, "stale": 504})) == 504
    write_scenario(memory_store, "warning")
    lenient = HealthCheckView.as_view(checks=SAMPLES, warnings_as_errors=False, status_codes={"error": 503})
    assert codes(lenient) == 200
    strict = HealthCheckView.as_view(checks=SAMPLES, warnings_as_errors=True, status_codes={"error": 503})
    assert codes(strict) == 503
    assert codes(HealthCheckView.as_view(checks=SAMPLES, status_codes={"warning": 299})) == 299


def test_status_codes__no_server_error_log_for_a_503(memory_store, client, settings, caplog):
    """A failing probe answered 503 is no Django error: nothing at django.request, so no mail to ADMINS."""
    settings.ROOT_URLCONF = "tests.testapp.urls_views"
    write_scenario(get_store(), "failing")
    with caplog.at_level(logging.DEBUG, logger="django"):
        assert client.get("/health/ready/?format=json").status_code == 503
        assert client.get("/health/ready/").status_code == 503  # the HTML page
    assert [r for r in caplog.records if r.name.startswith("django.request")] == []


def test_status_codes__max_age_caches_the_mapped_answer(memory_store):
    """max_age lets shared caches keep a 503 report as it lets them keep a 500."""
    write_scenario(memory_store, "failing")
    endpoint = HealthCheckView.as_view(checks=SAMPLES, status_codes=K8S, max_age=datetime.timedelta(seconds=30))
    response = endpoint(rf.get("/health/?format=json"))
    assert (response.status_code, response["Cache-Control"]) == (503, "public, max-age=30")


class Recording(HealthCheckView):
    seen: list[int] = []

    def render_to_response_json(self, status):
        self.seen.append(status)
        return super().render_to_response_json(status)


def test_status_codes__subclass_hooks_get_the_mapped_status(memory_store):
    write_scenario(memory_store, "failing")
    Recording.seen = []
    assert codes(Recording.as_view(checks=SAMPLES, status_codes=K8S)) == 503
    assert Recording.seen == [503]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"eror": 503}, "status_codes has an unknown key 'eror' (known: draining, error, stale, pending, warning, ok)"),
        ({"error": 99}, "status_codes['error'] is 99, expected an HTTP status from 200 to 599"),
        ({"error": "503"}, "status_codes['error'] is '503', expected an HTTP status from 200 to 599"),
        ([503], "status_codes must be a dict of state -> HTTP status, got list"),
    ],
)
def test_status_codes__wrong_value_is_reported_never_a_crash(memory_store, settings, value, problem, caplog):
    """A wrong mapping: the endpoint answers with the defaults and logs once; manage.py check says E006."""
    write_scenario(memory_store, "failing")
    endpoint = HealthCheckView.as_view(checks=SAMPLES, status_codes=value)
    assert [codes(endpoint) for _ in range(3)] == [500, 500, 500]
    logged = [r.getMessage() for r in caplog.records if r.name == "health_check"]
    assert logged == [
        f"HealthCheckView status_codes: {problem}; using the default status codes (200, 500). "
        "Run manage.py check for details."
    ]
    settings.ROOT_URLCONF = "tests.testapp.urls_bad_status_codes"
    import tests.testapp.urls_bad_status_codes as bad

    bad.urlpatterns[0].callback.view.status_codes = value
    found = [(m.id, m.msg) for m in check_endpoints() if m.id == "health_check.E006"]
    assert found == [("health_check.E006", f"Health check endpoint 'bad' (/bad/): {problem}.")]


def test_status_codes__manage_check_fails_on_a_wrong_mapping(settings):
    from django.core.management.base import SystemCheckError

    settings.ROOT_URLCONF = "tests.testapp.urls_bad_status_codes"
    with pytest.raises(SystemCheckError, match="health_check.E006"):
        call_command("check")


# -- what a load balancer reads ---------------------------------------------------------------------


@pytest.fixture(params=list(TESTAPP), scope="module")
def server(request, tmp_path_factory) -> Iterator[tuple[Server, DiskcacheStore]]:
    location = str(tmp_path_factory.mktemp("codes-store"))
    store = DiskcacheStore(location)
    process = serve_store(request.param, location)
    try:
        yield process, store
    finally:
        process.stop()
        store.close()


@pytest.mark.parametrize(
    ("scenario", "ready", "live"), [("failing", 503, 500), ("warning", 200, 500), ("fresh", 200, 200)]
)
def test_status_codes__real_servers(server, scenario, ready, live):
    """gunicorn and uvicorn answer the readiness endpoint's mapping; the liveness endpoint keeps 200/500."""
    process, store = server
    write_scenario(store, scenario)
    url = f"http://127.0.0.1:{process.port}"
    for _ in range(2):  # the second answer comes from the state the first built
        got = (http_get(f"{url}/health/ready/", timeout=30).status, http_get(f"{url}/health/live/", timeout=30).status)
        assert got == (ready, live), process.output
