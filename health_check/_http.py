"""The one HTTP GET of every check that reads another server: bounded in time and in memory.

``RemoteCheck`` and the upstream status checks (``contrib/_upstream.py``) both fetch through
``fetch``: one deadline over the whole exchange (a body dripped byte by byte included), a separate
bound for connecting, at most ``max_redirects`` redirects, and a body cut after ``max_bytes``
*decoded* bytes. What each caller says about a failure stays its own: ``fetch`` raises httpx's
exceptions, ``TimeoutError`` for the deadline, ``BodyTooLarge`` and ``UnreadableBody``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import ssl
import threading
import zlib
from collections.abc import Callable, Mapping

import httpx

__all__ = ["CHUNK", "BodyTooLarge", "Response", "UnreadableBody", "fetch", "ssl_context"]

#: Bytes read from the network at a time.
CHUNK = 64 * 1024
#: What we can undo ourselves; anything else is refused rather than read undecoded.
ACCEPT_ENCODING = "gzip, deflate"


class BodyTooLarge(Exception):
    """The body is (or announces itself as) longer than ``max_bytes`` once decoded."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"body larger than allowed (HTTP {status_code})")
        self.status_code = status_code


class UnreadableBody(Exception):
    """The body cannot be decoded: an unknown ``Content-Encoding`` or corrupt compressed data."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclasses.dataclass(frozen=True)
class Response:
    """What ``fetch`` read: status, decoded body (empty when not read), headers, final URL."""

    status_code: int
    body: bytes
    headers: httpx.Headers
    url: str

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


class _Decoder:
    """Undo ``Content-Encoding`` ourselves so a gzip bomb is cut after ``limit`` decoded bytes.

    httpx decodes a whole network chunk at once, and 64 KB of gzip can expand to 64 MB before any
    count is taken; ``zlib``'s ``max_length`` bounds every step instead.
    """

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self.inflater = None
        elif encoding in ("gzip", "x-gzip"):
            self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self.inflater = zlib.decompressobj()
        else:
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")

    def feed(self, data: bytes) -> bytes:
        """Decoded bytes of ``data``; raises ``OverflowError`` once more than ``limit`` bytes came out."""
        if self.inflater is None:
            out = data
        else:
            parts = [self.inflater.decompress(data, self.limit - self.size + 1)]
            while self.inflater.unconsumed_tail and self.size + sum(map(len, parts)) <= self.limit:
                parts.append(self.inflater.decompress(self.inflater.unconsumed_tail, self.limit - self.size + 1))
            out = b"".join(parts)
        self.size += len(out)
        if self.size > self.limit:
            raise OverflowError
        return out


_context: tuple[tuple[str, str], ssl.SSLContext] | None = None
_context_guard = threading.Lock()


def ssl_context() -> ssl.SSLContext:
    """The TLS context every ``fetch`` verifies servers with: built once, as httpx builds its own.

    httpx builds a context for every client, loading the whole CA bundle (certifi's, or the one
    ``SSL_CERT_FILE``/``SSL_CERT_DIR`` name: ``trust_env``) into OpenSSL: about a megabyte of small C
    allocations per run, freed a moment later. In the poller each run is on a thread of its own, so
    these land in whichever malloc arena the thread got, and freed memory the arenas keep piles up:
    the poller's RSS grew by ~1.5 MiB a minute with one Statuspage check every 2 s (issue 16). One
    context serves every run, every thread and every event loop (an ``SSLContext`` is safe to share);
    it is built again only when ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` changes.
    """
    global _context
    key = (os.environ.get("SSL_CERT_FILE", ""), os.environ.get("SSL_CERT_DIR", ""))
    with _context_guard:
        if _context is None or _context[0] != key:
            _context = (key, httpx.create_ssl_context(verify=True, trust_env=True))
        return _context[1]


async def fetch(
    url: str,
    *,
    headers: Mapping[str, str],
    timeout: float,
    max_bytes: int,
    connect_timeout: float | None = None,
    max_redirects: int = 20,  # httpx's default
    transport: httpx.AsyncBaseTransport | None = None,
    read_body: Callable[[httpx.Response], bool] = lambda response: True,
) -> Response:
    """GET ``url`` within ``timeout`` seconds in all, following redirects; the body read if ``read_body``.

    ``read_body(response)`` sees the status and headers before any of the body is read: it raises
    to stop there (a 429, an error status) or returns False to skip the body (a 304). ``transport``
    replaces the network (tests); without it httpx honours ``HTTPS_PROXY``/``NO_PROXY`` and
    ``SSL_CERT_FILE`` (``trust_env``).
    """
    limits = httpx.Timeout(timeout, connect=min(connect_timeout, timeout) if connect_timeout is not None else timeout)
    async with (
        asyncio.timeout(timeout),
        httpx.AsyncClient(
            transport=transport,
            verify=ssl_context(),  # one for the process, not one per client (see ssl_context)
            timeout=limits,
            follow_redirects=True,
            max_redirects=max_redirects,
            trust_env=True,
        ) as client,
        client.stream("GET", url, headers={"Accept-Encoding": ACCEPT_ENCODING, **headers}) as response,
    ):
        body = await _read(response, max_bytes) if read_body(response) else b""
        return Response(status_code=response.status_code, body=body, headers=response.headers, url=str(response.url))


async def _read(response: httpx.Response, max_bytes: int) -> bytes:
    status = response.status_code
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(status)
    try:
        decoder = _Decoder(response.headers.get("content-encoding", ""), max_bytes)
    except ValueError as error:
        raise UnreadableBody(str(error), status) from error
    chunks = []
    try:
        async for chunk in response.aiter_raw(CHUNK):
            chunks.append(decoder.feed(chunk))
    except OverflowError:
        raise BodyTooLarge(status) from None
    except zlib.error as error:
        raise UnreadableBody(f"corrupt compressed body ({error})", status) from error
    return b"".join(chunks)
