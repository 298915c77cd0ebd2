"""No secret in any output, at any log level: one password, every check and store that takes one, every way to fail.

Every check that takes credentials is configured with ``PASSWORD`` (raw where a library would read it,
percent-encoded where a URL needs it) and made to fail in every way we know: connection refused, wrong
password against a real server (our own redis-server with ``requirepass``, the local RabbitMQ, an
SMTP server that refuses the login), a silent listener that times out, and a URL nobody can parse.
The checks run through the real runner; then every endpoint format is rendered, anonymous and with the
token, ``manage.py health_check`` runs with and without ``--no-http`` and ``manage.py check`` runs, with
every logger at DEBUG. The password, its pieces and its encodings appear in no body, no command output,
no log record (formatted with its traceback, if any) and nothing written to the process's stdout/stderr.

This module is also the test project's URLconf (``urlpatterns``), filled by the fixtures.
"""

from __future__ import annotations

import base64
import datetime
import functools
import io
import logging
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from wsgiref.simple_server import make_server

import django
import pytest
import redis
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connections
from django.test import Client
from django.urls import clear_url_caches, path, resolve, reverse

from health_check import Database, Mail, RemoteCheck
from health_check.contrib.celery import Ping
from health_check.contrib.rabbitmq import RabbitMQ
from health_check.contrib.redis import Redis
from health_check.recorder import store_runner
from health_check.store import get_store, reset_store
from health_check.views import HealthCheckView
from scheduler.jobs import run_all_once
from tests.conftest import require_service
from tests.contrib.celery_app import make_app
from tests.support import FakeUpstream, RedisServer, Reply, SilentListener, free_port

PASSWORD = "s3cr3t-Pa55/w0rd-X9"
QUOTED = urllib.parse.quote(PASSWORD, safe="")
#: Whatever would betray the password: itself, its encodings, and each half around the "/" (a parser
#: that splits the URL at the "/" shows one half as a port and the other as a path).
FORBIDDEN = (
    PASSWORD,
    QUOTED,
    urllib.parse.quote_plus(PASSWORD),
    "s3cr3t-Pa55",
    "w0rd-X9",
    base64.b64encode(f"monitor:{PASSWORD}".encode()).decode(),
    base64.b64encode(f"\0robot\0{PASSWORD}".encode()).decode(),  # SMTP AUTH PLAIN
)
TOKEN = "endpoint-t0ken-not-the-secret"
FORMATS = ("html", "json", "text", "health+json", "openmetrics", "rss", "atom")
ENDPOINT = "no-secrets"
#: Loggers of test servers, not of the host process we protect: aiosmtpd logs the login it refuses.
SERVER_LOGGERS = ("mail.log",)
SECONDS = datetime.timedelta(seconds=1)

urlpatterns: list = []


def leaks(text: str) -> list[str]:
    return [secret for secret in FORBIDDEN if secret in text]


# -- capture: every logger at DEBUG, every record formatted with its traceback ---------------------------


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(SERVER_LOGGERS):
            return
        self.lines.append(self.format(record))  # the formatter appends exc_info and stack_info


@pytest.fixture
def every_log() -> Iterator[_Capture]:
    """Root and every named logger at DEBUG (httpx, httpcore, kombu, amqp, redis, celery, django, ...)."""
    capture = _Capture()
    names = {
        "httpx",
        "httpcore",
        "kombu",
        "amqp",
        "redis",
        "celery",
        "django",
        "django.request",
        "py.warnings",
        "health_check",
        "scheduler",
        "asyncio",
        "urllib3",
        "psycopg",
    }
    names |= {name for name, value in logging.root.manager.loggerDict.items() if isinstance(value, logging.Logger)}
    saved = [(logging.root, logging.root.level, False)]
    logging.root.setLevel(logging.DEBUG)
    logging.root.addHandler(capture)
    for name in names:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, not logger.propagate))
        logger.setLevel(logging.DEBUG)
        if not logger.propagate:
            logger.addHandler(capture)
    logging.captureWarnings(True)
    yield capture
    logging.captureWarnings(False)
    for logger, level, handled in saved:
        logger.setLevel(level)
        if handled:
            logger.removeHandler(capture)
    logging.root.removeHandler(capture)


# -- servers ------------------------------------------------------------------------------------------


@pytest.fixture
def silent() -> Iterator[int]:
    listener = SilentListener()
    yield listener.port
    listener.close()


@pytest.fixture
def guarded_redis() -> Iterator[int]:
    """Our own redis-server that wants another password than ours."""
    server = RedisServer()
    try:
        server.start()
        with redis.Redis(host="127.0.0.1", port=server.port) as client:
            client.config_set("requirepass", "not-the-one-we-send")
        yield server.port
    finally:
        server.stop()


@pytest.fixture
def refusing_upstream(upstream: FakeUpstream) -> str:
    """``host:port`` of an HTTP server answering 401: another instance that refuses our credentials."""
    upstream.routes["/health/"] = Reply(body=b"Authentication failed", status=401)
    return upstream.url.removeprefix("http://")


@pytest.fixture
def refusing_smtp(settings) -> Iterator[int]:
    """An SMTP server refusing every login; Django's mail settings point at it with our password."""
    from aiosmtpd.controller import Controller

    from tests.test_checks import Accepting, refuse_everyone

    controller = Controller(
        Accepting(), hostname="127.0.0.1", port=free_port(), authenticator=refuse_everyone, auth_require_tls=False
    )
    controller.start()
    if django.VERSION >= (6, 1):
        # MAILERS replaces the EMAIL_* settings on Django 6.1 (which warns about them).
        settings.MAILERS = {
            "default": {
                "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "OPTIONS": {
                    "host": "127.0.0.1",
                    "port": controller.port,
                    "username": "robot",
                    "password": PASSWORD,
                    "use_tls": False,
                    "use_ssl": False,
                },
            }
        }
    else:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
        settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "robot", PASSWORD
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield controller.port
    controller.stop()


@pytest.fixture
def secret_databases(silent) -> Iterator[None]:
    """Two PostgreSQL aliases with our password: one on a closed port, one on a silent listener."""
    base = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "test",
        "USER": "postgres",
        "PASSWORD": PASSWORD,
        "HOST": "127.0.0.1",
        "OPTIONS": {"connect_timeout": 1},
    }
    # Added to the connection handler, not to settings.DATABASES, which Django reads once per process.
    added = connections.configure_settings(
        {
            "default": {},
            "secret_refused": {**base, "PORT": str(free_port())},
            "secret_silent": {**base, "PORT": str(silent)},
        }
    )
    for alias in ("secret_refused", "secret_silent"):
        connections.settings[alias] = added[alias]
    yield
    for alias in ("secret_refused", "secret_silent"):
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]


@pytest.fixture
def wsgi_server() -> Iterator[int]:
    """The test project served over HTTP on a free port, in this process (same settings, same store)."""
    server = make_server("127.0.0.1", 0, WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def endpoint(settings) -> Callable[[list], None]:
    """Serve ``checks`` at the URL named ``ENDPOINT`` (this module is the URLconf), anonymous or with TOKEN."""
    settings.ROOT_URLCONF = __name__

    def serve(checks: list) -> None:
        urlpatterns[:] = [
            path(
                "health/", HealthCheckView.as_view(checks=checks, auth_token=TOKEN, allow_anonymous=True), name=ENDPOINT
            )
        ]
        clear_url_caches()

    yield serve
    urlpatterns.clear()
    clear_url_caches()


# -- what a user sees ---------------------------------------------------------------------------------


def everything_shown(port: int) -> dict[str, str]:
    """Every body, command output and system check message, by where it was seen."""
    shown: dict[str, str] = {}
    client = Client(raise_request_exception=False)
    for fmt in FORMATS:
        for who, headers in (("anonymous", {}), ("token", {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"})):
            response = client.get("/health/", {"format": fmt}, **headers)
            shown[f"GET {fmt} ({who}) {response.status_code}"] = response.content.decode("utf-8", "replace")
    for args in (["--no-http"], [f"127.0.0.1:{port}", "--forwarded-proto", "http", "--auth-token", TOKEN]):
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command("health_check", ENDPOINT, *args, verbosity=2, stdout=out, stderr=err)
        except SystemExit as exit_:
            out.write(f"\n[exit {exit_.code}]")
        shown[f"manage.py health_check {' '.join(args[:1])}"] = out.getvalue() + err.getvalue()
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("check", stdout=out, stderr=err)
    except SystemCheckError as error:
        err.write(str(error))
    shown["manage.py check"] = out.getvalue() + err.getvalue()
    return shown


def assert_nothing_leaks(shown: dict[str, str], every_log: _Capture, capfd) -> None:
    captured = capfd.readouterr()
    places = {**shown, "stdout": captured.out, "stderr": captured.err}
    places |= {f"log record {index}": line for index, line in enumerate(every_log.lines)}
    found = {place: around(text) for place, text in places.items() if leaks(text)}
    assert found == {}, "the password shows in:\n" + "\n".join(f"- {place}: {seen}" for place, seen in found.items())


def around(text: str) -> str:
    """The first leak with some context, enough to see what printed it."""
    secret = leaks(text)[0]
    index = text.index(secret)
    return " ".join(text[max(0, index - 150) : index + len(secret) + 60].split())


# -- the checks ---------------------------------------------------------------------------------------


def test_no_secrets__every_check_fails_without_showing_the_password(
    endpoint,
    memory_store,
    every_log,
    capfd,
    silent,
    guarded_redis,
    refusing_upstream,
    refusing_smtp,
    secret_databases,
    wsgi_server,
    django_db_blocker,
):
    """Refused, wrong password, silent and unparsable: the password is in no body, output or log line."""
    rabbit_host, rabbit_port = require_service("rabbitmq")
    closed = free_port()
    control = f"hs-{uuid.uuid4().hex[:10]}"

    def redis_at(url: str, **options: object) -> Redis:
        factory = functools.partial(
            redis.asyncio.Redis.from_url, url, socket_connect_timeout=1, socket_timeout=1, **options
        )
        return Redis(client_factory=factory)

    def ping(broker: str, name: str) -> Ping:
        return Ping(app=make_app(broker, control, main=f"no-secrets-{name}"), timeout=SECONDS)

    checks = [
        redis_at(f"redis://:{QUOTED}@127.0.0.1:{closed}/0"),
        redis_at(f"redis://:{QUOTED}@127.0.0.1:{silent}/0"),
        redis_at(f"redis://:{QUOTED}@127.0.0.1:{guarded_redis}/0"),
        redis_at(f"redis://:{PASSWORD}@127.0.0.1:{guarded_redis}/0"),  # the factory cannot build a client
        RabbitMQ(amqp_url=f"amqp://guest:{QUOTED}@127.0.0.1:{closed}//", timeout=SECONDS),
        RabbitMQ(amqp_url=f"amqp://guest:{QUOTED}@127.0.0.1:{silent}//", timeout=SECONDS),
        RabbitMQ(amqp_url=f"amqp://guest:{QUOTED}@{rabbit_host}:{rabbit_port}//", timeout=SECONDS),
        (
            "health_check.contrib.rabbitmq.RabbitMQ",
            {"amqp_url": f"amqp://guest:{PASSWORD}@{rabbit_host}:{rabbit_port}//"},
        ),
        ping(f"amqp://guest:{QUOTED}@127.0.0.1:{closed}//", "refused"),
        ping(f"amqp://guest:{QUOTED}@127.0.0.1:{silent}//", "silent"),
        ping(f"amqp://guest:{QUOTED}@{rabbit_host}:{rabbit_port}//", "wrong-password"),
        ping(f"redis://:{QUOTED}@127.0.0.1:{guarded_redis}/0", "redis-wrong-password"),
        (
            "health_check.contrib.celery.Ping",
            {
                "app": make_app(
                    f"amqp://guest:{PASSWORD}@{rabbit_host}:{rabbit_port}//", control, main="no-secrets-unparsable"
                )
            },
        ),
        RemoteCheck(url=f"http://monitor:{QUOTED}@127.0.0.1:{closed}/health/", timeout=SECONDS),
        RemoteCheck(url=f"http://monitor:{QUOTED}@127.0.0.1:{silent}/health/", timeout=SECONDS),
        RemoteCheck(url=f"http://monitor:{QUOTED}@{refusing_upstream}/health/", timeout=SECONDS),
        RemoteCheck(url=f"http://127.0.0.1:{closed}/health/", auth_token=PASSWORD, timeout=SECONDS),
        RemoteCheck(url=f"http://127.0.0.1:{silent}/health/", auth_token=PASSWORD, timeout=SECONDS),
        RemoteCheck(url=f"http://{refusing_upstream}/health/", auth_token=PASSWORD, timeout=SECONDS),
        ("health_check.RemoteCheck", {"url": f"http://monitor:{PASSWORD}@{refusing_upstream}/health/"}),
        (
            "health_check.RemoteCheck",
            {"url": f"http://monitor:{QUOTED}@{refusing_upstream}/health/", "auth_token": PASSWORD},
        ),
        ("health_check.contrib.kafka.Kafka", {"bootstrap_servers": [f"robot:{QUOTED}@127.0.0.1:{closed}"]}),
        Mail(timeout=2 * SECONDS),
        Database(alias="secret_refused"),
        Database(alias="secret_silent"),
    ]
    endpoint(checks)
    specs, errors = resolve(reverse(ENDPOINT)).func.view.get_check_specs()
    assert len(errors) == 5, errors  # the unparsable URLs, the userinfo + token combination, the Kafka entry
    with django_db_blocker.unblock():  # the Database checks open their own connections (and fail)
        run_all_once(store_runner(memory_store), list(specs))

    shown = everything_shown(wsgi_server)

    # The failures happened as intended, so the assertion below is not about checks that never ran.
    body = shown["GET json (token) 500"].lower()
    for expected in (
        "connection was refused.",
        "authentication error",
        "authentication failed",
        "timed out",
        "(http 401)",
        "authentication refused",
        "client_factory failed",
        "cannot be built",
        "database 'secret_refused'",
        "database 'secret_silent'",
        "access_refused",
    ):
        assert expected in body, (expected, body)
    commands = [text for place, text in shown.items() if place.startswith("manage.py health_check")]
    assert len(commands) == 2 and all(text.endswith("[exit 1]") for text in commands), commands
    assert "health_check.E002" in shown["manage.py check"]
    assert_nothing_leaks(shown, every_log, capfd)


# -- the Redis store ----------------------------------------------------------------------------------

STORE_CASES = {
    "refused": "redis://:{quoted}@127.0.0.1:{closed}/0",
    "silent": "redis://:{quoted}@127.0.0.1:{silent}/0",
    "wrong password": "redis://:{quoted}@127.0.0.1:{guarded}/0",
    "unparsable": "redis://:{raw}@127.0.0.1:{guarded}/0",
    "Redis:// scheme": "Redis://:{quoted}@127.0.0.1:{closed}/0",
    "redis:/ scheme": "redis:/:{quoted}@127.0.0.1:{closed}/0",
}


@pytest.mark.parametrize("case", list(STORE_CASES))
def test_no_secrets__redis_store_url(case, settings, endpoint, every_log, capfd, silent, guarded_redis, wsgi_server):
    """A Redis store URL with our password that cannot be used: no body, output or log line shows the password."""
    url = STORE_CASES[case].format(
        quoted=QUOTED, raw=PASSWORD, closed=free_port(), silent=silent, guarded=guarded_redis
    )
    settings.HEALTH_CHECK = {"STORE": url, "POLLER_AUTOSTART": False}
    reset_store()
    try:
        endpoint(["tests.testapp.probes.Steady"])
        try:
            specs, _ = resolve(reverse(ENDPOINT)).func.view.get_check_specs()
            run_all_once(store_runner(get_store()), list(specs))
        except Exception as error:  # a store that cannot be opened: what the user sees is below
            logging.getLogger(__name__).error("poll failed", exc_info=error)
        shown = everything_shown(wsgi_server)
        assert_nothing_leaks(shown, every_log, capfd)
    finally:
        reset_store()
