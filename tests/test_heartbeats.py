"""Heartbeats end to end: a real gunicorn with its poller, a diskcache store, beats sent three ways.

Each way (``beat()`` in this process, ``manage.py health_check_beat`` as a subprocess, an HTTP POST to
the server's ``HeartbeatView``) has its own heartbeat and endpoint (tests/testapp/urls_heartbeat.py,
``max_interval`` 2 s). Every test asserts what a probe sees: the endpoint's status and message.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator

import pytest

from health_check.heartbeat import beat, last_beat
from health_check.store import reset_store
from health_check.store.diskcache import DiskcacheStore
from tests.support import TESTAPP, Response, Server, free_port, http_get, http_request, manage, start_server, wait_for

SETTINGS = "tests.testapp.settings_heartbeat"
TOKEN = "heartbeat-token-for-tests-0123456789"


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("heartbeat-store"))


@pytest.fixture(scope="module")
def server(store_dir) -> Iterator[Server]:
    """gunicorn serving tests/testapp/urls_heartbeat.py, its poller started in the worker."""
    server = start_server(
        "gunicorn",
        TESTAPP["gunicorn"],
        {
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "HEALTH_SNAPSHOT_STORE_DIR": store_dir,
            "HEALTH_SNAPSHOT_HEARTBEAT_TOKEN": TOKEN,
        },
    )
    try:
        yield server
    finally:
        server.stop()
        assert "Traceback" not in server.output, server.log_tail()
        assert TOKEN not in server.output


def shown(server: Server, name: str) -> tuple[int, str]:
    """What a probe of the heartbeat's endpoint sees: the HTTP status and the check's message."""
    response = http_get(f"http://127.0.0.1:{server.port}/health/{name}/?format=json")
    (message,) = json.loads(response.body).values()
    return response.status, message


def wait_shown(server: Server, name: str, expected: Callable[[int, str], bool], what: str) -> tuple[int, str]:
    seen: list[tuple[int, str]] = []

    def check() -> tuple[int, str] | None:
        seen.append(shown(server, name))
        return seen[-1] if expected(*seen[-1]) else None

    return wait_for(check, timeout=6, what=lambda: f"{name}: {what} (last seen {seen[-1:]})", interval=0.05)


def prove(server: Server, name: str, send: Callable[..., None]) -> None:
    """Pending, a beat, late, a beat again, a failed beat: each as the endpoint shows it."""
    status, message = wait_shown(server, name, lambda s, m: "no beat yet" in m, "pending before the first beat")
    assert status == 500
    assert re.fullmatch(
        rf"(Warning: pending: no beat yet from {name}|Unavailable: no beat yet from {name} in the \d+ s the "
        r"poller has watched); expected one within 2 seconds",
        message,
    )
    send()
    wait_shown(server, name, lambda s, m: (s, m) == (200, "OK"), "OK after the first beat")
    status, message = wait_shown(server, name, lambda s, m: "late" in m, "late once 2 s passed without a beat")
    assert status == 500
    assert re.fullmatch(
        rf"Unavailable: late: last beat from {name} was [23] s ago; expected one within 2 seconds", message
    )
    send()
    wait_shown(server, name, lambda s, m: (s, m) == (200, "OK"), "OK after the beat that came late")
    send(failed=True, message="disk full\non /backup")
    status, message = wait_shown(server, name, lambda s, m: "failure" in m, "error after a failed beat")
    assert (status, message) == (500, f"Unavailable: {name} reported a failure 0 s ago: disk full on /backup")


def test_heartbeat__python_beat_arrives_turns_late_and_arrives_again(server, store_dir, settings):
    """beat() in another process (this one) reaches the server's endpoint through the shared store."""
    settings.HEALTH_CHECK = {"STORE": "diskcache", "STORE_LOCATION": store_dir, "POLLER_AUTOSTART": False}
    reset_store()
    try:

        def send(**options: object) -> None:
            beat("via-python", **options)  # type: ignore[arg-type]

        prove(server, "via-python", send)
    finally:
        reset_store()


def test_heartbeat__a_beat_shows_within_seconds_however_seldom_the_check_polls(server, store_dir):
    """The slow heartbeat polls once a minute (25 h / 10, at most 60 s); its beat shows in about a second."""
    wait_shown(server, "slow", lambda s, m: "pending" in m, "pending before the first beat")
    started = time.monotonic()
    result = manage("health_check_beat", "slow", settings=SETTINGS, env={"HEALTH_SNAPSHOT_STORE_DIR": store_dir})
    assert result.returncode == 0, result.stderr
    wait_shown(server, "slow", lambda s, m: (s, m) == (200, "OK"), "OK after the beat")
    assert time.monotonic() - started < 10, "shown by the poller's watch, not at the next poll a minute later"


def test_heartbeat__command_beat_arrives_turns_late_and_arrives_again(server, store_dir):
    """``manage.py health_check_beat`` as a real subprocess: one line out, exit 0, and the endpoint follows."""

    def send(failed: bool = False, message: str = "") -> None:
        args = [
            "health_check_beat",
            "via-command",
            *(["--failed"] if failed else []),
            *(["--message", message] if message else []),
        ]
        result = manage(*args, settings=SETTINGS, env={"HEALTH_SNAPSHOT_STORE_DIR": store_dir})
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        outcome = "failed" if failed else "ok"
        said = f": {' '.join(message.split())}" if message else ""
        assert re.fullmatch(
            rf"Beat of via-command recorded \({outcome}\) at \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ{re.escape(said)}\n",
            result.stdout,
        ), result.stdout

    prove(server, "via-command", send)


def post(
    server: Server, path: str, body: bytes = b"", headers: dict[str, str] | None = None, method: str = "POST"
) -> Response:
    return http_request(
        server.port, path, method=method, body=body, headers={"Content-Type": "application/json", **(headers or {})}
    )


BEARER = {"Authorization": f"Bearer {TOKEN}"}


def test_heartbeat__http_beat_arrives_turns_late_and_arrives_again(server):
    """A POST to HeartbeatView on the real server: a small JSON answer, and the endpoint follows."""

    def send(failed: bool = False, message: str = "") -> None:
        body = json.dumps({"failed": failed, "message": message}).encode() if (failed or message) else b""
        response = post(server, "/heartbeat/via-http/", body, BEARER)
        assert response.status == 200, response.body
        answer = json.loads(response.body)
        assert answer == {
            "name": "via-http",
            "status": "failed" if failed else "ok",
            "at": answer["at"],
            "message": " ".join(message.split()),
        }
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", answer["at"])

    prove(server, "via-http", send)


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "error"),
    [
        ("GET", "/heartbeat/via-http/", b"", BEARER, 405, "GET is not allowed: POST a beat"),
        ("PUT", "/heartbeat/via-http/", b"", BEARER, 405, "PUT is not allowed: POST a beat"),
        ("POST", "/heartbeat/via-http/", b"", {}, 401, "a bearer token is required: Authorization: Bearer <token>"),
        ("POST", "/heartbeat/via-http/", b"", {"Authorization": "Bearer wrong"}, 403, "the bearer token is not valid"),
        ("POST", "/heartbeat/via-http/", b"", {"Authorization": TOKEN}, 403, "the bearer token is not valid"),
        ("POST", "/heartbeat/nobody/", b"", BEARER, 404, "no Heartbeat check watches 'nobody'"),
        ("POST", "/heartbeat/bad%20name/", b"", BEARER, 404, "no Heartbeat check watches 'bad name'"),
        (
            "POST",
            "/heartbeat/via-http/",
            b"{not json",
            BEARER,
            400,
            'the body is not JSON: send {"failed": true, "message": "..."} or nothing',
        ),
        (
            "POST",
            "/heartbeat/via-http/",
            b"\xff\xfe",
            BEARER,
            400,
            'the body is not JSON: send {"failed": true, "message": "..."} or nothing',
        ),
        (
            "POST",
            "/heartbeat/via-http/",
            b"[1]",
            BEARER,
            400,
            'the body must be a JSON object: {"failed": true, "message": "..."}',
        ),
        (
            "POST",
            "/heartbeat/via-http/",
            b'{"failed": true, "token": "x"}',
            BEARER,
            400,
            "unknown fields: token; a beat has failed and message",
        ),
        ("POST", "/heartbeat/via-http/", b'{"failed": "yes"}', BEARER, 400, '"failed" must be true or false'),
        (
            "POST",
            "/heartbeat/via-http/",
            b'{"message": 5}',
            BEARER,
            400,
            '"message" must be a string (at most 200 characters are kept)',
        ),
        (
            "POST",
            "/heartbeat/via-http/",
            b"x" * 5000,
            BEARER,
            413,
            "the body is 5000 bytes, over the 4096 a beat may have",
        ),
        ("POST", "/tiny/via-python/", b"", BEARER, 404, "no Heartbeat check watches 'via-python'"),
        (
            "POST",
            "/tiny/via-http/",
            b'{"message": "' + b"y" * 80 + b'"}',
            BEARER,
            413,
            "the body is 95 bytes, over the 64 a beat may have",
        ),
    ],
)
def test_heartbeat_view__refuses_bad_requests_with_a_clear_4xx(
    server, store_dir, method, path, body, headers, status, error
):
    """Every bad request is a 4xx with a one-line JSON error naming what is wrong; no beat is recorded."""
    store = DiskcacheStore(store_dir)
    before = last_beat("via-http", store)
    response = post(server, path, body, headers, method=method)
    assert (response.status, json.loads(response.body)) == (status, {"error": error})
    assert response.headers["Content-Type"] == "application/json"
    if status == 401:
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="heartbeat"'
    if status == 405:
        assert response.headers["Allow"] == "POST"
    assert TOKEN not in response.body
    assert last_beat("via-http", store) == before
    store.close()


def test_health_check_beat__store_down_is_one_line_and_exit_2(tmp_path):
    """A store that does not answer: one line naming it, exit code 2, no traceback, and no password shown."""
    config = json.dumps({"STORE": f"redis://beat:s3cret-password@127.0.0.1:{free_port()}/0"})
    result = manage(
        "health_check_beat",
        "nightly-backup",
        settings="tests.testapp.settings_store",
        env={"HEALTH_SNAPSHOT_STORE_DIR": str(tmp_path), "HEALTH_SNAPSHOT_CONFIG": config},
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Beat of nightly-backup not recorded: ")
    assert "Redis store at redis://127.0.0.1:" in result.stderr
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_health_check_beat__bad_name_is_a_command_error(tmp_path):
    """A name that cannot be a heartbeat's: exit 1 with what is allowed, nothing stored."""
    result = manage(
        "health_check_beat", "nightly backup!", settings=SETTINGS, env={"HEALTH_SNAPSHOT_STORE_DIR": str(tmp_path)}
    )
    assert result.returncode == 1
    assert result.stderr == (
        "CommandError: heartbeat name 'nightly backup!' is not valid: use 1 to 100 letters, digits, '.', '_' "
        "or '-', starting with a letter or digit (e.g. 'nightly-backup')\n"
    )


# -- the view's settings, in process (Django's test client) ------------------------------------------------


@pytest.fixture
def beats(settings, memory_store):
    """The heartbeat URLconf on the memory store, behind CSRF middleware that is enforced."""
    from django.test import Client

    settings.ROOT_URLCONF = "tests.testapp.urls_heartbeat"
    settings.MIDDLEWARE = ["django.middleware.csrf.CsrfViewMiddleware"]
    return Client(enforce_csrf_checks=True)


def test_heartbeat_view__no_token_configured_refuses_every_beat(beats, memory_store):
    """Without HEARTBEAT_TOKEN or token=, even a caller guessing a token is refused: nobody can silence an alert."""
    response = beats.post("/heartbeat/via-http/", "", "application/json", HTTP_AUTHORIZATION="Bearer anything-at-all")
    assert (response.status_code, response.json()) == (
        403,
        {"error": 'beats are refused: no heartbeat token is configured (HEALTH_CHECK["HEARTBEAT_TOKEN"])'},
    )
    assert last_beat("via-http") is None


def test_heartbeat_view__rotated_tokens_and_csrf_exempt(beats, settings, memory_store):
    """Any token of a rotation is accepted (a blank one never), with CSRF enforced and no cookie."""
    settings.HEALTH_CHECK = {
        **settings.HEALTH_CHECK,
        "HEARTBEAT_TOKEN": ["old-token-0123456789", " ", "new-token-0123456789"],
    }
    for token in ("old-token-0123456789", "new-token-0123456789"):
        response = beats.post("/heartbeat/via-http/", "", "application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 200, response.content
    assert beats.post("/heartbeat/via-http/", "", "application/json", HTTP_AUTHORIZATION="Bearer  ").status_code == 403
    assert last_beat("via-http").via == "http"


def test_heartbeat_view__store_down_is_503_in_one_line(beats, settings, tmp_path):
    """The store not answering: 503 saying the beat was not recorded (the caller retries), no password."""
    settings.HEALTH_CHECK = {
        "STORE": f"redis://beat:s3cret@127.0.0.1:{free_port()}/0",
        "STORE_LOCATION": str(tmp_path),
        "POLLER_AUTOSTART": False,
        "HEARTBEAT_TOKEN": TOKEN,
    }
    reset_store()
    try:
        response = beats.post("/heartbeat/via-http/", "", "application/json", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    finally:
        reset_store()
    assert response.status_code == 503
    error = response.json()["error"]
    assert error.startswith("the beat was not recorded: the snapshot store does not answer (")
    assert "s3cret" not in error and "\n" not in error
