"""Provider status from Atlassian Statuspage pages (``/api/v2/summary.json``).

Same classes, arguments and defaults as django-health-check 4.x. The verdict is the worst of the open
incidents touching the watched component (or its group's children), the watched component's own
status, maintenance in progress, and the page's overall indicator when no component is named.
incident.io pages that copy the Statuspage API (``null`` lists, missing keys) read the same way.

Polled every 5 minutes by default (``poll_interval=`` changes it); one request per poll, conditional
when the page sends validators. Point ``base_url=`` at a mirror to test or to run offline.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from health_check.contrib._upstream import UpstreamCheck, describe_markup, isoformat
from health_check.exceptions import ServiceReturnedUnexpectedResult, ServiceUnavailable, StatusPageWarning

__all__ = [
    "AtlassianStatusPage",
    "CircleCI",
    "Cloudflare",
    "DigitalOcean",
    "Discord",
    "Docker",
    "FlyIo",
    "GitHub",
    "Netlify",
    "Npm",
    "PlatformSh",
    "PyPI",
    "Render",
    "Sentry",
    "StatusPageProvider",
    "Twilio",
    "Vercel",
    "parse_summary",
    "parse_time",
]

_TEN_SECONDS = datetime.timedelta(seconds=10)
# django-health-check's words for a body that is not JSON and for JSON of the wrong shape.
_NOT_JSON = "Failed to parse JSON response"
_STRUCTURE = "Unexpected API response structure"
#: Incidents kept in a snapshot's details (the feed needs them; the store needs them bounded).
MAX_INCIDENTS = 20

WARNING, ERROR = 1, 2

#: Component statuses (Statuspage API v2) and what each one means for the check.
COMPONENT_STATUSES: Mapping[str, tuple[int, str]] = {
    "operational": (0, "operational"),
    "degraded_performance": (WARNING, "degraded performance"),
    "partial_outage": (ERROR, "partial outage"),
    "major_outage": (ERROR, "major outage"),
    "under_maintenance": (WARNING, "under maintenance"),
}
#: Page indicators, used when no component is named.
INDICATORS: Mapping[str, int] = {"none": 0, "minor": WARNING, "major": ERROR, "critical": ERROR, "maintenance": WARNING}
#: Incident impacts: minor trouble warns, a major or critical incident fails.
IMPACTS: Mapping[str, int] = {"none": WARNING, "minor": WARNING, "maintenance": WARNING, "major": ERROR, "critical": ERROR}
#: Incident statuses that end an incident; anything else (even unknown ones) is open.
CLOSED = frozenset({"resolved", "postmortem", "completed"})
#: How people write the providers whose class names are identifiers.
PROVIDER_NAMES: Mapping[str, str] = {"FlyIo": "Fly.io", "PlatformSh": "Platform.sh", "Npm": "npm"}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_time(value: Any, now: datetime.datetime) -> datetime.datetime | None:
    """An aware time from a Statuspage timestamp; ``None`` when unreadable or more than a day ahead.

    Naive values are read as UTC. A date far in the future is a typo or clock skew, and must not
    become the newest update of an incident.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    if moment > now + datetime.timedelta(days=1):
        return None
    return moment


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def _objects(data: Mapping[str, Any], key: str, url: str) -> list[Mapping[str, Any]]:
    """``data[key]`` as a list of objects; missing or null is empty (incident.io), anything else is an error."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ServiceReturnedUnexpectedResult(f"{_STRUCTURE}: {url}: {key!r} is {_kind(value)}, expected a list")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ServiceReturnedUnexpectedResult(
                f"{_STRUCTURE}: {url}: {key}[{index}] is {_kind(item)}, expected an object"
            )
    return value


def parse_summary(body: bytes, content_type: str, url: str) -> dict[str, Any]:
    """Read a ``summary.json`` body, or raise saying what is wrong with it.

    As in django-health-check, a body that is not JSON is ``ServiceUnavailable`` ("Failed to parse JSON
    response": the page is not answering), and JSON of the wrong shape is ``ServiceReturnedUnexpectedResult``
    ("Unexpected API response structure").
    """
    if not body.strip():
        raise ServiceUnavailable(f"{_NOT_JSON} from {url}: empty response body")
    if body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        what = describe_markup(body)
        hint = " (a bot check, login or maintenance page?)" if what is None or "HTML" in what else ""
        raise ServiceUnavailable(f"{_NOT_JSON} from {url}: returned {what or 'XML or HTML'} instead of JSON{hint}")
    try:
        data = json.loads(body)  # bytes: json detects UTF-8/16/32 and accepts a UTF-8 BOM
    except UnicodeDecodeError as error:
        raise ServiceUnavailable(f"{_NOT_JSON} from {url}: not UTF-8 JSON ({error.reason})") from error
    except json.JSONDecodeError as error:
        cut = error.msg.startswith("Unterminated") or error.pos >= len(body.rstrip()) - 1
        raise ServiceUnavailable(
            f"{_NOT_JSON} from {url}: invalid JSON{' (cut off?)' if cut else ''}: {error.msg} "
            f"(line {error.lineno}, column {error.colno})"
        ) from error
    if not isinstance(data, dict):
        raise ServiceReturnedUnexpectedResult(f"{_STRUCTURE}: {url}: the JSON is {_kind(data)}, expected an object")
    for key in ("components", "incidents", "scheduled_maintenances"):
        _objects(data, key, url)
    status = data.get("status")
    if status is not None and not isinstance(status, dict):
        raise ServiceReturnedUnexpectedResult(f"{_STRUCTURE}: {url}: 'status' is {_kind(status)}, expected an object")
    if isinstance(status, dict) and not isinstance(status.get("indicator"), (str, type(None))):
        raise ServiceReturnedUnexpectedResult(
            f"{_STRUCTURE}: {url}: 'status.indicator' is {_kind(status['indicator'])}, expected a string"
        )
    return data


@dataclasses.dataclass
class AtlassianStatusPage(UpstreamCheck):
    """Base of checks that read an Atlassian Statuspage (or a compatible incident.io page).

    Use it directly with ``base_url=`` for any page; named providers subclass ``StatusPageProvider``.

    Args:
        base_url: The status page's root (``https://www.githubstatus.com``); pass a mirror's URL to
            test or run offline. Keyword only, hidden from ``repr``. On every named provider it holds
            the address in use (the provider's own unless given), as in django-health-check.
    """

    # Class attributes, not fields: each provider declares them as fields in django-health-check's order.
    timeout = _TEN_SECONDS  # type: ignore[assignment]
    component = ""
    base_url: str | None = dataclasses.field(default=None, repr=False, kw_only=True)

    @property
    def page_url(self) -> str:
        """The status page's root URL, without a trailing slash."""
        if not self.base_url:
            raise ValueError(f"{type(self).__name__} needs base_url=, the root URL of the status page")
        return self.base_url.rstrip("/")

    @property
    def source_url(self) -> str:
        return f"{self.page_url}/api/v2/summary.json"

    @property
    def provider_name(self) -> str:
        return PROVIDER_NAMES.get(type(self).__name__, type(self).__name__)

    @property
    def title(self) -> str:
        """What feed items and messages call the check: ``"GitHub Actions"``, ``"Cloudflare"``, ``"PyPI"``.

        The generic class, which only its ``base_url`` tells apart, keeps its ``repr()``.
        """
        if type(self) is AtlassianStatusPage:
            return repr(self)
        provider, component = self.provider_name, (self.component or "").strip()
        if not component or component.lower() == provider.lower():
            return provider
        return f"{provider} {component}"

    def parse(self, body: bytes, content_type: str, url: str) -> dict[str, Any]:
        return parse_summary(body, content_type, url)

    def judge(self, document: dict[str, Any], now: datetime.datetime) -> dict[str, Any]:
        return _Verdict(self, document, now).conclude()


class _Verdict:
    """Findings of one summary for one check: (severity, text), the incidents seen, the latest update."""

    def __init__(self, check: AtlassianStatusPage, data: Mapping[str, Any], now: datetime.datetime) -> None:
        self.check = check
        self.url = check.source_url
        self.now = now
        self.data = data
        page = data.get("page")
        self.page_name = _text(page.get("name")) if isinstance(page, dict) else _text(page)
        self.page_name = self.page_name or type(check).__name__
        self.findings: list[tuple[int, str]] = []
        self.incidents: list[dict[str, Any]] = []
        self.updated: list[datetime.datetime] = []

    def watched(self, components: list[Mapping[str, Any]]) -> tuple[set[str], set[str]] | None:
        """Ids and names of the named component and its group's children; ``None`` for the whole page."""
        name = self.check.component
        if not name:
            return None
        matches = [c for c in components if c.get("name") == name]
        if not matches:
            names = sorted({n for c in components if (n := _text(c.get("name")))})
            listed = ", ".join(names[:40]) + (f" and {len(names) - 40} more" if len(names) > 40 else "")
            raise ServiceReturnedUnexpectedResult(
                f"Component {name!r} not found at {self.url} ({self.page_name}); "
                + (f"components: {listed}" if listed else "the page lists no components")
            )
        ids = {str(c["id"]) for c in matches if c.get("id") is not None}
        for group in matches:
            children = group.get("components")
            if isinstance(children, list):
                ids.update(str(child) for child in children)
        ids.update(str(c["id"]) for c in components if c.get("id") is not None and str(c.get("group_id")) in ids)
        names = {name} | {n for c in components if str(c.get("id")) in ids and (n := _text(c.get("name")))}
        return ids, names

    def touches(self, item: Mapping[str, Any], scope: tuple[set[str], set[str]] | None) -> bool:
        if scope is None:
            return True
        listed = item.get("components")
        if not isinstance(listed, list):
            return False  # no component list: cannot tell, the component's own status still speaks
        ids, names = scope
        return any(
            isinstance(c, dict) and (str(c.get("id")) in ids or c.get("name") in names) for c in listed
        )

    def conclude(self) -> dict[str, Any]:
        components = _objects(self.data, "components", self.url)
        scope = self.watched(components)
        self.read_components(components, scope)
        self.read_incidents(_objects(self.data, "incidents", self.url), scope)
        self.read_maintenances(_objects(self.data, "scheduled_maintenances", self.url), scope)
        if scope is None:
            self.read_indicator()
        details = {"source": self.url, "page": self.check.page_url, "incidents": self.incidents[:MAX_INCIDENTS]}
        if not self.findings:
            return details
        worst = max(severity for severity, _ in self.findings)
        texts = [text for _, text in self.findings]
        shown = "; ".join(texts[:6]) + (f"; and {len(texts) - 6} more" if len(texts) > 6 else "")
        message = f"{self.page_name}: {shown}"
        if worst >= ERROR and self.check.fail_on_outage:
            raise ServiceUnavailable(message, details=details)
        raise StatusPageWarning(message, timestamp=max(self.updated, default=self.now), details=details)

    def read_components(self, components: list[Mapping[str, Any]], scope: tuple[set[str], set[str]] | None) -> None:
        for component in components:
            if component.get("group") is True and scope is None:
                continue  # a group's status repeats its children's
            if scope is not None and str(component.get("id")) not in scope[0] and component.get("name") not in scope[1]:
                continue
            raw = component.get("status")
            status = raw.strip().lower() if isinstance(raw, str) else None
            name = _text(component.get("name")) or f"component {component.get('id')}"
            if status in COMPONENT_STATUSES:
                severity, label = COMPONENT_STATUSES[status]
                if severity:
                    self.findings.append((severity, f"{name} {label}"))
            else:
                self.findings.append((WARNING, f"{name} has unknown status {raw!r}"))

    def record(self, item: Mapping[str, Any], impact: str) -> dict[str, Any]:
        started = parse_time(item.get("started_at") or item.get("created_at"), self.now)
        updated = parse_time(item.get("updated_at"), self.now) or started
        if updated:
            self.updated.append(updated)
        incident = {
            "id": str(item.get("id")) if item.get("id") is not None else None,
            "name": (_text(item.get("name")) or "")[:200] or None,
            "impact": impact,
            "status": _text(item.get("status")),
            "link": _text(item.get("shortlink")) or self.incident_link(item),
            "started_at": isoformat(started),
            "updated_at": isoformat(updated),
        }
        self.incidents.append(incident)
        return incident

    def incident_link(self, item: Mapping[str, Any]) -> str | None:
        identifier = item.get("id")
        return f"{self.check.page_url}/incidents/{identifier}" if isinstance(identifier, str) and identifier else None

    def read_incidents(self, incidents: Iterable[Mapping[str, Any]], scope: tuple[set[str], set[str]] | None) -> None:
        for item in incidents:
            status = _text(item.get("status"))
            if (status or "").lower() in CLOSED or not self.touches(item, scope):
                continue
            raw_impact = _text(item.get("impact"))
            impact = (raw_impact or "none").lower()
            severity = IMPACTS.get(impact, WARNING)
            incident = self.record(item, impact)
            # django-health-check's "<name>: <shortlink>" first, then what it does not say.
            name = incident["name"] or f"Unnamed incident {incident['id']}"
            label = impact if impact in IMPACTS else f"unknown impact {raw_impact!r}"
            link = f": {incident['link']}" if incident["link"] else ""
            self.findings.append((severity, f"{name}{link} ({label}, {status or 'no status'})"))

    def read_maintenances(self, maintenances: Iterable[Mapping[str, Any]], scope: tuple[set[str], set[str]] | None) -> None:
        for item in maintenances:
            if _text(item.get("status")) not in ("in_progress", "verifying") or not self.touches(item, scope):
                continue
            incident = self.record(item, "maintenance")
            until = parse_time(item.get("scheduled_until"), self.now + datetime.timedelta(days=365))
            name = f'"{incident["name"]}"' if incident["name"] else f"maintenance {incident['id']}"
            text = f"maintenance {name} in progress" + (f" until {isoformat(until)}" if until else "")
            self.findings.append((WARNING, text + (f" {incident['link']}" if incident["link"] else "")))

    def read_indicator(self) -> None:
        status = self.data.get("status") or {}
        indicator = status.get("indicator")
        if indicator is None:
            return
        description = _text(status.get("description"))
        severity = INDICATORS.get(indicator.lower())
        if severity is None:
            self.findings.append((WARNING, f"unknown page indicator {indicator!r} ({description or 'no description'})"))
            return
        # Shown only when the findings above do not already explain it.
        if severity and severity > max((s for s, _ in self.findings), default=0):
            self.findings.append((severity, f"page reports {description or indicator!r} ({indicator})"))


@dataclasses.dataclass
class StatusPageProvider(AtlassianStatusPage):
    """A hosted Statuspage with a known address: the base of every named provider below.

    A new provider takes two lines::

        @dataclasses.dataclass
        class Linear(StatusPageProvider):
            home = "https://linearstatus.com"

    Args:
        timeout: Budget of one fetch (10 s).
        component: Name of a component or component group to watch; empty watches the whole page.
        base_url: Root of the status page, ``home`` by default; a mirror for tests or offline use.
    """

    #: The provider's public status page.
    home: ClassVar[str] = ""

    timeout: datetime.timedelta = dataclasses.field(default=_TEN_SECONDS, repr=False)
    component: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()  # the thresholds' and scope's validation
        if not self.base_url:
            # django-health-check's attribute: the address in use, whether given or the provider's own.
            self.base_url = self.home


@dataclasses.dataclass
class Cloudflare(StatusPageProvider):
    """Cloudflare platform status."""

    home = "https://www.cloudflarestatus.com"


@dataclasses.dataclass
class DigitalOcean(StatusPageProvider):
    """DigitalOcean platform status."""

    home = "https://status.digitalocean.com"


@dataclasses.dataclass
class FlyIo(StatusPageProvider):
    """Fly.io platform status."""

    home = "https://status.flyio.net"


@dataclasses.dataclass
class Npm(StatusPageProvider):
    """npm registry status."""

    home = "https://status.npmjs.org"
    component: str = "Package installation"


@dataclasses.dataclass
class PlatformSh(StatusPageProvider):
    """Platform.sh (Upsun) platform status."""

    home = "https://status.platform.sh"


@dataclasses.dataclass
class PyPI(StatusPageProvider):
    """Python Package Index status (the ``PyPI`` component group of status.python.org)."""

    home = "https://status.python.org"
    component: str = "PyPI"


@dataclasses.dataclass
class Render(StatusPageProvider):
    """Render platform status."""

    home = "https://status.render.com"


@dataclasses.dataclass
class Sentry(StatusPageProvider):
    """Sentry status."""

    home = "https://status.sentry.io"


@dataclasses.dataclass
class Vercel(StatusPageProvider):
    """Vercel platform status."""

    home = "https://www.vercel-status.com"


@dataclasses.dataclass
class CircleCI(StatusPageProvider):
    """CircleCI status (not in django-health-check; hosted on Statuspage)."""

    home = "https://status.circleci.com"


@dataclasses.dataclass
class Discord(StatusPageProvider):
    """Discord status (not in django-health-check; hosted on Statuspage)."""

    home = "https://discordstatus.com"


@dataclasses.dataclass
class Docker(StatusPageProvider):
    """Docker Hub and Docker services status (not in django-health-check; hosted on Statuspage)."""

    home = "https://www.dockerstatus.com"


@dataclasses.dataclass
class Netlify(StatusPageProvider):
    """Netlify platform status (not in django-health-check; hosted on Statuspage)."""

    home = "https://www.netlifystatus.com"


@dataclasses.dataclass
class Twilio(StatusPageProvider):
    """Twilio status (not in django-health-check; hosted on Statuspage)."""

    home = "https://status.twilio.com"


@dataclasses.dataclass
class GitHub(AtlassianStatusPage):
    """GitHub status, or a GitHub Enterprise Cloud region's.

    Args:
        enterprise_region: A GitHub Enterprise Cloud data-residency region (``"eu"``, ``"au"``,
            ``"jp"``, ``"us"``), or None for github.com.
        timeout: Budget of one fetch (10 s).
        component: Name of a component to watch (``"Actions"``); empty watches the whole page.
        base_url: Root of the status page (``https://www.githubstatus.com`` or the region's); a
            mirror for tests or offline use.
    """

    class EnterpriseRegion(enum.StrEnum):
        """GitHub Enterprise Cloud regions with their own status page."""

        australia = "au"
        eu = "eu"
        japan = "jp"
        us = "us"

    enterprise_region: EnterpriseRegion | None = None
    timeout: datetime.timedelta = dataclasses.field(default=_TEN_SECONDS, repr=False)
    component: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()  # the thresholds' and scope's validation
        if self.enterprise_region is not None:
            try:
                self.enterprise_region = GitHub.EnterpriseRegion(self.enterprise_region)
            except ValueError:
                choices = ", ".join(repr(region.value) for region in GitHub.EnterpriseRegion)
                raise ValueError(
                    f"GitHub(enterprise_region={self.enterprise_region!r}) is not a region; use one of {choices} or None"
                ) from None
        if not self.base_url:
            region = self.enterprise_region.value if self.enterprise_region else "www"
            self.base_url = f"https://{region}.githubstatus.com"


    @property
    def provider_name(self) -> str:
        region = self.enterprise_region
        return f"GitHub Enterprise ({GitHub.EnterpriseRegion(region).value})" if region else "GitHub"
