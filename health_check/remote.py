"""``RemoteCheck``: another instance's health endpoint, read as one of our checks.

The other instance answers with django-health-check's JSON (``{"<check>": "OK" | "<type>: <message>"}``).
Its failing entries become this check's message, one line each. The request is bounded in time
(``timeout``) and in size (``MAX_BODY_BYTES``), so a slow or runaway upstream cannot hold the poller.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json
from typing import ClassVar

import httpx

from health_check._http import BodyTooLarge, Response, UnreadableBody, fetch
from health_check._urls import first_line, split_userinfo
from health_check._version import __version__
from health_check.base import HealthCheck
from health_check.exceptions import ServiceReturnedUnexpectedResult, ServiceUnavailable

__all__ = ["RemoteCheck"]

#: A health endpoint's JSON is a few kilobytes; anything past this is not one.
MAX_BODY_BYTES = 1024 * 1024


@dataclasses.dataclass
class RemoteCheck(HealthCheck):
    """Fetch another instance's JSON health endpoint and fail when any of its checks fails.

    Credentials in the URL (``https://user:password@other.example/...``) are taken out of it when
    the check is built and sent as ``Authorization: Basic``: httpx logs every request's URL at INFO,
    so the URL it is given must not hold them. The password must be percent-encoded
    (``urllib.parse.quote(password, safe="")``); a URL that cannot be split for sure is refused at
    start-up. Only one ``Authorization`` header can be sent, so ``user:password@`` together with
    ``auth_token`` is refused at start-up too, rather than dropping one of them without a word.

    Args:
        url: The remote endpoint (``https://other.example/health/<secret>/application/``). Shown in
            the check's name (without ``user:password@``) only when no ``label`` is given: give one
            if the URL's path holds a secret.
        auth_token: Sent as ``Authorization: Bearer <token>`` when set; never shown.
        label: The check's name in outputs instead of the URL.
        timeout: Bound of the whole request (connect, send, read).
    """

    default_poll_interval: ClassVar[datetime.timedelta] = datetime.timedelta(seconds=15)

    #: Every host would see the same answer: one elected poller asks for the whole fleet.
    default_scope: ClassVar[str] = "fleet"

    url: str = dataclasses.field(repr=False)
    auth_token: str | None = dataclasses.field(default=None, repr=False)
    label: str | None = None
    timeout: datetime.timedelta = dataclasses.field(default=datetime.timedelta(seconds=10), repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        # A URL httpx cannot send (a port out of range, no host) is a start-up error, not a failing probe.
        # Neither message quotes the URL: a password cut by an unescaped "/" would be read as its port.
        try:
            self._url, username, password = split_userinfo(self.url)
        except ValueError as error:
            raise ValueError(f"RemoteCheck(url=...) is not a valid URL: {error}") from None
        try:
            parsed = httpx.URL(self._url)
            port = parsed.port
        except (httpx.InvalidURL, ValueError, TypeError) as error:
            raise ValueError(f"RemoteCheck(url=...) is not a valid URL: {first_line(error, 200)}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host or (port is not None and not 0 < port < 65536):
            raise ValueError("RemoteCheck(url=...) must be an http:// or https:// URL with a host and a valid port")
        self._authorization: str | None = None
        if username is not None:
            if self.auth_token:
                raise ValueError(
                    "RemoteCheck: give either user:password@ in url= or auth_token=, not both "
                    "(only one Authorization header can be sent)"
                )
            basic = base64.b64encode(f"{username}:{password or ''}".encode()).decode("ascii")
            self._authorization = f"Basic {basic}"
        elif self.auth_token:
            self._authorization = f"Bearer {self.auth_token}"

    def __repr__(self) -> str:
        if self.label is None:
            return f"RemoteCheck(url={self._url!r})"
        return f"RemoteCheck(label={self.label!r})"

    @property
    def timeout_budget(self) -> datetime.timedelta:
        # One second past the request's own bound, so "Request timed out" reports first (as in
        # django-health-check, whose deadline is timeout + 1 s).
        return self.timeout + datetime.timedelta(seconds=1)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": f"django-health-snapshot/{__version__}"}
        if self._authorization:
            headers["Authorization"] = self._authorization
        return headers

    async def _fetch(self) -> Response:
        seconds = self.timeout.total_seconds()
        return await fetch(self._url, headers=self._headers(), timeout=seconds, max_bytes=MAX_BODY_BYTES)

    async def run(self) -> dict[str, object]:
        try:
            # fetch() bounds the whole request, a server dripping bytes included, and the body's size.
            response = await self._fetch()
        except BodyTooLarge as error:
            raise ServiceReturnedUnexpectedResult(
                f"Response is larger than {MAX_BODY_BYTES // 1024} KiB (HTTP {error.status_code}); "
                "is the URL a health endpoint?"
            ) from None
        except UnreadableBody as error:
            raise ServiceReturnedUnexpectedResult(
                f"Response cannot be read (HTTP {error.status_code}): {error}"
            ) from error
        except (httpx.TimeoutException, TimeoutError) as error:
            raise ServiceUnavailable(f"Request timed out after {self.timeout.total_seconds():g} seconds") from error
        except httpx.InvalidURL as error:
            # Not a RequestError: httpx refuses the URL before any request (a bad port, a stray bracket).
            raise ServiceUnavailable(f"Invalid URL: {first_line(error, 200) or type(error).__name__}") from error
        except httpx.RequestError as error:
            # httpx's text names the failure ("[Errno 111] Connection refused"); scrubbed all the same.
            raise ServiceUnavailable(
                f"Failed to reach URL: {first_line(error, 200) or type(error).__name__}"
            ) from error
        status, body = response.status_code, response.body
        if status in (401, 403):
            fix = (
                "check the user name and password in url"
                if self._authorization and self._authorization.startswith("Basic ")
                else "check auth_token against its HEALTH_CHECK token"
            )
            raise ServiceUnavailable(f"The remote endpoint refused the request (HTTP {status}); {fix}")
        try:
            results = json.loads(body)
        except ValueError as error:
            raise ServiceReturnedUnexpectedResult(f"Response is not valid JSON (HTTP {status})") from error
        if not isinstance(results, dict):
            raise ServiceReturnedUnexpectedResult("Response is not a JSON object")
        # A remote check in maintenance says so ("Maintenance: ...") on a 200: planned, not failing.
        failures = [
            f"{name}: {message}"
            for name, message in results.items()
            if message != "OK" and not (status == 200 and str(message).startswith("Maintenance: "))
        ]
        if failures:
            raise ServiceUnavailable("\n".join(failures), details={"remote_status": status, "failing": len(failures)})
        return {"remote_status": status, "checks": len(results)}
