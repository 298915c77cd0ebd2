"""``HealthCheckView``: read the store, negotiate, render. It never runs a check.

The view is a ``TemplateView`` with django-health-check's hooks (``dispatch``, ``get``,
``render_for_format``, ``render_to_response_json``, ``get_context_data``...). ``as_view()`` returns a
``HealthCheckEndpoint``; what it does per request depends on the class:

* A class that overrides no method of ``HealthCheckView`` (the usual ``as_view(checks=...)``, or a
  subclass that only sets attributes) is answered by ``Responder.respond()`` (``health_check._responder``):
  the hooks' exact result, without building a view instance.
* A class that overrides any method, or sets ``extra_context``, its own ``template_name`` or
  ``http_method_names`` (in the class or in ``as_view()``), is served as Django serves views: an instance per request,
  ``setup()``, then ``dispatch()``; its overrides take effect. The base hooks then read the same cache.

What is done once per change lives in the endpoint's ``Responder``, never in a view instance: the
resolved checks, and an ``EndpointState`` per store read that changed anything (snapshots, settings, the
moment a fresh snapshot turns stale). A state keeps one immutable rendered body per (format, detail level,
URL for feeds), built by the first request that needs it. Formats that show ages (``Renderer.live``:
HTML, OpenMetrics) are rendered again when the second changes, so an age is never more than a second
off; a stale message that counts seconds makes the state itself last one second.

The callable returned by ``as_view()`` (``HealthCheckEndpoint``) is synchronous under WSGI and
asynchronous under ASGI, chosen per call: Django asks whether a view is a coroutine function from inside
the event loop only when it serves ASGI. A sync view under ASGI would cost a thread hop per probe, an
async view under WSGI an event loop per probe (about 0.5 ms, ten times a bare view); this view pays
neither. A subclass whose own ``dispatch``/``get``... is ``async def`` (as django-health-check's are) is
always a coroutine view; ``super().get()`` and ``super().dispatch()`` then return awaitables, so
``await super().get(...)`` works.

The rest of the read path lives in one private module per job: ``_responder`` (state, bodies, the fast
answer), ``_answers`` (the responses), ``_request`` (``?format=``, the bearer token, conditional GET),
``_results`` (``self.results``) and ``_endpoint`` (the callable).
"""

from __future__ import annotations

import contextlib
import datetime
import inspect
import logging
import timeit
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any, ClassVar

from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotAllowed
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views.generic import TemplateView

from health_check import _csp
from health_check._answers import drop_body, finish_answer, forbidden, mark_logged, not_acceptable, ready
from health_check._endpoint import HealthCheckEndpoint
from health_check._request import authorized, format_parameter

# Importable from here as before the read path was split: django-health-check's MediaType, and the
# bounds of the endpoint's state.
from health_check._responder import (  # noqa: F401
    ALLOWED_METHODS,
    FEED_ITEMS,
    MAX_BODIES,
    PAGE_ITEMS_PER_CHECK,
    STATE_SECONDS,
    EndpointState,
    Responder,
)
from health_check._results import counts_as_failing, report_from_results
from health_check._urls import describe_error
from health_check.base import HealthCheck, HealthCheckResult
from health_check.conf import get_config
from health_check.exceptions import HealthCheckError
from health_check.negotiation import (
    MediaType,  # noqa: F401
    NotAcceptable,
    select_renderer,
)
from health_check.renderers import (
    DEFAULT_RENDERERS,
    AtomRenderer,
    HTMLRenderer,
    JSONRenderer,
    OpenMetricsRenderer,
    Renderer,
    RSSRenderer,
    TextRenderer,
    escape_label,
    format_labels,
)
from health_check.snapshot import Report
from health_check.specs import CheckSpec, EntryError
from health_check.status_page import DEFAULT_TEMPLATE, STYLESHEET

__all__ = ["HealthCheckEndpoint", "HealthCheckView"]

logger = logging.getLogger("health_check")


class HealthCheckView(TemplateView):
    """An endpoint reporting the snapshots of its checks. Same arguments as django-health-check 4.x.

    Args:
        checks: Check classes, dotted paths, or ``(class or path, kwargs)`` tuples.
        template_name: Template of the HTML page.
        feed_author: Author of RSS/Atom items.
        max_age: When above zero, anonymous GET/HEAD answers (200 or 500) may be cached publicly this long.
        auth_token: Bearer token this endpoint requires, or a list of tokens any of which is accepted (a
            rotation without downtime); defaults to ``HEALTH_CHECK["AUTH_TOKEN"]`` or ``HEALTH_CHECK_AUTH_TOKEN``.
        allow_anonymous: Let requests without an Authorization header in even when a token is set.
        warnings_as_errors: Whether warnings answer 500; defaults to ``HEALTH_CHECK["WARNINGS_AS_ERRORS"]``.
        clock: What "now" is (a callable returning an aware datetime); ``None``: the system clock. For
            tests and replays.
        status_codes: HTTP status per state, e.g. ``{"warning": 200, "error": 503}``; keys ``ok``,
            ``warning``, ``error``, ``stale``, ``pending``, ``draining`` (``health_check._status_codes``).
            Default: 200 and 500, as django-health-check; 503 while the host drains.
        readiness: A readiness endpoint: answers ``draining`` (503) while ``health_check_drain`` runs
            for this host. Liveness and other endpoints leave it False.
        badge_label: The left word of ``?format=svg`` and ``?format=shields`` badges ("health").
    """

    #: How the URLconf discovery (``health_check.urlconf``) knows this view and its subclasses.
    health_check_endpoint: ClassVar[bool] = True
    template_name: str = DEFAULT_TEMPLATE
    feed_author: str = "Django Health Check"
    checks: Iterable[Any] = (
        "health_check.Cache",
        "health_check.Database",
        "health_check.DNS",
        "health_check.Mail",
        "health_check.Storage",
    )
    max_age: datetime.timedelta = datetime.timedelta(0)
    auth_token: str | Sequence[str] | None = None
    allow_anonymous: bool = False
    warnings_as_errors: bool | None = None
    renderers: tuple[type[Renderer], ...] = DEFAULT_RENDERERS
    clock: Callable[[], datetime.datetime] | None = None
    status_codes: Mapping[str, int] | None = None
    readiness: bool = False
    badge_label: str = "health"
    http_method_names = ["get", "head", "options"]

    #: The CSS the default page inlines; ``stylesheet_hash`` and ``csp_config`` follow it in subclasses.
    stylesheet: str = STYLESHEET
    stylesheet_hash: str = _csp.stylesheet_hash(STYLESHEET)
    #: The Content-Security-Policy of the default page (directive -> sources, as Django 6.1's CSP settings).
    csp_config: dict[str, list[str]] = _csp.csp_config(stylesheet_hash)

    #: Set per request by the endpoint: the shared, per-endpoint cache. Never per instance state.
    _responder: Responder | None = None
    #: Set per request: ``dispatch``/``get`` return awaitables (the class has ``async def`` hooks).
    _async_hooks: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        if "stylesheet" in own and "stylesheet_hash" not in own:
            cls.stylesheet_hash = _csp.stylesheet_hash(cls.stylesheet)
        if ("stylesheet" in own or "stylesheet_hash" in own) and "csp_config" not in own:
            cls.csp_config = _csp.csp_config(cls.stylesheet_hash)

    @classmethod
    def as_view(cls, **initkwargs: Any) -> HealthCheckEndpoint:  # type: ignore[override]
        for key in initkwargs:
            if key in cls.http_method_names:
                raise TypeError(f"The method name {key} is not accepted as a keyword argument to {cls.__name__}().")
            if not hasattr(cls, key):
                raise TypeError(
                    f"{cls.__name__}() received an invalid keyword {key!r}. as_view only accepts arguments "
                    "that are already attributes of the class."
                )
        return HealthCheckEndpoint(cls, initkwargs)

    # -- reading (shared: see Responder) ---------------------------------------------------------

    def _shared(self) -> Responder:
        responder = self._responder
        if responder is None:  # an instance built directly, not through as_view()
            responder = self._responder = Responder(self, HealthCheckView)
        return responder

    def get_check_specs(self) -> tuple[tuple[CheckSpec, ...], tuple[EntryError, ...]]:
        """The endpoint's checks and the entries that could not be resolved; resolved once per endpoint."""
        return self._shared().specs()

    def get_report(self, now: datetime.datetime | None = None) -> Report:
        """What every check of this endpoint reports now, from the store only."""
        return self._shared().state(now)[0].report

    def get_checks(self) -> Iterator[HealthCheck]:
        """The endpoint's check instances. Called once per endpoint (not per request) to find their snapshots.

        Override it to choose checks in code; the poller polls what it yields.
        """
        for spec in self._shared().specs()[0]:
            yield spec.check

    def get_executor(self) -> contextlib.AbstractContextManager[Executor | None]:
        """Accepted for django-health-check subclasses; unused, since a request runs no check (the poller does)."""
        return contextlib.nullcontext(None)

    @staticmethod
    async def get_check_result(check: HealthCheck, executor: Executor | None = None) -> HealthCheckResult:
        """Run one check now; an exception escaping ``get_result()`` is reported as a failure, logged in one line.

        The poller runs checks; this is kept for subclasses and tests written for django-health-check.
        """
        started = timeit.default_timer()
        try:
            return await check.get_result(executor)  # type: ignore[attr-defined]
        except HealthCheckError as failure:
            logger.warning("Health check %r failed: %s", check, failure)
            error: HealthCheckError = failure
        except Exception as unexpected:  # noqa: BLE001 - reported, never raised
            logger.error("Unexpected exception during health check %r: %s", check, describe_error(unexpected))
            error = HealthCheckError("unknown error")
        return HealthCheckResult(check=check, error=error, time_taken=timeit.default_timer() - started)

    @staticmethod
    def abnf_escape(value: str) -> str:
        """An OpenMetrics label value escaped (backslash, double quote, line feed), as the OpenMetrics output does."""
        return escape_label(value)

    @staticmethod
    def abnf_dumps(o: dict[str, str]) -> str:
        """OpenMetrics labels ``o`` as ``key="value",...``, escaped as the OpenMetrics output does."""
        return format_labels(o)

    # -- authorization and headers ------------------------------------------------------------------

    def get_auth_token(self) -> str | Sequence[str] | None:
        """The bearer token: the view's, else ``HEALTH_CHECK["AUTH_TOKEN"]`` (or ``HEALTH_CHECK_AUTH_TOKEN``).

        A sequence when several tokens are accepted (a rotation); any of them admits its bearer.
        """
        return self.auth_token or get_config()["AUTH_TOKEN"] or None

    def is_authorized(self, request: HttpRequest) -> bool:
        """Whether the request may read the endpoint: the right bearer token, or none where anonymous is allowed."""
        token = self.get_auth_token()
        return not token or authorized(request.META.get("HTTP_AUTHORIZATION"), token, self.allow_anonymous)

    def patch_cache_headers(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        """Shared caches (a CDN, a proxy) may keep anonymous GET/HEAD answers for ``max_age``; others never."""
        seconds = max(0, int(self.max_age.total_seconds())) if self.max_age else 0
        if (
            seconds
            and response.status_code in self._shared().status_codes.cacheable
            and request.method in ("GET", "HEAD")
            and "HTTP_AUTHORIZATION" not in request.META
        ):
            patch_cache_control(response, public=True, max_age=seconds)
        else:
            patch_cache_control(response, no_store=True)
        return response

    # -- the request --------------------------------------------------------------------------------

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """403 unless ``is_authorized()``; else the handler's answer with Vary and ``patch_cache_headers()``.

        Returns an awaitable when the class has ``async def`` hooks (``await super().dispatch(...)``).
        """
        response: Any
        if not self.is_authorized(request):
            response = forbidden(request)
        else:
            response = super().dispatch(request, *args, **kwargs)
            if inspect.isawaitable(response):
                return self._finish_later(request, response)
            response = self._finish(request, response)
        return ready(response) if self._async_hooks else response

    async def _finish_later(self, request: HttpRequest, pending: Any) -> HttpResponseBase:
        return self._finish(request, await pending)

    def _finish(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        patch_vary_headers(response, ["Accept"])
        if self.get_auth_token():
            patch_vary_headers(response, ["Authorization"])
        return self.patch_cache_headers(request, response)

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Not logged (Django's logs a warning): a scanner's POST to a probe URL is no event.
        return HttpResponseNotAllowed([m.upper() for m in self.http_method_names if hasattr(self, m)])

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """Answer from the snapshots: ``self.results``, then ``?format=``, else the Accept header.

        Returns an awaitable when the class has ``async def`` hooks (``await super().get(...)``).
        """
        responder = self._shared()
        state, timestamp = responder.state()
        self._detail = responder.detail(request, state, self.get_auth_token())
        found = responder.subset(state, request, self._detail)  # ?check= / ?exclude=
        if not isinstance(found, EndpointState):
            return ready(found) if self._async_hooks else found
        state = found
        self._state, self._timestamp = state, timestamp
        self._pristine = state.results(self._detail)
        self.results = list(self._pristine)
        status = self._status()
        response = self.render_for_format(format_parameter(request), status)
        if response is None:
            response = self.render_for_accept_header(request.META.get("HTTP_ACCEPT", "*/*"), status, **kwargs)
        if self._async_hooks:
            return ready(response)
        return response

    def render_for_format(self, format_override: str | None, status_code: int) -> HttpResponseBase | None:
        """The answer for ``?format=``, or ``None`` when the value names no format (Accept decides)."""
        if not format_override:
            return None
        if len(format_override) > 32:
            return None
        name = format_override.replace(" ", "+")  # ?format=health+json arrives decoded as "health json"
        for renderer in self.renderers:
            if renderer.format == name:
                return self._render_as(renderer, status_code)
        return None

    def render_for_accept_header(self, accept_header: str, status_code: int, **kwargs: Any) -> HttpResponseBase:
        """The answer matching the Accept header; 406 (django-health-check's body) when nothing matches."""
        try:
            renderer = select_renderer(None, accept_header, self.renderers)
        except NotAcceptable:
            return not_acceptable(self.request, self.renderers)
        return self._render_as(renderer, status_code, **kwargs)

    def _render_as(self, renderer: type[Renderer], status_code: int, **kwargs: Any) -> HttpResponseBase:
        if renderer is JSONRenderer:
            return self.render_to_response_json(status_code)
        if renderer is TextRenderer:
            return self.render_to_response_text(status_code)
        if renderer is AtomRenderer:
            return self.render_to_response_atom()
        if renderer is RSSRenderer:
            return self.render_to_response_rss()
        if renderer is OpenMetricsRenderer:
            return self.render_to_response_openmetrics()
        if renderer is HTMLRenderer:
            return self.render_to_response(self.get_context_data(**kwargs), status=status_code)
        return self._response(renderer, status_code)

    def render_to_response_json(self, status: int) -> HttpResponseBase:
        return self._response(JSONRenderer, status)

    def render_to_response_text(self, status: int) -> HttpResponseBase:
        return self._response(TextRenderer, status)

    def render_to_response_atom(self) -> HttpResponseBase:
        return self._response(AtomRenderer, 200)

    def render_to_response_rss(self) -> HttpResponseBase:
        return self._response(RSSRenderer, 200)

    def render_to_response_openmetrics(self) -> HttpResponseBase:
        return self._response(OpenMetricsRenderer, 200)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        """The template's context: django-health-check's ``results``, ``errors``, ``stylesheet``, plus ``rows``."""
        context = super().get_context_data(**kwargs)
        if self._results_unchanged():
            context.update(
                self._shared().body(self._state, HTMLRenderer, self.request, self._detail, self._timestamp).context
                or {}
            )
        else:
            report = report_from_results(self.results, self._state.redacted(self._detail))
            context.update(self._shared().html_context(report, self._state, self._detail, self._timestamp))
        context["results"] = self.results
        context["errors"] = self._failing()
        context["stylesheet"] = self.stylesheet
        return context

    def render_to_response(self, context: dict[str, Any], **response_kwargs: Any) -> HttpResponse:
        """A ``TemplateResponse`` of the page, with the page's CSP; HEAD gets GET's Content-Length, no body."""
        response_kwargs.setdefault("content_type", HTMLRenderer.content_type)
        response: Any = super().render_to_response(context, **response_kwargs)  # a TemplateResponse
        if self.request.method == "HEAD":
            response.add_post_render_callback(drop_body)
        if response.status_code >= 500:
            mark_logged(response)
        self._apply_csp(response)
        return response

    def _apply_csp(self, response: HttpResponseBase) -> None:
        config = self.csp_config
        if self.template_name != DEFAULT_TEMPLATE and config is HealthCheckView.csp_config:
            return  # an overriding template may load its own assets: its project sets the policy
        response["Content-Security-Policy"] = _csp.csp_header(config)
        if _csp.CSP is not None:
            response._csp_config = config  # type: ignore[attr-defined]  # what csp_override() sets

    # -- helpers of the hooks -------------------------------------------------------------------

    def _status(self) -> int:
        """The status of this request's answer: the state's, or, for results a subclass changed, theirs."""
        if self._results_unchanged():
            return self._state.status
        codes = self._shared().status_codes
        return codes.for_state("error", True) if self._failing() else codes.for_state("ok", False)

    def _failing(self) -> bool:
        if self._results_unchanged():
            return self._state.failing
        return any(counts_as_failing(result, self._state.report.warnings_as_errors) for result in self.results)

    def _results_unchanged(self) -> bool:
        results, pristine = self.results, self._pristine
        return len(results) == len(pristine) and all(a is b for a, b in zip(results, pristine))

    def _response(self, renderer: type[Renderer], status: int) -> HttpResponseBase:
        request = self.request
        responder = self._shared()
        if self._results_unchanged():
            body = responder.body(self._state, renderer, request, self._detail, self._timestamp)
        else:
            report = report_from_results(self.results, self._state.redacted(self._detail))
            body = responder.render(report, self._state, renderer, request, self._detail, self._timestamp)
        if renderer.always_ok:
            status = 200
        return finish_answer(request, body, status, renderer)
