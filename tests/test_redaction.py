"""HEALTH_CHECK["ANONYMOUS_DETAIL"]: how much requests without the token see; secrets never appear."""

from __future__ import annotations

import dataclasses
import json

import feedparser
import pytest
from django.test import RequestFactory

from health_check.base import HealthCheck
from health_check.endpoints import CheckSpec
from health_check.exceptions import ServiceUnavailable
from health_check.store import get_store, reset_store
from health_check.views import HealthCheckView
from scheduler.jobs import CheckRunner

SECRET = "hunter2-db-password"
TOKEN = "t0ken-for-redaction"
FORMATS = ("text", "json", "html", "rss", "atom", "openmetrics", "health+json")


@dataclasses.dataclass
class Postgres(HealthCheck):
    """Fails naming its host, as a real check does, and holds a password it must never show."""

    host: str = "db.internal"
    password: str = dataclasses.field(default=SECRET, repr=False)

    def run(self) -> None:
        raise ServiceUnavailable(f"PostgreSQL at {self.host}:5432: connection refused")


@pytest.fixture
def endpoints(settings):
    def build(detail: str) -> tuple:
        settings.HEALTH_CHECK = {"STORE": "memory", "POLLER_AUTOSTART": False, "ANONYMOUS_DETAIL": detail}
        reset_store()
        check = Postgres()
        CheckRunner(get_store()).run(CheckSpec.of(check))
        return (
            HealthCheckView.as_view(checks=[check]),
            HealthCheckView.as_view(checks=[check], auth_token=TOKEN, allow_anonymous=True),
        )

    yield build
    reset_store()


def get(endpoint, fmt: str, token: str | None = None):
    meta = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return endpoint(RequestFactory().get("/health/", {"format": fmt}, **meta))


@pytest.mark.parametrize("detail", ["full", "names", "status"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_redaction__secret_never_shown(endpoints, detail, fmt):
    """At every level and in every format, the check's password never appears, with or without the token."""
    public, guarded = endpoints(detail)
    for response in (get(public, fmt), get(guarded, fmt), get(guarded, fmt, TOKEN)):
        assert SECRET.encode() not in response.content


def test_redaction__full_is_django_health_check(endpoints):
    """"full" (default) shows names and messages as django-health-check does."""
    public, _ = endpoints("full")
    response = get(public, "json")
    assert (response.status_code, json.loads(response.content)) == (
        500, {"Postgres(host='db.internal')": "Unavailable: PostgreSQL at db.internal:5432: connection refused"}
    )


def test_redaction__names(endpoints):
    """"names": names and states, messages replaced by a word, feed titles without messages; the token sees all."""
    public, guarded = endpoints("names")
    assert json.loads(get(public, "json").content) == {"Postgres(host='db.internal')": "Unavailable"}
    assert get(public, "text").content == b"Postgres(host='db.internal'): Unavailable\n"
    assert "connection refused" not in get(public, "html").content.decode()
    feed = feedparser.parse(get(public, "rss").content)
    assert [(e.title, e.summary) for e in feed.entries] == [("Postgres(host='db.internal'): error",) * 2]
    assert b"connection refused" in get(guarded, "json", TOKEN).content
    assert b"connection refused" not in get(guarded, "json").content


def test_redaction__status(endpoints):
    """"status": the overall status only (still 500 when failing); feeds carry no items."""
    public, guarded = endpoints("status")
    response = get(public, "text")
    assert (response.status_code, response.content) == (500, b"status: Unavailable\n")
    assert json.loads(get(public, "json").content) == {"status": "Unavailable"}
    assert json.loads(get(public, "health+json").content) == {"status": "fail"}
    assert "db.internal" not in get(public, "html").content.decode()
    assert feedparser.parse(get(public, "atom").content).entries == []
    assert json.loads(get(guarded, "json", TOKEN).content) == {
        "Postgres(host='db.internal')": "Unavailable: PostgreSQL at db.internal:5432: connection refused"
    }


def test_redaction__unknown_level_fails_closed(endpoints):
    """A misspelt level shows the status only rather than everything."""
    public, _ = endpoints("nmes")
    assert get(public, "text").content == b"status: Unavailable\n"
