"""Subclassing ``HealthCheckView`` as django-health-check documents it: every hook changes the answer.

Each test builds the endpoint with ``as_view()`` and calls it with a ``RequestFactory`` request, as a
project's own tests of its subclass would; snapshots come from the memory store (views run nothing).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import logging
import threading
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.test import RequestFactory

from health_check.base import HealthCheckResult
from health_check.exceptions import ServiceUnavailable
from health_check.store import get_store
from health_check.views import HealthCheckView
from tests.conftest import make_snapshot
from tests.scenarios import LABELS, NAMES, REFUSED, SPECS, snapshots
from tests.testapp.probes import Sample

SAMPLES = [Sample(label) for label in LABELS]
NOW = datetime.datetime.now(datetime.UTC)
rf = RequestFactory()


@pytest.fixture
def failing(memory_store):
    """beta refuses connections, alpha and gamma are OK (snapshots taken 12 s before ``NOW``)."""
    global NOW
    NOW = datetime.datetime.now(datetime.UTC)  # at the test, not at import: fresh, whenever it runs
    for snapshot in snapshots("failing", now=NOW).values():
        get_store().write(snapshot)


def call(
    view_class: type[HealthCheckView], path: str = "/health/", method: str = "get", clock: Any = None, **extra: Any
) -> Any:
    """One request to ``view_class.as_view(checks=SAMPLES)``, rendered as Django's handler would."""
    endpoint = view_class.as_view(checks=SAMPLES, **({"clock": clock} if clock else {}))
    response = endpoint(getattr(rf, method)(path, **extra))
    if hasattr(response, "render"):
        response.render()
    return response


def sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


# -- each hook -----------------------------------------------------------------------------------


class Get(HealthCheckView):
    def get(self, request, *args, **kwargs):
        return HttpResponse("custom get")


class Dispatch(HealthCheckView):
    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        response["X-Dispatched"] = "yes"
        return response


class ContextData(HealthCheckView):
    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "errors": False, "extra": "added"}


class GetChecks(HealthCheckView):
    def get_checks(self):
        yield Sample("alpha")


class RenderToResponse(HealthCheckView):
    def render_to_response(self, context, **response_kwargs):
        response = super().render_to_response(context, **response_kwargs)
        response["X-Rendered"] = str(len(context["results"]))
        return response


class Json(HealthCheckView):
    def render_to_response_json(self, status):
        return HttpResponse(b'{"custom": true}', content_type="application/json", status=status)


class Text(HealthCheckView):
    def render_to_response_text(self, status):
        return HttpResponse(f"{len(self.results)} checks\n", content_type="text/plain", status=status)


class Atom(HealthCheckView):
    def render_to_response_atom(self):
        return HttpResponse(b"<feed/>", content_type="application/atom+xml")


class Rss(HealthCheckView):
    def render_to_response_rss(self):
        return HttpResponse(b"<rss/>", content_type="application/rss+xml")


class OpenMetrics(HealthCheckView):
    def render_to_response_openmetrics(self):
        return HttpResponse(b"# EOF\n", content_type="application/openmetrics-text")


class NoFormat(HealthCheckView):
    def render_for_format(self, format_override, status_code):
        return None  # ?format= ignored: Accept decides


class AlwaysJson(HealthCheckView):
    def render_for_accept_header(self, accept_header, status_code, **kwargs):
        return self.render_to_response_json(status_code)


class PrivateCache(HealthCheckView):
    def patch_cache_headers(self, request, response):
        response["Cache-Control"] = "private, max-age=5"
        return response


class Token(HealthCheckView):
    def get_auth_token(self):
        return "hook-token"


class Closed(HealthCheckView):
    def is_authorized(self, request):
        return False


class Styled(HealthCheckView):
    stylesheet = "body { color: rebeccapurple; }"


class Policy(HealthCheckView):
    csp_config = {"default-src": ["'self'"]}


class Filtered(HealthCheckView):
    def render_for_format(self, format_override, status_code):
        self.results = [result for result in self.results if result.error is None]
        return super().render_for_format("json", 200)


class Executor(HealthCheckView):
    def get_executor(self):
        raise AssertionError("a view runs no check, so it needs no executor")


HOOKS = {
    "get": (Get, "", {}, lambda r: r.content == b"custom get"),
    "dispatch": (Dispatch, "?format=json", {}, lambda r: r["X-Dispatched"] == "yes"),
    "get_context_data": (
        ContextData,
        "",
        {},
        lambda r: r.context_data["extra"] == "added" and b"<title>System status</title>" in r.content,
    ),
    "get_checks": (GetChecks, "?format=json", {}, lambda r: json.loads(r.content) == {NAMES["alpha"]: "OK"}),
    "render_to_response": (RenderToResponse, "", {}, lambda r: r["X-Rendered"] == "3"),
    "render_to_response_json": (Json, "?format=json", {}, lambda r: r.content == b'{"custom": true}'),
    "render_to_response_text": (Text, "?format=text", {}, lambda r: r.content == b"3 checks\n"),
    "render_to_response_atom": (Atom, "?format=atom", {}, lambda r: r.content == b"<feed/>"),
    "render_to_response_rss": (Rss, "?format=rss", {}, lambda r: r.content == b"<rss/>"),
    "render_to_response_openmetrics": (OpenMetrics, "?format=openmetrics", {}, lambda r: r.content == b"# EOF\n"),
    "render_for_format": (NoFormat, "?format=json", {}, lambda r: r["Content-Type"].startswith("text/html")),
    "render_for_accept_header": (
        AlwaysJson,
        "",
        {"HTTP_ACCEPT": "text/html"},
        lambda r: r["Content-Type"] == "application/json",
    ),
    "patch_cache_headers": (PrivateCache, "?format=json", {}, lambda r: r["Cache-Control"] == "private, max-age=5"),
    "get_auth_token": (Token, "?format=json", {}, lambda r: r.status_code == 403),
    "is_authorized": (
        Closed,
        "?format=json",
        {},
        lambda r: (r.status_code, r.content) == (403, b"Authentication failed"),
    ),
    "stylesheet": (
        Styled,
        "",
        {},
        lambda r: (
            b"<style>body { color: rebeccapurple; }</style>" in r.content
            and f"'sha256-{sha256(Styled.stylesheet)}'" in r["Content-Security-Policy"]
        ),
    ),
    "csp_config": (Policy, "", {}, lambda r: r["Content-Security-Policy"] == "default-src 'self'"),
    "results": (Filtered, "", {}, lambda r: json.loads(r.content) == {NAMES["alpha"]: "OK", NAMES["gamma"]: "OK"}),
    "get_executor": (Executor, "?format=json", {}, lambda r: r.status_code == 500 and len(json.loads(r.content)) == 3),
}


@pytest.mark.parametrize("hook", list(HOOKS))
def test_view_hooks__override_changes_answer(failing, hook):
    """A subclass overriding one hook (or attribute) gets that hook's answer, as in django-health-check."""
    view_class, query, extra, expected = HOOKS[hook]
    response = call(view_class, "/health/" + query, **extra)
    assert expected(response), (response.status_code, dict(response.headers), response.content[:300])


def test_view_hooks__unchanged_subclass_answers_like_the_view(failing):
    """A subclass overriding a hook with super() answers every format byte for byte like the plain view."""

    class Same(HealthCheckView):
        def get_auth_token(self):
            return super().get_auth_token()

    for fmt in ("json", "text", "html", "atom", "rss", "openmetrics", "health+json"):
        for method in ("get", "head"):
            plain, same = (
                call(cls, f"/health/?format={fmt}", method, clock=lambda: NOW) for cls in (HealthCheckView, Same)
            )
            assert (same.status_code, same.content, dict(same.headers)) == (
                plain.status_code,
                plain.content,
                dict(plain.headers),
            ), (fmt, method)


def test_view_hooks__get_auth_token_bearer_admitted(failing):
    """The token get_auth_token() returns admits its bearer."""
    response = call(Token, "/health/?format=json", HTTP_AUTHORIZATION="Bearer hook-token")
    assert response.status_code == 500 and json.loads(response.content)[NAMES["beta"]] == REFUSED


# -- the HTML answer -----------------------------------------------------------------------------


@pytest.mark.parametrize("view_class", [HealthCheckView, RenderToResponse], ids=["plain", "subclass"])
def test_view_hooks__html_is_template_response(failing, view_class):
    """The page is a TemplateResponse whose context has django-health-check's results, errors and stylesheet."""
    response = view_class.as_view(checks=SAMPLES)(rf.get("/health/"))
    assert isinstance(response, TemplateResponse)
    assert response.template_name == ["health_check/index.html"]
    response.render()
    assert response.status_code == 500
    context = response.context_data
    assert context["errors"] is True
    assert context["stylesheet"] == HealthCheckView.stylesheet
    results = context["results"]
    assert all(isinstance(result, HealthCheckResult) for result in results)
    assert [repr(result.check) for result in results] == [NAMES[label] for label in LABELS]
    assert [None if result.error is None else str(result.error) for result in results] == [None, REFUSED, None]
    assert isinstance(results[1].error, ServiceUnavailable)
    assert results[0].time_taken == pytest.approx(make_snapshot("k").duration_seconds)
    assert b"Unavailable: connection refused" in response.content


@pytest.mark.parametrize("view_class", [HealthCheckView, RenderToResponse], ids=["plain", "subclass"])
def test_view_hooks__csp_hash_of_stylesheet(failing, view_class):
    """The page's CSP admits exactly its inline stylesheet by sha256 and nothing else; csp_config says the same."""
    response = call(view_class)
    policy = response["Content-Security-Policy"]
    digest = sha256(HealthCheckView.stylesheet)
    assert HealthCheckView.stylesheet_hash == digest
    assert policy == (
        f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    assert HealthCheckView.csp_config["style-src"] == [f"'sha256-{digest}'"]
    assert f"<style>{HealthCheckView.stylesheet}</style>".encode() in response.content


def test_view_hooks__head_html_of_subclass(failing):
    """HEAD of a subclass's page: no body, GET's Content-Length."""
    get, head = call(RenderToResponse), call(RenderToResponse, method="head")
    assert head.content == b"" and head["Content-Length"] == str(len(get.content))


def test_view_hooks__custom_template_rows_follow_every_run(memory_store, settings):
    """A project's template showing row.duration_ms and row.checked_at shows each new run's values at once."""
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {
                "loaders": [
                    (
                        "django.template.loaders.locmem.Loader",
                        {
                            "rows.html": "{% for row in rows %}{{ row.duration_ms }} {{ row.checked_at|date:'c' }};{% endfor %}"
                        },
                    )
                ]
            },
        }
    ]
    endpoint = HealthCheckView.as_view(checks=SAMPLES, template_name="rows.html")
    store = get_store()
    for duration in (0.010, 0.020):
        for label in LABELS:
            store.write(make_snapshot(SPECS[label].key, age_seconds=duration * 100, duration_seconds=duration))
        body = endpoint(rf.get("/health/")).render().content.decode()
        assert body.count(f"{duration * 1000} ") == 3, body


# -- as Django builds views ------------------------------------------------------------------------


class Recording(HealthCheckView):
    seen: list[tuple[str, int, Any]] = []

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.seen.append(("setup", id(self), request))

    def dispatch(self, request, *args, **kwargs):
        self.seen.append(("dispatch", id(self), request))
        return super().dispatch(request, *args, **kwargs)

    def render_to_response_json(self, status):
        response = super().render_to_response_json(status)
        response["X-Request"] = self.request.META["HTTP_X_ID"]
        return response


def test_view_hooks__instance_per_request(failing):
    """setup() and dispatch() run for every request, each on a new instance holding that request."""
    Recording.seen = []
    endpoint = Recording.as_view(checks=SAMPLES)
    first, second = (rf.get("/health/?format=json", HTTP_X_ID=str(index)) for index in range(2))
    assert endpoint(first)["X-Request"] == "0" and endpoint(second)["X-Request"] == "1"
    assert [(step, request) for step, _, request in Recording.seen] == [
        ("setup", first),
        ("dispatch", first),
        ("setup", second),
        ("dispatch", second),
    ]
    assert Recording.seen[0][1] == Recording.seen[1][1] != Recording.seen[2][1] == Recording.seen[3][1]


def test_view_hooks__threads_see_their_own_request(failing):
    """Eight threads through one endpoint, 50 requests each: every answer carries its own request's id."""
    endpoint = Recording.as_view(checks=SAMPLES)
    wrong: list[str] = []

    def worker(thread: int) -> None:
        for index in range(50):
            marker = f"{thread}-{index}"
            response = endpoint(rf.get("/health/?format=json", HTTP_X_ID=marker))
            if response["X-Request"] != marker or response.status_code != 500:
                wrong.append(marker)

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


class AsyncGet(HealthCheckView):
    async def get(self, request, *args, **kwargs):
        response = await super().get(request, *args, **kwargs)
        response["X-Async"] = "yes"
        return response


def test_view_hooks__async_def_get_awaits_super(failing, client, settings):
    """``async def get`` awaiting super().get(), as django-health-check subclasses do, works under WSGI too."""
    endpoint = AsyncGet.as_view(checks=SAMPLES)
    response = async_to_sync(endpoint)(rf.get("/health/?format=json"))
    assert (response.status_code, response["X-Async"]) == (500, "yes")
    assert json.loads(response.content)[NAMES["beta"]] == REFUSED


def test_view_hooks__get_checks_are_what_the_poller_polls(memory_store):
    """The checks get_checks() yields are the endpoint's ``checks``, which the poller reads."""
    endpoint = GetChecks.as_view()
    assert [repr(check) for check in endpoint.view.checks] == [NAMES["alpha"]]
    assert [spec.key for spec in endpoint.view.get_check_specs()[0]] == [SPECS["alpha"].key]


# -- get_check_result ------------------------------------------------------------------------------


class _Refusing(Sample):
    def run(self) -> None:
        raise ServiceUnavailable("connection refused")


class _Escaping(Sample):
    async def get_result(self, executor=None):
        raise RuntimeError("boom at postgres://user:pw@db/x")


def test_view_hooks__get_check_result(caplog):
    """get_check_result() reports a failure in the result; an exception escaping get_result() is 'unknown error'."""
    caplog.set_level(logging.DEBUG)
    refused = async_to_sync(HealthCheckView.get_check_result)(_Refusing("alpha"), None)
    assert str(refused.error) == REFUSED and refused.time_taken >= 0
    escaped = async_to_sync(HealthCheckView.get_check_result)(_Escaping("beta"), None)
    assert str(escaped.error) == "Unknown Error: unknown error"
    lines = [record.getMessage() for record in caplog.records if record.name == "health_check"]
    assert any("RuntimeError" in line for line in lines)
    assert all("\n" not in line and "pw" not in line for line in lines)
    assert all(record.exc_info is None for record in caplog.records)


def test_view_hooks__media_type_importable():
    """``health_check.views.MediaType`` is django-health-check's name for the Accept parser."""
    from health_check.views import MediaType

    assert [str(media) for media in MediaType.parse_header("text/html;q=0.5, application/json")] == [
        "application/json; q=1.0",
        "text/html; q=0.5",
    ]


def test_view__abnf_helpers_as_django_health_check():
    """``HealthCheckView.abnf_escape``/``abnf_dumps`` escape labels as the OpenMetrics answer does."""
    from health_check.views import HealthCheckView

    assert HealthCheckView.abnf_escape('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert HealthCheckView.abnf_dumps({"check": "Cache", "alias": 'de"f'}) == 'check="Cache",alias="de\\"f"'


def test_view__abnf_dumps_takes_its_labels_as_o():
    """``abnf_dumps(o)``: the argument's name is django-health-check's, so a call by keyword works too."""
    assert HealthCheckView.abnf_dumps(o={"check": "Cache", "alias": "default"}) == 'check="Cache",alias="default"'


# -- what as_view() and class attributes change ----------------------------------------------------

CONTEXT_TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "OPTIONS": {
            "loaders": [
                (
                    "django.template.loaders.locmem.Loader",
                    {"ctx.html": "{{ site }}|{{ view.request.path }}|{{ errors }}"},
                )
            ]
        },
    }
]


class SiteContext(HealthCheckView):
    template_name = "ctx.html"
    extra_context = {"site": "Shop"}


class GetOnly(HealthCheckView):
    http_method_names = ["get"]


def test_view__as_view_extra_context_and_template_reach_the_page(failing, settings):
    """as_view(template_name=..., extra_context=...) renders that template with that context and the view."""
    settings.TEMPLATES = CONTEXT_TEMPLATES
    endpoint = HealthCheckView.as_view(checks=SAMPLES, template_name="ctx.html", extra_context={"site": "Shop"})
    response = endpoint(rf.get("/status/"))
    response.render()
    assert response.status_code == 500
    assert response.content == b"Shop|/status/|True"
    assert response.context_data["site"] == "Shop"


def test_view__class_extra_context_reaches_the_page(failing, settings):
    """A subclass that only sets template_name and extra_context gets both, as TemplateView gives them."""
    settings.TEMPLATES = CONTEXT_TEMPLATES
    response = call(SiteContext, "/health/")
    assert response.content == b"Shop|/health/|True"


def test_view__default_page_context_has_the_view(failing):
    """The default page's context holds the view serving this request, as every TemplateView's does."""
    response = HealthCheckView.as_view(checks=SAMPLES)(rf.get("/health/"))
    view = response.context_data["view"]
    assert isinstance(view, HealthCheckView) and view.request.path == "/health/"


@pytest.mark.parametrize(
    "endpoint",
    [GetOnly.as_view(checks=SAMPLES), HealthCheckView.as_view(checks=SAMPLES, http_method_names=["get"])],
    ids=["class", "as_view"],
)
def test_view__http_method_names_limit_the_methods(failing, endpoint):
    """http_method_names=["get"]: HEAD and OPTIONS answer 405 naming GET, as Django's View does; GET answers."""
    assert endpoint(rf.get("/health/?format=json")).status_code == 500
    for method in ("head", "options", "post"):
        response = endpoint(getattr(rf, method)("/health/?format=json"))
        assert (response.status_code, response["Allow"]) == (405, "GET"), method
