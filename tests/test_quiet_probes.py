"""Failing probes under Django's own logging: no "Internal Server Error" per probe, no e-mail per probe.

Django's default LOGGING sends every django.request ERROR to ``mail_admins`` when ``DEBUG`` is off and
``ADMINS`` is set; a load balancer probing a failing endpoint every few seconds would fill the admins'
inboxes. The poller logs each change of a check once, at WARNING (health_check/recorder.py, logger
health_check.journal).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Iterator

import django
import pytest
from django.http import HttpResponse
from django.test import AsyncClient, Client
from django.urls import path
from django.utils.log import AdminEmailHandler

from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable
from health_check.recorder import store_runner
from health_check.renderers import DEFAULT_RENDERERS, JSONRenderer
from health_check.specs import CheckSpec
from health_check.store import get_store
from health_check.views import HealthCheckView
from tests.scenarios import write_scenario
from tests.testapp.urls_views import SAMPLES

PROBES = 10
UTC = datetime.UTC


class BrokenRenderer(JSONRenderer):
    """A renderer with a bug: the exception must still reach Django's error log and the admins."""

    format = "broken"

    def render(self, report, context):
        raise RuntimeError("renderer bug")


urlpatterns = [
    path("health/", HealthCheckView.as_view(checks=SAMPLES)),
    path("health/broken/", HealthCheckView.as_view(checks=SAMPLES, renderers=(*DEFAULT_RENDERERS, BrokenRenderer))),
    path("other/", lambda request: HttpResponse("the site's own failure", status=500)),
]
pytestmark = pytest.mark.urls("tests.test_quiet_probes")


@pytest.fixture
def admins(settings, memory_store) -> Iterator[None]:
    """ADMINS set, DEBUG off, Django's default logging (mail_admins on the "django" logger), a failing endpoint."""
    # Django 6.0 takes plain addresses and deprecates (name, address) pairs, which 5.2 still requires.
    settings.ADMINS = ["ops@example.test"] if django.VERSION >= (6, 0) else [("Ops", "ops@example.test")]
    settings.DEBUG = False
    assert any(isinstance(handler, AdminEmailHandler) for handler in logging.getLogger("django").handlers), (
        "Django's default LOGGING is not in effect: this test would prove nothing"
    )
    write_scenario(get_store(), "failing")
    yield


def request_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "django.request" and record.levelno >= logging.ERROR
    ]


def test_probes__failing_probes_send_no_mail_and_log_no_error(admins, client, mailoutbox, caplog):
    """Ten failing probes in every format: ten 500s, no e-mail to ADMINS, no django.request ERROR."""
    caplog.set_level(logging.DEBUG)
    for fmt in ("json", "text", "html", "health+json"):
        for _ in range(PROBES):
            assert client.get(f"/health/?format={fmt}").status_code == 500
            assert client.head(f"/health/?format={fmt}").status_code == 500
    assert request_errors(caplog) == []
    assert [mail.subject for mail in mailoutbox] == []


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_probes__failing_probes_under_asgi_send_no_mail(admins, mailoutbox, caplog, anyio_backend):
    """The same under ASGI (Django's async request path logs responses too)."""
    caplog.set_level(logging.DEBUG)
    client = AsyncClient()
    for _ in range(PROBES):
        assert (await client.get("/health/?format=json")).status_code == 500
    assert request_errors(caplog) == []
    assert mailoutbox == []


def test_probes__other_500s_still_logged_and_mailed(admins, mailoutbox, caplog):
    """Another view's 500 and an exception raised inside the health view still reach the log and ADMINS."""
    client = Client(raise_request_exception=False)
    assert client.get("/other/").status_code == 500
    assert client.get("/health/broken/?format=broken").status_code == 500
    assert request_errors(caplog) == ["Internal Server Error: /other/", "Internal Server Error: /health/broken/"]
    assert len(mailoutbox) == 2


@dataclasses.dataclass
class Flaky(HealthCheck):
    """Fails while ``DOWN`` holds its name."""

    name: str = "db"

    def run(self) -> None:
        if self.name in DOWN:
            raise ServiceUnavailable("db at 10.0.0.7:5432: connection refused\nsecond line")


DOWN: set[str] = set()


def test_probes__poller_logs_one_warning_per_change(admins, client, mailoutbox, caplog):
    """A run that changes a check's state logs exactly one WARNING (one line); runs that change nothing log nothing."""
    caplog.set_level(logging.DEBUG)
    clock = {"now": datetime.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)}
    runner = store_runner(get_store(), clock=lambda: clock["now"])
    spec = CheckSpec.of(Flaky())

    def run(down: bool) -> list[logging.LogRecord]:
        (DOWN.add if down else DOWN.discard)("db")
        caplog.clear()
        runner.run(spec)
        clock["now"] += datetime.timedelta(seconds=30)
        return [record for record in caplog.records if record.levelno >= logging.WARNING]

    try:
        assert run(down=False) == []  # first run, ok: nothing changed for anyone
        failing = run(down=True)
        assert [(r.name, r.levelname, r.getMessage()) for r in failing] == [
            (
                "health_check.journal",
                "WARNING",
                "Health check Flaky(name='db'): ok -> error: Unavailable: db at 10.0.0.7:5432: connection refused second line",
            ),
        ]
        assert failing[0].exc_info is None
        assert [run(down=True) for _ in range(3)] == [[], [], []]
        recovered = run(down=False)
        assert [(r.levelname, r.getMessage()) for r in recovered] == [
            ("WARNING", "Health check Flaky(name='db'): error -> ok: OK"),
        ]
    finally:
        DOWN.clear()
    assert mailoutbox == []
