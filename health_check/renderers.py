"""One class per output format. A renderer turns a ``Report`` into bytes; it never sees the request.

The JSON and text formats keep django-health-check's exact shape (``{"<name>": "OK"}`` and
``<name>: OK`` lines), because monitoring tools compare those values to "OK". The HTML page and
OpenMetrics add how old each snapshot is. Feeds and OpenMetrics always answer 200: feed readers and
Prometheus treat any other status as "the endpoint is broken", not "a check failed".
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from typing import ClassVar

from django.core.serializers.json import DjangoJSONEncoder
from django.template.loader import get_template
from django.utils.feedgenerator import Atom1Feed, Rss201rev2Feed, SyndicationFeed

from health_check.snapshot import Report, State, describe_age

__all__ = [
    "AtomRenderer",
    "DEFAULT_RENDERERS",
    "HTMLRenderer",
    "JSONRenderer",
    "OpenMetricsRenderer",
    "RSSRenderer",
    "RenderContext",
    "Renderer",
    "TextRenderer",
]

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


@dataclasses.dataclass(frozen=True, slots=True)
class RenderContext:
    """What a renderer may know about the endpoint besides the report.

    Args:
        endpoint_url: Absolute URL of the endpoint, without query string (feed and item links).
        feed_url: Absolute URL of this very feed, with its query string.
        feed_author: Author name of feed items.
        template_name: Template of the HTML page.
    """

    endpoint_url: str = ""
    feed_url: str = ""
    feed_author: str = "Django Health Check"
    template_name: str = "health_check/index.html"


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

    def render(self, report: Report, context: RenderContext) -> bytes:
        raise NotImplementedError


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

    def render(self, report: Report, context: RenderContext) -> bytes:
        rows = [
            {
                "name": reading.name,
                "state": reading.state.value,
                "message": reading.message,
                "failing": report.counts_as_failing(reading),
                "age": describe_age(reading.age_seconds) if reading.age_seconds is not None else "never",
                "checked_at": reading.checked_at,
                "duration_ms": None if reading.duration_seconds is None else reading.duration_seconds * 1000,
            }
            for reading in report.readings
        ]
        template = get_template(context.template_name)
        return template.render(
            {
                "rows": rows,
                "errors": report.failing,
                "generated_at": report.generated_at,
                "counts": _counts(report),
            }
        ).encode()


def _counts(report: Report) -> dict[str, int]:
    counts = {state.value: 0 for state in State}
    for reading in report.readings:
        counts[reading.state.value] += 1
    return counts


class JSONRenderer(Renderer):
    format = "json"
    media_type = "application/json"
    accepts = frozenset({"application/json", "application/*"})
    content_type = "application/json"

    def render(self, report: Report, context: RenderContext) -> bytes:
        # Same encoder settings as Django's JsonResponse, so bytes match django-health-check's.
        return json.dumps({r.name: r.message for r in report.readings}, cls=DjangoJSONEncoder).encode()


def _escape_label(value: str) -> str:
    # OpenMetrics label values escape backslash, double quote and line feed.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: dict[str, str] | object) -> str:
    return ",".join(f'{key}="{_escape_label(str(value))}"' for key, value in dict(labels).items())  # type: ignore[arg-type]


class OpenMetricsRenderer(Renderer):
    format = "openmetrics"
    media_type = "application/openmetrics-text"
    accepts = frozenset({"application/openmetrics-text"})
    content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    always_ok = True

    def render(self, report: Report, context: RenderContext) -> bytes:
        readings = report.readings
        lines = [
            "# HELP django_health_check_status Health check status (1 = healthy, 0 = unhealthy)",
            "# TYPE django_health_check_status gauge",
        ]
        lines += [
            f"django_health_check_status{{{_labels(r.labels)}}} {0 if report.counts_as_failing(r) else 1}"
            for r in readings
        ]
        lines += [
            "# HELP django_health_check_response_time_seconds Health check response time in seconds",
            "# TYPE django_health_check_response_time_seconds gauge",
        ]
        lines += [
            f"django_health_check_response_time_seconds{{{_labels(r.labels)}}} {r.duration_seconds:.6f}"
            for r in readings
            if r.duration_seconds is not None
        ]
        lines += [
            "# HELP django_health_check_snapshot_age_seconds Age of the snapshot each check is reported from",
            "# TYPE django_health_check_snapshot_age_seconds gauge",
        ]
        lines += [
            f"django_health_check_snapshot_age_seconds{{{_labels(r.labels)}}} "
            f"{'NaN' if r.age_seconds is None or math.isnan(r.age_seconds) else f'{r.age_seconds:.3f}'}"
            for r in readings
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

    def render(self, report: Report, context: RenderContext) -> bytes:
        feed = self.feed_class(
            title="Health Check Status",
            link=context.endpoint_url,
            description="Current status of system health checks",
            feed_url=context.feed_url,
        )
        for reading in report.readings:
            failing = report.counts_as_failing(reading)
            published = (reading.checked_at or report.generated_at) if failing else _EPOCH
            feed.add_item(
                title=reading.name,
                link=context.endpoint_url,
                description=reading.message,
                pubdate=published,
                updateddate=published,
                author_name=context.feed_author,
                categories=["error", "unhealthy"] if failing else ["healthy"],
            )
        return feed.writeString("utf-8").encode()


class AtomRenderer(_FeedRenderer):
    format = "atom"
    media_type = "application/atom+xml"
    accepts = frozenset({"application/atom+xml"})
    content_type = "application/atom+xml; charset=utf-8"
    feed_class = Atom1Feed


class RSSRenderer(_FeedRenderer):
    format = "rss"
    media_type = "application/rss+xml"
    accepts = frozenset({"application/rss+xml"})
    content_type = "application/rss+xml; charset=utf-8"
    feed_class = Rss201rev2Feed


#: In the order of django-health-check's 406 message.
DEFAULT_RENDERERS: tuple[type[Renderer], ...] = (
    TextRenderer,
    HTMLRenderer,
    JSONRenderer,
    AtomRenderer,
    RSSRenderer,
    OpenMetricsRenderer,
)
