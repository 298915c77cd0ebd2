"""The example project runs as shipped: under gunicorn its poller fills the store and the node tier is green."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Process, Server, free_port, try_get, wait_for

pytestmark = pytest.mark.slow

EXAMPLE_DIR = Path(__file__).resolve().parent.parent / "example_project"
MANAGE = EXAMPLE_DIR / "manage.py"
START_DEADLINE = 30.0  # seconds; generous for a shared, noisy machine
STOP_TIMEOUT = 20.0  # seconds between SIGTERM and SIGKILL


def _example_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)  # pytest-django sets it to the test project's settings
    env["HEALTH_CHECK_STORE_LOCATION"] = str(tmp_path / "snapshots")
    env["EXAMPLE_DATA_DIR"] = str(tmp_path)
    return env


def _gunicorn() -> list[str]:
    # The console script makes argv[0] "gunicorn", which autostart recognises as a web server.
    script = Path(sys.executable).parent / "gunicorn"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gunicorn"]


@pytest.fixture
def example_server(tmp_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """The example project under gunicorn (two workers) on a free loopback port; stopped afterwards."""
    port = free_port()
    env = _example_env(tmp_path)
    # stop(): SIGTERM as a process manager would, SIGKILL to what is left after STOP_TIMEOUT.
    server = Server(
        [*_gunicorn(), "--bind", f"127.0.0.1:{port}", "--workers", "2", "example_project.wsgi"],
        port,
        cwd=EXAMPLE_DIR,
        env=env,
        log=tmp_path / "gunicorn.log",
        name="example project gunicorn",
        stop_timeout=STOP_TIMEOUT,
    )
    server.wait_ready(timeout=START_DEADLINE)
    try:
        yield port, env
    finally:
        server.stop()


def _wait_for_green(port: int) -> tuple[int, bytes]:
    return _wait_for(f"http://127.0.0.1:{port}/health/dev/node/?format=json", lambda status, _: status == 200)


def test_example_project__node_tier_green_under_gunicorn(example_server):
    """The node tier answers 200 with CPU, Memory and Disk all "OK" once the autostarted poller ran."""
    port, _ = example_server
    status, body = _wait_for_green(port)
    assert status == 200, body
    host = socket.gethostname()
    assert json.loads(body) == {
        f"CPU(hostname={host!r})": "OK",
        f"Memory(hostname={host!r})": "OK",
        f"Disk(path={str(EXAMPLE_DIR)!r}, hostname={host!r})": "OK",
    }


def test_example_project__health_check_command_exits_0(example_server):
    """`manage.py health_check health_check-node` exits 0 over HTTP and with --no-http, listing every check."""
    port, env = example_server
    assert _wait_for_green(port)[0] == 200
    # Run from the directory gunicorn serves from: Disk's default path is the working directory, and
    # with --no-http the command must name the same Disk check as the server to read its snapshot.
    over_http = subprocess.run(
        [sys.executable, str(MANAGE), "health_check", "health_check-node", f"127.0.0.1:{port}"],
        cwd=EXAMPLE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert over_http.returncode == 0, over_http.stderr
    host = socket.gethostname()
    expected = (
        f"CPU(hostname={host!r}): OK\n"
        f"Memory(hostname={host!r}): OK\n"
        f"Disk(path={str(EXAMPLE_DIR)!r}, hostname={host!r}): OK\n"
    )
    assert over_http.stdout == expected
    from_store = subprocess.run(
        [sys.executable, str(MANAGE), "health_check", "health_check-node", "--no-http"],
        cwd=EXAMPLE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert from_store.returncode == 0, from_store.stdout + from_store.stderr
    assert from_store.stdout == expected


def _wait_for(url: str, predicate, deadline: float = START_DEADLINE) -> tuple[int, bytes]:
    """(status, body) of the first answer from ``url`` that satisfies ``predicate``; fails with the last one."""
    last: list[tuple[int, bytes]] = [(0, b"")]

    def answered() -> tuple[int, bytes] | None:
        response = try_get(url)
        last[0] = (0, b"") if response is None else (response.status, response.body.encode())
        return last[0] if predicate(*last[0]) else None

    return wait_for(
        answered, timeout=deadline, what=lambda: f"{url} answering as awaited; last: {last[0]}", interval=0.3
    )


def test_example_project__application_tier_green_with_redis_rabbitmq_and_a_worker(example_server, tmp_path):
    """With Redis, RabbitMQ and the example's Celery worker running, every application check says "OK"."""
    from tests.conftest import require_service

    require_service("redis")
    require_service("rabbitmq")
    port, env = example_server
    worker = Process(
        [sys.executable, "-m", "celery", "-A", "example_project", "worker", "--concurrency=1", "--loglevel=WARNING"],
        cwd=EXAMPLE_DIR,
        env=env,
        log=tmp_path / "celery.log",
        name="example project celery worker",
        stop_timeout=STOP_TIMEOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}/health/dev/application/?format=json"
        status, body = _wait_for(url, lambda status, _: status == 200, deadline=90)
        assert status == 200, body
        assert json.loads(body) == {
            "Cache(alias='default')": "OK",
            "Database(alias='default')": "OK",
            "Mail(alias='default')": "OK",
            "Storage(alias='default')": "OK",
            "Redis(host='localhost', port=6379)": "OK",
            "RabbitMQ(scheme='amqp', host='localhost', port=5672)": "OK",
            "Ping(app='example_project')": "OK",
        }
    finally:
        worker.stop()


def test_example_project__application_tier_names_a_missing_worker(example_server):
    """Without a Celery worker the application tier fails (500) and Ping says why, while node stays green."""
    port, _ = example_server
    url = f"http://127.0.0.1:{port}/health/dev/application/?format=json"
    status, body = _wait_for(url, lambda status, body: status == 500 and b"Ping" in body and b"pending" not in body)
    assert status == 500, body
    messages = json.loads(body)
    assert messages["Ping(app='example_project')"].startswith("Unavailable: Celery workers unavailable")
    assert _wait_for_green(port)[0] == 200
