"""HealthCheckMiddleware: probes past ALLOWED_HOSTS and SECURE_SSL_REDIRECT, the rest of the site untouched.

In-process, through Django's own handlers (``Client`` is WSGI, ``AsyncClient`` ASGI) with the middleware
``startproject`` installs after ours; tests/test_middleware_servers.py asks gunicorn and uvicorn.
"""

from __future__ import annotations

import json

import feedparser
import pytest
from django.core.checks import Error, Warning
from django.test import AsyncClient, Client, RequestFactory

from health_check.conf import get_config
from health_check.journal import append_transitions, changes
from health_check.middleware import MAX_PATHS, HealthCheckMiddleware
from health_check.store import get_store
from health_check.system_checks import check_middleware, check_settings
from tests.conftest import make_snapshot
from tests.scenarios import NAMES, REFUSED, SPECS, expected_messages, write_scenario
from tests.testapp.urls_views import TOKEN

pytestmark = pytest.mark.urls("tests.testapp.urls_hosts")

SITE = "status.example.com"
POD_IP = "10.1.2.3"
OURS = "health_check.middleware.HealthCheckMiddleware"
SECURITY = "django.middleware.security.SecurityMiddleware"
COMMON = "django.middleware.common.CommonMiddleware"
ENDPOINTS = ["/health/", "/health/never-cache/", "/health/async/", "/ops/health/", "/shadowed/other/"]


@pytest.fixture
def site(settings, memory_store):
    """One allowed host, plain HTTP redirected, startproject's middleware after ours; the failing scenario."""
    settings.ALLOWED_HOSTS = [SITE]
    settings.SECURE_SSL_REDIRECT = True
    settings.MIDDLEWARE = [OURS, SECURITY, COMMON]
    write_scenario(get_store(), "failing")
    return settings


def test_middleware__probe_by_pod_ip_is_served(site):
    """A Host outside ALLOWED_HOSTS gets the endpoint's answer; the same Host elsewhere gets Django's 400."""
    client = Client()
    for path in ENDPOINTS:
        response = client.get(f"{path}?format=json", HTTP_HOST=POD_IP)
        assert response.status_code == 500, path  # the failing scenario's answer, not a 400
        assert json.loads(response.content) == expected_messages("failing"), path
    for path in ["/page/", "/health/node/page/", "/health", "/nowhere/", "/shadowed/health/"]:
        assert client.get(path, HTTP_HOST=POD_IP).status_code == 400, path


def test_middleware__probe_over_plain_http_is_not_redirected(site):
    """SECURE_SSL_REDIRECT: the endpoint answers plain HTTP; every other URL is still redirected."""
    client = Client()
    for path in ENDPOINTS:
        assert client.get(f"{path}?format=json", HTTP_HOST=SITE).status_code == 500, path
    response = client.get("/page/", HTTP_HOST=SITE)
    assert (response.status_code, response["Location"]) == (301, f"https://{SITE}/page/")


def test_middleware__security_headers_kept(site):
    """SecurityMiddleware's response headers are on the probe's answer (HSTS over HTTPS), without its redirect."""
    site.SECURE_HSTS_SECONDS = 3600
    client = Client()
    plain = client.get("/health/?format=json", HTTP_HOST=POD_IP)
    assert plain["X-Content-Type-Options"] == "nosniff"
    assert plain["Referrer-Policy"] == "same-origin"
    assert plain["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in plain  # RFC 6797 §7.2: never over plain HTTP
    secure = client.get("/health/?format=json", HTTP_HOST=POD_IP, secure=True)
    assert secure["Strict-Transport-Security"] == "max-age=3600"


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/health/?format=json", {}, 500),
        ("/health/", {}, 500),
        ("/health/never-cache/?format=text", {}, 500),
        ("/health/async/?format=json", {}, 500),
        ("/health/async/", {}, 500),
        ("/health/token/?format=json", {}, 403),
        ("/health/", {"HTTP_ACCEPT": "image/png"}, 406),
    ],
)
def test_middleware__answers_are_complete(site, path, headers, status):
    """Without CommonMiddleware the answer still carries its Content-Length, GET and HEAD alike."""
    client = Client()
    get = client.get(path, HTTP_HOST=POD_IP, **headers)
    head = client.head(path, HTTP_HOST=POD_IP, **headers)
    assert get.status_code == head.status_code == status
    assert get["Content-Length"] == str(len(get.content)) != "0"
    assert head.content == b""
    assert int(head["Content-Length"]) in (len(get.content), len(client.get(path, HTTP_HOST=POD_IP, **headers).content))


def test_middleware__other_methods_and_conditional_get(site):
    """405, OPTIONS and a 304 from a probe by pod IP: the endpoint's answers, each with a length."""
    client = Client()
    refused = client.delete("/health/", HTTP_HOST=POD_IP)
    assert (refused.status_code, refused["Allow"], refused["Content-Length"]) == (405, "GET, HEAD, OPTIONS", "0")
    options = client.options("/health/", HTTP_HOST=POD_IP)
    assert (options.status_code, options["Allow"], options["Content-Length"]) == (200, "GET, HEAD, OPTIONS", "0")
    feed = client.get("/health/?format=atom", HTTP_HOST=POD_IP)
    again = client.get("/health/?format=atom", HTTP_HOST=POD_IP, HTTP_IF_NONE_MATCH=feed["ETag"])
    assert (again.status_code, again.content, again["Content-Length"]) == (304, b"", "0")


def test_middleware__token_still_required(site):
    """Passing ALLOWED_HOSTS is not passing the token: a probe without it gets 403, with it the readings."""
    client = Client()
    assert client.get("/health/token/?format=json", HTTP_HOST=POD_IP).status_code == 403
    allowed = client.get("/health/token/?format=json", HTTP_HOST=POD_IP, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert json.loads(allowed.content) == expected_messages("failing")


class HostClient(AsyncClient):
    """``AsyncClient`` whose ``host`` header replaces its default ``testserver`` rather than joining it."""

    def _base_scope(self, **request):
        scope = super()._base_scope(**request)
        hosts = [value for name, value in scope["headers"] if name == b"host"]
        scope["headers"] = [(name, value) for name, value in scope["headers"] if name != b"host"]
        scope["headers"].append((b"host", hosts[-1]))
        return scope


@pytest.mark.anyio
async def test_middleware__asgi(site):
    """Under ASGI the same: the endpoint (a coroutine), a decorated one and an async subclass answer; the rest 400."""
    client = HostClient()
    for path in ENDPOINTS:
        response = await client.get(f"{path}?format=json", headers={"host": POD_IP})
        assert response.status_code == 500, path
        assert json.loads(response.content) == expected_messages("failing"), path
        assert response["Content-Length"] == str(len(response.content))
        assert response["X-Content-Type-Options"] == "nosniff"
    assert (await client.get("/health/async/?format=json", headers={"host": POD_IP}))["X-Async"] == "yes"
    page = await client.get("/health/", headers={"host": POD_IP})
    assert (page.status_code, page["Content-Type"]) == (500, "text/html; charset=utf-8")
    assert int(page["Content-Length"]) == len(page.content)
    assert (await client.get("/page/", headers={"host": POD_IP})).status_code == 400
    assert (await client.get("/page/", headers={"host": SITE})).status_code == 301


def test_middleware__view_without_answer(site, caplog):
    """A decorated endpoint that returns None is Django's own error, a 500 logged as such, as without the middleware."""
    response = Client(raise_request_exception=False).get("/health/no-answer/", HTTP_HOST=POD_IP)
    assert response.status_code == 500
    assert "didn't return an HttpResponse object. It returned None instead." in caplog.text


def test_middleware__without_other_middleware(settings, memory_store):
    """Alone in MIDDLEWARE (a project without SecurityMiddleware): the probe is served, and nothing is added."""
    settings.ALLOWED_HOSTS = [SITE]
    settings.MIDDLEWARE = [OURS]
    write_scenario(get_store(), "fresh")
    response = Client().get("/health/?format=json", HTTP_HOST=POD_IP)
    assert response.status_code == 200
    assert "X-Content-Type-Options" not in response


def test_middleware__follows_the_urlconf(site):
    """Resolutions remembered per path follow a new ROOT_URLCONF: a path that is no longer an endpoint gets 400."""
    client = Client()
    assert client.get("/health/?format=json", HTTP_HOST=POD_IP).status_code == 500
    site.ROOT_URLCONF = "tests.testapp.urls"  # no /health/ there
    assert client.get("/health/?format=json", HTTP_HOST=POD_IP).status_code == 400


def test_middleware__remembered_paths_are_bounded(site):
    """A scan of random URLs never grows what the middleware remembers past MAX_PATHS."""
    middleware = HealthCheckMiddleware(lambda request: None)
    factory = RequestFactory()
    for number in range(MAX_PATHS + 10):
        assert middleware.endpoint(factory.get(f"/scan/{number}/")) is None
    assert len(middleware._index[2]) <= MAX_PATHS
    assert middleware.endpoint(factory.get("/health/")) is not None


# -- links in feeds ---------------------------------------------------------------------------------


def _journal() -> None:
    """One entry in the journal, so the feed has an item with a link."""
    snapshot = make_snapshot(SPECS["beta"].key, status="error", message=REFUSED)
    append_transitions(get_store(), changes(None, snapshot, NAMES["beta"], stale_intervals=3), retention=10)


def _links(body: bytes) -> list[str]:
    feed = feedparser.parse(body)
    found = [link.href for link in feed.feed.links]
    found += [entry.link for entry in feed.entries]
    return found


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_middleware__feed_by_forged_host_has_no_link_to_it(site, fmt):
    """A feed asked with a Host outside ALLOWED_HOSTS links relatively; the site's readers get their own links."""
    _journal()
    client = Client()
    forged = client.get(f"/health/?format={fmt}", HTTP_HOST="evil.example")
    assert forged.status_code == 200
    assert b"evil.example" not in forged.content
    assert set(_links(forged.content)) <= {"/health/", f"/health/?format={fmt}"}
    real = client.get(f"/health/?format={fmt}", HTTP_HOST=SITE)
    assert b"evil.example" not in real.content
    assert f"http://{SITE}/health/" in _links(real.content)
    assert real["ETag"] != forged["ETag"]


def test_middleware__cached_feed_is_not_poisoned(site):
    """With every host allowed, a forged Host gets links to itself, and the next reader never gets that body."""
    site.ALLOWED_HOSTS = ["*"]
    _journal()
    client = Client()
    forged = client.get("/health/?format=atom", HTTP_HOST="evil.example")
    assert "http://evil.example/health/" in _links(forged.content)
    for _ in range(2):
        real = client.get("/health/?format=atom", HTTP_HOST=SITE)
        assert b"evil.example" not in real.content
        assert set(_links(real.content)) == {f"http://{SITE}/health/", f"http://{SITE}/health/?format=atom"}


def test_middleware__base_url_for_every_host(site):
    """HEALTH_CHECK["BASE_URL"]: every link and the feed's id start with it, whatever Host asked."""
    site.HEALTH_CHECK = {**site.HEALTH_CHECK, "BASE_URL": "https://status.example.org/"}
    _journal()
    client = Client()
    for host in (POD_IP, SITE):
        body = client.get("/health/?format=atom", HTTP_HOST=host).content
        assert set(_links(body)) == {
            "https://status.example.org/health/",
            "https://status.example.org/health/?format=atom",
        }
        assert feedparser.parse(body).feed.id == "https://status.example.org/health/"
        assert host.encode() not in body


# -- settings and system checks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "status.example.com",
        "ftp://status.example.com",
        "https://status.example.com/health/",
        "https://",
        42,
        "https://user:pw@status.example.com",
        "https://status.example.com?x=1",
        "https://status.example.com:99999",
    ],
)
def test_middleware__bad_base_url(settings, memory_store, value, caplog):
    """A BASE_URL that is not a scheme and host is E003, and read as None (links from validated hosts only)."""
    settings.HEALTH_CHECK = {**settings.HEALTH_CHECK, "BASE_URL": value}
    messages = [(type(m), m.msg, m.hint, m.id) for m in check_settings()]
    expected = 'None or a scheme and host without a path, e.g. "https://status.example.com"'
    assert messages == [
        (
            Error,
            f'HEALTH_CHECK["BASE_URL"] is {value!r}, expected {expected}.',
            "Set the scheme and host your feeds are read at, or remove the key. Until then links use the "
            "request's host when ALLOWED_HOSTS admits it and are relative otherwise.",
            "health_check.E003",
        )
    ]
    assert get_config()["BASE_URL"] is None


@pytest.mark.parametrize(
    ("value", "read"),
    [
        (None, None),
        ("https://status.example.com", "https://status.example.com"),
        ("http://[::1]:8000/", "http://[::1]:8000"),
    ],
)
def test_middleware__good_base_url(settings, memory_store, value, read):
    settings.HEALTH_CHECK = {**settings.HEALTH_CHECK, "BASE_URL": value}
    assert check_settings() == []
    assert get_config()["BASE_URL"] == read


@pytest.mark.parametrize(
    ("middleware", "before"),
    [
        ([SECURITY, OURS, COMMON], f'"{SECURITY}" comes'),
        ([SECURITY, COMMON, OURS], f'"{SECURITY}", "{COMMON}" come'),
    ],
)
def test_middleware__w005_not_first(settings, middleware, before):
    """HealthCheckMiddleware after other middleware is W005, naming what comes before it."""
    settings.MIDDLEWARE = middleware
    assert [(type(m), m.msg, m.hint, m.id) for m in check_middleware()] == [
        (
            Warning,
            f'"{OURS}" is not the first entry of MIDDLEWARE: {before} before it.',
            "Move it to the top of MIDDLEWARE. Middleware before it still sees every probe: SecurityMiddleware "
            "redirects plain HTTP (SECURE_SSL_REDIRECT) and CommonMiddleware answers 400 to a Host outside "
            "ALLOWED_HOSTS, such as a pod's IP. If what comes before never reads the Host header or redirects, "
            'add "health_check.W005" to SILENCED_SYSTEM_CHECKS.',
            "health_check.W005",
        )
    ]


@pytest.mark.parametrize("middleware", [[], [SECURITY, COMMON], [OURS], [OURS, SECURITY, COMMON]])
def test_middleware__w005_quiet(settings, middleware):
    """No warning when the middleware is first or absent."""
    settings.MIDDLEWARE = middleware
    assert check_middleware() == []
