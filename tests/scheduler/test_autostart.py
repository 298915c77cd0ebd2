"""The poller starts by itself in web servers, once per host, and never in other commands."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import pytest

from health_check import autostart
from health_check.store.diskcache import DiskcacheStore
from tests.scheduler.conftest import (
    PYTHON,
    children_of,
    fds_open_on,
    flock_holders,
    lock_file_pid,
    needs_proc,
)
from tests.support import Process, Response, free_port, port_open, try_get, wait_for

GUNICORN_SCRIPT = Path(PYTHON).parent / "gunicorn"
STEADY_PENDING = {"Steady()": "Unavailable: pending, no result yet (is the health check poller running?)"}

pytestmark = [pytest.mark.slow, needs_proc]


def get_steady(port: int) -> Response | None:
    return try_get(f"http://127.0.0.1:{port}/health/steady/?format=json", timeout=5)


def assert_turns_green(server: Process, port: int, within: float = 20.0) -> float:
    """Wait for the port, then for /health/steady/ to answer 200 {"Steady()": "OK"}; return the seconds it took."""
    wait_for(
        lambda: port_open("127.0.0.1", port, 0.2) or not server.alive(),
        timeout=30,
        what=lambda: f"port {port} listening or the server exiting\n{server.output}",
    )
    assert server.alive(), server.output
    listening = time.monotonic()
    response = wait_for(
        lambda: (r := get_steady(port)) is not None and r.status == 200 and r,
        timeout=within,
        what=lambda: (
            f"/health/steady/ answering 200; last: {(last := get_steady(port)) and last.body}\n{server.output}"
        ),
    )
    last = get_steady(port)
    assert response, f"not green within {within} s; last: {last and last.body}\n{server.output}"
    assert json.loads(response.body) == {"Steady()": "OK"}
    return time.monotonic() - listening


def the_one_holder(lock: Path, candidates: set[int]) -> int:
    """The single process holding the election lock, which must be one of ``candidates``."""
    holders = flock_holders(lock)
    assert len(holders) == 1, f"lock holders: {holders}"
    [holder] = holders
    assert holder in candidates, f"holder {holder} is none of {candidates}"
    assert lock_file_pid(lock) == holder
    return holder


def gunicorn_argv(port: int, *extra: str, module: bool = False) -> list[str]:
    program = [PYTHON, "-m", "gunicorn"] if module or not GUNICORN_SCRIPT.exists() else [str(GUNICORN_SCRIPT)]
    return [
        *program,
        "tests.testapp.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--worker-class",
        "sync",
        "--no-control-socket",
        *extra,
    ]


@pytest.mark.parametrize(
    ("preload", "module"), [(False, True), (True, False)], ids=["python-m-gunicorn", "gunicorn--preload"]
)
def test_autostart__gunicorn_one_poller(spawn, tmp_path, preload, module):
    """Two sync workers (with and without --preload): green by itself, exactly one process holds the lock, no
    other keeps a descriptor on the lock file, and a --preload master runs no threads (a worker polls)."""
    port = free_port()
    server = spawn(
        *gunicorn_argv(port, *(["--preload"] if preload else []), module=module), HEALTH_SNAPSHOT_AUTOSTART="1"
    )
    assert_turns_green(server, port)
    workers = wait_for(
        lambda: (found := children_of(server.pid)) and len(found) == 2 and found,
        timeout=10,
        what=lambda: f"two gunicorn workers\n{server.output}",
    )
    assert workers, server.output
    lock = tmp_path / "store" / "poller.lock"
    holder = the_one_holder(lock, workers | {server.pid})
    for pid in (workers | {server.pid}) - {holder}:
        assert fds_open_on(lock, pid) == [], f"process {pid} keeps the lock file open"
    if preload:
        # A thread in a process that forks can hold a lock (an import lock, SQLite's) that a worker then
        # waits on forever; the master must stay single-threaded and leave polling to a worker.
        assert os.listdir(f"/proc/{server.pid}/task") == [str(server.pid)], "threads run in the forking master"
        assert holder in workers
    for _ in range(4):  # every worker keeps answering (none hangs on a lock inherited from the master)
        response = get_steady(port)
        assert response is not None and response.status == 200
    # The elected poller wrote the endpoint index that manage.py health_check --no-http reads.
    with contextlib.closing(DiskcacheStore(str(tmp_path / "store"))) as store:
        index = store.read_index()
    assert index is not None and index["endpoints"]["health_check-steady"]["checks"][0][0] == "Steady()"


def test_autostart__gunicorn_disabled(spawn, tmp_path):
    """POLLER_AUTOSTART False: nothing polls, even after requests; the endpoint stays pending (500)."""
    port = free_port()
    server = spawn(*gunicorn_argv(port), HEALTH_SNAPSHOT_AUTOSTART="0")
    wait_for(
        lambda: port_open("127.0.0.1", port, 0.2), timeout=30, what=lambda: f"port {port} listening\n{server.output}"
    )
    for _ in range(4):
        response = get_steady(port)
        assert (response.status, json.loads(response.body)) == (500, STEADY_PENDING)
    time.sleep(1.5)  # longer than a first poll takes: long enough for a wrongly started poller to show
    assert not (tmp_path / "store" / "poller.lock").exists()
    response = get_steady(port)
    assert (response.status, json.loads(response.body)) == (500, STEADY_PENDING)


def test_autostart__uvicorn(spawn, tmp_path):
    """``python -m uvicorn`` serving the ASGI app turns green by itself, its process holding the lock."""
    port = free_port()
    server = spawn(
        PYTHON,
        "-m",
        "uvicorn",
        "tests.testapp.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        HEALTH_SNAPSHOT_AUTOSTART="1",
    )
    assert_turns_green(server, port)
    the_one_holder(tmp_path / "store" / "poller.lock", {server.pid})


def test_autostart__runserver_noreload(spawn, tmp_path):
    """``runserver --noreload`` turns green by itself, its process holding the lock."""
    port = free_port()
    server = spawn(
        PYTHON, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload", HEALTH_SNAPSHOT_AUTOSTART="1"
    )
    assert_turns_green(server, port)
    the_one_holder(tmp_path / "store" / "poller.lock", {server.pid})


def test_autostart__runserver_autoreloader(spawn, tmp_path):
    """With the autoreloader only the serving child polls; the watching parent never opens the lock."""
    port = free_port()
    server = spawn(PYTHON, "-m", "django", "runserver", f"127.0.0.1:{port}", HEALTH_SNAPSHOT_AUTOSTART="1")
    assert_turns_green(server, port)
    lock = tmp_path / "store" / "poller.lock"
    serving = children_of(server.pid)
    assert len(serving) == 1, serving
    the_one_holder(lock, serving)
    assert fds_open_on(lock, server.pid) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["migrate", "--noinput"],
        ["check"],
        # A request inside a management command must not start a poller either; the pause gives a
        # wrongly started one time to campaign (it creates the lock file at its first attempt).
        [
            "shell",
            "-c",
            "import time; from django.test import Client; "
            "print(Client().get('/health/steady/').status_code); time.sleep(1)",
        ],
    ],
    ids=["migrate", "check", "shell"],
)
def test_autostart__management_commands_never_poll(spawn, tmp_path, argv):
    """migrate, check and shell (even serving a request) exit 0 without campaigning or writing snapshots."""
    command = spawn(PYTHON, "-m", "django", *argv, HEALTH_SNAPSHOT_AUTOSTART="1")
    assert command.process.wait(timeout=60) == 0, command.output
    store_dir = tmp_path / "store"
    assert not (store_dir / "poller.lock").exists()
    if argv[0] == "shell":
        assert command.output.strip().splitlines()[-1] == "500"
        store = DiskcacheStore(str(store_dir))
        assert store.read(["Steady()"]) == {} and not (store_dir / "generation").exists()
        store.close()


# -- in-process decisions (no subprocess) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/venv/bin/gunicorn", "app.wsgi"], "gunicorn"),
        (["/venv/lib/python3.11/site-packages/gunicorn/__main__.py", "app.wsgi"], "gunicorn"),
        (["/venv/lib/python3.11/site-packages/uvicorn/__main__.py", "app.asgi:application"], "uvicorn"),
        (["/venv/lib/python3.11/site-packages/django/__main__.py", "runserver"], "django"),
        (["manage.py", "runserver"], "manage.py"),
        ([], ""),
    ],
)
def test_autostart__program_name(monkeypatch, argv, expected):
    """The program is recognised both as a script and under ``python -m``."""
    monkeypatch.setattr("sys.argv", argv)
    assert autostart._program() == expected


def test_autostart__not_in_pytest():
    """Inside this pytest run no poller was started or scheduled by the app."""
    assert autostart._in_test_run() is True
    assert autostart._election is None and not autostart._start_in_children
