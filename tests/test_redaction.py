"""HEALTH_CHECK["ANONYMOUS_DETAIL"]: how much requests without the token see; secrets never appear."""

from __future__ import annotations

import dataclasses
import json

import feedparser
import pytest
from django.test import RequestFactory

from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable
from health_check.recorder import store_runner
from health_check.specs import CheckSpec
from health_check.store import get_store, reset_store
from health_check.views import HealthCheckView

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
        store_runner(get_store()).run(CheckSpec.of(check))
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
    """ "full" (default) shows names and messages as django-health-check does."""
    public, _ = endpoints("full")
    response = get(public, "json")
    assert (response.status_code, json.loads(response.content)) == (
        500,
        {"Postgres(host='db.internal')": "Unavailable: PostgreSQL at db.internal:5432: connection refused"},
    )


def test_redaction__names(endpoints):
    """ "names": names and states, messages replaced by a word, feed titles without messages; the token sees all."""
    public, guarded = endpoints("names")
    assert json.loads(get(public, "json").content) == {"Postgres(host='db.internal')": "Unavailable"}
    assert get(public, "text").content == b"Postgres(host='db.internal'): Unavailable\n"
    assert "connection refused" not in get(public, "html").content.decode()
    feed = feedparser.parse(get(public, "rss").content)
    assert [(e.title, e.summary) for e in feed.entries] == [("Postgres(host='db.internal'): error",) * 2]
    assert b"connection refused" in get(guarded, "json", TOKEN).content
    assert b"connection refused" not in get(guarded, "json").content


def test_redaction__status(endpoints):
    """ "status": the overall status only (still 500 when failing); feeds carry no items."""
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


# -- health_check._urls: the one place URLs lose their credentials ------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("amqp://guest:p%2Fw@rabbit:5672//", ("amqp://rabbit:5672//", "guest", "p/w")),
        ("redis://:s3cret@[::1]:6379/0", ("redis://[::1]:6379/0", "", "s3cret")),
        ("https://monitor@peer/health/", ("https://peer/health/", "monitor", None)),
        ("memory://", ("memory://", None, None)),
    ],
)
def test_split_userinfo__takes_out_decoded_credentials(url, expected):
    """The URL without userinfo, the user name and the password, percent-decoded."""
    from health_check._urls import split_userinfo

    assert split_userinfo(url) == expected


@pytest.mark.parametrize(
    "url", ["amqp://guest:Zq/Wv@h//", "redis://:Zq?Wv@h/0", "redis://:Zq#Wv@h/0", "http://h:Zq/", "redis//:Zq@h"]
)
def test_split_userinfo__refuses_what_it_cannot_split_without_quoting_it(url):
    """An unescaped "/", "?" or "#" in a password is a ValueError whose message holds no part of the URL."""
    from health_check._urls import split_userinfo

    with pytest.raises(ValueError) as raised:
        split_userinfo(url)
    assert "Zq" not in str(raised.value) and "Wv" not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@cache:6379/0?password=pw", "redis://cache:6379/0"),
        ("redis://:Zq/Wv@cache:6379/0", "redis://cache:6379/0"),
        ("Redis:/:pw@cache", "Redis:/cache"),
        ("unix://:pw@/run/redis.sock?db=0", "unix:///run/redis.sock"),
        ("diskcache", "diskcache"),
    ],
)
def test_redact_url__never_shows_credentials(url, shown):
    """Also for a URL nothing can parse; health_check.store._urls re-exports the same function."""
    from health_check import _urls
    from health_check.store import _urls as store_urls

    assert _urls.redact_url(url) == shown
    assert store_urls.redact_url is _urls.redact_url


def test_scrub__strips_userinfo_and_unreadable_ports_from_free_text():
    """Every URL in a text loses its userinfo; the "port" a parser could not read is not quoted."""
    from health_check._urls import scrub

    assert scrub("Error connecting to amqp://guest:Zq/Wv@h:5672// (redis://:pw@r:1/0)") == (
        "Error connecting to amqp://h:5672// (redis://r:1/0)"
    )
    assert scrub("Port could not be cast to integer value as 'Zq'") == "Port could not be cast to integer value as '…'"


def test_describe_error__one_line_with_where_it_was_raised():
    """Type, first line of the scrubbed message, module:function:line of the innermost frame."""
    from health_check._urls import describe_error

    def connect() -> None:
        raise ConnectionError("cannot reach redis://:Zq@cache:6379/0\nsecond line")

    try:
        connect()
    except ConnectionError as error:
        line = error.__traceback__.tb_next.tb_lineno
        assert describe_error(error) == (
            f"ConnectionError: cannot reach redis://cache:6379/0 (raised at {__name__}:connect:{line})"
        )
    assert describe_error(KeyError()) == "KeyError"
