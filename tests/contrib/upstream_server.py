"""A fake provider for upstream checks: a real HTTP server on 127.0.0.1 that serves fixture files.

Each route answers with a ``Reply`` (status, body, headers, optional slow drip) or a callable that
gets the request handler; every request is recorded, so tests can count what reached the provider.
"""

from __future__ import annotations

import dataclasses
import gzip
import http.server
import pathlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# Copies kept in the repository (tests/fixtures/upstream/README.md says what each file is), so a bare
# clone runs every test.
FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "upstream"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclasses.dataclass
class Reply:
    """One canned answer."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    etag: str | None = None  # answer 304 when the request's If-None-Match equals it
    gzip: bool = False
    drip_seconds: float = 0.0  # pause between 1 KB chunks
    hang_seconds: float = 0.0  # pause before answering at all
    chunked: bool = False  # no Content-Length: the client cannot know the size up front


@dataclasses.dataclass
class Seen:
    path: str
    headers: dict[str, str]


class FakeUpstream:
    """Serves ``routes`` on ``url``; ``requests`` lists every request received."""

    def __init__(self) -> None:
        self.routes: dict[str, Reply | Callable[[Any], None]] = {}
        self.requests: list[Seen] = []
        self.guard = threading.Lock()
        self.stopping = threading.Event()
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                with upstream.guard:
                    upstream.requests.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
                route = upstream.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "9")
                    self.end_headers()
                    self.wfile.write(b"not found")
                    return
                if callable(route):
                    route(self)
                    return
                upstream.answer(self, route)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, handler: Any, reply: Reply) -> None:
        if reply.hang_seconds:
            self.stopping.wait(reply.hang_seconds)
        if reply.etag and handler.headers.get("If-None-Match") == reply.etag:
            handler.send_response(304)
            handler.send_header("ETag", reply.etag)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        body = gzip.compress(reply.body, compresslevel=9) if reply.gzip else reply.body
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        if reply.etag:
            handler.send_header("ETag", reply.etag)
        if reply.gzip:
            handler.send_header("Content-Encoding", "gzip")
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        if reply.drip_seconds or reply.chunked:
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            size = 1024 if reply.drip_seconds else 64 * 1024
            try:
                for start in range(0, len(body), size):
                    if reply.drip_seconds and self.stopping.wait(reply.drip_seconds):
                        return
                    piece = body[start : start + size]
                    handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    handler.wfile.flush()
                handler.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
            return
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        try:
            handler.wfile.write(body)
        except OSError:
            pass  # the client gave up (size cap): that is the point of the test

    def count(self, path: str | None = None) -> int:
        with self.guard:
            return sum(1 for seen in self.requests if path is None or seen.path == path)

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    """A fake provider on a free loopback port, stopped after the test."""
    server = FakeUpstream()
    yield server
    server.stop()


class FrozenClock:
    """A clock upstream checks accept as ``clock=``: starts at ``start``, moves only when told."""

    def __init__(self, start: str = "2025-03-12T14:00:00+00:00") -> None:
        import datetime

        self.now = datetime.datetime.fromisoformat(start)

    def __call__(self):  # noqa: ANN204 - a datetime
        return self.now

    def advance(self, **delta: float) -> None:
        import datetime

        self.now += datetime.timedelta(**delta)
