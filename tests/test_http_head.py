"""HEAD over a real socket (gunicorn, uvicorn, wsgiref) behind CommonMiddleware: GET's status and length, never a body.

Django's test client and the servers strip HEAD bodies on their own, so only raw bytes read from a
real server show what a client gets: the status line, every header, and whatever follows them.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator

import pytest

from health_check.store.diskcache import DiskcacheStore
from tests.scenarios import write_scenario
from tests.support import Server, free_port, start_server
from tests.testapp.urls_views import TOKEN

pytestmark = pytest.mark.slow

FORMATS = ["json", "text", "html", "rss", "atom", "openmetrics", "health+json"]
SERVERS = {"gunicorn": "tests.testapp.wsgi:application", "uvicorn": "tests.testapp.asgi:application", "wsgiref": ""}
# The standard library's reference server sends whatever the application returns, HEAD or not.
WSGIREF = (
    "import sys; from wsgiref.simple_server import make_server; from tests.testapp.wsgi import application; "
    "make_server('127.0.0.1', int(sys.argv[1]), application).serve_forever()"
)


def raw(server: Server, method: str, target: str, **headers: str) -> tuple[str, dict[str, str], bytes]:
    """Send one request and read until the server closes: (status line, headers, every byte after them)."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status, *fields = head.decode("latin-1").split("\r\n")
    return status, {name.lower(): value.strip() for name, _, value in (f.partition(":") for f in fields)}, rest


def body_length(headers: dict[str, str], rest: bytes) -> int:
    """The length of a GET body, chunked or not."""
    if headers.get("transfer-encoding") != "chunked":
        return len(rest)
    total = 0
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return total
        total += size
        rest = rest[size + 2 :]


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server(request, tmp_path_factory) -> Iterator[Server]:
    """A server with startproject's middleware, reading snapshots this process writes (failing scenario)."""
    location = str(tmp_path_factory.mktemp("head-store"))
    store = DiskcacheStore(location)
    write_scenario(store, "failing")
    env = {"DJANGO_SETTINGS_MODULE": "tests.testapp.settings_middleware", "HEALTH_SNAPSHOT_STORE_DIR": location}
    if request.param == "wsgiref":
        port = free_port()
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        process = Server(
            [sys.executable, "-c", WSGIREF, str(port)], port, env={**os.environ, **env, "PYTHONPATH": root}, cwd=root
        )
        process.wait_ready()
    else:
        process = start_server(request.param, SERVERS[request.param], env)
    try:
        yield process
    finally:
        process.stop()
        store.close()


def assert_head_matches(server: Server, target: str, **headers: str) -> tuple[str, dict[str, str]]:
    """HEAD has GET's status, no body, and GET's Content-Length (or none); returns HEAD's status and headers."""
    get_status, get_headers, get_rest = raw(server, "GET", target, **headers)
    head_status, head_headers, head_rest = raw(server, "HEAD", target, **headers)
    again_status, again_headers, again_rest = raw(server, "GET", target, **headers)
    assert head_status == get_status == again_status, server.output
    assert head_rest == b"", f"HEAD {target} sent a body: {head_rest[:80]!r}"
    if "content-length" in head_headers:
        # Ages in live formats may change length between two requests: the one either side counts.
        lengths = {body_length(get_headers, get_rest), body_length(again_headers, again_rest)}
        assert int(head_headers["content-length"]) in lengths, (target, head_headers, lengths)
    return head_status, head_headers


@pytest.mark.parametrize("fmt", FORMATS)
def test_head__every_format_like_get(server, fmt):
    """Every format, 200 and 500: HEAD answers GET's status and Content-Length, with nothing after the headers."""
    status, headers = assert_head_matches(server, f"/health/?format={fmt}")
    assert status.split()[1] == ("200" if fmt in ("rss", "atom", "openmetrics") else "500")
    assert headers.get("content-length") != "0"


@pytest.mark.parametrize(
    ("target", "headers", "code"),
    [
        ("/health/token/?format=json", {}, "403"),
        ("/health/token/?format=json", {"Authorization": "Bearer wrong"}, "403"),
        ("/health/", {"Accept": "image/png"}, "406"),
        ("/health/token/", {"Accept": "image/png", "Authorization": f"Bearer {TOKEN}"}, "406"),
    ],
)
def test_head__refusals_carry_no_body(server, target, headers, code):
    """403 and 406 answers to HEAD: no body, and the length GET's refusal has."""
    status, head_headers = assert_head_matches(server, target, **headers)
    assert status.split()[1] == code
    assert head_headers.get("content-length") != "0"


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_head__not_modified(server, fmt):
    """A conditional HEAD answers 304 with no body and never claims Content-Length: 0."""
    _, headers, _ = raw(server, "GET", f"/health/?format={fmt}")
    status, head_headers, rest = raw(server, "HEAD", f"/health/?format={fmt}", If_None_Match=headers["etag"])
    assert status.split()[1] == "304"
    assert rest == b""
    assert head_headers.get("content-length") != "0"
    assert head_headers["etag"] == headers["etag"]


def test_head__other_methods_refused_without_body(server):
    """Methods other than GET, HEAD and OPTIONS: 405 with Allow and an empty body (HEAD itself is always allowed)."""
    status, headers, rest = raw(server, "DELETE", "/health/")
    assert status.split()[1] == "405"
    assert headers["allow"] == "GET, HEAD, OPTIONS"
    assert body_length(headers, rest) == 0
