"""health_check.RemoteCheck against a real HTTP server on loopback playing another instance."""

from __future__ import annotations

import base64
import datetime
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

import health_check
from health_check import RemoteCheck
from health_check.remote import MAX_BODY_BYTES
from health_check.specs import CheckSpec
from tests.support import FakeUpstream, Reply

TOKEN = "t0ken-for-tests"
#: ``monitor`` / ``p@ss/w:rd``, as an HTTP server receives them in ``Authorization: Basic``.
BASIC = "Basic " + base64.b64encode(b"monitor:p@ss/w:rd").decode()

ROUTES: dict[str, tuple[int, bytes]] = {
    "/all-ok/": (200, json.dumps({"Database(alias='default')": "OK", "Cache(alias='default')": "OK"}).encode()),
    "/one-failing/": (
        500,
        json.dumps(
            {
                "Database(alias='default')": "OK",
                "Redis(db=0, host='cache', port=6379)": "Unavailable: Unable to connect to Redis at cache:6379: Connection was refused.",
            }
        ).encode(),
    ),
    "/html/": (200, b"<html><body>It works!</body></html>"),
    "/list/": (200, b'["OK"]'),
    "/huge/": (200, b"{" + b" " * (MAX_BODY_BYTES + 10) + b"}"),
}


def guarded(upstream: FakeUpstream, authorization: str, refusal: Reply) -> Callable[[Any], None]:
    """A route answering all-ok to requests with ``authorization``, ``refusal`` to any other."""

    def answer(handler: Any) -> None:
        allowed = handler.headers.get("Authorization") == authorization
        upstream.answer(handler, Reply(ROUTES["/all-ok/"][1]) if allowed else refusal)

    return answer


@pytest.fixture
def remote(upstream: FakeUpstream) -> str:
    """Base URL of another instance played by ``upstream``: ROUTES, two routes wanting credentials, a slow one."""
    for route, (status, body) in ROUTES.items():
        upstream.routes[route] = Reply(body, status=status)
    upstream.routes["/secured/"] = guarded(upstream, f"Bearer {TOKEN}", Reply(b"Authentication failed", status=403))
    upstream.routes["/basic/"] = guarded(upstream, BASIC, Reply(b"Authentication failed", status=401))
    upstream.routes["/slow/"] = Reply(ROUTES["/all-ok/"][1], hang_seconds=3)
    return upstream.url


def test_remote_check__exported():
    """RemoteCheck is a public name of health_check, as in django-health-check 4.11."""
    assert "RemoteCheck" in health_check.__all__
    assert health_check.RemoteCheck is RemoteCheck


def test_remote_check__all_ok(run_check, remote):
    """Every remote check OK: OK."""
    snapshot = run_check(RemoteCheck(url=f"{remote}/all-ok/"))
    assert (snapshot.status, snapshot.message) == ("ok", "OK")
    assert snapshot.details == {"remote_status": 200, "checks": 2}


def test_remote_check__one_failing(run_check, remote):
    """The remote's failing entries become the message, one line each."""
    snapshot = run_check(RemoteCheck(url=f"{remote}/one-failing/", label="eu-west"))
    assert snapshot.message == (
        "Unavailable: Redis(db=0, host='cache', port=6379): Unavailable: Unable to connect to Redis at cache:6379: "
        "Connection was refused."
    )


def test_remote_check__not_json(run_check, remote):
    """An HTML page is not a health endpoint."""
    assert (
        run_check(RemoteCheck(url=f"{remote}/html/")).message
        == "Unexpected Result: Response is not valid JSON (HTTP 200)"
    )
    assert run_check(RemoteCheck(url=f"{remote}/list/")).message == "Unexpected Result: Response is not a JSON object"


def test_remote_check__forbidden_without_the_token(run_check, remote):
    """A 403 says which setting to check; with the token the same endpoint is OK."""
    snapshot = run_check(RemoteCheck(url=f"{remote}/secured/"))
    assert snapshot.message == (
        "Unavailable: The remote endpoint refused the request (HTTP 403); check auth_token against its HEALTH_CHECK token"
    )
    assert run_check(RemoteCheck(url=f"{remote}/secured/", auth_token=TOKEN)).message == "OK"


def test_remote_check__userinfo_sent_as_basic_auth_never_logged(run_check, remote, caplog):
    """``user:password@`` leaves the URL before httpx sees it: sent as Basic auth, absent from httpx's log."""
    caplog.set_level(logging.DEBUG)
    host = remote.removeprefix("http://")
    snapshot = run_check(RemoteCheck(url=f"http://monitor:p%40ss%2Fw%3Ard@{host}/basic/"))
    assert (snapshot.status, snapshot.message) == ("ok", "OK")
    requests = [record.getMessage() for record in caplog.records if record.name == "httpx"]
    assert requests == [f'HTTP Request: GET {remote}/basic/ "HTTP/1.1 200 OK"']
    assert "p%40ss" not in caplog.text and "monitor" not in caplog.text


def test_remote_check__wrong_basic_auth(run_check, remote):
    """A 401 to Basic credentials points at the URL's user and password, not at auth_token."""
    host = remote.removeprefix("http://")
    snapshot = run_check(RemoteCheck(url=f"http://monitor:wrong@{host}/basic/"))
    assert snapshot.message == (
        "Unavailable: The remote endpoint refused the request (HTTP 401); check the user name and password in url"
    )


def test_remote_check__userinfo_and_auth_token_is_a_start_up_error():
    """Both would need the one Authorization header: refused when built, naming both arguments, showing neither."""
    with pytest.raises(ValueError) as raised:
        RemoteCheck(url="https://monitor:hunter2@peer.example/health/", auth_token=TOKEN)
    assert str(raised.value) == (
        "RemoteCheck: give either user:password@ in url= or auth_token=, not both (only one Authorization header "
        "can be sent)"
    )


def test_remote_check__timeout(run_check, remote):
    """A remote slower than the timeout: its own message, within the budget."""
    started = time.monotonic()
    snapshot = run_check(RemoteCheck(url=f"{remote}/slow/", timeout=datetime.timedelta(seconds=1)))
    assert snapshot.message == "Unavailable: Request timed out after 1 seconds"
    assert time.monotonic() - started < 2.9


def test_remote_check__silent_server(run_check, silent_listener):
    """A server that accepts and never answers times out the same way."""
    snapshot = run_check(
        RemoteCheck(url=f"http://127.0.0.1:{silent_listener.port}/", timeout=datetime.timedelta(seconds=1))
    )
    assert snapshot.message == "Unavailable: Request timed out after 1 seconds"


def test_remote_check__unreachable(run_check, closed_port):
    """Nothing listening: the connection error, without the URL."""
    snapshot = run_check(RemoteCheck(url=f"http://127.0.0.1:{closed_port}/health/s3cret/", label="peer"))
    assert snapshot.message == "Unavailable: Failed to reach URL: All connection attempts failed"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://[::1/health/s3cret/",
            "RemoteCheck cannot be built: RemoteCheck(url=...) is not a valid URL: its IPv6 host has no closing ']'",
        ),
        (
            "http://127.0.0.1:99999/health/s3cret/",
            "RemoteCheck cannot be built: RemoteCheck(url=...) is not a valid URL: its port is not between 1 and 65535",
        ),
        (
            "http://monitor:s3cret@peer.example:8o8o/health/",
            "RemoteCheck cannot be built: RemoteCheck(url=...) is not a valid URL: its port is not a number "
            "(a '/', '?' or '#' in the user name or password must be percent-encoded: "
            "urllib.parse.quote(password, safe=''))",
        ),
        (
            "http://monitor:s3cret/pw@peer.example/health/",
            "RemoteCheck cannot be built: RemoteCheck(url=...) is not a valid URL: it has an '@' after the host: "
            "percent-encode '/', '?', '#' and '@' in the user name and password "
            "(urllib.parse.quote(password, safe='')), and an '@' in the path or query as %40",
        ),
        (
            "ftp://peer.example/health/s3cret/",
            "RemoteCheck cannot be built: RemoteCheck(url=...) must be an http:// or https:// URL with a host and a "
            "valid port",
        ),
    ],
)
def test_remote_check__malformed_url_is_a_start_up_error(url, expected):
    """A URL httpx cannot send is a configuration error when the check is built (system check E002), not a probe failure."""
    from health_check.exceptions import CheckConfigurationError
    from health_check.specs import resolve_entry

    with pytest.raises(CheckConfigurationError) as raised:
        resolve_entry(("health_check.RemoteCheck", {"url": url}))
    assert str(raised.value) == expected
    assert "s3cret" not in str(raised.value)


def test_remote_check__credentials_in_the_url_never_shown():
    """``user:password@`` in the URL stays out of the check's name and labels."""
    check = RemoteCheck(url="https://monitor:hunter2@peer.example/health/?format=json")
    assert repr(check) == "RemoteCheck(url='https://peer.example/health/?format=json')"
    assert "hunter2" not in str(check.labels)


def test_remote_check__body_size_is_bounded(run_check, remote):
    """A body past 1 MiB is refused instead of being read whole."""
    snapshot = run_check(RemoteCheck(url=f"{remote}/huge/"))
    assert snapshot.message == (
        "Unexpected Result: Response is larger than 1024 KiB (HTTP 200); is the URL a health endpoint?"
    )


def test_remote_check__name_hides_token_and_prefers_label():
    """repr shows the label when given, else the URL; never the token."""
    labelled = RemoteCheck(url="https://peer/health/s3cret/", auth_token=TOKEN, label="peer")
    assert repr(labelled) == CheckSpec.of(labelled).name == "RemoteCheck(label='peer')"
    assert labelled.labels == {"check": "RemoteCheck", "label": "peer"}
    assert repr(RemoteCheck(url="https://peer/health/")) == "RemoteCheck(url='https://peer/health/')"
    assert TOKEN not in CheckSpec.of(labelled).key
