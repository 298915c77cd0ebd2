"""``HealthCheckView``: read the store, negotiate, render. It never runs a check.

A request costs one store read (a ``stat()`` when nothing changed), a comparison with the previous
request's snapshots, and, when those match within the same second, bytes rendered before. The view
object is built once per endpoint, not per request.

The callable returned by ``as_view()`` is synchronous under WSGI and asynchronous under ASGI, chosen
per call: Django asks whether a view is a coroutine function from inside the event loop only when it
serves ASGI. A sync view under ASGI would cost a thread hop per probe, an async view under WSGI an
event loop per probe (about 0.5 ms, ten times a bare view); this view pays neither.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import inspect
import threading
import time
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.utils.crypto import constant_time_compare
from django.utils.http import parse_http_date_safe
from django.views import View

from health_check import redaction
from health_check.conf import get_config
from health_check.endpoints import CheckSpec, EntryError, resolve_entries
from health_check.journal import Transition, merge_recent, stale_transition
from health_check.negotiation import NotAcceptable, select_renderer
from health_check.renderers import DEFAULT_RENDERERS, RenderContext, Renderer, reported_since, split_markers
from health_check.snapshot import Reading, Report, Snapshot, State, evaluate
from health_check.store import StoreError, get_store

__all__ = ["HealthCheckView"]

_UTC = datetime.timezone.utc
_ALLOWED_METHODS = ("GET", "HEAD", "OPTIONS")
#: Journal entries a feed lists: enough for a day of trouble, bounded for readers and for us.
FEED_ITEMS = 50
#: Entries the status page reads per check, for its 24 h timelines.
PAGE_ITEMS_PER_CHECK = 30
#: Longest a frame is reused (seconds): the status page's timeline window moves at most this much.
FRAME_SECONDS = 300.0


@dataclasses.dataclass(slots=True)
class _Frame:
    """The last report of an endpoint and the bytes rendered from it.

    Valid while the snapshots equal those it was built from, the settings are the same, and ``expires``
    (a timestamp) has not passed: the moment the first fresh snapshot turns stale, one second when a
    stale message shows a growing age, and ``FRAME_SECONDS`` at most (the status page's 24 h timeline moves with the clock). Ages in
    ``live`` formats are filled in per request, so a probe every few seconds reuses the rendered body.
    """

    expires: float
    snapshots: tuple[Snapshot | None, ...]
    config: dict[str, Any] | None  # the get_config() it was evaluated with: a settings change invalidates it
    report: Report
    rendered: dict[tuple[type[Renderer], str, str], tuple[bytes, dict[str, str]]]
    failing: bool = False
    redacted: dict[str, Report] = dataclasses.field(default_factory=dict)
    parts: dict[bytes, list[Any]] = dataclasses.field(default_factory=dict)
    #: What ``reuse_across_runs`` renderers depend on: whether warnings fail, then name, state, message
    #: and since of every reading.
    signature: tuple[Any, ...] = ()
    filled: dict[tuple[bytes, int], bytes] = dataclasses.field(default_factory=dict)


class HealthCheckView(View):
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
    """

    template_name: str = "health_check/index.html"
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

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._resolved: tuple[tuple[CheckSpec, ...], tuple[EntryError, ...]] | None = None
        self._resolve_guard = threading.Lock()
        self._frame: _Frame | None = None
        self._keys: tuple[str, ...] | None = None
        self._bodies: dict[tuple[Any, ...], tuple[tuple[Any, ...], float, tuple[bytes, dict[str, str]]]] = {}

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

    # -- checks ------------------------------------------------------------------------------------

    def get_check_specs(self) -> tuple[tuple[CheckSpec, ...], tuple[EntryError, ...]]:
        """The endpoint's checks and the entries that could not be resolved; resolved once."""
        resolved = self._resolved
        if resolved is None:
            with self._resolve_guard:
                if self._resolved is not None:
                    return self._resolved
                try:
                    host = get_store().host_id  # a store shared by hosts keeps host-scoped checks per host
                except StoreError:
                    # Reported by the read that follows; not kept, since the keys depend on the store.
                    specs, errors = resolve_entries(self.checks)
                    return (tuple(specs), tuple(errors))
                specs, errors = resolve_entries(self.checks, host=host)
                self._resolved = resolved = (tuple(specs), tuple(errors))
        return resolved

    # -- reading -----------------------------------------------------------------------------------

    def get_report(self, now: datetime.datetime | None = None) -> Report:
        """What every check of this endpoint reports now, from the store only."""
        return self._current_frame(now).report

    def _current_frame(self, now: datetime.datetime | None = None) -> _Frame:
        specs, errors = self.get_check_specs()
        keys = self._keys
        if keys is None:
            keys = tuple(spec.key for spec in specs)
            if self._resolved is not None:  # kept once the store said how it keys them
                self._keys = keys
        try:
            found = get_store().read(keys)
        except StoreError as error:
            return self._frame_without_store(specs, errors, now or datetime.datetime.now(_UTC), str(error))
        snapshots = tuple(map(found.get, keys))
        timestamp = time.time() if now is None else now.timestamp()
        frame = self._frame
        config = get_config()
        if frame is not None and timestamp < frame.expires and frame.config is config and frame.snapshots == snapshots:
            return frame
        now = now or datetime.datetime.fromtimestamp(timestamp, _UTC)
        stale_intervals = float(config["STALE_AFTER_INTERVALS"])
        readings = [
            evaluate(spec.name, snapshot, now, stale_intervals=stale_intervals, labels=spec.labels)
            for spec, snapshot in zip(specs, snapshots)
        ]
        readings += [_configuration_reading(error) for error in errors]
        report = Report(readings=tuple(readings), generated_at=now, warnings_as_errors=self._warnings_as_errors())
        frame = self._frame = _Frame(
            signature=(report.warnings_as_errors,)
            + tuple((r.name, r.state, r.message, r.snapshot.since if r.snapshot else None) for r in readings),
            expires=_frame_expiry(readings, timestamp, stale_intervals),
            snapshots=snapshots,
            config=config,
            report=report,
            rendered={},
            failing=report.failing,
        )
        return frame

    def _frame_without_store(
        self, specs: Iterable[CheckSpec], errors: Iterable[EntryError], now: datetime.datetime, reason: str
    ) -> _Frame:
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
        return _Frame(expires=0.0, snapshots=(), config=None, report=report, rendered={}, failing=report.failing)

    def _warnings_as_errors(self) -> bool:
        if self.warnings_as_errors is not None:
            return bool(self.warnings_as_errors)
        return bool(get_config()["WARNINGS_AS_ERRORS"])

    # -- HTTP --------------------------------------------------------------------------------------

    def get_auth_token(self) -> str | None:
        return self.auth_token or get_config()["AUTH_TOKEN"] or None

    def is_authorized(self, request: HttpRequest, token: str) -> bool:
        return self._authorized(request.META.get("HTTP_AUTHORIZATION"), token)

    def _authorized(self, header: str | None, token: str) -> bool:
        if header is None:
            return self.allow_anonymous
        scheme, _, credentials = header.partition(" ")
        return scheme.lower() == "bearer" and constant_time_compare(credentials, token)

    def respond(self, request: HttpRequest) -> HttpResponse:
        """Answer one request from snapshots.

        The hot path reads ``request.META`` directly: ``request.headers`` and ``request.GET`` each build a
        whole mapping, which costs more than everything else a cached answer does.
        """
        meta = request.META
        token = self.get_auth_token()
        if token and not self._authorized(meta.get("HTTP_AUTHORIZATION"), token):
            response = _answer(request, b"Authentication failed", 403, "text/plain; charset=utf-8")
            response["Vary"] = "Authorization"
            response["Cache-Control"] = "no-store"
            return response
        method = request.method
        if method not in _ALLOWED_METHODS:
            response = HttpResponseNotAllowed(_ALLOWED_METHODS)
            self._finish_headers(request, response, token)
            return response
        if method == "OPTIONS":
            response = HttpResponse(status=200)
            response["Allow"] = ", ".join(_ALLOWED_METHODS)
            response["Content-Length"] = "0"
            self._finish_headers(request, response, token)  # never cacheable: only GET/HEAD answers are
            return response
        try:
            renderer = select_renderer(_format_parameter(request), meta.get("HTTP_ACCEPT"), self.renderers)
        except NotAcceptable as error:
            response = _answer(request, str(error).encode(), 406, "text/plain; charset=utf-8")
            self._finish_headers(request, response, token)
            return response
        frame = self._current_frame()
        # Token holders see everything; anyone else what HEALTH_CHECK["ANONYMOUS_DETAIL"] allows.
        detail = redaction.FULL if token and "HTTP_AUTHORIZATION" in meta else frame_detail(frame)
        body, headers = self._render(frame, renderer, request, detail)
        if renderer.live:
            body = self._fill(frame, renderer, body, detail)
        if renderer.conditional and _not_modified(meta, headers):
            response = HttpResponse(status=304)
            if method == "HEAD":
                # What the 200 would carry (RFC 9110 §8.6), rather than the "0" CommonMiddleware adds. Not
                # on GET: uvicorn's httptools protocol then waits for that many bytes of a 304 and fails.
                response["Content-Length"] = str(len(body))
            for name, value in headers.items():
                response[name] = value
            self._finish_headers(request, response, token)
            return response
        status = 200 if renderer.always_ok or not frame.failing else 500
        response = _answer(request, body, status, renderer.content_type)
        if status == 500:
            # A failing check is this answer's content, not a server error: without this, Django's
            # request logger writes "Internal Server Error" at ERROR for every probe, and with ADMINS set
            # mail_admins sends one e-mail per probe. The poller logs each change once (journal.py).
            # Only answers built here are marked: an exception raised in this view is still logged.
            response._has_been_logged = True  # what django.utils.log.log_response() checks first
        for name, value in headers.items():
            response[name] = value
        self._finish_headers(request, response, token)
        return response

    def _fill(self, frame: _Frame, renderer: type[Renderer], body: bytes, detail: str) -> bytes:
        """The live body with this second's ages: filled at most once per second per format."""
        timestamp = time.time()
        second = int(timestamp)
        filled = frame.filled.get((body, second))
        if filled is None:
            now = datetime.datetime.fromtimestamp(timestamp, _UTC)
            stale_intervals = float(get_config()["STALE_AFTER_INTERVALS"])
            instance = renderer()
            report = self._report_for(frame, detail)
            parts = frame.parts.get(body)
            if parts is None:  # run times and moments: once per snapshot change
                parts = frame.parts[body] = instance.resolve(split_markers(body), report, now, stale_intervals, "DC")
            filled = b"".join(instance.resolve(parts, report, now, stale_intervals, "ASN"))
            bodies = frame.filled
            if len(bodies) >= 32:  # bounded; replaced, never iterated: other threads may be writing to it
                bodies = frame.filled = {}
            bodies[(body, second)] = filled
        return filled

    def _report_for(self, frame: _Frame, detail: str) -> Report:
        if detail == redaction.FULL:
            return frame.report
        report = frame.redacted.get(detail)
        if report is None:
            report = frame.redacted[detail] = redaction.redact_report(frame.report, detail)
        return report

    def _render(
        self, frame: _Frame, renderer: type[Renderer], request: HttpRequest, detail: str = redaction.FULL
    ) -> tuple[bytes, dict[str, str]]:
        url_key = request.get_host() + request.get_full_path() if renderer.uses_urls else ""
        key = (renderer, url_key, detail)
        rendered = frame.rendered.get(key)
        if rendered is None and renderer.reuse_across_runs:
            # A new run that changed no name, state, message or "since" keeps the previous body.
            kept = self._bodies.get(key)
            if kept is not None and kept[0] == frame.signature and time.time() - kept[1] < FRAME_SECONDS:
                rendered = frame.rendered[key] = kept[2]
        if rendered is None:
            journal = self._journal(frame, renderer) if renderer.uses_journal else []
            stale_intervals = float(get_config()["STALE_AFTER_INTERVALS"])
            context = RenderContext(
                endpoint_url=request.build_absolute_uri(request.path) if renderer.uses_urls else "",
                feed_url=request.build_absolute_uri() if renderer.uses_urls else "",
                feed_author=self.feed_author,
                template_name=self.template_name,
                transitions=redaction.redact_transitions(journal, detail) if renderer.uses_journal else (),
                stale_intervals=stale_intervals,
                # Before redaction: a feed that may list no entry still has a true date.
                updated=_last_change(journal, frame.report.readings, stale_intervals) if renderer.conditional else None,
            )
            instance = renderer()
            report = self._report_for(frame, detail)
            body = instance.render_markers(report, context) if renderer.live else instance.render(report, context)
            rendered = (body, instance.headers(body, context))
            if len(frame.rendered) < 32:  # bounded: odd hosts or query strings must not grow it
                frame.rendered[key] = rendered
                if renderer.reuse_across_runs and frame.signature:
                    if len(self._bodies) >= 32:
                        self._bodies.clear()
                    self._bodies[key] = (frame.signature, time.time(), rendered)
        return rendered

    def _journal(self, frame: _Frame, renderer: type[Renderer]) -> list[Transition]:
        """Stored entries of this endpoint's checks plus the stale ones readers infer, newest first."""
        keys = self._keys or ()
        limit = FEED_ITEMS if renderer.conditional else PAGE_ITEMS_PER_CHECK * max(1, len(keys))
        try:
            stored = get_store().read_transitions(keys, limit)
        except StoreError:
            stored = []  # the readings already say the store is unreadable
        stale_intervals = float(get_config()["STALE_AFTER_INTERVALS"])
        # Titled as the poller titles the entry it records on its return (same id, same words).
        titles = {spec.key: spec.title or spec.name for spec in self.get_check_specs()[0]}
        synthesized = [
            stale_transition(reading.name, reading.snapshot, stale_intervals, title=titles.get(reading.snapshot.key))
            for reading in frame.report.readings
            if reading.state is State.STALE and reading.snapshot is not None
        ]
        return merge_recent(stored, synthesized, limit)

    def _finish_headers(self, request: HttpRequest, response: HttpResponse, token: str | None) -> None:
        response["Vary"] = "Accept, Authorization" if token else "Accept"
        seconds = max(0, int(self.max_age.total_seconds())) if self.max_age else 0
        if (
            seconds
            and response.status_code in (200, 500)
            and request.method in ("GET", "HEAD")
            and "HTTP_AUTHORIZATION" not in request.META
        ):
            # Shared caches (a CDN, a proxy) may answer probes for max_age; authenticated answers never.
            response["Cache-Control"] = f"public, max-age={seconds}"
        else:
            response["Cache-Control"] = "no-store"


def frame_detail(frame: _Frame) -> str:
    """The anonymous detail level of the settings the frame was built with."""
    config = frame.config if frame.config is not None else get_config()
    level = config.get("ANONYMOUS_DETAIL", redaction.FULL)
    return level if level in redaction.LEVELS else redaction.STATUS  # unknown values fail closed


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


def _frame_expiry(readings: Iterable[Reading], timestamp: float, stale_intervals: float) -> float:
    """When a frame built at ``timestamp`` stops telling the truth (see ``_Frame``)."""
    expires = timestamp + FRAME_SECONDS
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


_COROUTINE_MARK_311 = getattr(asyncio.coroutines, "_is_coroutine", None)
_COROUTINE_MARK_312 = getattr(inspect, "_is_coroutine_mark", None)


class HealthCheckEndpoint:
    """The callable a URL pattern holds: one ``HealthCheckView`` instance serving every request.

    Keeps ``view_class`` and ``view_initkwargs`` like Django's class-based views, so URL introspection,
    the ``health_check`` command and the poller's endpoint discovery find it.
    """

    def __init__(self, view_class: type[HealthCheckView], initkwargs: dict[str, Any]) -> None:
        self.view_class = view_class
        self.view_initkwargs = initkwargs
        self.view = view_class(**initkwargs)
        self.__name__ = view_class.__name__
        self.__qualname__ = view_class.__qualname__
        self.__module__ = view_class.__module__
        self.__doc__ = view_class.__doc__
        # A probe never touches the database, so ATOMIC_REQUESTS must not wrap it in a transaction.
        self._non_atomic_requests = frozenset(getattr(settings, "DATABASES", {}) or {"default"})

    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if asyncio._get_running_loop() is not None:
            return self._respond_async(request)
        return self.view.respond(request)

    async def _respond_async(self, request: HttpRequest) -> HttpResponse:
        return self.view.respond(request)

    @property
    def _is_coroutine(self) -> object:  # Python 3.11's asyncio.iscoroutinefunction()
        return _COROUTINE_MARK_311 if asyncio._get_running_loop() is not None else None

    @property
    def _is_coroutine_marker(self) -> object:  # Python 3.12+'s inspect.iscoroutinefunction()
        return _COROUTINE_MARK_312 if asyncio._get_running_loop() is not None else None

    def __repr__(self) -> str:
        return f"<{self.view_class.__qualname__} endpoint>"
