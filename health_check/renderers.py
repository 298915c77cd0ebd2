"""One class per output format. A renderer turns a ``Report`` into bytes; it never sees the request.

The JSON and text formats keep django-health-check's exact shape (``{"<name>": "OK"}`` and
``<name>: OK`` lines), because monitoring tools compare those values to "OK". The HTML page and
OpenMetrics add how old each snapshot is. Feeds list journal entries, one item per change of state
(``health_check.journal``), so a reader that posts new items posts each change once. Feeds and
OpenMetrics always answer 200: feed readers and Prometheus treat any other status as "the endpoint is
broken", not "a check failed".
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from django.core.serializers.json import DjangoJSONEncoder
from django.template.loader import get_template
from django.utils.feedgenerator import SyndicationFeed
from django.utils.http import http_date

from health_check import status_page
from health_check._badge import COLOURS, SHIELDS_COLOURS, badge_label, badge_state, badge_svg
from health_check._syndication import StableAtomFeed, StableRSSFeed
from health_check._time import isoformat
from health_check.journal import STATUS, Transition
from health_check.snapshot import Reading, Report, State, describe_age

# The status-page model lives in health_check.status_page; these names stay importable from here.
from health_check.status_page import (  # noqa: F401
    DEFAULT_TEMPLATE,
    MIN_SEGMENT,
    NO_DATA,
    STYLESHEET,
    reported_since,
    timeline,
)
from health_check.uptime import WINDOWS, Uptime

__all__ = [
    "ANCHOR_RENDERERS",
    "AtomRenderer",
    "DEFAULT_RENDERERS",
    "HTMLRenderer",
    "HealthJSONRenderer",
    "JSONRenderer",
    "OpenMetricsRenderer",
    "RSSRenderer",
    "RenderContext",
    "Renderer",
    "SVGBadgeRenderer",
    "ShieldsRenderer",
    "TextRenderer",
    "UptimeRenderer",
    "escape_label",
    "format_labels",
    "validators",
]


@dataclasses.dataclass(frozen=True, slots=True)
class RenderContext:
    """What a renderer may know about the endpoint besides the report.

    Args:
        endpoint_url: Absolute URL of the endpoint, without query string (feed and item links).
        feed_url: Absolute URL of this very feed, with its query string.
        feed_author: Author name of feed items.
        template_name: Template of the HTML page.
        transitions: Journal entries of the endpoint's checks, newest first (for renderers that set
            ``uses_journal``), already redacted for this request.
        stale_intervals: ``HEALTH_CHECK["STALE_AFTER_INTERVALS"]``, to tell when a snapshot went stale.
        updated: When what the endpoint reports last changed (newest journal entry or change of state,
            before redaction); a feed without items is dated by it, never by "now" or by 1970.
        now: The moment ages are measured from (``live`` renderers); ``None``: the report's time.
        stylesheet: The CSS the HTML page inlines (``HealthCheckView.stylesheet``).
        badge_label: The left word of the badges (``HealthCheckView.badge_label``).
        uptime: Check name -> window -> its figures (renderers that set ``uses_uptime``), from the
            whole journal, before redaction: a renderer shows only the checks the report names.
        endpoint_uptime: Window -> the endpoint's figures.
        days: Check name -> its worst state per UTC day of the last 30, oldest first (the HTML page).
    """

    endpoint_url: str = ""
    feed_url: str = ""
    feed_author: str = "Django Health Check"
    template_name: str = "health_check/index.html"
    transitions: tuple[Transition, ...] = ()
    stale_intervals: float = 3.0
    updated: datetime.datetime | None = None
    now: datetime.datetime | None = None
    stylesheet: str = ""
    badge_label: str = "health"
    uptime: Mapping[str, Mapping[str, Uptime]] | None = None
    endpoint_uptime: Mapping[str, Uptime] | None = None
    days: Mapping[str, Sequence[tuple[datetime.date, str]]] | None = None


class Renderer:
    """Base of all renderers: its format name, media types, and ``render()``."""

    #: The ``?format=`` value that selects it.
    format: ClassVar[str]
    #: The media type listed in the 406 answer.
    media_type: ClassVar[str]
    #: Accept media ranges this renderer answers.
    accepts: ClassVar[frozenset[str]]
    #: The Content-Type header of its responses.
    content_type: ClassVar[str]
    #: Whether the response is 200 even when checks fail.
    always_ok: ClassVar[bool] = False
    #: Whether the output depends on the request's URL (so cached bytes are kept per URL).
    uses_urls: ClassVar[bool] = False
    #: Whether it shows journal entries (the view reads them only for these renderers).
    uses_journal: ClassVar[bool] = False
    #: Whether responses carry ETag and Last-Modified and answer conditional requests with 304.
    conditional: ClassVar[bool] = False
    #: Whether it shows uptime (the view then reads the whole journal of the endpoint's checks, once per state).
    uses_uptime: ClassVar[bool] = False
    #: Whether the output shows durations relative to "now" (ages): the view then renders it again
    #: when the second changes, so a cached body never shows an age more than a second off.
    live: ClassVar[bool] = False

    def render(self, report: Report, context: RenderContext) -> bytes:
        """The whole output; ages are measured from ``context.now`` (the report's time when unset)."""
        raise NotImplementedError

    def format_age(self, seconds: float | None) -> str:
        return "never" if seconds is None else describe_age(seconds)

    def format_duration(self, seconds: float | None) -> str:
        return "–" if seconds is None else f"{seconds * 1000:.1f}\u202fms"

    def format_now(self, now: datetime.datetime) -> str:
        return now.isoformat(timespec="seconds")

    def headers(self, body: bytes, context: RenderContext) -> dict[str, str]:
        """Extra response headers for ``body``; computed once per rendered body, not per request.

        A ``conditional`` renderer's answers carry their validators (ETag, Last-Modified).
        """
        return validators(body, context) if self.conditional else {}


def _now(report: Report, context: RenderContext) -> datetime.datetime:
    return context.now or report.generated_at


def _seconds_since(moment: datetime.datetime | None, now: datetime.datetime) -> float | None:
    return None if moment is None else (now - moment).total_seconds()


class TextRenderer(Renderer):
    format = "text"
    media_type = "text/plain"
    accepts = frozenset({"text/plain"})
    content_type = "text/plain; charset=utf-8"

    def render(self, report: Report, context: RenderContext) -> bytes:
        return "".join(f"{reading.name}: {reading.message}\n" for reading in report.readings).encode()


class HTMLRenderer(Renderer):
    format = "html"
    media_type = "text/html"
    accepts = frozenset({"text/html", "application/xhtml+xml", "text/*", "*/*"})
    content_type = "text/html; charset=utf-8"
    uses_journal = True
    uses_uptime = True
    live = True

    def render(self, report: Report, context: RenderContext) -> bytes:
        return get_template(context.template_name).render(self.context_data(report, context)).encode()

    def context_data(self, report: Report, context: RenderContext) -> dict[str, Any]:
        """What the template sees (``health_check.status_page``), ages written by this renderer's hooks."""
        return status_page.page_context(
            report,
            context.transitions,
            _now(report, context),
            stale_intervals=context.stale_intervals,
            stylesheet=context.stylesheet,
            formats=self,
            uptime=context.uptime,
            days=context.days,
        )


class JSONRenderer(Renderer):
    format = "json"
    media_type = "application/json"
    accepts = frozenset({"application/json", "application/*"})
    content_type = "application/json"

    def render(self, report: Report, context: RenderContext) -> bytes:
        # Same encoder settings as Django's JsonResponse, so bytes match django-health-check's.
        return json.dumps({r.name: r.message for r in report.readings}, cls=DjangoJSONEncoder).encode()


def escape_label(value: str) -> str:
    """An OpenMetrics label value: backslash, double quote and line feed escaped (OpenMetrics 1.0, ABNF)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_labels(labels: Mapping[str, Any]) -> str:
    """Labels as OpenMetrics writes them between braces: ``check="Cache",alias="default"``."""
    return ",".join(f'{key}="{escape_label(str(value))}"' for key, value in dict(labels).items())


class OpenMetricsRenderer(Renderer):
    format = "openmetrics"
    media_type = "application/openmetrics-text"
    accepts = frozenset({"application/openmetrics-text"})
    content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    always_ok = True
    live = True
    uses_uptime = True

    def format_age(self, seconds: float | None) -> str:
        return "NaN" if seconds is None or math.isnan(seconds) else f"{seconds:.3f}"

    def render(self, report: Report, context: RenderContext) -> bytes:
        readings = report.readings
        now = _now(report, context)
        lines = [
            "# HELP django_health_check_status Health check status (1 = healthy, 0 = unhealthy)",
            "# TYPE django_health_check_status gauge",
        ]
        lines += [
            f"django_health_check_status{{{format_labels(r.labels)}}} {0 if report.counts_as_failing(r) else 1}"
            for r in readings
        ]
        lines += [
            "# HELP django_health_check_response_time_seconds Health check response time in seconds",
            "# TYPE django_health_check_response_time_seconds gauge",
        ]
        lines += [
            f"django_health_check_response_time_seconds{{{format_labels(r.labels)}}} {r.duration_seconds:.6f}"
            for r in readings
            if r.duration_seconds is not None
        ]
        lines += [
            "# HELP django_health_check_snapshot_age_seconds Age of the snapshot each check is reported from",
            "# TYPE django_health_check_snapshot_age_seconds gauge",
        ]
        lines += [
            f"django_health_check_snapshot_age_seconds{{{format_labels(r.labels)}}} "
            f"{self.format_age(_seconds_since(r.checked_at, now))}"
            for r in readings
        ]
        # An OpenMetrics StateSet: one sample per state, 1 for the current one, so an alert can name
        # stale or pending checks (a poller that stopped) apart from failing services.
        lines += [
            "# HELP django_health_check_state State each check is reported in",
            "# TYPE django_health_check_state stateset",
        ]
        lines += [
            f"django_health_check_state{{{format_labels({**dict(r.labels), 'django_health_check_state': state.value})}}} "
            f"{1 if r.state is state else 0}"
            for r in readings
            for state in State
        ]
        if context.uptime is not None:
            # From the journal (once per state): a dashboard's 30-day SLA without a query over history.
            lines += [
                "# HELP django_health_check_uptime_ratio Share of the known time each check served (ok or "
                "warning) over the window; NaN when none of it is known",
                "# TYPE django_health_check_uptime_ratio gauge",
            ]
            lines += [
                f"django_health_check_uptime_ratio{{{format_labels({**dict(r.labels), 'window': window})}}} "
                f"{'NaN' if found.uptime is None else f'{found.uptime:.6f}'}"
                for r in readings
                if r.name in context.uptime
                for window, found in context.uptime[r.name].items()
            ]
        lines += [
            "# HELP django_health_check_overall_status Overall health check status "
            "(1 = all healthy, 0 = at least one unhealthy)",
            "# TYPE django_health_check_overall_status gauge",
            f"django_health_check_overall_status {0 if report.failing else 1}",
            "# EOF",
        ]
        return ("\n".join(lines) + "\n").encode()


class _FeedRenderer(Renderer):
    feed_class: ClassVar[type[SyndicationFeed]]
    always_ok = True
    uses_urls = True
    uses_journal = True
    conditional = True

    def render(self, report: Report, context: RenderContext) -> bytes:
        feed = self.feed_class(
            title="Health Check Status",
            link=context.endpoint_url,
            description="Current status of system health checks",
            feed_url=context.feed_url,
            built_at=_feed_date(report, context),
        )
        for transition in context.transitions:
            feed.add_item(
                title=transition.title,
                link=transition.link or context.endpoint_url,
                description=transition.message,
                unique_id=f"urn:uuid:{transition.id}",
                unique_id_is_permalink=False,
                pubdate=transition.at,
                updateddate=transition.at,
                author_name=context.feed_author,
                # A status change explained by an upstream incident is filed under both.
                categories=[transition.to_state, transition.kind]
                + (["incident"] if transition.incident and transition.kind == STATUS else []),
            )
        return feed.writeString("utf-8").encode()


def validators(body: bytes, context: RenderContext) -> dict[str, str]:
    """RFC 9110 §8.8: a strong validator of exactly these bytes, and the newest entry's or change's time."""
    headers = {"ETag": f'"{hashlib.sha256(body).hexdigest()[:32]}"'}
    if context.transitions:
        headers["Last-Modified"] = http_date(max(t.at for t in context.transitions).timestamp())
    elif context.updated is not None:
        headers["Last-Modified"] = http_date(context.updated.timestamp())
    return headers


def _feed_date(report: Report, context: RenderContext) -> datetime.datetime:
    """The date of a feed without items: the last change, else (nothing observed yet) the report's time."""
    return context.updated or report.generated_at


class AtomRenderer(_FeedRenderer):
    format = "atom"
    media_type = "application/atom+xml"
    accepts = frozenset({"application/atom+xml"})
    content_type = "application/atom+xml; charset=utf-8"
    feed_class = StableAtomFeed


class RSSRenderer(_FeedRenderer):
    format = "rss"
    media_type = "application/rss+xml"
    accepts = frozenset({"application/rss+xml"})
    content_type = "application/rss+xml; charset=utf-8"
    feed_class = StableRSSFeed


_HEALTH_STATUS = {
    State.OK: "pass",
    State.WARNING: "warn",
    State.ERROR: "fail",
    State.STALE: "fail",
    State.PENDING: "fail",
    State.MAINTENANCE: "pass",  # probe_state never is; kept so a lookup cannot fail
}


class HealthJSONRenderer(Renderer):
    """The IETF health check response format (draft-inadarei-api-health-check).

    Each check is one entry of ``checks``, keyed by its name: ``componentId`` is its store key,
    ``time`` when it was observed, ``observedValue``/``observedUnit`` its measurement (a check's
    ``observed_value``/``observed_unit`` details, else the run's latency in ms). ``output`` carries
    the message of checks that do not pass (the draft: omit it for "pass").
    """

    format = "health+json"
    media_type = "application/health+json"
    accepts = frozenset({"application/health+json"})
    content_type = "application/health+json"

    def render(self, report: Report, context: RenderContext) -> bytes:
        if report.failing:
            overall = "fail"  # the HTTP status is 500 here (WARNINGS_AS_ERRORS): keep body and status agreeing
        elif any(reading.probe_state is State.WARNING for reading in report.readings):
            overall = "warn"
        else:
            overall = "pass"
        body: dict[str, Any] = {"status": overall}
        readings = report.readings
        if not (len(readings) == 1 and readings[0].labels.get("check") == "Overall"):
            body["checks"] = {reading.name: [self.component(reading)] for reading in readings}
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()

    @staticmethod
    def component(reading: Reading) -> dict[str, Any]:
        status = _HEALTH_STATUS[reading.probe_state]
        entry: dict[str, Any] = {"status": status}
        snapshot = reading.snapshot
        if snapshot is not None:
            entry["componentId"] = snapshot.key
            entry["componentType"] = "component"
            details: Mapping[str, Any] = snapshot.details if isinstance(snapshot.details, Mapping) else {}
            value = details.get("observed_value")
            # math.isfinite() only for floats: it raises OverflowError on an int too large for a float.
            if (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, float) and math.isfinite(value)
            ):
                entry["observedValue"] = value
                entry["observedUnit"] = str(details.get("observed_unit") or "")
            else:
                entry["observedValue"] = round(snapshot.duration_seconds * 1000, 3)
                entry["observedUnit"] = "ms"
            entry["time"] = isoformat(snapshot.checked_at)
        if status != "pass":
            entry["output"] = reading.message
        return entry


class SVGBadgeRenderer(Renderer):
    """``?format=svg``: a status badge for a README or a dashboard (label and worst state, coloured).

    Always 200, as an image must be to be shown; its ETag and Last-Modified let image proxies (GitHub's
    camo) revalidate it cheaply.
    """

    format = "svg"
    media_type = "image/svg+xml"
    accepts = frozenset({"image/svg+xml", "image/*"})
    content_type = "image/svg+xml; charset=utf-8"
    always_ok = True
    conditional = True

    def render(self, report: Report, context: RenderContext) -> bytes:
        word = badge_state(report.readings)
        return badge_svg(context.badge_label, word, COLOURS[word]).encode()


class ShieldsRenderer(Renderer):
    """``?format=shields``: shields.io's endpoint JSON, for ``https://img.shields.io/endpoint?url=...``.

    Selected by ``?format=`` only (its media type is plain JSON); always 200, as shields.io requires.
    """

    format = "shields"
    media_type = "application/json"
    accepts = frozenset()
    content_type = "application/json"
    always_ok = True
    conditional = True

    def render(self, report: Report, context: RenderContext) -> bytes:
        word = badge_state(report.readings)
        payload = {
            "schemaVersion": 1,
            "label": badge_label(context.badge_label),
            "message": word,
            "color": SHIELDS_COLOURS[word],
            "isError": word != "ok",
        }
        return json.dumps(payload, ensure_ascii=False).encode()


class UptimeRenderer(Renderer):
    """``?format=uptime``: time in each state over 24 h, 7 d and 30 d, per check and for the endpoint (JSON).

    Always 200: it reports history, not the current state (which it also shows, per check).
    """

    format = "uptime"
    media_type = "application/json"
    accepts = frozenset()
    content_type = "application/json"
    always_ok = True
    uses_uptime = True

    def render(self, report: Report, context: RenderContext) -> bytes:
        figures = context.uptime or {}
        checks = {
            reading.name: {
                "state": str(reading.state),
                "windows": {window: found.as_dict() for window, found in figures[reading.name].items()},
            }
            for reading in report.readings
            if reading.name in figures
        }
        payload = {
            "generated_at": isoformat(_now(report, context)),
            "windows": {name: int(length.total_seconds()) for name, length in WINDOWS.items()},
            "endpoint": {window: found.as_dict() for window, found in (context.endpoint_uptime or {}).items()},
            "checks": checks,
        }
        return json.dumps(payload, ensure_ascii=False).encode()


#: django-health-check's six formats, in the order of its 406 message (the only ones that message lists).
ANCHOR_RENDERERS: tuple[type[Renderer], ...] = (
    TextRenderer,
    HTMLRenderer,
    JSONRenderer,
    AtomRenderer,
    RSSRenderer,
    OpenMetricsRenderer,
)
#: Every format an endpoint serves by default: django-health-check's, then ours.
DEFAULT_RENDERERS: tuple[type[Renderer], ...] = (
    TextRenderer,
    HTMLRenderer,
    JSONRenderer,
    AtomRenderer,
    RSSRenderer,
    OpenMetricsRenderer,
    HealthJSONRenderer,
    SVGBadgeRenderer,
    ShieldsRenderer,
    UptimeRenderer,
)
