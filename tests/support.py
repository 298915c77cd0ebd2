"""What tests share: one wait, loopback ports and HTTP, subprocesses and servers, a redis-server, a fake upstream.

One helper per job, so a test reads the same everywhere and a fix (a process left behind, a wait that
hid why it failed) is made once. Pytest fixtures stay in the conftest.py files and are built on these.
"""

from __future__ import annotations

import dataclasses
import datetime
import gzip
import http.client
import http.server
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import IO, Any, TypeVar

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYTHON = sys.executable

T = TypeVar("T")


# -- waiting ------------------------------------------------------------------------------------------


def wait_for(condition: Callable[[], T], *, timeout: float, what: str | Callable[[], str], interval: float = 0.05) -> T:
    """Poll ``condition`` until it returns something truthy and return that value.

    At the deadline it raises ``AssertionError`` naming ``what`` was awaited (a callable is called then, so
    the message can show logs or the last answers seen) and the last value. ``AssertionError`` and not
    ``pytest.fail``: callers that add context (server logs) catch it.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            described = what() if callable(what) else what
            last = repr(value)
            if len(last) > 500:
                last = last[:500] + "..."
            raise AssertionError(f"{described}: not reached within {timeout:g} s (last: {last})")
        time.sleep(interval)


# -- loopback ports and HTTP ----------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether ``host:port`` accepts a TCP connection within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclasses.dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str


def http_get(url: str, *, headers: dict[str, str] | None = None, timeout: float = 5) -> Response:
    """GET ``url``; HTTP error statuses are returned, not raised. Connection errors raise ``OSError``."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback test URL
            return Response(response.status, dict(response.headers), response.read().decode())
    except urllib.error.HTTPError as error:
        return Response(error.code, dict(error.headers), error.read().decode())


def http_request(
    port: int,
    target: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 5,
) -> Response:
    """One request to 127.0.0.1:``port`` as sent: a ``Host`` header of the caller's, redirects not followed.

    ``http_get`` (urllib) follows a 301 by itself; a probe does not, and a test of what a probe sees
    must not either. Without a ``Host`` in ``headers`` the request carries ``127.0.0.1:<port>``.
    """
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return Response(response.status, dict(response.getheaders()), response.read().decode())
    finally:
        connection.close()


def try_get(url: str, **kwargs: Any) -> Response | None:
    """``http_get``, or None while nothing answers (a server still starting)."""
    try:
        return http_get(url, **kwargs)
    except OSError:
        return None


# -- subprocesses and servers ---------------------------------------------------------------------------


class Process:
    """A subprocess in its own process group, its combined output in a file (no pipe to fill up).

    ``stop()``: SIGCONT to the group (a paused process cannot handle SIGTERM), SIGTERM to the process, then
    SIGKILL to whatever is left in its group (runserver's serving child, a worker that hung). It is
    idempotent, and the output stays readable after it.
    """

    def __init__(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] = ROOT,
        log: pathlib.Path | None = None,
        name: str | None = None,
        stop_timeout: float = 15.0,
    ) -> None:
        self.argv = list(argv)
        self.name = name or " ".join(self.argv[:4])
        self.log = log
        self.stop_timeout = stop_timeout
        self._file: IO[bytes] = log.open("wb") if log is not None else tempfile.TemporaryFile()
        self._final_output: str | None = None
        self._killed = False
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our own fixed arguments
                self.argv, cwd=cwd, env=env, stdout=self._file, stderr=subprocess.STDOUT, start_new_session=True
            )
        except BaseException:
            self._file.close()
            raise
        self.pid = self.process.pid

    @property
    def output(self) -> str:
        if self._final_output is not None:
            return self._final_output
        self._file.flush()
        if self.log is not None:
            return self.log.read_text(errors="replace")
        self._file.seek(0)
        return self._file.read().decode("utf-8", "replace")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.output.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def assert_running(self) -> None:
        if not self.alive():
            raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the process's group (nothing when it is gone)."""
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL to the group and reap: gone at once, like a crash."""
        self.signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._killed = True

    def stop(self) -> None:
        if self.alive():
            self.signal(signal.SIGCONT)
            self.process.terminate()  # the leader only, as a process manager does: gunicorn stops its workers
            try:
                self.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                pass
        if not self._killed:
            self.kill()  # also what the leader left behind in its group
        if self._final_output is None:
            self._final_output = self.output
            self._file.close()


def manage(
    *args: str, settings: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m django <args>`` as a real subprocess with the test project's ``settings`` module.

    ``env``: more environment (``HEALTH_SNAPSHOT_STORE_DIR``...). Output is captured as text; the exit
    code is the caller's to assert.
    """
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": settings, "PYTHONPATH": str(ROOT), **(env or {})}
    environment.pop("PYTEST_CURRENT_TEST", None)
    return subprocess.run(  # noqa: S603 - our own fixed arguments
        [PYTHON, "-m", "django", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout
    )


class Server(Process):
    """A ``Process`` that listens on 127.0.0.1:``port``."""

    def __init__(self, argv: list[str], port: int, **options: Any) -> None:
        self.port = port
        super().__init__(argv, **options)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the port accepts connections; stop the server and fail with its output when it never does."""
        try:
            wait_for(
                lambda: not self.alive() or port_open("127.0.0.1", self.port, timeout=0.2),
                timeout=timeout,
                what=lambda: f"{self.name} listening on port {self.port}\n{self.output}",
            )
            self.assert_running()
        except BaseException:
            self.stop()
            raise


#: The test project's application for each server kind ``start_server()`` knows.
TESTAPP = {"gunicorn": "tests.testapp.wsgi:application", "uvicorn": "tests.testapp.asgi:application"}


def serve_store(kind: str, store_dir: str, settings: str = "tests.testapp.settings_middleware", **env: str) -> Server:
    """The test project under ``kind`` (gunicorn or uvicorn) reading the diskcache store in ``store_dir``.

    ``settings``: a settings module of tests/testapp reading ``HEALTH_SNAPSHOT_STORE_DIR``; ``env``: more
    environment (``HEALTH_SNAPSHOT_AUTH_TOKEN``...).
    """
    return start_server(
        kind, TESTAPP[kind], {"DJANGO_SETTINGS_MODULE": settings, "HEALTH_SNAPSHOT_STORE_DIR": store_dir, **env}
    )


def start_server(kind: str, app: str, env_overrides: dict[str, str] | None = None) -> Server:
    """Start ``gunicorn`` (WSGI, one worker) or ``uvicorn`` (ASGI) serving ``app``; ready when returned."""
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.testapp.settings", "PYTHONPATH": str(ROOT)}
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update(env_overrides or {})
    if kind == "gunicorn":
        argv = [PYTHON, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    elif kind == "uvicorn":
        argv = [PYTHON, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    else:
        raise ValueError(f"unknown server kind {kind!r}")
    server = Server(argv, port, env=env, name=f"{kind} {app}")
    server.wait_ready()
    return server


class RedisServer:
    """``redis-server`` without persistence on 127.0.0.1:``port``; ``kill()`` and ``start()`` again at will
    (same port, empty). ``stop()`` at the end also removes its directory when it made it."""

    def __init__(self, port: int | None = None, directory: str | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._own_directory = directory is None
        self.directory = directory or tempfile.mkdtemp(prefix="hs-redis-")
        self.process: Process | None = None

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or shutil.which("/usr/bin/redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed; apt-get install redis-server to run this test")
        self.process = Process(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.directory,
                "--logfile",
                "",
                "--loglevel",
                "warning",
            ],
            cwd=self.directory,
            name="redis-server",
        )
        process = self.process
        try:
            wait_for(
                lambda: not process.alive() or port_open("127.0.0.1", self.port, timeout=0.2),
                timeout=10,
                what=lambda: f"redis-server listening on port {self.port}\n{process.output}",
            )
            process.assert_running()
        except BaseException:
            self.kill()  # never leave a half-started server behind for later tests
            raise
        return self

    def kill(self) -> None:
        """SIGKILL: connections drop at once, like a crashed or unreachable Redis."""
        if self.process is not None:
            self.process.kill()
            self.process.stop()  # closes its output file
        self.process = None

    def stop(self) -> None:
        self.kill()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)


class SilentListener:
    """Accepts TCP connections and never sends a byte: the service that hangs after connect."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(connection)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        for connection in self.accepted:
            connection.close()
        self.sock.close()


# -- a fake upstream provider -----------------------------------------------------------------------------

# Copies kept in the repository (tests/fixtures/upstream/README.md says what each file is), so a bare
# clone runs every test.
FIXTURES = ROOT / "tests" / "fixtures" / "upstream"


def fixture(name: str) -> bytes:
    """The bytes of ``tests/fixtures/upstream/<name>``."""
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
    """A real HTTP server on 127.0.0.1 serving ``routes`` on ``url``; ``requests`` lists every request received.

    Each route answers with a ``Reply`` (status, body, headers, optional slow drip) or a callable that
    gets the request handler; tests count what reached the provider with ``count()``.
    """

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


class FrozenClock:
    """A clock upstream checks accept as ``clock=``: starts at ``start``, moves only when told."""

    def __init__(self, start: str = "2025-03-12T14:00:00+00:00") -> None:
        self.now = datetime.datetime.fromisoformat(start)

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += datetime.timedelta(**delta)
