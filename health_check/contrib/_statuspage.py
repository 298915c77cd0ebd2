"""Statuspage API v2 (``/api/v2/summary.json``): reading a summary and what it means for a check.

The provider classes in ``contrib/atlassian.py`` only say where a page is and what to watch; this
module reads the body (``parse_summary``) and turns it into a verdict (``judge_summary``): the worst
of the open incidents touching the watched component (or its group's children), the component's own
status, maintenance in progress, and the page's overall indicator when no component is named.
incident.io pages that copy the API (``null`` lists, missing keys) read the same way.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping
from typing import Any

from health_check._incidents import ERROR, WARNING, Incident, is_closed
from health_check._time import isoformat, parse_iso
from health_check.contrib._upstream import describe_markup
from health_check.exceptions import ServiceReturnedUnexpectedResult, ServiceUnavailable, StatusPageWarning

__all__ = ["judge_summary", "parse_summary", "parse_time"]

# django-health-check's words for a body that is not JSON and for JSON of the wrong shape.
_NOT_JSON = "Failed to parse JSON response"
_STRUCTURE = "Unexpected API response structure"
#: Incidents kept in a snapshot's details (the feed needs them; the store needs them bounded).
MAX_INCIDENTS = 20

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
IMPACTS: Mapping[str, int] = {
    "none": WARNING,
    "minor": WARNING,
    "maintenance": WARNING,
    "major": ERROR,
    "critical": ERROR,
}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_time(value: Any, now: datetime.datetime) -> datetime.datetime | None:
    """An aware time from a Statuspage timestamp; ``None`` when unreadable or more than a day ahead.

    Naive values are read as UTC. A date far in the future is a typo or clock skew, and must not
    become the newest update of an incident.
    """
    moment = parse_iso(value)
    if moment is None or moment > now + datetime.timedelta(days=1):
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


def judge_summary(
    data: Mapping[str, Any],
    now: datetime.datetime,
    *,
    source_url: str,
    page_url: str,
    component: str,
    fail_on_outage: bool,
    unnamed: str,
) -> dict[str, Any]:
    """The snapshot details of a healthy summary, or the ``HealthCheckError`` of what is wrong.

    Args:
        data: A summary, as ``parse_summary`` returned it.
        now: The check's "now", aware; bounds timestamps and dates the warning when nothing else does.
        source_url: The summary's URL, in details and messages.
        page_url: The page's root, for links to incidents without a shortlink.
        component: The component or group to watch; empty watches the whole page.
        fail_on_outage: Raise ``ServiceUnavailable`` for an outage instead of ``StatusPageWarning``.
        unnamed: What messages call a page that gives no name (the check's class name).
    """
    return _Verdict(data, now, source_url, page_url, component, fail_on_outage, unnamed).conclude()


class _Verdict:
    """Findings of one summary for one check: (severity, text), the incidents seen, the latest update."""

    def __init__(
        self,
        data: Mapping[str, Any],
        now: datetime.datetime,
        url: str,
        page_url: str,
        component: str,
        fail_on_outage: bool,
        unnamed: str,
    ) -> None:
        self.url = url
        self.page_url = page_url
        self.component = component
        self.fail_on_outage = fail_on_outage
        self.now = now
        self.data = data
        page = data.get("page")
        self.page_name = _text(page.get("name")) if isinstance(page, dict) else _text(page)
        self.page_name = self.page_name or unnamed
        self.findings: list[tuple[int, str]] = []
        self.incidents: list[Incident] = []
        self.updated: list[datetime.datetime] = []

    def watched(self, components: list[Mapping[str, Any]]) -> tuple[set[str], set[str]] | None:
        """Ids and names of the named component and its group's children; ``None`` for the whole page."""
        name = self.component
        if not name:
            return None
        matches = [c for c in components if c.get("name") == name]
        if not matches:
            known = sorted({n for c in components if (n := _text(c.get("name")))})
            listed = ", ".join(known[:40]) + (f" and {len(known) - 40} more" if len(known) > 40 else "")
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
        names: set[str] = {name} | {n for c in components if str(c.get("id")) in ids and (n := _text(c.get("name")))}
        return ids, names

    def touches(self, item: Mapping[str, Any], scope: tuple[set[str], set[str]] | None) -> bool:
        if scope is None:
            return True
        listed = item.get("components")
        if not isinstance(listed, list):
            return False  # no component list: cannot tell, the component's own status still speaks
        ids, names = scope
        return any(isinstance(c, dict) and (str(c.get("id")) in ids or c.get("name") in names) for c in listed)

    def conclude(self) -> dict[str, Any]:
        components = _objects(self.data, "components", self.url)
        scope = self.watched(components)
        self.read_components(components, scope)
        self.read_incidents(_objects(self.data, "incidents", self.url), scope)
        self.read_maintenances(_objects(self.data, "scheduled_maintenances", self.url), scope)
        if scope is None:
            self.read_indicator()
        details = {
            "source": self.url,
            "page": self.page_url,
            "incidents": [incident.details() for incident in self.incidents[:MAX_INCIDENTS]],
        }
        if not self.findings:
            return details
        worst = max(severity for severity, _ in self.findings)
        texts = [text for _, text in self.findings]
        shown = "; ".join(texts[:6]) + (f"; and {len(texts) - 6} more" if len(texts) > 6 else "")
        message = f"{self.page_name}: {shown}"
        if worst >= ERROR and self.fail_on_outage:
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
            if status is not None and status in COMPONENT_STATUSES:
                severity, label = COMPONENT_STATUSES[status]
                if severity:
                    self.findings.append((severity, f"{name} {label}"))
            else:
                self.findings.append((WARNING, f"{name} has unknown status {raw!r}"))

    def record(self, item: Mapping[str, Any], impact: str, severity: int) -> Incident:
        started = parse_time(item.get("started_at") or item.get("created_at"), self.now)
        updated = parse_time(item.get("updated_at"), self.now) or started
        if updated:
            self.updated.append(updated)
        incident = Incident(
            id=str(item.get("id")) if item.get("id") is not None else None,
            name=(_text(item.get("name")) or "")[:200] or None,
            impact=impact,
            link=_text(item.get("shortlink")) or self.incident_link(item),
            started_at=started,
            updated_at=updated,
            severity=severity,
            status=_text(item.get("status")),
        )
        self.incidents.append(incident)
        return incident

    def incident_link(self, item: Mapping[str, Any]) -> str | None:
        identifier = item.get("id")
        return f"{self.page_url}/incidents/{identifier}" if isinstance(identifier, str) and identifier else None

    def read_incidents(self, incidents: Iterable[Mapping[str, Any]], scope: tuple[set[str], set[str]] | None) -> None:
        for item in incidents:
            status = _text(item.get("status"))
            if is_closed(status) or not self.touches(item, scope):
                continue
            raw_impact = _text(item.get("impact"))
            impact = (raw_impact or "none").lower()
            severity = IMPACTS.get(impact, WARNING)
            incident = self.record(item, impact, severity)
            # django-health-check's "<name>: <shortlink>" first, then what it does not say.
            name = incident.name or f"Unnamed incident {incident.id}"
            label = impact if impact in IMPACTS else f"unknown impact {raw_impact!r}"
            link = f": {incident.link}" if incident.link else ""
            self.findings.append((severity, f"{name}{link} ({label}, {status or 'no status'})"))

    def read_maintenances(
        self, maintenances: Iterable[Mapping[str, Any]], scope: tuple[set[str], set[str]] | None
    ) -> None:
        for item in maintenances:
            if _text(item.get("status")) not in ("in_progress", "verifying") or not self.touches(item, scope):
                continue
            incident = self.record(item, "maintenance", WARNING)
            until = parse_time(item.get("scheduled_until"), self.now + datetime.timedelta(days=365))
            name = f'"{incident.name}"' if incident.name else f"maintenance {incident.id}"
            text = f"maintenance {name} in progress" + (f" until {isoformat(until)}" if until else "")
            self.findings.append((WARNING, text + (f" {incident.link}" if incident.link else "")))

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
