"""``HealthCheckView``: read the store, negotiate, render. It never runs a check.

The view is a ``TemplateView`` with django-health-check's hooks (``dispatch``, ``get``,
``render_for_format``, ``render_to_response_json``, ``get_context_data``...). ``as_view()`` returns a
``HealthCheckEndpoint``; what it does per request depends on the class:

* A class that overrides no method of ``HealthCheckView`` (the usual ``as_view(checks=...)``, or a
  subclass that only sets attributes) is answered by ``_Responder.respond()``: the hooks' exact result,
  without building a view instance.
* A class that overrides any method is served as Django serves views: an instance per request,
  ``setup()``, then ``dispatch()``; its overrides take effect. The base hooks then read the same cache.

What is done once per change lives in the endpoint's ``_Responder``, never in a view instance: the
resolved checks, and a ``_State`` per store read that changed anything (snapshots, settings, the moment
a fresh snapshot turns stale). A ``_State`` keeps one immutable rendered body per (format, detail level,
URL for feeds), built by the first request that needs it. Formats that show ages (``Renderer.live``:
HTML, OpenMetrics) are rendered again when the second changes, so an age is never more than a second
off; a stale message that counts seconds makes the state itself last one second.

The callable returned by ``as_view()`` is synchronous under WSGI and asynchronous under ASGI, chosen
per call: Django asks whether a view is a coroutine function from inside the event loop only when it
serves ASGI. A sync view under ASGI would cost a thread hop per probe, an async view under WSGI an
event loop per probe (about 0.5 ms, ten times a bare view); this view pays neither. A subclass whose
own ``dispatch``/``get``... is ``async def`` (as django-health-check's are) is always a coroutine view;
``super().get()`` and ``super().dispatch()`` then return awaitables, so ``await super().get(...)`` works.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime
import hashlib
import inspect
import logging
import threading
import time
import timeit
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from typing import Any, ClassVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotAllowed
from django.template.loader import get_template
from django.template.response import TemplateResponse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.crypto import constant_time_compare
from django.utils.http import parse_http_date_safe
from django.views.generic import TemplateView

from health_check import redaction
from health_check._urls import describe_error
from health_check.base import HealthCheck
from health_check.conf import get_config
from health_check.specs import CheckSpec, EntryError, resolve_entries
from health_check.exceptions import (
    HealthCheckError,
    ServiceReturnedUnexpectedResult,
    ServiceUnavailable,
    ServiceWarning,
)
from health_check.journal import Transition, merge_recent, read_transitions, stale_transition
from health_check.negotiation import NotAcceptable, select_renderer
from health_check.renderers import (
    DEFAULT_RENDERERS,
    DEFAULT_TEMPLATE,
    STYLESHEET,
    AtomRenderer,
    HealthJSONRenderer,
    HTMLRenderer,
    JSONRenderer,
    OpenMetricsRenderer,
    RenderContext,
    Renderer,
    RSSRenderer,
    TextRenderer,
    escape_label,
    format_labels,
    reported_since,
)
from health_check.snapshot import Reading, Report, Snapshot, State, evaluate
from health_check.store import StoreError, get_store

try:  # defined in health_check.base by the engineer adding HealthCheck.get_result()
    from health_check.base import HealthCheckResult
except ImportError:  # pragma: no cover - until then, the same shape as django-health-check's

    @dataclasses.dataclass
    class HealthCheckResult:  # type: ignore[no-redef]
        check: Any
        error: HealthCheckError | None
        time_taken: float


try:  # django-health-check's public name; defined in health_check.negotiation
    from health_check.negotiation import MediaType  # noqa: F401
except ImportError:  # pragma: no cover
    pass

try:  # Django 6.1: the CSP middleware reads a response's policy from here (what csp_override() sets)
    from django.utils.csp import CSP

    _NONE = str(CSP.NONE)
except ImportError:  # Django 5.2: we send the header ourselves either way
    CSP = None
    _NONE = "'none'"

__all__ = ["HealthCheckEndpoint", "HealthCheckView"]

logger = logging.getLogger("health_check")

_UTC = datetime.timezone.utc
_ALLOWED_METHODS = ("GET", "HEAD", "OPTIONS")
#: Journal entries a feed lists: enough for a day of trouble, bounded for readers and for us.
FEED_ITEMS = 50
#: Entries the status page reads per check, for its 24 h timelines.
PAGE_ITEMS_PER_CHECK = 30
#: Longest a state is reused (seconds): a bound, since every age-showing format is re-rendered per second.
STATE_SECONDS = 300.0
#: Rendered bodies kept per state: odd hosts or query strings (feeds key by URL) must not grow it.
MAX_BODIES = 32


def _stylesheet_hash(stylesheet: str) -> str:
    return base64.b64encode(hashlib.sha256(stylesheet.encode()).digest()).decode()


def _csp_config(stylesheet_hash: str) -> dict[str, list[str]]:
    # The default page needs nothing but its own inline style: a strict policy lets exactly that through
    # (CSP Level 2 hash source), so the page works behind a strict site-wide CSP too.
    return {
        "default-src": [_NONE],
        "style-src": [f"'sha256-{stylesheet_hash}'"],
        "base-uri": [_NONE],
        "form-action": [_NONE],
        "frame-ancestors": [_NONE],
    }


_CSP_HEADERS: dict[int, tuple[Any, str]] = {}


def _csp_header(config: dict[str, Any]) -> str:
    """The header of ``config``; memoised by identity (a class attribute, read per page served)."""
    known = _CSP_HEADERS.get(id(config))
    if known is not None and known[0] is config:
        return known[1]
    header = "; ".join(
        f"{name} {' '.join(map(str, values))}" if values else name for name, values in config.items() if values is not None
    )
    if len(_CSP_HEADERS) < 64:  # bounded: configs are class attributes, a handful per project
        _CSP_HEADERS[id(config)] = (config, header)
    return header


class HealthCheckView(TemplateView):
    """An endpoint reporting the snapshots of its checks. Same arguments as django-health-check 4.x.

    Args:
        checks: Check classes, dotted paths, or ``(class or path, kwargs)`` tuples.
        template_name: Template of the HTML page.
        feed_author: Author of RSS/Atom items.
        max_age: When above zero, anonymous GET/HEAD answers (200 or 500) may be cached publicly this long.
        auth_token: Bearer token this endpoint requires; defaults to ``HEALTH_CHECK["AUTH_TOKEN"]`` or
            ``HEALTH_CHECK_AUTH_TOKEN``.
        allow_anonymous: Let requests without an Authorization header in even when a token is set.
        warnings_as_errors: Whether warnings answer 500; defaults to ``HEALTH_CHECK["WARNINGS_AS_ERRORS"]``.
        clock: What "now" is (a callable returning an aware datetime); ``None``: the system clock. For
            tests and replays.
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
    auth_token: str | None = None
    allow_anonymous: bool = False
    warnings_as_errors: bool | None = None
    renderers: tuple[type[Renderer], ...] = DEFAULT_RENDERERS
    clock: Callable[[], datetime.datetime] | None = None
    http_method_names = ["get", "head", "options"]

    #: The CSS the default page inlines; ``stylesheet_hash`` and ``csp_config`` follow it in subclasses.
    stylesheet: str = STYLESHEET
    stylesheet_hash: str = _stylesheet_hash(STYLESHEET)
    #: The Content-Security-Policy of the default page (directive -> sources, as Django 6.1's CSP settings).
    csp_config: dict[str, list[str]] = _csp_config(stylesheet_hash)

    #: Set per request by the endpoint: the shared, per-endpoint cache. Never per instance state.
    _responder: _Responder | None = None
    #: Set per request: ``dispatch``/``get`` return awaitables (the class has ``async def`` hooks).
    _async_hooks: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        if "stylesheet" in own and "stylesheet_hash" not in own:
            cls.stylesheet_hash = _stylesheet_hash(cls.stylesheet)
        if ("stylesheet" in own or "stylesheet_hash" in own) and "csp_config" not in own:
            cls.csp_config = _csp_config(cls.stylesheet_hash)

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

    # -- reading (shared: see _Responder) ---------------------------------------------------------

    def _shared(self) -> _Responder:
        responder = self._responder
        if responder is None:  # an instance built directly, not through as_view()
            responder = self._responder = _Responder(self)
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
    def abnf_dumps(labels: dict[str, str]) -> str:
        """OpenMetrics labels as ``key="value",...``, escaped as the OpenMetrics output does."""
        return format_labels(labels)

    # -- authorization and headers ------------------------------------------------------------------

    def get_auth_token(self) -> str | None:
        """The bearer token: the view's, else ``HEALTH_CHECK["AUTH_TOKEN"]`` (or ``HEALTH_CHECK_AUTH_TOKEN``)."""
        return self.auth_token or get_config()["AUTH_TOKEN"] or None

    def is_authorized(self, request: HttpRequest) -> bool:
        """Whether the request may read the endpoint: the right bearer token, or none where anonymous is allowed."""
        token = self.get_auth_token()
        return not token or _authorized(request.META.get("HTTP_AUTHORIZATION"), token, self.allow_anonymous)

    def patch_cache_headers(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        """Shared caches (a CDN, a proxy) may keep anonymous GET/HEAD answers for ``max_age``; others never."""
        seconds = max(0, int(self.max_age.total_seconds())) if self.max_age else 0
        if (
            seconds
            and response.status_code in (200, 500)
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
        if not self.is_authorized(request):
            response = _forbidden(request)
        else:
            response = super().dispatch(request, *args, **kwargs)
            if inspect.isawaitable(response):
                return self._finish_later(request, response)
            response = self._finish(request, response)
        return _ready(response) if self._async_hooks else response

    async def _finish_later(self, request: HttpRequest, pending: Any) -> HttpResponseBase:
        return self._finish(request, await pending)

    def _finish(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        patch_vary_headers(response, ["Accept"])
        if self.get_auth_token():
            patch_vary_headers(response, ["Authorization"])
        return self.patch_cache_headers(request, response)

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Not logged (Django's logs a warning): a scanner's POST to a probe URL is no event.
        return HttpResponseNotAllowed(_ALLOWED_METHODS)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """Answer from the snapshots: ``self.results``, then ``?format=``, else the Accept header.

        Returns an awaitable when the class has ``async def`` hooks (``await super().get(...)``).
        """
        responder = self._shared()
        state, timestamp = responder.state()
        self._state, self._timestamp = state, timestamp
        self._detail = responder.detail(request, state, self.get_auth_token())
        self._pristine = state.results(self._detail)
        self.results = list(self._pristine)
        status = 500 if self._failing() else 200
        response = self.render_for_format(_format_parameter(request), status)
        if response is None:
            response = self.render_for_accept_header(request.META.get("HTTP_ACCEPT", "*/*"), status, **kwargs)
        if self._async_hooks:
            return _ready(response)
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
            return _not_acceptable(self.request, self.renderers)
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
            context.update(self._shared().body(self._state, HTMLRenderer, self.request, self._detail, self._timestamp).context)
        else:
            report = _report_from_results(self.results, self._state, self._detail)
            context.update(self._shared().html_context(report, self._state, self._detail, self._timestamp))
        context["results"] = self.results
        context["errors"] = self._failing()
        context["stylesheet"] = self.stylesheet
        return context

    def render_to_response(self, context: dict[str, Any], **response_kwargs: Any) -> HttpResponseBase:
        """A ``TemplateResponse`` of the page, with the page's CSP; HEAD gets GET's Content-Length, no body."""
        response_kwargs.setdefault("content_type", HTMLRenderer.content_type)
        response = super().render_to_response(context, **response_kwargs)
        if self.request.method == "HEAD":
            response.add_post_render_callback(_drop_body)
        if response.status_code == 500:
            response._has_been_logged = True  # see _finish_answer()
        self._apply_csp(response)
        return response

    def _apply_csp(self, response: HttpResponseBase) -> None:
        config = self.csp_config
        if self.template_name != DEFAULT_TEMPLATE and config is HealthCheckView.csp_config:
            return  # an overriding template may load its own assets: its project sets the policy
        response["Content-Security-Policy"] = _csp_header(config)
        if CSP is not None:
            response._csp_config = config  # type: ignore[attr-defined]  # what csp_override() sets

    # -- helpers of the hooks -------------------------------------------------------------------

    def _failing(self) -> bool:
        if self._results_unchanged():
            return self._state.failing
        return any(_counts_as_failing(result, self._state.report.warnings_as_errors) for result in self.results)

    def _results_unchanged(self) -> bool:
        results, pristine = self.results, self._pristine
        return len(results) == len(pristine) and all(a is b for a, b in zip(results, pristine))

    def _response(self, renderer: type[Renderer], status: int) -> HttpResponseBase:
        request = self.request
        responder = self._shared()
        if self._results_unchanged():
            body = responder.body(self._state, renderer, request, self._detail, self._timestamp)
        else:
            report = _report_from_results(self.results, self._state, self._detail)
            body = responder.render(report, self._state, renderer, request, self._detail, self._timestamp)
        if renderer.always_ok:
            status = 200
        return _finish_answer(request, body, status, renderer)


class _Body:
    """One rendered answer: bytes, headers, the HTML context, and the second it was rendered for."""

    __slots__ = ("body", "context", "headers", "second")

    def __init__(self, body: bytes, headers: dict[str, str], second: int, context: dict[str, Any] | None) -> None:
        self.body = body
        self.headers = headers
        self.second = second
        self.context = context


@dataclasses.dataclass(slots=True, eq=False)
class _State:
    """What one store read found, evaluated; immutable but for ``bodies``, filled by the first request of each.

    Valid while the snapshots and settings are those it was built from and ``expires`` (a timestamp) has
    not passed: the moment the first fresh snapshot turns stale, one second when a stale message shows a
    growing age, ``STATE_SECONDS`` at most.
    """

    expires: float
    snapshots: tuple[Snapshot | None, ...]
    config: dict[str, Any] | None  # the get_config() it was evaluated with: a settings change invalidates it
    report: Report
    failing: bool
    checks: tuple[Any, ...]  # per reading: the check instance, for HealthCheckResult
    bodies: dict[Any, Any] = dataclasses.field(default_factory=dict)

    def redacted(self, detail: str) -> Report:
        if detail == redaction.FULL:
            return self.report
        key = ("report", detail)
        report = self.bodies.get(key)
        if report is None:
            report = self.bodies[key] = redaction.redact_report(self.report, detail)
        return report

    def results(self, detail: str) -> tuple[HealthCheckResult, ...]:
        """``HealthCheckResult``s of the readings a request at ``detail`` sees; built once per state."""
        key = ("results", detail)
        results = self.bodies.get(key)
        if results is None:
            report = self.redacted(detail)
            checks = self.checks if detail != redaction.STATUS else (_Overall(),)
            results = self.bodies[key] = tuple(_result(reading, check) for reading, check in zip(report.readings, checks))
        return results


class _Responder:
    """The shared part of one endpoint: resolved checks, the current ``_State``, and the fast answer."""

    def __init__(self, view: HealthCheckView) -> None:
        self.view = view  # the prototype: as_view()'s arguments applied; never serves a request itself
        self._resolved: tuple[tuple[CheckSpec, ...], tuple[EntryError, ...]] | None = None
        self._resolve_guard = threading.Lock()
        self._keys: tuple[str, ...] | None = None
        self._state: _State | None = None
        self.clock = view.clock

    # -- checks and state -------------------------------------------------------------------------

    def _entries(self) -> Iterable[Any]:
        if type(self.view).get_checks is not HealthCheckView.get_checks:
            return list(self.view.get_checks())
        return self.view.checks

    def specs(self) -> tuple[tuple[CheckSpec, ...], tuple[EntryError, ...]]:
        resolved = self._resolved
        if resolved is None:
            with self._resolve_guard:
                if self._resolved is not None:
                    return self._resolved
                entries = self._entries()
                try:
                    host = get_store().host_id  # a store shared by hosts keeps host-scoped checks per host
                except StoreError:
                    # Reported by the read that follows; not kept, since the keys depend on the store.
                    specs, errors = resolve_entries(entries)
                    return (tuple(specs), tuple(errors))
                specs, errors = resolve_entries(entries, host=host)
                self._resolved = resolved = (tuple(specs), tuple(errors))
        return resolved

    def now(self) -> tuple[float, datetime.datetime | None]:
        clock = self.clock
        if clock is None:
            return time.time(), None
        now = clock()
        return now.timestamp(), now

    def state(self, now: datetime.datetime | None = None) -> tuple[_State, float]:
        """The current state and the request's timestamp; a store read (a ``stat()`` when nothing changed)."""
        specs, errors = self.specs()
        keys = self._keys
        if keys is None:
            keys = tuple(spec.key for spec in specs)
            if self._resolved is not None:  # kept once the store said how it keys them
                self._keys = keys
        if now is None:
            timestamp, now = self.now()
        else:
            timestamp = now.timestamp()
        try:
            found = get_store().read(keys)
        except StoreError as error:
            return self._without_store(specs, errors, now or datetime.datetime.fromtimestamp(timestamp, _UTC), str(error)), timestamp
        snapshots = tuple(map(found.get, keys))
        state = self._state
        config = get_config()
        if state is not None and timestamp < state.expires and state.config is config and state.snapshots == snapshots:
            return state, timestamp
        now = now or datetime.datetime.fromtimestamp(timestamp, _UTC)
        stale_intervals = float(config["STALE_AFTER_INTERVALS"])
        readings = [
            evaluate(spec.name, snapshot, now, stale_intervals=stale_intervals, labels=spec.labels)
            for spec, snapshot in zip(specs, snapshots)
        ]
        readings += [_configuration_reading(error) for error in errors]
        report = Report(readings=tuple(readings), generated_at=now, warnings_as_errors=self._warnings_as_errors())
        state = self._state = _State(
            expires=_state_expiry(readings, timestamp, stale_intervals),
            snapshots=snapshots,
            config=config,
            report=report,
            failing=report.failing,
            checks=tuple(spec.check for spec in specs) + tuple(_Unresolved(error.entry) for error in errors),
        )
        return state, timestamp

    def _without_store(
        self, specs: Iterable[CheckSpec], errors: Iterable[EntryError], now: datetime.datetime, reason: str
    ) -> _State:
        specs, errors = list(specs), list(errors)
        readings = [
            Reading(
                name=spec.name,
                state=State.ERROR,
                message=f"Unavailable: cannot read snapshots: {reason}",
                snapshot=None,
                age_seconds=None,
                labels=spec.labels,
            )
            for spec in specs
        ]
        readings += [_configuration_reading(error) for error in errors]
        report = Report(readings=tuple(readings), generated_at=now, warnings_as_errors=self._warnings_as_errors())
        checks = tuple(spec.check for spec in specs) + tuple(_Unresolved(error.entry) for error in errors)
        return _State(expires=0.0, snapshots=(), config=None, report=report, failing=report.failing, checks=checks)

    def _warnings_as_errors(self) -> bool:
        if self.view.warnings_as_errors is not None:
            return bool(self.view.warnings_as_errors)
        return bool(get_config()["WARNINGS_AS_ERRORS"])

    def detail(self, request: HttpRequest, state: _State, token: str | None) -> str:
        """Token holders see everything; anyone else what ``HEALTH_CHECK["ANONYMOUS_DETAIL"]`` allows."""
        if token and "HTTP_AUTHORIZATION" in request.META:
            return redaction.FULL
        config = state.config if state.config is not None else get_config()
        level = config.get("ANONYMOUS_DETAIL", redaction.FULL)
        return level if level in redaction.LEVELS else redaction.STATUS  # unknown values fail closed

    # -- bodies -----------------------------------------------------------------------------------

    def body(self, state: _State, renderer: type[Renderer], request: HttpRequest, detail: str, timestamp: float) -> _Body:
        """The state's body for this format and detail (and URL, for feeds): looked up, or rendered once."""
        key = (renderer, request.get_host() + request.get_full_path() if renderer.uses_urls else "", detail)
        bodies = state.bodies
        found = bodies.get(key)
        second = int(timestamp) if renderer.live else 0
        if found is not None and found.second == second:
            return found
        found = self.render(state.redacted(detail), state, renderer, request, detail, timestamp)
        if len(bodies) < MAX_BODIES or key in bodies:
            bodies[key] = found  # one assignment: a request reading it meanwhile sees the old or the new body
        return found

    def render(
        self, report: Report, state: _State, renderer: type[Renderer], request: HttpRequest, detail: str, timestamp: float
    ) -> _Body:
        view = self.view
        journal = self._journal(state, renderer) if renderer.uses_journal else []
        stale_intervals = float(get_config()["STALE_AFTER_INTERVALS"])
        now = datetime.datetime.fromtimestamp(timestamp, _UTC) if renderer.live else None
        context = RenderContext(
            endpoint_url=request.build_absolute_uri(request.path) if renderer.uses_urls else "",
            feed_url=request.build_absolute_uri() if renderer.uses_urls else "",
            feed_author=view.feed_author,
            template_name=view.template_name,
            transitions=redaction.redact_transitions(journal, detail) if renderer.uses_journal else (),
            stale_intervals=stale_intervals,
            # Before redaction: a feed that may list no entry still has a true date.
            updated=_last_change(journal, state.report.readings, stale_intervals) if renderer.conditional else None,
            now=now,
            stylesheet=view.stylesheet,
        )
        instance = renderer()
        second = int(timestamp) if renderer.live else 0
        if renderer is HTMLRenderer:
            data = instance.context_data(report, context)
            data["results"] = list(state.results(detail)) if report is state.redacted(detail) else []
            body = get_template(view.template_name).render(data).encode()
            return _Body(body, {}, second, data)
        body = instance.render(report, context)
        return _Body(body, instance.headers(body, context), second, None)

    def html_context(self, report: Report, state: _State, detail: str, timestamp: float) -> dict[str, Any]:
        """The page's context for readings a subclass changed (``self.results``): not cached."""
        view = self.view
        stale_intervals = float(get_config()["STALE_AFTER_INTERVALS"])
        context = RenderContext(
            template_name=view.template_name,
            transitions=redaction.redact_transitions(self._journal(state, HTMLRenderer), detail),
            stale_intervals=stale_intervals,
            now=datetime.datetime.fromtimestamp(timestamp, _UTC),
            stylesheet=view.stylesheet,
        )
        return HTMLRenderer().context_data(report, context)

    def _journal(self, state: _State, renderer: type[Renderer]) -> list[Transition]:
        """Stored entries of this endpoint's checks plus the stale ones readers infer, newest first; once per state."""
        keys = self._keys or tuple(spec.key for spec in self.specs()[0])
        limit = FEED_ITEMS if renderer.conditional else PAGE_ITEMS_PER_CHECK * max(1, len(keys))
        cached = state.bodies.get(("journal", limit))
        if cached is not None:
            return cached
        try:
            stored = read_transitions(get_store(), keys, limit)
        except StoreError:
            stored = []  # the readings already say the store is unreadable
        stale_intervals = float(get_config()["STALE_AFTER_INTERVALS"])
        # Titled as the poller titles the entry it records on its return (same id, same words).
        titles = {spec.key: spec.title or spec.name for spec in self.specs()[0]}
        synthesized = [
            stale_transition(reading.name, reading.snapshot, stale_intervals, title=titles.get(reading.snapshot.key))
            for reading in state.report.readings
            if reading.state is State.STALE and reading.snapshot is not None
        ]
        journal = merge_recent(stored, synthesized, limit)
        if state.expires:  # not for a state without store: it is never looked up again
            state.bodies[("journal", limit)] = journal
        return journal

    # -- the fast answer --------------------------------------------------------------------------

    def respond(self, request: HttpRequest) -> HttpResponseBase:
        """Answer one request exactly as the hooks of ``HealthCheckView`` would, without a view instance.

        The hot path reads ``request.META`` directly: ``request.headers`` and ``request.GET`` each build a
        whole mapping, which costs more than everything else a cached answer does.
        """
        meta = request.META
        view = self.view
        token = view.get_auth_token()
        if token and not _authorized(meta.get("HTTP_AUTHORIZATION"), token, view.allow_anonymous):
            return _forbidden(request)
        method = request.method
        if method not in _ALLOWED_METHODS:
            response: HttpResponseBase = HttpResponseNotAllowed(_ALLOWED_METHODS)
            self._finish_headers(request, response, token)
            return response
        if method == "OPTIONS":
            response = HttpResponse(status=200)
            response["Allow"] = ", ".join(_ALLOWED_METHODS)
            response["Content-Length"] = "0"
            self._finish_headers(request, response, token)  # never cacheable: only GET/HEAD answers are
            return response
        try:
            renderer = select_renderer(_format_parameter(request), meta.get("HTTP_ACCEPT"), view.renderers)
        except NotAcceptable:
            response = _not_acceptable(request, view.renderers)
            self._finish_headers(request, response, token)
            return response
        state, timestamp = self.state()
        detail = redaction.FULL if token and "HTTP_AUTHORIZATION" in meta else self.detail(request, state, None)
        body = self.body(state, renderer, request, detail, timestamp)
        status = 200 if renderer.always_ok or not state.failing else 500
        if renderer is HTMLRenderer:
            response = _template_answer(request, view, body, status)
        else:
            response = _finish_answer(request, body, status, renderer)
        self._finish_headers(request, response, token)
        return response

    def _finish_headers(self, request: HttpRequest, response: HttpResponseBase, token: str | None) -> None:
        # What HealthCheckView._finish() and patch_cache_headers() write, set directly (same bytes).
        response["Vary"] = "Accept, Authorization" if token else "Accept"
        max_age = self.view.max_age
        seconds = max(0, int(max_age.total_seconds())) if max_age else 0
        if (
            seconds
            and response.status_code in (200, 500)
            and request.method in ("GET", "HEAD")
            and "HTTP_AUTHORIZATION" not in request.META
        ):
            response["Cache-Control"] = f"public, max-age={seconds}"
        else:
            response["Cache-Control"] = "no-store"


# -- answers ----------------------------------------------------------------------------------------


def _authorized(header: str | None, token: str, allow_anonymous: bool) -> bool:
    if header is None:
        return allow_anonymous
    scheme, _, credentials = header.partition(" ")
    return scheme.lower() == "bearer" and constant_time_compare(credentials, token)


def _forbidden(request: HttpRequest) -> HttpResponse:
    response = _answer(request, b"Authentication failed", 403, "text/plain; charset=utf-8")
    response["Vary"] = "Authorization"
    response["Cache-Control"] = "no-store"
    return response


def _not_acceptable(request: HttpRequest, renderers: tuple[type[Renderer], ...]) -> HttpResponse:
    """406 as django-health-check answers it: ``text/plain``, its six types for the default renderers.

    A project's own ``renderers=`` are listed as they are, in their order.
    """
    if renderers == DEFAULT_RENDERERS:
        listed = [renderer.media_type for renderer in renderers if renderer is not HealthJSONRenderer]
    else:
        listed = [renderer.media_type for renderer in renderers]
    body = f"Not Acceptable: Supported content types: {', '.join(listed)}".encode()
    return _answer(request, body, 406, "text/plain")


def _finish_answer(request: HttpRequest, body: _Body, status: int, renderer: type[Renderer]) -> HttpResponse:
    headers = body.headers
    if renderer.conditional and _not_modified(request.META, headers):
        response = HttpResponse(status=304)
        if request.method == "HEAD":
            # What the 200 would carry (RFC 9110 §8.6), rather than the "0" CommonMiddleware adds. Not
            # on GET: uvicorn's httptools protocol then waits for that many bytes of a 304 and fails.
            response["Content-Length"] = str(len(body.body))
    else:
        response = _answer(request, body.body, status, renderer.content_type)
        if status == 500:
            # A failing check is this answer's content, not a server error: without this, Django's
            # request logger writes "Internal Server Error" at ERROR for every probe, and with ADMINS set
            # mail_admins sends one e-mail per probe. The poller logs each change once (journal.py).
            # Only answers built here are marked: an exception raised in this view is still logged.
            response._has_been_logged = True  # what django.utils.log.log_response() checks first
    for name, value in headers.items():
        response[name] = value
    return response


class _RenderedTemplateResponse(TemplateResponse):
    """A ``TemplateResponse`` born rendered: what ``render_to_response()`` returns after ``render()``.

    Sets what ``SimpleTemplateResponse.__init__`` sets, without its empty first content (a few µs per
    probe); ``render()`` is a no-op, ``rendered_content`` renders the template again as usual.
    """

    def __init__(
        self, request: HttpRequest, template: list[str], context: dict[str, Any], content: bytes, status: int
    ) -> None:
        HttpResponse.__init__(self, content, content_type=HTMLRenderer.content_type, status=status)
        self.template_name = template
        self.context_data = context
        self.using = None
        self._post_render_callbacks = []
        self._request = request
        self._is_rendered = True


def _template_answer(request: HttpRequest, view: HealthCheckView, body: _Body, status: int) -> TemplateResponse:
    """The page as ``render_to_response()`` makes it, already rendered (its bytes are the state's)."""
    context = dict(body.context or {})
    context["stylesheet"] = view.stylesheet
    head = request.method == "HEAD"
    response = _RenderedTemplateResponse(request, [view.template_name], context, b"" if head else body.body, status)
    if head:
        response["Content-Length"] = str(len(body.body))
    if status == 500:
        response._has_been_logged = True  # see _finish_answer()
    view._apply_csp(response)
    return response


def _drop_body(response: HttpResponseBase) -> None:
    length = len(response.content)
    response.content = b""
    response["Content-Length"] = str(length)


def _answer(request: HttpRequest, body: bytes, status: int, content_type: str) -> HttpResponse:
    """``body`` for GET; for HEAD no body and the Content-Length GET would have (RFC 9110 §9.3.2).

    The length is set here because middleware cannot know it: CommonMiddleware would count the empty
    HEAD content and announce ``Content-Length: 0``. Every HEAD answer (403, 406, 200, 500) goes
    through here, so none carries a body even behind a server that does not strip HEAD bodies.
    """
    if request.method != "HEAD":
        return HttpResponse(body, content_type=content_type, status=status)
    response = HttpResponse(b"", content_type=content_type, status=status)
    response["Content-Length"] = str(len(body))
    return response


async def _ready(response: Any) -> Any:
    return response


def _not_modified(meta: dict[str, Any], headers: dict[str, str]) -> bool:
    """RFC 9110 §13.1: If-None-Match wins over If-Modified-Since; weak comparison for If-None-Match."""
    etag = headers.get("ETag")
    if_none_match = meta.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        if etag is None:
            return False
        candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return etag in candidates or "*" in candidates
    last_modified = headers.get("Last-Modified")
    if_modified_since = meta.get("HTTP_IF_MODIFIED_SINCE")
    if last_modified and if_modified_since:
        since = parse_http_date_safe(if_modified_since)
        modified = parse_http_date_safe(last_modified)
        return since is not None and modified is not None and modified <= since
    return False


def _last_change(
    journal: Iterable[Transition], readings: Iterable[Reading], stale_intervals: float
) -> datetime.datetime | None:
    """The newest journal entry or change of state of the endpoint's checks; ``None`` before any run."""
    moments = [entry.at for entry in journal]
    moments += [since for since in (reported_since(r, stale_intervals) for r in readings) if since is not None]
    return max(moments, default=None)


def _format_parameter(request: HttpRequest) -> str | None:
    """``?format=`` without building ``request.GET`` for the plain cases probes send."""
    query = request.META.get("QUERY_STRING", "")
    if "format" not in query:
        return None
    if len(query) <= 256 and "%" not in query and "+" not in query and ";" not in query:
        found = None
        for pair in query.split("&"):
            name, _, value = pair.partition("=")
            if name == "format":
                found = value  # the last one wins, as with QueryDict.get()
        return found
    try:
        return request.GET.get("format")
    except Exception:  # an oversized or broken query string; Accept still decides
        return None


def _state_expiry(readings: Iterable[Reading], timestamp: float, stale_intervals: float) -> float:
    """When a state built at ``timestamp`` stops telling the truth (see ``_State``)."""
    expires = timestamp + STATE_SECONDS
    for reading in readings:
        snapshot = reading.snapshot
        if reading.state is State.STALE:
            return min(expires, timestamp + 1.0)  # its message says how old it is
        if snapshot is not None:
            expires = min(expires, snapshot.checked_at.timestamp() + snapshot.allowance_seconds(stale_intervals))
    return expires


def _configuration_reading(error: EntryError) -> Reading:
    return Reading(
        name=error.entry,
        state=State.ERROR,
        message=f"Unavailable: configuration error: {error.message}",
        snapshot=None,
        age_seconds=None,
        labels={"check": "ConfigurationError"},
    )


# -- results ----------------------------------------------------------------------------------------


class _Unresolved:
    """The ``check`` of a result for a ``checks=`` entry that could not be resolved: named as the entry."""

    def __init__(self, entry: str) -> None:
        self.entry = entry
        self.labels = {"check": "ConfigurationError"}

    def __repr__(self) -> str:
        return self.entry


class _Overall(_Unresolved):
    """The ``check`` of the one result ``ANONYMOUS_DETAIL="status"`` shows."""

    def __init__(self) -> None:
        super().__init__("status")
        self.labels = {"check": "Overall"}


class _ReportedWarning(ServiceWarning):
    """A warning read from a snapshot whose line has no known prefix (e.g. redacted): shown verbatim."""

    def __str__(self) -> str:
        return self.message


class _ReportedError(ServiceUnavailable):
    """A failure read from a snapshot whose line has no known prefix (stale, pending, redacted): verbatim."""

    def __str__(self) -> str:
        return self.message


_ERROR_CLASSES = (ServiceWarning, ServiceUnavailable, ServiceReturnedUnexpectedResult, HealthCheckError)


def _error_for(reading: Reading) -> HealthCheckError | None:
    """The exception whose ``str()`` is the reading's line, of the class its prefix names."""
    if reading.state is State.OK:
        return None
    message = reading.message
    snapshot = reading.snapshot
    timestamp = (snapshot.since or snapshot.checked_at) if snapshot is not None else None
    for cls in _ERROR_CLASSES:
        prefix = cls.message_type + ": "
        if message.startswith(prefix) and not (reading.state is State.WARNING) ^ issubclass(cls, ServiceWarning):
            return cls(message[len(prefix):], timestamp=timestamp)
    verbatim = _ReportedWarning if reading.state is State.WARNING else _ReportedError
    return verbatim(message, timestamp=timestamp)


def _result(reading: Reading, check: Any) -> HealthCheckResult:
    snapshot = reading.snapshot
    time_taken = snapshot.duration_seconds if snapshot is not None else 0.0
    result = HealthCheckResult(check=check, error=_error_for(reading), time_taken=time_taken)
    result._reading = reading  # type: ignore[attr-defined]  # the way back, for _report_from_results()
    return result


def _counts_as_failing(result: Any, warnings_as_errors: bool) -> bool:
    error = getattr(result, "error", None)
    if error is None:
        return False
    return warnings_as_errors or not isinstance(error, ServiceWarning)


def _report_from_results(results: Iterable[Any], state: _State, detail: str) -> Report:
    """A report of what a subclass left in ``self.results``: kept readings as read, others from their error."""
    readings = []
    for result in results:
        reading = getattr(result, "_reading", None)
        error = getattr(result, "error", None)
        kept = (
            reading is not None
            and (error is None) == (reading.state is State.OK)
            and (error is None or str(error) == reading.message)
        )
        if not kept:
            check = getattr(result, "check", None)
            if error is None:
                reading_state, message = State.OK, "OK"
            else:
                reading_state = State.WARNING if isinstance(error, ServiceWarning) else State.ERROR
                message = str(error)
            try:
                labels = dict(check.labels)
            except Exception:  # noqa: BLE001 - a result without a proper check still renders
                labels = {"check": type(check).__name__}
            reading = Reading(
                name=repr(check),
                state=reading_state,
                message=message,
                snapshot=reading.snapshot if reading is not None else None,
                age_seconds=reading.age_seconds if reading is not None else None,
                labels=labels,
            )
        readings.append(reading)
    return dataclasses.replace(state.redacted(detail), readings=tuple(readings))


# -- the endpoint -------------------------------------------------------------------------------------

_COROUTINE_MARK_311 = getattr(asyncio.coroutines, "_is_coroutine", None)
_COROUTINE_MARK_312 = getattr(inspect, "_is_coroutine_mark", None)
#: Methods whose override in a subclass makes the endpoint build an instance per request.
_HOOK_NAMES = frozenset(
    name for klass in HealthCheckView.__mro__ if klass is not object for name, value in vars(klass).items()
    if callable(value) or isinstance(value, (staticmethod, classmethod, property))
) - {"as_view", "__init_subclass__"}
_HANDLERS = ("dispatch", "get", "head", "options", "http_method_not_allowed", "setup")


def _overridden(view_class: type[HealthCheckView]) -> set[str]:
    found: set[str] = set()
    for klass in view_class.__mro__:
        if klass is HealthCheckView:
            break
        found |= {name for name in vars(klass) if name in _HOOK_NAMES}
    return found


class HealthCheckEndpoint:
    """The callable a URL pattern holds; ``view`` is the endpoint's prototype instance (no request state).

    Keeps ``view_class`` and ``view_initkwargs`` like Django's class-based views, so URL introspection,
    the ``health_check`` command and the poller's endpoint discovery find it.
    """

    def __init__(self, view_class: type[HealthCheckView], initkwargs: dict[str, Any]) -> None:
        self.view_class = view_class
        self.view_initkwargs = initkwargs
        self.view = view_class(**initkwargs)
        self.responder = self.view._responder = _Responder(self.view)
        self.overridden = frozenset(_overridden(view_class))
        self._fast = not self.overridden
        self._async_hooks = any(inspect.iscoroutinefunction(getattr(view_class, name, None)) for name in _HANDLERS)
        if "get_checks" in self.overridden:
            # The poller polls what the view's ``checks`` hold: give it what get_checks() yields.
            try:
                self.view.checks = tuple(self.view.get_checks())
            except Exception as error:  # noqa: BLE001 - reported by the endpoint, never a boot failure
                logger.error("%s.get_checks() failed: %s", view_class.__qualname__, describe_error(error))
        self.__name__ = view_class.__name__
        self.__qualname__ = view_class.__qualname__
        self.__module__ = view_class.__module__
        self.__doc__ = view_class.__doc__
        self.__dict__.update(getattr(view_class.dispatch, "__dict__", {}))  # decorators on dispatch, as Django does
        # A probe never touches the database, so ATOMIC_REQUESTS must not wrap it in a transaction.
        self._non_atomic_requests = frozenset(getattr(settings, "DATABASES", {}) or {"default"})

    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if self._fast:
            if asyncio._get_running_loop() is not None:
                return self._respond_async(request)
            return self.responder.respond(request)
        if self._async_hooks:
            return self._dispatch_async(request, args, kwargs)
        if asyncio._get_running_loop() is not None:
            return _ready(self._dispatch(request, args, kwargs))
        return self._dispatch(request, args, kwargs)

    async def _respond_async(self, request: HttpRequest) -> HttpResponseBase:
        return self.responder.respond(request)

    def _instance(self, request: HttpRequest, args: tuple[Any, ...], kwargs: dict[str, Any]) -> HealthCheckView:
        view = self.view_class(**self.view_initkwargs)
        view._responder = self.responder
        view._async_hooks = self._async_hooks
        view.setup(request, *args, **kwargs)
        if not hasattr(view, "request"):
            raise AttributeError(
                f"{self.view_class.__name__} instance has no 'request' attribute. Did you override setup() "
                "and forget to call super()?"
            )
        return view

    def _dispatch(self, request: HttpRequest, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._instance(request, args, kwargs).dispatch(request, *args, **kwargs)

    async def _dispatch_async(self, request: HttpRequest, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        response = self._instance(request, args, kwargs).dispatch(request, *args, **kwargs)
        while inspect.isawaitable(response):
            response = await response
        return response

    @property
    def _is_coroutine(self) -> object:  # Python 3.11's asyncio.iscoroutinefunction()
        return _COROUTINE_MARK_311 if self._async_hooks or asyncio._get_running_loop() is not None else None

    @property
    def _is_coroutine_marker(self) -> object:  # Python 3.12+'s inspect.iscoroutinefunction()
        return _COROUTINE_MARK_312 if self._async_hooks or asyncio._get_running_loop() is not None else None

    def __repr__(self) -> str:
        return f"<{self.view_class.__qualname__} endpoint>"
