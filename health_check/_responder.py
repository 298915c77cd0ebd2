"""The shared part of one endpoint, like whitenoise's responders: state, bodies, and the fast answer.

A ``Responder`` resolves the endpoint's checks once and keeps an ``EndpointState`` per store read that
changed anything (snapshots, settings, the moment a fresh snapshot turns stale). A state keeps one
immutable rendered ``Body`` per (format, detail level, URL for feeds), built by the first request that
needs it; formats that show ages (``Renderer.live``) are rendered again when the second changes.
``Responder.respond()`` answers a request exactly as ``HealthCheckView``'s hooks would, without a view
instance; the hooks read the same state when a subclass overrides them.
"""

from __future__ import annotations

import dataclasses
import datetime
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotAllowed
from django.template.loader import get_template

from health_check import redaction
from health_check._answers import Body, bad_request, finish_answer, forbidden, not_acceptable, template_answer
from health_check._drain import active_drain, drain_key, drain_reading
from health_check._index import configuration_reading, endpoint_readings
from health_check._request import absolute_url, authorized, format_parameter
from health_check._results import Draining, Overall, Unresolved, result
from health_check._status_codes import StatusCodes
from health_check._subsets import SubsetError, query_names, reading_names, select
from health_check.base import HealthCheckResult
from health_check.conf import get_config, journal_bounds
from health_check.dependencies import fold_for_feed
from health_check.journal import (
    STATUS,
    Transition,
    append_transitions,
    merge_recent,
    read_transitions,
    stale_transition,
)
from health_check.negotiation import NotAcceptable, select_renderer
from health_check.renderers import HTMLRenderer, RenderContext, Renderer, UptimeRenderer
from health_check.snapshot import Reading, Report, Snapshot, State
from health_check.specs import CheckSpec, EntryError, resolve_entries
from health_check.status_page import reported_since
from health_check.store import StoreError, get_store
from health_check.uptime import WINDOWS, Uptime, daily, endpoint_uptime, uptime

__all__ = [
    "ALLOWED_METHODS",
    "FEED_ITEMS",
    "MAX_BODIES",
    "MAX_RECORDED",
    "MAX_SUBSETS",
    "PAGE_ITEMS_PER_CHECK",
    "STATE_SECONDS",
    "EndpointState",
    "Responder",
    "configuration_reading",
    "drain_reading",
    "last_change",
    "observed_start",
    "state_expiry",
]

_UTC = datetime.UTC
#: Uptime per check and window, the endpoint's, and each check's daily bars.
Figures = tuple[dict[str, dict[str, Uptime]], dict[str, Uptime], dict[str, list[tuple[datetime.date, str]]]]
ALLOWED_METHODS = ("GET", "HEAD", "OPTIONS")
#: Journal entries a feed lists: enough for a day of trouble, bounded for readers and for us.
FEED_ITEMS = 50
#: Entries the status page reads per check, for its 24 h timelines.
PAGE_ITEMS_PER_CHECK = 30
#: Longest a state is reused (seconds): a bound, since every age-showing format is re-rendered per second.
STATE_SECONDS = 300.0
#: Rendered bodies kept per state: odd hosts or query strings (feeds key by URL) must not grow it.
MAX_BODIES = 32
#: Subsets (``?check=``) derived and kept per state, at most: the query string is the client's.
MAX_SUBSETS = 16
#: Longest the uptime figures are kept while no check changes state (seconds): the windows slide meanwhile.
UPTIME_SECONDS = 60.0
#: Ids of recorded stale entries a responder remembers (so it writes each once), at most.
MAX_RECORDED = 1000


@dataclasses.dataclass(slots=True, eq=False)
class EndpointState:
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
    status: int  # the HTTP status of the status-carrying formats (the endpoint's ``status_codes=``)
    checks: tuple[Any, ...]  # per reading: the check instance, for HealthCheckResult
    bodies: dict[Any, Any] = dataclasses.field(default_factory=dict)
    #: Subsets derived from this state (``?check=``), apart from ``bodies`` so they never crowd them out.
    subsets: dict[Any, EndpointState] = dataclasses.field(default_factory=dict)
    #: The store keys of the readings' checks, for a subset (``?check=``); ``None``: the endpoint's.
    keys: tuple[str, ...] | None = None
    #: This host drains (``health_check_drain``) and the endpoint is a readiness one: the last reading says so.
    draining: bool = False

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
            checks = self.checks if detail != redaction.STATUS else (Overall(),)
            results = self.bodies[key] = tuple(
                result(reading, check) for reading, check in zip(report.readings, checks)
            )
        return results


class Responder:
    """The shared part of one endpoint: resolved checks, the current ``EndpointState``, and the fast answer."""

    def __init__(self, view: Any, base: Any) -> None:
        self.view = view  # the prototype: as_view()'s arguments applied; never serves a request itself
        self._base = base  # HealthCheckView, whose get_checks() reads the view's ``checks``
        self._resolved: tuple[tuple[CheckSpec, ...], tuple[EntryError, ...]] | None = None
        self._resolve_guard = threading.Lock()
        self._keys: tuple[str, ...] | None = None
        self._state: EndpointState | None = None
        self._recorded: set[str] = set()  # ids of the stale entries this process recorded
        self.clock = view.clock
        self._uptime_memo: dict[Any, tuple[float, Any, Figures]] = {}  # fingerprint -> (at, config, figures)
        self.status_codes = StatusCodes(view.status_codes, where=f"{type(view).__qualname__} status_codes")

    # -- checks and state -------------------------------------------------------------------------

    def _entries(self) -> Iterable[Any]:
        if type(self.view).get_checks is not self._base.get_checks:
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

    def state(self, now: datetime.datetime | None = None) -> tuple[EndpointState, float]:
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
        read = keys
        try:
            store = get_store()
            if self.view.readiness:  # the drain mark is read with the snapshots: no request pays for it
                read = (*keys, drain_key(store.host_id))
            found = store.read(read)
        except StoreError as error:
            return self._without_store(
                specs, errors, now or datetime.datetime.fromtimestamp(timestamp, _UTC), str(error)
            ), timestamp
        snapshots = tuple(map(found.get, read))
        state = self._state
        config = get_config()
        if state is not None and timestamp < state.expires and state.config is config and state.snapshots == snapshots:
            return state, timestamp
        now = now or datetime.datetime.fromtimestamp(timestamp, _UTC)
        stale_intervals = float(config["STALE_AFTER_INTERVALS"])
        drain = active_drain(snapshots[-1], timestamp) if len(snapshots) > len(keys) else None
        readings = endpoint_readings(specs, errors, found, now, stale_intervals=stale_intervals, drain=drain)
        checks = tuple(spec.check for spec in specs) + tuple(Unresolved(error.entry) for error in errors)
        expires = state_expiry(readings, timestamp, stale_intervals)
        if drain is not None:
            checks += (Draining(),)
            expires = min(expires, drain.until)  # the drain ends by itself: so does this state
        report = Report(readings=tuple(readings), generated_at=now, warnings_as_errors=self._warnings_as_errors())
        state = self._state = EndpointState(
            expires=expires,
            snapshots=snapshots,
            config=config,
            report=report,
            failing=report.failing,
            status=self._status_of(report, drain is not None),
            checks=checks,
            draining=drain is not None,
        )
        return state, timestamp

    def _status_of(self, report: Report, draining: bool) -> int:
        if draining:
            return self.status_codes.for_state("draining", report.warnings_as_errors)
        return self.status_codes.for_readings(report.readings, report.warnings_as_errors)

    def _without_store(
        self, specs: Iterable[CheckSpec], errors: Iterable[EntryError], now: datetime.datetime, reason: str
    ) -> EndpointState:
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
        readings += [configuration_reading(error) for error in errors]
        report = Report(readings=tuple(readings), generated_at=now, warnings_as_errors=self._warnings_as_errors())
        checks = tuple(spec.check for spec in specs) + tuple(Unresolved(error.entry) for error in errors)
        return EndpointState(
            expires=0.0,
            snapshots=(),
            config=None,
            report=report,
            failing=report.failing,
            status=self.status_codes.for_readings(report.readings, report.warnings_as_errors),
            checks=checks,
        )

    def _warnings_as_errors(self) -> bool:
        if self.view.warnings_as_errors is not None:
            return bool(self.view.warnings_as_errors)
        return bool(get_config()["WARNINGS_AS_ERRORS"])

    def detail(self, request: HttpRequest, state: EndpointState, token: str | Sequence[str] | None) -> str:
        """Token holders see everything; anyone else what ``HEALTH_CHECK["ANONYMOUS_DETAIL"]`` allows."""
        if token and "HTTP_AUTHORIZATION" in request.META:
            return redaction.FULL
        config = state.config if state.config is not None else get_config()
        level = config.get("ANONYMOUS_DETAIL", redaction.FULL)
        return level if level in redaction.LEVELS else redaction.STATUS  # unknown values fail closed

    def subset(self, state: EndpointState, request: HttpRequest, detail: str) -> EndpointState | HttpResponseBase:
        """The state for the request's ``?check=``/``?exclude=`` (``state`` itself without them), or a 400.

        A subset is derived once per state and kept with it (``MAX_SUBSETS`` at most): its own
        readings, status and bodies, and its checks' keys for the journal.
        """
        names = query_names(request)
        if names is None:
            return state
        found = state.subsets.get(names)
        if found is not None:
            return found
        specs = self.specs()[0]
        # A drain's reading is not a check: it cannot be selected, nor excluded away.
        checked = state.report.readings[:-1] if state.draining else state.report.readings
        try:
            indexes = select(reading_names(checked), *names)
        except SubsetError as error:
            return bad_request(request, error.describe(show_names=detail != redaction.STATUS))
        if state.draining:
            indexes = (*indexes, len(checked))
        readings = tuple(state.report.readings[index] for index in indexes)
        report = dataclasses.replace(state.report, readings=readings)
        keys = self._keys or tuple(spec.key for spec in specs)
        found = EndpointState(
            expires=state.expires,
            snapshots=state.snapshots,
            config=state.config,
            report=report,
            failing=report.failing,
            status=self._status_of(report, state.draining),
            checks=tuple(state.checks[index] for index in indexes),
            keys=tuple(keys[index] for index in indexes if index < len(keys)),
            draining=state.draining,
        )
        if state.expires and len(state.subsets) < MAX_SUBSETS:
            state.subsets[names] = found
        return found

    # -- bodies -----------------------------------------------------------------------------------

    def body(
        self, state: EndpointState, renderer: type[Renderer], request: HttpRequest, detail: str, timestamp: float
    ) -> Body:
        """The state's body for this format and detail (and URL, for feeds): looked up, or rendered once."""
        key = (renderer, absolute_url(request, request.get_full_path()) if renderer.uses_urls else "", detail)
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
        self,
        report: Report,
        state: EndpointState,
        renderer: type[Renderer],
        request: HttpRequest,
        detail: str,
        timestamp: float,
    ) -> Body:
        view = self.view
        journal = self._journal(state, renderer) if renderer.uses_journal else []
        figures, overall = self.uptime(state) if renderer.uses_uptime else (None, None)
        days = self.days(state) if renderer is HTMLRenderer or issubclass(renderer, HTMLRenderer) else None
        stale_intervals = float(get_config()["STALE_AFTER_INTERVALS"])
        now = datetime.datetime.fromtimestamp(timestamp, _UTC) if renderer.live else None
        context = RenderContext(
            endpoint_url=absolute_url(request, request.path) if renderer.uses_urls else "",
            feed_url=absolute_url(request, request.get_full_path()) if renderer.uses_urls else "",
            feed_author=view.feed_author,
            template_name=view.template_name,
            transitions=redaction.redact_transitions(journal, detail) if renderer.uses_journal else (),
            stale_intervals=stale_intervals,
            # Before redaction: a feed that may list no entry still has a true date.
            updated=last_change(journal, state.report.readings, stale_intervals) if renderer.conditional else None,
            now=now,
            stylesheet=view.stylesheet,
            badge_label=view.badge_label,
            uptime=figures,
            endpoint_uptime=overall,
            days=days,
        )
        instance = renderer()
        second = int(timestamp) if renderer.live else 0
        if renderer is HTMLRenderer:
            data = instance.context_data(report, context)  # type: ignore[attr-defined]  # HTMLRenderer's
            data["results"] = list(state.results(detail)) if report is state.redacted(detail) else []
            body = get_template(view.template_name).render(data).encode()
            return Body(body, {}, second, data)
        body = instance.render(report, context)
        return Body(body, instance.headers(body, context), second, None)

    def html_context(self, report: Report, state: EndpointState, detail: str, timestamp: float) -> dict[str, Any]:
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

    def _journal(self, state: EndpointState, renderer: type[Renderer], *, whole: bool = False) -> list[Transition]:
        """Stored entries of this endpoint's checks plus the stale ones readers infer, newest first; once per state."""
        keys = state.keys if state.keys is not None else self._keys or tuple(spec.key for spec in self.specs()[0])
        if whole:  # every entry the store keeps: JOURNAL_RETENTION per check at most
            limit = journal_bounds()[0] * max(1, len(keys))
        else:
            limit = FEED_ITEMS if renderer.conditional else PAGE_ITEMS_PER_CHECK * max(1, len(keys))
        feed = renderer.conditional and not whole  # a feed lists a cascade as one item
        cached = state.bodies.get(("journal", limit, feed))
        if cached is not None:
            return cached
        try:
            stored = read_transitions(get_store(), keys, limit)
        except StoreError:
            stored = []  # the readings already say the store is unreadable
        config = get_config()
        stale_intervals = float(config["STALE_AFTER_INTERVALS"])
        # Titled as the poller titles the entry it records on its return (same id, same words).
        titles = {spec.key: spec.title or spec.name for spec in self.specs()[0]}
        latest: dict[str, Transition] = {}  # each check's newest status entry
        for entry in stored:
            if entry.kind == STATUS:
                latest.setdefault(entry.key, entry)
        synthesized = []
        for reading in state.report.readings:
            if reading.state is not State.STALE or reading.snapshot is None:
                continue
            inferred = stale_transition(
                reading.name, reading.snapshot, stale_intervals, title=titles.get(reading.snapshot.key)
            )
            recorded = latest.get(reading.snapshot.key)
            if recorded is not None and (recorded.to_state == State.STALE or recorded.at >= inferred.at):
                # This outage's stale entry is recorded (by this worker, another, another host), or the
                # poller recorded a change after the moment this snapshot went stale: it was running
                # then, and this process's read is older than the journal's (its read cache).
                continue
            synthesized.append(inferred)
        if synthesized and state.expires:
            self._record(synthesized, *journal_bounds(config))
        journal = merge_recent(stored, synthesized, limit)
        if feed:
            journal = fold_for_feed(journal, keys)
        if state.expires:  # not for a state without store: it is never looked up again
            state.bodies[("journal", limit, feed)] = journal
        return journal

    def uptime(
        self, state: EndpointState, windows: Mapping[str, datetime.timedelta] = WINDOWS
    ) -> tuple[dict[str, dict[str, Uptime]], dict[str, Uptime]]:
        """Each check's (by name) and the endpoint's figures per window, from the journal.

        For the default windows see ``_figures()``; ``health_check_report`` asks for its own, now.
        """
        if windows is WINDOWS:
            checks, endpoint, _ = self._figures(state)
            return checks, endpoint
        checks, endpoint, _ = self._compute_uptime(state, windows)
        return checks, endpoint

    def days(self, state: EndpointState) -> dict[str, list[tuple[datetime.date, str]]]:
        """Each check's worst state per UTC day of the last 30 (the status page's bars)."""
        return self._figures(state)[2]

    def _figures(self, state: EndpointState) -> Figures:
        """The default windows' figures and the daily bars, computed when they can have changed.

        A state lasts until the next snapshot, but the journal changes only when a check changes state:
        the figures are kept while every check is in the state, and since when, it was when they were
        computed, for ``UPTIME_SECONDS`` at most (by then the windows have slid by a minute).
        """
        cached = state.bodies.get(("uptime",))
        if cached is not None:
            return cached
        fingerprint = (
            state.keys,
            tuple(
                (reading.name, reading.state, reading.snapshot.since if reading.snapshot else None)
                for reading in state.report.readings
            ),
        )
        timestamp = state.report.generated_at.timestamp()
        memo = self._uptime_memo.get(fingerprint)
        if memo is not None and memo[1] is state.config and 0 <= timestamp - memo[0] < UPTIME_SECONDS:
            found = memo[2]
        else:
            found = self._compute_uptime(state, WINDOWS)
            if len(self._uptime_memo) >= MAX_SUBSETS:
                self._uptime_memo.clear()
            if state.expires:  # a state read from the store, with its settings (a new store is a new config)
                self._uptime_memo[fingerprint] = (timestamp, state.config, found)
        if state.expires:
            state.bodies[("uptime",)] = found
        return found

    def _compute_uptime(self, state: EndpointState, windows: Mapping[str, datetime.timedelta]) -> Figures:
        journal = self._journal(state, UptimeRenderer, whole=True)
        keys = set(state.keys if state.keys is not None else (spec.key for spec in self.specs()[0]))
        by_key: dict[str, list[Transition]] = {key: [] for key in keys}
        for entry in journal:
            if entry.key in by_key:
                by_key[entry.key].append(entry)
        now = state.report.generated_at
        specs = [spec for spec in self.specs()[0] if spec.key in keys]
        readings = {reading.name: reading for reading in state.report.readings}
        for spec in specs:
            reading = readings.get(spec.name)
            if reading is not None and reading.snapshot is not None:
                by_key[spec.key] = observed_start(by_key[spec.key], reading)
        return (
            {spec.name: uptime(by_key[spec.key], now, windows) for spec in specs},
            endpoint_uptime([by_key[spec.key] for spec in specs], now, windows),
            {spec.name: daily(by_key[spec.key], now) for spec in specs} if windows is WINDOWS else {},
        )

    def _record(self, synthesized: list[Transition], retention: int, max_age: float) -> None:
        """Record the stale entries this process inferred, once each: every worker and host then lists the
        same item, it never disappears before it ages out, and the poller, back, follows it with its
        recovery (``journal.after_recorded_stale()``). One write per stale event, not per request; the
        store skips an id it holds (two workers inferring it at once)."""
        new = [entry for entry in synthesized if entry.id not in self._recorded]
        if not new:
            return
        if len(self._recorded) >= MAX_RECORDED:
            self._recorded.clear()
        self._recorded.update(entry.id for entry in new)
        try:
            append_transitions(get_store(), new, retention=retention, max_age=max_age)
        except StoreError:  # the readings say the store is unreadable; a later state tries again
            self._recorded.difference_update(entry.id for entry in new)

    # -- the fast answer --------------------------------------------------------------------------

    def respond(
        self, request: HttpRequest, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> HttpResponseBase:
        """Answer one request exactly as the hooks of ``HealthCheckView`` would, without a view instance.

        The hot path reads ``request.META`` directly: ``request.headers`` and ``request.GET`` each build a
        whole mapping, which costs more than everything else a cached answer does.
        """
        meta = request.META
        view = self.view
        token = view.get_auth_token()
        if token and not authorized(meta.get("HTTP_AUTHORIZATION"), token, view.allow_anonymous):
            return forbidden(request)
        method = request.method
        if method not in ALLOWED_METHODS:
            response: HttpResponseBase = HttpResponseNotAllowed(ALLOWED_METHODS)
            self._finish_headers(request, response, token)
            return response
        if method == "OPTIONS":
            response = HttpResponse(status=200)
            response["Allow"] = ", ".join(ALLOWED_METHODS)
            response["Content-Length"] = "0"
            self._finish_headers(request, response, token)  # never cacheable: only GET/HEAD answers are
            return response
        try:
            renderer = select_renderer(format_parameter(request), meta.get("HTTP_ACCEPT"), view.renderers)
        except NotAcceptable:
            response = not_acceptable(request, view.renderers)
            self._finish_headers(request, response, token)
            return response
        state, timestamp = self.state()
        detail = redaction.FULL if token and "HTTP_AUTHORIZATION" in meta else self.detail(request, state, None)
        query = meta.get("QUERY_STRING")
        if query and ("check" in query or "exclude" in query):
            found = self.subset(state, request, detail)
            if not isinstance(found, EndpointState):
                self._finish_headers(request, found, token)
                return found
            state = found
        body = self.body(state, renderer, request, detail, timestamp)
        status = 200 if renderer.always_ok else state.status
        if renderer is HTMLRenderer:
            response = template_answer(request, view, body, status, args, kwargs or {})
        else:
            response = finish_answer(request, body, status, renderer)
        self._finish_headers(request, response, token)
        return response

    def _finish_headers(
        self, request: HttpRequest, response: HttpResponseBase, token: str | Sequence[str] | None
    ) -> None:
        # What HealthCheckView._finish() and patch_cache_headers() write, set directly (same bytes).
        response["Vary"] = "Accept, Authorization" if token else "Accept"
        max_age = self.view.max_age
        seconds = max(0, int(max_age.total_seconds())) if max_age else 0
        if (
            seconds
            and response.status_code in self.status_codes.cacheable
            and request.method in ("GET", "HEAD")
            and "HTTP_AUTHORIZATION" not in request.META
        ):
            response["Cache-Control"] = f"public, max-age={seconds}"
        else:
            response["Cache-Control"] = "no-store"


def observed_start(entries: list[Transition], reading: Reading) -> list[Transition]:
    """``entries`` with the check's first observation (its snapshot's ``observed_since``) when the journal
    holds nothing that early: a check that never changed state has been in its state since then."""
    snapshot = reading.snapshot
    observed = snapshot.observed_since if snapshot is not None else None
    if snapshot is None or observed is None:
        return entries
    changes = [entry for entry in entries if entry.kind == STATUS]
    first = min(changes, key=lambda entry: entry.at, default=None)
    if first is not None and first.at <= observed:
        return entries
    start = first.from_state if first is not None else reading.state.value
    if start == State.PENDING:
        return entries  # no result yet at that moment: nothing more is known
    first_seen = Transition(
        id="", key=snapshot.key, name=reading.name, kind=STATUS, from_state=State.PENDING.value,
        to_state=start, at=observed, message="", title="",
    )  # fmt: skip
    return [first_seen, *entries]


def last_change(
    journal: Iterable[Transition], readings: Iterable[Reading], stale_intervals: float
) -> datetime.datetime | None:
    """The newest journal entry or change of state of the endpoint's checks; ``None`` before any run."""
    moments = [entry.at for entry in journal]
    moments += [since for since in (reported_since(r, stale_intervals) for r in readings) if since is not None]
    return max(moments, default=None)


def state_expiry(readings: Iterable[Reading], timestamp: float, stale_intervals: float) -> float:
    """When a state built at ``timestamp`` stops telling the truth (see ``EndpointState``)."""
    expires = timestamp + STATE_SECONDS
    for reading in readings:
        snapshot = reading.snapshot
        if reading.state is State.STALE:
            return min(expires, timestamp + 1.0)  # its message says how old it is
        if snapshot is not None:
            expires = min(expires, snapshot.checked_at.timestamp() + snapshot.allowance_seconds(stale_intervals))
    return expires
