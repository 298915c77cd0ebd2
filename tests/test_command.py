"""``manage.py health_check`` as a container probe: real subprocesses, real gunicorn, real exit codes.

Servers and commands share a diskcache store (tests/testapp/settings_diskcache.py) that
``health_check_poller --once`` fills; exit codes are 0 healthy, 1 failing, 2 could not tell.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Server, free_port, http_get, start_server

pytestmark = pytest.mark.slow

ROOT = str(Path(__file__).resolve().parent.parent)
TOKEN = "cmd-t0ken-51"
PENDING = "Unavailable: pending, no result yet (is the health check poller running?)"
HOST = socket.gethostname()
NODE_NAMES = [f"CPU(hostname={HOST!r})", f"Memory(hostname={HOST!r})", f"Disk(path={ROOT!r}, hostname={HOST!r})"]


def manage(*args: str, store_dir: str | Path, token: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m django <args>`` with the diskcache test settings, as a container would."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.testapp.settings_diskcache",
        "HEALTH_SNAPSHOT_STORE_DIR": str(store_dir),
        "PYTHONPATH": ROOT,
    }
    env.pop("HEALTH_SNAPSHOT_AUTH_TOKEN", None)
    if token:
        env["HEALTH_SNAPSHOT_AUTH_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "django", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def poll_once(store_dir: str | Path) -> None:
    """Fill the store with one run of every check of the URLconf (exit 0 or 1 depending on the host)."""
    result = manage("health_check_poller", "--once", store_dir=store_dir)
    assert result.returncode in (0, 1), result.stderr
    assert "Steady(): OK\n" in result.stdout, result.stdout + result.stderr


def serve(store_dir: Path, token: str | None = None) -> Server:
    env = {"DJANGO_SETTINGS_MODULE": "tests.testapp.settings_diskcache", "HEALTH_SNAPSHOT_STORE_DIR": str(store_dir)}
    if token:
        env["HEALTH_SNAPSHOT_AUTH_TOKEN"] = token
    return start_server("gunicorn", "tests.testapp.wsgi:application", env)


def http_text(port: int, path: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Accept": "text/plain"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = http_get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=30)
    return response.status, response.body


@pytest.fixture(scope="module")
def polled_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("polled-store")


@pytest.fixture(scope="module")
def polled_server(polled_dir) -> Iterator[Server]:
    """gunicorn reading a store the poller fills (tests call poll_once() right before asking)."""
    server = serve(polled_dir)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def empty_server(tmp_path_factory) -> Iterator[Server]:
    """gunicorn reading a store no poller ever wrote."""
    server = serve(tmp_path_factory.mktemp("empty-store"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def token_server(tmp_path_factory) -> Iterator[tuple[Server, Path]]:
    """gunicorn whose endpoints require TOKEN, on a polled store."""
    store_dir = tmp_path_factory.mktemp("token-store")
    server = serve(store_dir, token=TOKEN)
    yield server, store_dir
    server.stop()


# -- HTTP mode -------------------------------------------------------------------------------------


def test_command__healthy_exits_0(polled_server, polled_dir):
    """After the poller ran, a healthy endpoint exits 0 and prints the text body."""
    poll_once(polled_dir)
    result = manage("health_check", "health_check-steady", f"127.0.0.1:{polled_server.port}", store_dir=polled_dir)
    assert (result.returncode, result.stdout, result.stderr) == (0, "Steady(): OK\n", "")


def test_command__pending_exits_1(empty_server, tmp_path):
    """With an empty store (no poller) the node endpoint is pending: exit 1, the text body on stdout."""
    result = manage("health_check", "health_check-node", f"127.0.0.1:{empty_server.port}", store_dir=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stdout == "".join(f"{name}: {PENDING}\n" for name in NODE_NAMES)
    assert result.stderr == ""


def test_command__prints_http_body(polled_server, polled_dir):
    """The command prints exactly what the endpoint's text format answers, and exits 0 for 200, 1 for 500."""
    poll_once(polled_dir)
    status, body = http_text(polled_server.port, "/health/node/")
    result = manage("health_check", "health_check-node", f"127.0.0.1:{polled_server.port}", store_dir=polled_dir)
    assert result.stdout == body
    assert result.returncode == {200: 0, 500: 1}[status]
    assert [line.split(": ", 1)[0] for line in body.splitlines()] == NODE_NAMES


def test_command__nothing_listening_exits_2(tmp_path):
    """Nothing on the port: exit 2, the URL and the reason on stderr."""
    port = free_port()
    result = manage("health_check", "health_check-node", f"127.0.0.1:{port}", store_dir=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"'http://127.0.0.1:{port}/health/node/' is not reachable: [Errno 111] Connection refused\n"
        "Please check your server is running and reachable.\n"
    )


@pytest.fixture
def hang_up_port() -> Iterator[int]:
    """A loopback server that accepts every connection and closes it without answering."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            connection.recv(65536)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


def test_command__closed_without_answer_exits_2(tmp_path, hang_up_port):
    """A server that hangs up without answering: exit 2, reported as unreachable with the reason, not as a timeout."""
    result = manage("health_check", "health_check-node", f"127.0.0.1:{hang_up_port}", store_dir=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"'http://127.0.0.1:{hang_up_port}/health/node/' is not reachable: "
        "Remote end closed connection without response\n"
        "Please check your server is running and reachable.\n"
    )


def test_command__unknown_endpoint_exits_2(tmp_path):
    """An unknown URL name: exit 2, nothing requested, a hint to give a URL pattern name."""
    result = manage("health_check", "health_check-nope", "127.0.0.1:9", store_dir=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "Could not resolve endpoint 'health_check-nope': Reverse for 'health_check-nope' not found. "
        "'health_check-nope' is not a valid view function or pattern name.\n"
        "Please provide a valid URL pattern name for the health check endpoint.\n"
    )


def test_command__missing_token_exits_2(token_server):
    """A protected endpoint without a token: exit 2 and how to provide one."""
    server, store_dir = token_server
    result = manage("health_check", "health_check-steady", f"127.0.0.1:{server.port}", store_dir=store_dir)
    assert result.returncode == 2
    assert result.stderr == (
        f"'http://127.0.0.1:{server.port}/health/steady/' requires authentication. Provide a token with "
        "--auth-token or set the HEALTH_CHECK_AUTH_TOKEN setting.\n"
    )


def test_command__wrong_token_exits_2(token_server):
    """A wrong --auth-token is refused like a missing one, and is not echoed."""
    server, store_dir = token_server
    result = manage(
        "health_check", "health_check-steady", f"127.0.0.1:{server.port}", "--auth-token", "nope-7", store_dir=store_dir
    )
    assert result.returncode == 2
    assert "requires authentication" in result.stderr
    assert "nope-7" not in result.stdout + result.stderr


def test_command__token_option_and_setting(token_server):
    """--auth-token, or the token from settings, gets the protected answer: exit 0."""
    server, store_dir = token_server
    poll_once(store_dir)
    by_option = manage(
        "health_check", "health_check-steady", f"127.0.0.1:{server.port}", "--auth-token", TOKEN, store_dir=store_dir
    )
    assert (by_option.returncode, by_option.stdout) == (0, "Steady(): OK\n"), by_option.stderr
    address = f"127.0.0.1:{server.port}"
    by_setting = manage("health_check", "health_check-steady", address, store_dir=store_dir, token=TOKEN)
    assert (by_setting.returncode, by_setting.stdout) == (0, "Steady(): OK\n"), by_setting.stderr


def test_command__verbose_masks_token(token_server):
    """-v 2 shows the URL and headers with the token masked."""
    server, store_dir = token_server
    poll_once(store_dir)
    result = manage(
        "health_check",
        "health_check-steady",
        f"127.0.0.1:{server.port}",
        "-v",
        "2",
        "--auth-token",
        TOKEN,
        store_dir=store_dir,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"Checking health endpoint at 'http://127.0.0.1:{server.port}/health/steady/' with headers: "
        "{'Accept': 'text/plain', 'X-Forwarded-Proto': 'https', 'Authorization': 'Bearer ******'}\n"
        "Steady(): OK\n"
    )
    assert TOKEN not in result.stdout + result.stderr


# -- --no-http -------------------------------------------------------------------------------------


def test_command__no_http_healthy_exits_0(tmp_path):
    """--no-http reads the store the poller filled: exit 0 and "<repr>: OK" lines, no server needed."""
    poll_once(tmp_path)
    result = manage("health_check", "health_check-steady", "--no-http", store_dir=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "Steady(): OK\n", "")


def test_command__no_http_pending_exits_1(tmp_path):
    """--no-http on an empty store: every check pending, exit 1."""
    result = manage("health_check", "health_check-node", "--no-http", store_dir=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stdout == "".join(f"{name}: {PENDING}\n" for name in NODE_NAMES)


def test_command__no_http_matches_http(polled_server, polled_dir):
    """--no-http prints the same lines and exits with the same code as asking the server."""
    poll_once(polled_dir)
    over_http = manage("health_check", "health_check-node", f"127.0.0.1:{polled_server.port}", store_dir=polled_dir)
    direct = manage("health_check", "health_check-node", "--no-http", store_dir=polled_dir)
    assert (direct.returncode, direct.stdout) == (over_http.returncode, over_http.stdout)
    assert direct.returncode in (0, 1)


def test_command__no_http_broken_store_exits_2(tmp_path):
    """--no-http with a store location that cannot be opened: exit 2, which store and what to do."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    location = blocker / "store"
    result = manage("health_check", "health_check-node", "--no-http", store_dir=location)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"Cannot read the health check snapshots: cannot open the diskcache store at {location}: "
        f"[Errno 20] Not a directory: '{location}'. "
        'Set HEALTH_CHECK["STORE_LOCATION"] to a directory every web and poller process can write.\n'
    )
    assert "Traceback" not in result.stderr


def test_command__no_http_not_a_health_view_exits_2(tmp_path):
    """--no-http on a URL name that is not a HealthCheckView: exit 2."""
    result = manage("health_check", "bare", "--no-http", store_dir=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "Endpoint 'bare' at '/bare/' is not a HealthCheckView; --no-http needs one.\n"


def test_command__no_http_ignores_token(tmp_path):
    """--no-http needs no token even when one is configured (no HTTP, no authentication)."""
    poll_once(tmp_path)
    result = manage("health_check", "health_check-steady", "--no-http", store_dir=tmp_path, token=TOKEN)
    assert (result.returncode, result.stdout) == (0, "Steady(): OK\n")


# -- call_command ----------------------------------------------------------------------------------


def test_command__call_command_returns_normally_when_healthy(polled_server, polled_dir, capsys):
    """In-process, a healthy endpoint returns from call_command (no SystemExit), printing the body."""
    from django.core.management import call_command

    poll_once(polled_dir)
    assert call_command("health_check", "health_check-steady", f"127.0.0.1:{polled_server.port}") is None
    assert capsys.readouterr().out == "Steady(): OK\n"


def test_command__call_command_raises_system_exit_when_not_healthy(empty_server, capsys):
    """In-process, a failing endpoint raises SystemExit(1), and an unreachable one SystemExit(2)."""
    from django.core.management import call_command

    with pytest.raises(SystemExit) as failing:
        call_command("health_check", "health_check-node", f"127.0.0.1:{empty_server.port}")
    assert failing.value.code == 1
    with pytest.raises(SystemExit) as unreachable:
        call_command("health_check", "health_check-node", f"127.0.0.1:{free_port()}")
    assert unreachable.value.code == 2


def test_command__rotated_tokens_over_gunicorn(tmp_path):
    """Tokens being rotated ("new,old" in settings): gunicorn admits both, refuses others; the command sends the first."""
    new, old = "rot-new-0123456789abcdef", "rot-old-fedcba9876543210"
    poll_once(tmp_path)
    server = serve(tmp_path, token=f"{new},{old}")
    try:
        codes = [http_text(server.port, "/health/steady/", token)[0] for token in (new, old, "rot-other-0123456789")]
        assert codes == [200, 200, 403]
        assert http_text(server.port, "/health/steady/")[0] == 403
        address = f"127.0.0.1:{server.port}"
        result = manage("health_check", "health_check-steady", address, store_dir=tmp_path, token=f"{new},{old}")
        assert (result.returncode, result.stdout) == (0, "Steady(): OK\n"), result.stderr
    finally:
        server.stop()


def test_command__readiness_503_is_a_failing_report(tmp_path):
    """An endpoint answering 503 for a failure (status_codes=) prints the report and exits 1, as for a 500."""
    from health_check.store.diskcache import DiskcacheStore
    from tests.scenarios import write_scenario

    store = DiskcacheStore(str(tmp_path))
    write_scenario(store, "failing")
    store.close()
    env = {"DJANGO_SETTINGS_MODULE": "tests.testapp.settings_middleware", "HEALTH_SNAPSHOT_STORE_DIR": str(tmp_path)}
    server = start_server("gunicorn", "tests.testapp.wsgi:application", env)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "django", "health_check", "views-ready", f"127.0.0.1:{server.port}"],
            cwd=ROOT,
            env={**os.environ, **env, "PYTHONPATH": ROOT},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.stop()
    assert result.returncode == 1, result.stderr
    assert "Unavailable: connection refused" in result.stdout and result.stderr == ""
