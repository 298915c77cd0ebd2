"""A redis-server of our own on a free loopback port, for tests that kill and restart Redis."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from tests.conftest import free_port, port_open


class RedisServer:
    """``redis-server`` without persistence on 127.0.0.1:``port``; ``kill()`` and ``start()`` again at will."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.directory = tempfile.mkdtemp(prefix="hs-redis-")

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed; apt-get install redis-server to run this test")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.directory, "--logfile", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port, timeout=0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()  # never leave a half-started server behind for later tests
                pytest.fail(f"redis-server did not listen on port {self.port}")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """SIGKILL: connections drop at once, like a crashed or unreachable Redis."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server, always stopped afterwards."""
    server = RedisServer()
    try:
        yield server.start()
    finally:
        server.stop()
