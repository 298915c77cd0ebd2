"""Bearer tokens: several accepted at once (a rotation without downtime), each compared in constant time.

Endpoints are called as a project's own tests would (``RequestFactory``) on the memory store; the
rotation through a real gunicorn and the ``health_check`` command is in tests/test_command.py.
"""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.test import RequestFactory

from health_check import _request
from health_check.conf import get_config
from health_check.store import get_store
from health_check.system_checks import check_settings, check_tokens
from health_check.views import HealthCheckView
from tests.scenarios import LABELS, write_scenario
from tests.testapp.probes import Sample

NEW = "n3w-token-0123456789abcdef"
OLD = "old-token-fedcba9876543210"
rf = RequestFactory()


@pytest.fixture
def healthy(memory_store):
    write_scenario(get_store(), "fresh")


def status(endpoint, token: str | None = None, header: str | None = None) -> int:
    extra = {"HTTP_AUTHORIZATION": header if header is not None else f"Bearer {token}"} if (token or header) else {}
    return endpoint(rf.get("/health/?format=json", **extra)).status_code


def test_tokens__each_token_of_a_view_admits_its_bearer(healthy):
    """as_view(auth_token=[new, old]): both admit their bearer (full detail), anything else is 403."""
    endpoint = HealthCheckView.as_view(checks=[Sample(label) for label in LABELS], auth_token=[NEW, OLD])
    assert [status(endpoint, token) for token in (NEW, OLD)] == [200, 200]
    assert [status(endpoint, token) for token in ("other-token-0123456789", NEW[:-1], NEW + "x")] == [403] * 3
    assert status(endpoint) == 403
    body = json.loads(endpoint(rf.get("/health/?format=json", HTTP_AUTHORIZATION=f"Bearer {OLD}")).content)
    assert len(body) == len(LABELS)


def test_tokens__settings_list_with_a_retired_blank_entry(healthy, settings):
    """HEALTH_CHECK["AUTH_TOKEN"] as a list; a blank entry (an unset variable) admits nobody, the others work."""
    settings.HEALTH_CHECK = {**settings.HEALTH_CHECK, "AUTH_TOKEN": ["", NEW, OLD]}
    write_scenario(get_store(), "fresh")  # a new HEALTH_CHECK opens a new store
    endpoint = HealthCheckView.as_view(checks=[Sample(label) for label in LABELS])
    assert [status(endpoint, token) for token in (NEW, OLD)] == [200, 200]
    assert status(endpoint, header="Bearer ") == 403
    assert status(endpoint, header="Bearer") == 403
    assert status(endpoint) == 403
    assert check_settings() == []


def test_tokens__legacy_setting_string_and_list(healthy, settings):
    """HEALTH_CHECK_AUTH_TOKEN as a string keeps working; as a list it accepts each token."""
    endpoint = HealthCheckView.as_view(checks=[Sample(label) for label in LABELS])
    settings.HEALTH_CHECK_AUTH_TOKEN = NEW
    write_scenario(get_store(), "fresh")
    assert (status(endpoint, NEW), status(endpoint, OLD), status(endpoint)) == (200, 403, 403)
    settings.HEALTH_CHECK_AUTH_TOKEN = [NEW, OLD]
    write_scenario(get_store(), "fresh")
    assert (status(endpoint, NEW), status(endpoint, OLD), status(endpoint)) == (200, 200, 403)
    assert check_settings() == []


@pytest.mark.parametrize("value", [["", " "], [NEW, 7]], ids=["only-blank", "not-a-string"])
def test_tokens__unusable_list_fails_closed(healthy, settings, value, caplog):
    """A list with no usable token refuses every request (and says so once), never opens the endpoint."""
    settings.HEALTH_CHECK = {**settings.HEALTH_CHECK, "AUTH_TOKEN": value}
    endpoint = HealthCheckView.as_view(checks=[Sample(label) for label in LABELS])
    assert (status(endpoint), status(endpoint, NEW), status(endpoint, header="Bearer ")) == (403, 403, 403)
    assert [m.id for m in check_settings()] == ["health_check.E003"]
    assert "AUTH_TOKEN" in caplog.text and NEW not in caplog.text


def test_tokens__every_token_compared_whichever_matches(healthy, monkeypatch):
    """The first token matching does not stop the comparison: the time taken says nothing of which one."""
    compared: list[str] = []
    real = _request.constant_time_compare

    def counting(given, token):
        compared.append(token)
        return real(given, token)

    monkeypatch.setattr(_request, "constant_time_compare", counting)
    endpoint = HealthCheckView.as_view(
        checks=[Sample(label) for label in LABELS], auth_token=[NEW, OLD, "third-0123456789abc"]
    )
    assert status(endpoint, NEW) == 200
    assert compared == [NEW, OLD, "third-0123456789abc"]


def test_tokens__short_tokens_warned_without_showing_them(settings):
    """W004 for each token under 16 characters, in settings and in an endpoint's auth_token; never the token."""
    settings.HEALTH_CHECK = {**settings.HEALTH_CHECK, "AUTH_TOKEN": [NEW, "short-1"]}
    settings.HEALTH_CHECK_AUTH_TOKEN = "short-2"
    settings.ROOT_URLCONF = "tests.testapp.urls_short_token"
    messages = check_tokens()
    assert [(m.id, m.msg) for m in messages] == [
        (
            "health_check.W004",
            'HEALTH_CHECK["AUTH_TOKEN"] (token 2 of 2) is 7 characters long, shorter than 16: it can be guessed.',
        ),
        ("health_check.W004", "HEALTH_CHECK_AUTH_TOKEN is 7 characters long, shorter than 16: it can be guessed."),
        (
            "health_check.W004",
            "Health check endpoint 'short' (/short/): auth_token is 5 characters long, shorter than 16: "
            "it can be guessed.",
        ),
    ]
    text = " ".join(f"{m.msg} {m.hint} {m.obj}" for m in messages)
    assert "short-1" not in text and "short-2" not in text and "abcde" not in text
    assert "secrets.token_urlsafe" in messages[0].hint


def test_tokens__long_tokens_no_warning(settings):
    settings.HEALTH_CHECK = {**settings.HEALTH_CHECK, "AUTH_TOKEN": [NEW, OLD]}
    assert check_tokens() == []


def test_tokens__manage_check_shows_the_warning(settings, capsys):
    """``manage.py check`` lists W004 (a warning: the check passes)."""
    settings.HEALTH_CHECK = {**settings.HEALTH_CHECK, "AUTH_TOKEN": "short-3"}
    call_command("check")
    err = capsys.readouterr().err
    assert "health_check.W004" in err and "short-3" not in err


def test_tokens__config_keeps_a_single_token_a_string(settings):
    """One usable token in a list is the string django-health-check code expects from the setting."""
    settings.HEALTH_CHECK = {**settings.HEALTH_CHECK, "AUTH_TOKEN": ["", NEW]}
    assert get_config()["AUTH_TOKEN"] == NEW
    settings.HEALTH_CHECK = {**settings.HEALTH_CHECK, "AUTH_TOKEN": [NEW, "", OLD]}
    assert get_config()["AUTH_TOKEN"] == (NEW, OLD)


@pytest.mark.parametrize("kind", ["gunicorn", "uvicorn"])
def test_tokens__rotation_through_real_servers(kind, tmp_path):
    """gunicorn and uvicorn with HEALTH_CHECK["AUTH_TOKEN"] = [new, old]: both admitted, anything else 403."""
    from health_check.store.diskcache import DiskcacheStore
    from tests.support import http_get, serve_store

    store = DiskcacheStore(str(tmp_path))
    write_scenario(store, "fresh")
    store.close()
    server = serve_store(kind, str(tmp_path), HEALTH_SNAPSHOT_AUTH_TOKEN=f"{NEW},{OLD}")
    try:
        url = f"http://127.0.0.1:{server.port}/health/?format=json"
        codes = [
            http_get(url, headers={"Authorization": f"Bearer {token}"}).status
            for token in (NEW, OLD, "other-token-0123456789")
        ]
        assert codes == [200, 200, 403]
        assert http_get(url).status == 403
    finally:
        server.stop()
