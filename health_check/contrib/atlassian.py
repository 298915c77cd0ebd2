"""Provider status from Atlassian Statuspage pages (``/api/v2/summary.json``).

Same classes, arguments and defaults as django-health-check 4.x. The verdict is the worst of the open
incidents touching the watched component (or its group's children), the watched component's own
status, maintenance in progress, and the page's overall indicator when no component is named.
incident.io pages that copy the Statuspage API (``null`` lists, missing keys) read the same way.
Reading and judging a summary live in ``contrib/_statuspage.py``; this module only declares pages.

Polled every 5 minutes by default (``poll_interval=`` changes it); one request per poll, conditional
when the page sends validators. Point ``base_url=`` at a mirror to test or to run offline.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Mapping
from typing import Any, ClassVar

# parse_summary and parse_time stay importable from here, as they always were.
from health_check.contrib._statuspage import judge_summary, parse_summary, parse_time
from health_check.contrib._upstream import UpstreamCheck

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

#: How people write the providers whose class names are identifiers.
PROVIDER_NAMES: Mapping[str, str] = {"FlyIo": "Fly.io", "PlatformSh": "Platform.sh", "Npm": "npm"}


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
        return judge_summary(
            document,
            now,
            source_url=self.source_url,
            page_url=self.page_url,
            component=self.component,
            fail_on_outage=self.fail_on_outage,
            unnamed=type(self).__name__,
        )


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
