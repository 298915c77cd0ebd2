"""One polite HTTP fetcher for every upstream status check (Statuspage APIs, RSS/Atom feeds).

Provider status pages are somebody else's servers: we ask rarely, say who we are, reuse what we
already know (conditional requests), stop asking when told to (429 + ``Retry-After``), ask less
often while the provider keeps failing (exponential backoff with jitter, never more than
``MAX_EXTRA_WAIT`` beyond the poll interval, so a recovery is seen soon), and never let a hostile
or broken answer cost more than a bounded amount of time and memory. Every failure becomes one
line that names the URL and what was wrong, raised as a ``HealthCheckError`` the runner turns into
a snapshot.

The state (validators, last parsed document, backoff) lives on the check instance: the poller reuses
one instance per check for the life of the process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import email.utils
import logging
import random
import re
import threading
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import httpx

from health_check._http import CHUNK, BodyTooLarge, Response, UnreadableBody, fetch
from health_check._time import isoformat, utcnow
from health_check._urls import describe_error, first_line, redact_url
from health_check._version import __version__
from health_check.base import HealthCheck
from health_check.exceptions import HealthCheckError, ServiceReturnedUnexpectedResult, ServiceUnavailable

__all__ = [
    "DEFAULT_MAX_BYTES",
    "USER_AGENT",
    "Fetcher",
    "UpstreamCheck",
    "describe_markup",
    "html_title",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Sent with every request so providers can tell who polls them and find the project.
USER_AGENT = f"django-health-snapshot/{__version__} (+health check)"
#: Largest decoded body we read; anything longer is cut and reported, never parsed.
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
#: Redirects followed before giving up (a status page that moved once or twice is normal; a loop is not).
MAX_REDIRECTS = 3
#: Longest ``Retry-After`` we honour: a bogus value must not silence a check for ever.
MAX_RETRY_AFTER = datetime.timedelta(hours=6)
#: Longest wait beyond the poll interval between two attempts while a provider keeps failing (no
#: ``Retry-After``). Polite enough: a check polled every 2 s asks a failing provider at most every
#: ~17 s instead of every 2 s, and a 5-minute check still asks only at its polls. Short enough: a
#: recovery is seen at most ~interval + 15 s (+ the check's timeout) after the provider is back,
#: where an uncapped backoff kept the check failing for minutes after it.
MAX_EXTRA_WAIT = datetime.timedelta(seconds=15)

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)


def html_title(body: bytes) -> str | None:
    """The ``<title>`` of an HTML page, to say *which* page a provider served instead of data."""
    match = _TITLE.search(body[:CHUNK])
    if not match:
        return None
    title = " ".join(match.group(1).decode("utf-8", "replace").split())
    return title[:80] or None


_S3_ERROR = re.compile(rb"<Error>\s*<Code>([^<]{1,80})</Code>(?:\s*<Message>([^<]{0,200})</Message>)?", re.IGNORECASE)


def describe_markup(body: bytes) -> str | None:
    """What a markup body is, for messages: an HTML page (with its title), an S3 error, a feed; else None."""
    head = body[:CHUNK]
    if (match := _S3_ERROR.search(head)) is not None:
        code = match.group(1).decode("utf-8", "replace")
        text = (match.group(2) or b"").decode("utf-8", "replace")
        return f"an S3 error document ({code}{': ' + text if text else ''})"
    lowered = head.lower()
    if b"<html" in lowered or b"<!doctype html" in lowered:
        title = html_title(body)
        return f'an HTML page ("{title}")' if title else "an HTML page"
    if b"<rss" in lowered or b"<feed" in lowered:
        return "an RSS or Atom feed"
    return None


def _describe_size(size: int) -> str:
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MB"
    return f"{size} bytes"


class Fetcher:
    """Fetches one URL politely and keeps what it learnt between runs of the same check.

    Args:
        user_agent: The ``User-Agent`` header.
        max_bytes: Largest decoded body read before the response is cut and reported.
        max_redirects: Redirects followed before giving up.
        connect_timeout: Budget for opening the connection (capped by the run's total timeout).
        transport: An httpx transport for tests; ``None`` uses httpx's own, which honours
            ``HTTPS_PROXY``/``NO_PROXY`` and ``SSL_CERT_FILE`` (``trust_env``).

    The request itself is ``health_check._http.fetch``, shared with ``RemoteCheck``; this class adds
    what politeness towards a provider needs: validators, ``Retry-After``, backoff, messages.
        noun: What is fetched, in messages: ``"API"`` (Statuspage) or ``"feed"``, so that they read as
            django-health-check's ("API request timed out", "Failed to fetch feed: ...",
            "HTTP error 404 fetching API from '...'").
    """

    def __init__(
        self,
        *,
        user_agent: str = USER_AGENT,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_redirects: int = MAX_REDIRECTS,
        connect_timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        noun: str = "API",
    ) -> None:
        self.noun = noun
        self.user_agent = user_agent
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.connect_timeout = connect_timeout
        self.transport = transport
        self.etag: str | None = None
        self.last_modified: str | None = None
        self.document: Any = None
        self.failures = 0
        self.not_before: datetime.datetime | None = None
        self.last_error: HealthCheckError | None = None
        self._now = utcnow()
        self._lock = threading.Lock()

    def get(
        self,
        url: str,
        parse: Callable[[bytes, str, str], T],
        *,
        now: datetime.datetime,
        timeout: float,
        interval: datetime.timedelta,
    ) -> T:
        """The parsed document at ``url``: fetched now, or kept from the last run on ``304 Not Modified``.

        Raises ``ServiceUnavailable`` (unreachable, timed out, HTTP error, rate limited, backing off)
        or ``ServiceReturnedUnexpectedResult`` (a body that is not what ``parse`` expects). While
        rate limited or backing off, no request is made and the last error is raised again.
        """
        with self._lock:
            self._now = now
            if self.not_before is not None and now < self.not_before:
                raise self._waiting()
            try:
                document = _run(self._fetch(url, parse, timeout))
            except HealthCheckError as error:
                self._failed(error, now, interval)
                raise
            self.failures = 0
            self.not_before = None
            self.last_error = None
            return document

    def _waiting(self) -> HealthCheckError:
        error = self.last_error or ServiceUnavailable("waiting before the next request")
        if isinstance(error, _RateLimited):  # its message already says until when
            # A copy: raising the kept object at every poll would add frames to its traceback each
            # time, and keep every run's frames (and what they hold) for as long as the wait lasts.
            return _detached(error)
        return type(error)(f"{error.message}; next attempt after {isoformat(self.not_before)}", details=error.details)

    def _failed(self, error: HealthCheckError, now: datetime.datetime, interval: datetime.timedelta) -> None:
        self.failures += 1
        # Kept without the traceback, cause and context of the run that failed: those hold that run's
        # frames, its closed client and connections, its event loop, until the next failure.
        self.last_error = _detached(error)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            self.not_before = now + retry_after
            return
        # Exponential backoff from the poll interval with jitter on the upper half, capped at
        # MAX_EXTRA_WAIT beyond one interval. The first failure retries at the next poll; later ones
        # skip polls. A request is only made at a poll, the first one at or after ``not_before``, so
        # waiting ``pause - interval`` puts the attempt at most ``pause`` after this one (plus the
        # poller's jitter); ``now + pause`` would let it slip by up to one more interval. The exponent
        # stops at 2**20 (past any cap) so that a long outage cannot overflow ``timedelta``.
        growth = 2 ** min(self.failures - 1, 20)
        pause = min(interval * growth * random.uniform(0.5, 1.0), interval + MAX_EXTRA_WAIT)
        self.not_before = now + (pause - interval) if self.failures > 1 and pause > interval else None

    async def _fetch(self, url: str, parse: Callable[[bytes, str, str], T], timeout: float) -> T:
        headers = {"User-Agent": self.user_agent}
        if self.document is not None:
            if self.etag:
                headers["If-None-Match"] = self.etag
            if self.last_modified:
                headers["If-Modified-Since"] = self.last_modified
        download = await self._download(url, headers, timeout)
        if download.status_code == 304:
            if self.document is None:
                raise ServiceReturnedUnexpectedResult(f"{url}: answered 304 Not Modified to an unconditional request")
            return self.document
        try:
            document = parse(download.body, download.content_type, url)
        except HealthCheckError:
            raise
        except Exception as error:
            # A parser bug or a body shaped in a way nobody foresaw: one clear line out, one line to the log.
            logger.error("Cannot read the response from %s: %s", redact_url(url), describe_error(error))
            raise ServiceReturnedUnexpectedResult(
                f"{url}: could not read the response ({type(error).__name__}); see the log"
            ) from error
        self.document = document
        self.etag = download.headers.get("etag")
        self.last_modified = download.headers.get("last-modified")
        return document

    async def _download(self, url: str, headers: dict[str, str], timeout: float) -> Response:
        connect = min(self.connect_timeout, timeout)
        try:
            return await fetch(
                url,
                headers=headers,
                timeout=timeout,
                connect_timeout=connect,
                max_bytes=self.max_bytes,
                max_redirects=self.max_redirects,
                transport=self.transport,
                read_body=lambda response: self._status(url, response),
            )
        except BodyTooLarge:
            raise self._too_big(url) from None
        except UnreadableBody as error:
            raise ServiceReturnedUnexpectedResult(f"{url}: {error}") from error
        # Each message starts with django-health-check's words for the same failure.
        except httpx.ConnectTimeout as error:
            raise ServiceUnavailable(
                f"{self._Noun} request timed out: could not connect to {url} within {connect:g} s"
            ) from error
        except (TimeoutError, httpx.TimeoutException) as error:  # the whole fetch's deadline, or a read
            raise ServiceUnavailable(f"{self._Noun} request timed out after {timeout:g} s: {url}") from error
        except httpx.TooManyRedirects as error:
            raise ServiceUnavailable(
                f"Failed to fetch {self.noun}: more than {self.max_redirects} redirects from {url} (a redirect loop?)"
            ) from error
        except httpx.ConnectError as error:
            raise ServiceUnavailable(
                f"Failed to fetch {self.noun}: cannot connect to {url} ({_reason(error)})"
            ) from error
        except httpx.ProxyError as error:
            raise ServiceUnavailable(
                f"Failed to fetch {self.noun}: the proxy refused the request for {url} ({_reason(error)})"
            ) from error
        except httpx.RemoteProtocolError as error:
            raise ServiceUnavailable(
                f"Failed to fetch {self.noun}: connection to {url} broken ({_reason(error)})"
            ) from error
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise ServiceUnavailable(
                f"Failed to fetch {self.noun}: request to {url} failed ({_reason(error)})"
            ) from error

    @property
    def _Noun(self) -> str:  # noqa: N802 - the capitalised noun
        return self.noun[:1].upper() + self.noun[1:]

    def _status(self, url: str, response: httpx.Response) -> bool:
        """Whether to read the body: only a 200's; a 429 or any status but 304 raises."""
        status = response.status_code
        if status == 429:
            raise self._rate_limited(url, response)
        if status not in (200, 304):
            reason = f" ({response.reason_phrase})" if response.reason_phrase else ""
            raise ServiceUnavailable(f"HTTP error {status} fetching {self.noun} from {url!r}{reason}")
        return status == 200

    def _too_big(self, url: str) -> ServiceReturnedUnexpectedResult:
        return ServiceReturnedUnexpectedResult(
            f"response from {url} exceeds {_describe_size(self.max_bytes)}; not parsed"
        )

    def _rate_limited(self, url: str, response: httpx.Response) -> ServiceUnavailable:
        # RFC 9110 §10.2.3: Retry-After is delay-seconds or an HTTP-date.
        value = response.headers.get("retry-after", "").strip()
        delay: datetime.timedelta | None = None
        if value.isdigit():
            delay = datetime.timedelta(seconds=int(value))
        elif value:
            try:
                moment = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                moment = None
            if moment is not None and moment.tzinfo is not None:
                delay = max(moment - self._now, datetime.timedelta(0))
        if delay is None:
            error = ServiceUnavailable(
                f"HTTP error 429 fetching {self.noun} from {url!r}: rate limited, without Retry-After; backing off"
            )
            return error
        delay = min(delay, MAX_RETRY_AFTER)
        error = _RateLimited(f"HTTP error 429 fetching {self.noun} from {url!r}: rate limited", delay)
        return error


class _RateLimited(ServiceUnavailable):
    """A 429 with a usable ``Retry-After``: the fetcher waits ``retry_after`` before asking again."""

    def __init__(self, message: str, retry_after: datetime.timedelta) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.base_message = message

    def until(self, moment: datetime.datetime) -> None:
        self.message = f"{self.base_message} until {isoformat(moment)}"
        self.args = (self.message,)


def _detached(error: HealthCheckError) -> HealthCheckError:
    """A copy of ``error`` (same class, message, details, ``retry_after``) without traceback, cause or context."""
    copy = type(error).__new__(type(error), *error.args)
    copy.__dict__.update(error.__dict__)
    return copy


def _reason(error: BaseException) -> str:
    return first_line(error, 200) or type(error).__name__


def _run(coroutine: Any) -> Any:
    """Run ``coroutine`` to completion from sync code, even if this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: list[Any] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as error:  # noqa: BLE001 - handed back to the caller's thread
            failure.append(error)

    thread = threading.Thread(target=target, name="health-check upstream fetch", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


@dataclasses.dataclass
class UpstreamCheck(HealthCheck):
    """Base of checks that read a provider's status over HTTP, polled every few minutes.

    Subclasses say where to look (``source_url``), how to read the body (``parse``) and what it means
    (``judge``, which raises or returns the snapshot details).

    Args:
        clock: Returns "now" (aware); tests pass a frozen one. Hidden from ``repr``.
        transport: An ``httpx.AsyncBaseTransport`` to use instead of the network (tests). Hidden.
        max_bytes: Largest decoded response body accepted (5 MB). Hidden.
        fail_on_outage: Fail (``ServiceUnavailable``) on what the provider calls an outage instead of
            warning; keyword only, hidden. Off by default, as in django-health-check.
    """

    #: Provider pages change on a scale of minutes and ask clients not to poll them hard.
    default_poll_interval: ClassVar[datetime.timedelta] = datetime.timedelta(minutes=5)
    #: Every host would see the same answer: one elected poller asks for the whole fleet.
    default_scope: ClassVar[str] = "fleet"

    clock: Callable[[], datetime.datetime] = dataclasses.field(default=utcnow, repr=False, compare=False, kw_only=True)
    transport: httpx.AsyncBaseTransport | None = dataclasses.field(
        default=None, repr=False, compare=False, kw_only=True
    )
    max_bytes: int = dataclasses.field(default=DEFAULT_MAX_BYTES, repr=False, kw_only=True)

    #: What ``source_url`` serves, as messages name it ("API request timed out", "Failed to fetch feed").
    fetch_noun: ClassVar[str] = "API"
    #: When True, what a provider marks as an outage (a major or critical incident, a partial or major
    #: outage of a component, an AWS "Service disruption") fails the check. By default every upstream
    #: trouble is a ``StatusPageWarning``, as in django-health-check: someone else's outage is worth
    #: knowing about, not a reason for a load balancer to pull this site.
    fail_on_outage: bool = dataclasses.field(default=False, repr=False, kw_only=True, metadata={"key_if_set": True})

    _fetchers_guard: ClassVar[threading.Lock] = threading.Lock()

    @property
    def source_url(self) -> str:
        """The URL this check fetches."""
        raise NotImplementedError

    def parse(self, body: bytes, content_type: str, url: str) -> Any:
        """Turn a 200 body into a document; raise ``ServiceReturnedUnexpectedResult`` naming ``url``."""
        raise NotImplementedError

    def judge(self, document: Any, now: datetime.datetime) -> dict[str, Any]:
        """Raise a ``HealthCheckError`` for trouble upstream; return the snapshot details when healthy."""
        raise NotImplementedError

    @property
    def fetcher(self) -> Fetcher:
        """This instance's fetcher, created on first use and kept for the life of the instance."""
        fetcher = self.__dict__.get("_fetcher")
        if fetcher is None:
            with self._fetchers_guard:
                fetcher = self.__dict__.get("_fetcher")
                if fetcher is None:
                    fetcher = Fetcher(max_bytes=self.max_bytes, transport=self.transport, noun=self.fetch_noun)
                    self.__dict__["_fetcher"] = fetcher
        return fetcher

    def run(self) -> dict[str, Any]:
        now = self.clock()
        url = self.source_url
        try:
            document = self.fetcher.get(
                url,
                self.parse,
                now=now,
                timeout=self.timeout_budget.total_seconds(),
                interval=self.schedule_interval,
            )
        except _RateLimited as error:
            if self.fetcher.not_before is not None:
                error.until(self.fetcher.not_before)
            raise
        return self.judge(document, now)
