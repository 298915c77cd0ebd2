"""Real servers for the contrib checks: a redis-server we can kill, a listener that never answers, a poller."""

from __future__ import annotations

import datetime
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator

import pytest

from health_check.specs import CheckSpec
from health_check.snapshot import Snapshot
from tests.support import free_port, port_open, wait_for

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """A throw-away redis-server on a free loopback port, with no persistence."""

    def __init__(self, directory: str) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.directory, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(lambda: port_open("127.0.0.1", self.port, 0.2), timeout=10, what=f"redis-server on port {self.port}")
        except BaseException:
            self.kill()  # never leave a half-started server behind for later tests
            raise

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    """A redis-server started for this test; killed at the end whatever happens."""
    if not shutil.which(REDIS_SERVER):
        pytest.skip("redis-server is not installed")
    server = RedisServer(str(tmp_path))
    try:
        server.start()
        yield server
    finally:
        server.kill()


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


@pytest.fixture
def silent_listener() -> Iterator[SilentListener]:
    listener = SilentListener()
    yield listener
    listener.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    return free_port()


@pytest.fixture
def start_poller(memory_store) -> Iterator[Callable[..., object]]:
    """Start the real poller (APScheduler, runner, memory store) on some checks; always shut down."""
    from scheduler.jobs import CheckRunner
    from scheduler.poller import Poller

    pollers: list[Poller] = []

    def start(*checks, jitter: float = 0.0) -> Poller:
        poller = Poller([CheckSpec.of(check) for check in checks], CheckRunner(memory_store), jitter=jitter)
        poller.start()
        pollers.append(poller)
        return poller

    yield start
    for poller in pollers:
        poller.shutdown()


def latest(store, check) -> Snapshot | None:
    """The snapshot the store holds for ``check`` now."""
    key = CheckSpec.of(check).key
    return store.read([key]).get(key)


def seconds(value: float) -> datetime.timedelta:
    return datetime.timedelta(seconds=value)
