"""The built-in checks (Cache, Database, DNS, Mail, Storage) against the real services they look at.

Every check runs through the real runner (``run_check``: its own thread, its budget, database
hygiene) and the test asserts what an operator sees: the snapshot's status and its whole message.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import pathlib
import re
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator

import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdatatype
import dns.rrset
import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from django.db import DEFAULT_DB_ALIAS, connections

from health_check.checks import DNS, Cache, Database, Mail, Storage
from health_check.snapshot import Status
from health_check.specs import CheckSpec
from tests.conftest import require_service
from tests.support import free_port

SECONDS = datetime.timedelta(seconds=1)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --------------------------------------------------------------------------- databases


@pytest.fixture
def database_access(django_db_blocker) -> Iterator[None]:
    """Let the runner's threads reach the real databases (pytest-django blocks them otherwise).

    The checks only run ``SELECT 1``, so no test database is needed.
    """
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def database_alias(database_access) -> Iterator[Callable[..., str]]:
    """Add database aliases for one test, as if they were in ``DATABASES``; removed afterwards.

    ``settings.DATABASES = ...`` would not do: Django caches the configured aliases and warns that
    overriding DATABASES is unsupported, so the alias goes straight into the connection handler.
    """
    added: list[str] = []

    def add(alias: str, **options: object) -> str:
        configured = connections.configure_settings({DEFAULT_DB_ALIAS: {}, alias: dict(options)})
        connections.settings[alias] = configured[alias]
        added.append(alias)
        return alias

    yield add
    for alias in added:
        if hasattr(connections._connections, alias):
            connections[alias].close()
            del connections[alias]
        del connections.settings[alias]


def postgres_options(**overrides: object) -> dict[str, object]:
    host, port = require_service("postgres")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "test",
        "USER": "postgres",
        "HOST": host,
        "PORT": port,
        **overrides,
    }


def test_database__sqlite_ok(run_check, database_access):
    """SELECT 1 on the default SQLite alias reports OK."""
    snapshot = run_check(Database())
    assert (snapshot.status, snapshot.message) == (Status.OK, "OK")


@pytest.mark.service("postgres")
def test_database__postgresql_ok(run_check, database_alias):
    """SELECT 1 on a PostgreSQL alias reports OK."""
    alias = database_alias("pg", **postgres_options())
    snapshot = run_check(Database(alias=alias))
    assert (snapshot.status, snapshot.message) == (Status.OK, "OK")


@pytest.mark.service("postgres")
def test_database__postgresql_missing_database_names_alias_and_cause(run_check, database_alias):
    """A database that does not exist is Unavailable, naming the alias and the server's reason, never the password."""
    alias = database_alias("pg_missing", **postgres_options(NAME="no_such_db", PASSWORD="s3cret-pw-1234"))
    snapshot = run_check(Database(alias=alias))
    assert snapshot.status is Status.ERROR
    assert snapshot.message.startswith("Unavailable: Database 'pg_missing': "), snapshot.message
    assert 'database "no_such_db" does not exist' in snapshot.message
    assert "s3cret-pw-1234" not in snapshot.message
    assert "\n" not in snapshot.message


def test_database__unknown_alias(run_check, database_access):
    """An alias missing from DATABASES is Unavailable with a message saying so."""
    snapshot = run_check(Database(alias="nope"))
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        "Unavailable: Database alias does not exist: 'nope' is not in DATABASES",
    )


@pytest.mark.service("postgres")
def test_database__postgresql_runs_leave_no_connection_open(run_check, database_alias):
    """Fifty runs leave no connection of ours open on the server (each run closes what it opened)."""
    application = f"hs-leak-{uuid.uuid4().hex[:12]}"
    alias = database_alias("pg_leak", **postgres_options(OPTIONS={"application_name": application}))
    options = postgres_options()
    statuses = {run_check(Database(alias=alias)).status for _ in range(50)}
    assert statuses == {Status.OK}
    with psycopg.connect(
        host=options["HOST"], port=options["PORT"], dbname="test", user="postgres", autocommit=True
    ) as watcher:
        # A closed connection's backend may need a moment to leave pg_stat_activity: poll with a deadline.
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=5)
        while True:
            (count,) = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [application]
            ).fetchone()
            if count == 0 or datetime.datetime.now() > deadline:
                break
            threading.Event().wait(0.05)
    assert count == 0, f"{count} connections of ours are still open after 50 runs"


# --------------------------------------------------------------------------- caches


def test_cache__locmem_ok(run_check):
    """Set, get and delete on the default locmem cache reports OK."""
    snapshot = run_check(Cache())
    assert (snapshot.status, snapshot.message) == (Status.OK, "OK")


@pytest.mark.service("redis")
def test_cache__redis_ok(run_check, settings):
    """Django's Redis cache backend reaching a live Redis reports OK, and the probe key is removed."""
    import redis

    host, port = require_service("redis")
    settings.CACHES = {
        **settings.CACHES,
        "redis": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"redis://{host}:{port}/15"},
    }
    prefix = f"hs-test-{uuid.uuid4().hex[:8]}"
    snapshot = run_check(Cache(alias="redis", key_prefix=prefix))
    assert (snapshot.status, snapshot.message) == (Status.OK, "OK")
    with redis.Redis(host=host, port=port, db=15) as client:
        assert client.keys(f"*{prefix}*") == []


def test_cache__redis_down_is_a_connection_error(run_check, settings):
    """A Redis cache on a closed port is django-health-check's "Connection Error" (Unexpected Result), naming the alias, host and port."""
    port = free_port()
    settings.CACHES = {
        **settings.CACHES,
        "gone": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"redis://127.0.0.1:{port}/15"},
    }
    snapshot = run_check(Cache(alias="gone"))
    assert snapshot.status is Status.ERROR
    assert re.fullmatch(
        rf"Unexpected Result: Connection Error: cache 'gone': Error 111 connecting to 127\.0\.0\.1:{port}\. Connection refused\.",
        snapshot.message,
    ), snapshot.message


def test_cache__unknown_alias(run_check):
    """An alias missing from CACHES is Unavailable with a message saying so."""
    snapshot = run_check(Cache(alias="nope"))
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        "Unavailable: Cache alias does not exist: 'nope' is not in CACHES",
    )


# --------------------------------------------------------------------------- storages


def filesystem_storage(location: os.PathLike[str] | str) -> dict[str, object]:
    return {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(location)}}


def test_storage__filesystem_ok(run_check, settings, tmp_path):
    """Save, read back and delete in a writable directory reports OK and leaves no probe file."""
    settings.STORAGES = {**settings.STORAGES, "media": filesystem_storage(tmp_path)}
    snapshot = run_check(Storage(alias="media"))
    assert (snapshot.status, snapshot.message) == (Status.OK, "OK")
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []


def test_storage__unwritable_location(run_check, settings, tmp_path):
    """A location that cannot hold files is Unavailable, naming the alias, the cause and the path.

    Tests run as root, which ignores permission bits, so the location is placed under a regular file.
    """
    (tmp_path / "afile").write_text("not a directory")
    location = tmp_path / "afile" / "sub"
    settings.STORAGES = {**settings.STORAGES, "broken": filesystem_storage(location)}
    snapshot = run_check(Storage(alias="broken"))
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        f"Unavailable: Storage 'broken': cannot write a file: Not a directory: {location}",
    )


@pytest.fixture
def read_only_directory(tmp_path) -> Iterator[pathlib.Path]:
    """A directory nobody, not even root, may write to: immutable (chattr +i) for the test's length."""
    import shutil
    import subprocess

    directory = tmp_path / "read-only"
    (directory / "health_check_storage_test").mkdir(parents=True)
    targets = [str(directory / "health_check_storage_test"), str(directory)]
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", *targets], capture_output=True).returncode:
        pytest.skip("chattr +i is not available on this file system (needed for a directory root cannot write)")
    try:
        yield directory
    finally:
        subprocess.run(["chattr", "-i", *targets], check=True)


def test_storage__read_only_directory(run_check, settings, read_only_directory):
    """A read-only media directory fails clearly, naming the alias, what failed and where."""
    settings.STORAGES = {**settings.STORAGES, "media": filesystem_storage(read_only_directory)}
    snapshot = run_check(Storage(alias="media"))
    assert snapshot.status == Status.ERROR
    assert snapshot.message.startswith("Unavailable: Storage 'media': cannot write a file: Operation not permitted: ")
    assert str(read_only_directory) in snapshot.message


def test_storage__unknown_alias(run_check):
    """An alias missing from STORAGES is Unavailable with a message saying so."""
    snapshot = run_check(Storage(alias="nope"))
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        "Unavailable: Storage alias does not exist: 'nope' is not in STORAGES",
    )


# --------------------------------------------------------------------------- mail


@dataclasses.dataclass
class Accepting:
    """An aiosmtpd handler that accepts every message (the check never sends one)."""

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        return "250 OK"


def refuse_everyone(server, session, envelope, mechanism, auth_data) -> AuthResult:
    return AuthResult(success=False, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., int]]:
    """Start real SMTP servers on 127.0.0.1 free ports; returns the port. Stopped after the test."""
    controllers: list[Controller] = []

    def start(**options: object) -> int:
        controller = Controller(Accepting(), hostname="127.0.0.1", port=free_port(), **options)
        controller.start()
        controllers.append(controller)
        return controller.port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word; returns its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()
    for connection in accepted:
        connection.close()


#: Django 6.1 deprecates the EMAIL_* settings for MAILERS (RemovedInDjango2028Warning); these tests use them on purpose.
email_settings_deprecated = pytest.mark.filterwarnings("ignore:The EMAIL_[A-Z_]+ setting is deprecated")


def use_smtp(settings, port: int, **extra: object) -> None:
    """Point the default mailer at 127.0.0.1:port, with EMAIL_* settings, as every Django version reads them.

    The test settings define MAILERS on Django 6.1+ (where it replaces EMAIL_*); it is removed here so
    that Django builds the default mailer from the EMAIL_* settings, as it does for projects that have
    not moved to MAILERS yet.
    """
    if hasattr(settings, "MAILERS"):
        del settings.MAILERS
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    for name, value in extra.items():
        setattr(settings, name, value)


@email_settings_deprecated
def test_mail__smtp_ok(run_check, settings, smtp_server):
    """An SMTP handshake with a live server reports OK."""
    use_smtp(settings, smtp_server())
    snapshot = run_check(Mail(timeout=5 * SECONDS))
    assert (snapshot.status, snapshot.message) == (Status.OK, "OK")


@email_settings_deprecated
def test_mail__server_down(run_check, settings):
    """Nothing listening on the SMTP port is django-health-check's "Connection refused error", naming host and port."""
    port = free_port()
    use_smtp(settings, port)
    snapshot = run_check(Mail(timeout=5 * SECONDS))
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        f"Unavailable: Connection refused error: SMTP server 127.0.0.1:{port} (is it running? check EMAIL_HOST and EMAIL_PORT)",
    )


@email_settings_deprecated
def test_mail__authentication_refused(run_check, settings, smtp_server):
    """A server refusing the credentials is Unavailable with a hint at the settings, never the password."""
    port = smtp_server(authenticator=refuse_everyone, auth_require_tls=False)
    use_smtp(settings, port, EMAIL_HOST_USER="robot", EMAIL_HOST_PASSWORD="s3cret-pw-1234")
    snapshot = run_check(Mail(timeout=5 * SECONDS))
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        f"Unavailable: Failed to open connection with SMTP server 127.0.0.1:{port}: authentication refused (check EMAIL_HOST_USER/PASSWORD)",
    )


@email_settings_deprecated
def test_mail__silent_server_times_out_within_timeout(run_check, settings, silent_server):
    """A server that never greets fails after the check's own timeout with a clear message, well within budget."""
    use_smtp(settings, silent_server)
    snapshot = run_check(Mail(timeout=1 * SECONDS))
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        f"Unavailable: Failed to open connection with SMTP server 127.0.0.1:{silent_server}: timed out after 1 s",
    )
    assert 0.9 <= snapshot.duration_seconds < 3, snapshot.duration_seconds


# --------------------------------------------------------------------------- DNS


class DNSResponder:
    """A tiny UDP nameserver on 127.0.0.1: answers A for one name, NODATA for its other types, NXDOMAIN otherwise."""

    def __init__(self, name: str, address: str) -> None:
        self.name = dns.name.from_text(name)
        self.address = address
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.1)
        self.port: int = self.socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self.socket.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
            question = query.question[0]
            if question.name != self.name:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.A:
                response.answer.append(dns.rrset.from_text(self.name, 60, "IN", "A", self.address))
            self.socket.sendto(response.to_wire(), peer)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.socket.close()


@pytest.fixture
def nameserver() -> Iterator[dns.nameserver.Do53Nameserver]:
    """A local nameserver that knows ``service.test.`` (A 192.0.2.7)."""
    responder = DNSResponder("service.test.", "192.0.2.7")
    yield dns.nameserver.Do53Nameserver("127.0.0.1", responder.port)
    responder.stop()


@pytest.fixture
def mute_nameserver() -> Iterator[dns.nameserver.Do53Nameserver]:
    """A UDP socket that takes queries and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield dns.nameserver.Do53Nameserver("127.0.0.1", sock.getsockname()[1])
    sock.close()


def test_dns__resolves_through_given_nameserver(run_check, nameserver):
    """A name the nameserver answers for reports OK."""
    snapshot = run_check(DNS(hostname="service.test", nameservers=[nameserver], timeout=2 * SECONDS))
    assert (snapshot.status, snapshot.message) == (Status.OK, "OK")


def test_dns__unknown_name(run_check, nameserver):
    """NXDOMAIN is Unavailable: the hostname does not exist."""
    snapshot = run_check(DNS(hostname="missing.test", nameservers=[nameserver], timeout=2 * SECONDS))
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        "Unavailable: DNS resolution failed: hostname missing.test does not exist",
    )


def test_dns__no_record_of_that_type(run_check, nameserver):
    """A name without a record of the asked type is Unavailable: no answer."""
    check = DNS(hostname="service.test", nameservers=[nameserver], record_type="AAAA", timeout=2 * SECONDS)
    snapshot = run_check(check)
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        "Unavailable: DNS resolution failed: no answer for service.test",
    )


def test_dns__silent_nameserver_times_out(run_check, mute_nameserver):
    """A nameserver that never answers fails with DNS's own timeout message, not the runner's, within ~timeout."""
    snapshot = run_check(DNS(hostname="service.test", nameservers=[mute_nameserver], timeout=1 * SECONDS))
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        "Unavailable: DNS resolution failed: timeout resolving service.test",
    )
    assert snapshot.duration_seconds < 3, snapshot.duration_seconds


def test_dns__nameserver_as_text(run_check):
    """Nameservers given as plain IP strings (DHC's usual form) are used instead of the system's."""
    check = DNS(hostname="service.test", nameservers=["127.0.0.1"], timeout=1 * SECONDS)
    snapshot = run_check(check)
    # Nothing serves DNS on 127.0.0.1:53 here: refused or silent, it must be a DNS failure, never "Unknown Error".
    assert snapshot.status is Status.ERROR
    assert snapshot.message.startswith("Unavailable: DNS resolution failed: "), snapshot.message


# --------------------------------------------------------------------------- names and identity


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        (Cache(timeout=9 * SECONDS, key_prefix="p", poll_interval=7 * SECONDS), "Cache(alias='default')"),
        (Database(alias="replica", poll_interval=7 * SECONDS), "Database(alias='replica')"),
        (
            DNS(hostname="example.org", timeout=9 * SECONDS, poll_interval=7 * SECONDS),
            "DNS(hostname='example.org', nameservers=None, record_type='A')",
        ),
        (Mail(backend="x.Backend", timeout=9 * SECONDS, poll_interval=7 * SECONDS), "Mail(alias='default')"),
        (Storage(poll_interval=7 * SECONDS), "Storage(alias='default')"),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, str) else "",
)
def test_repr__hides_timeouts_and_intervals(check, expected):
    """repr(), the check's public name, shows only what identifies the target; labels show the same fields."""
    assert repr(check) == expected
    shown = {field.name for field in dataclasses.fields(check) if field.repr and getattr(check, field.name) is not None}
    assert set(check.labels) == {"check"} | shown
    assert "poll_interval" not in check.labels and "timeout" not in check.labels


def test_identity__hidden_arguments_change_the_key():
    """Two checks with the same repr but different hidden arguments are stored under different keys."""
    first, second = Cache(key_prefix="a"), Cache(key_prefix="b")
    assert repr(first) == repr(second)
    assert CheckSpec.of(first).key != CheckSpec.of(second).key
    assert CheckSpec.of(Cache(key_prefix="a")).key == CheckSpec.of(first).key


def test_identity__same_key_in_another_process():
    """The same arguments give the same key in another interpreter (the poller writes, web workers read)."""
    code = (
        "import datetime, django; django.setup();"
        "from health_check.checks import Cache; from health_check.specs import CheckSpec;"
        "print(CheckSpec.of(Cache(alias='default', timeout=datetime.timedelta(seconds=3))).key)"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.testapp.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, cwd=REPO, timeout=60, check=True
    )
    assert result.stdout.strip() == CheckSpec.of(Cache(alias="default", timeout=3 * SECONDS)).key


# --------------------------------------------------------------------------- django-health-check's names and words

needs_mailers = pytest.mark.skipif(
    tuple(int(part) for part in __import__("django").__version__.split(".")[:2]) < (6, 1),
    reason="MAILERS is Django 6.1+",
)


@needs_mailers
def test_mail__alias_uses_the_mailers_setting(run_check, settings, smtp_server):
    """On Django 6.1+, Mail(alias=...) opens the MAILERS entry of that alias (here: a live SMTP server)."""
    up = smtp_server()
    settings.MAILERS = {
        "default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"},
        "transactional": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": up},
        },
        "down": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": free_port()},
        },
    }
    assert run_check(Mail(alias="transactional")).message == "OK"
    down = run_check(Mail(alias="down"))
    assert down.message.startswith("Unavailable: Connection refused error: SMTP server 127.0.0.1:")
    assert run_check(Mail(alias="nope")).message == "Unavailable: Mailer alias does not exist: 'nope' is not in MAILERS"


@needs_mailers
@email_settings_deprecated
def test_mail__default_alias_without_mailers_reads_email_settings(run_check, settings, smtp_server):
    """On Django 6.1+ without MAILERS, the default alias is the EMAIL_* settings, as Django builds it."""
    use_smtp(settings, smtp_server())
    assert run_check(Mail()).message == "OK"


def test_dns__empty_nameservers_reports_none_available(run_check):
    """DNS(nameservers=[]) asks nobody and says so with django-health-check's words."""
    snapshot = run_check(DNS(hostname="example.org", nameservers=[]))
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        "Unavailable: DNS resolution failed: no nameservers available (nameservers=[] was given: list at least one, "
        "or leave it out to use the system's)",
    )


def test_cache__value_error_is_an_unexpected_result(run_check, settings):
    """A ValueError from the cache backend (a Redis LOCATION whose port is no number) is "Unexpected Result: ValueError"."""
    settings.CACHES = {
        **settings.CACHES,
        "bad": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:notaport/0"},
    }
    snapshot = run_check(Cache(alias="bad"))
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        # The value a URL parser quotes as the port is often the start of a password: never shown.
        "Unexpected Result: ValueError: cache 'bad': Port could not be cast to integer value as '…'",
    )


def test_cache__value_that_does_not_match(run_check, settings):
    """A cache that reads back something else (a dummy cache keeps nothing) says "Cache key ... does not match"."""
    settings.CACHES = {**settings.CACHES, "dummy": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    snapshot = run_check(Cache(alias="dummy", key_prefix="probe"))
    assert snapshot.status is Status.ERROR
    assert re.fullmatch(
        r"Unavailable: Cache key probe:[0-9a-f]{32} does not match in cache 'dummy': "
        r"the value read back differs from the value set",
        snapshot.message,
    ), snapshot.message


def test_cache__key_warning_is_an_unexpected_result(run_check):
    """A key the backend warns about (a space, with CacheKeyWarning turned into an error) says "Cache key warning"."""
    import warnings

    from django.core.cache.backends.base import CacheKeyWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheKeyWarning)
        snapshot = run_check(Cache(key_prefix="probe key"))
    assert snapshot.status is Status.ERROR
    assert snapshot.message.startswith("Unexpected Result: Cache key warning: cache 'default': Cache key contains"), (
        snapshot.message
    )


def test_database__wrong_select_one_row_is_unavailable(run_check, database_alias):
    """A database answering SELECT 1 with another row is Unavailable, in django-health-check's words.

    The real PostgreSQL always answers 1, so the alias uses tests/testapp/odd_backend, whose cursors
    rewrite the query on the way as a misbehaving proxy would.
    """
    alias = database_alias("odd", **postgres_options(ENGINE="tests.testapp.odd_backend"))
    snapshot = run_check(Database(alias=alias))
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        "Unavailable: Health Check query did not return the expected result: SELECT 1 on database 'odd' returned (2,)",
    )


def test_storage__public_steps(settings, tmp_path):
    """storage, get_file_name, get_file_content, check_save and check_delete work called one by one."""
    from django.core.files.storage import FileSystemStorage

    from health_check.exceptions import ServiceUnavailable

    settings.STORAGES = {**settings.STORAGES, "media": filesystem_storage(tmp_path)}
    check = Storage(alias="media")
    assert isinstance(check.storage, FileSystemStorage) and check.storage.location == str(tmp_path)
    name, content = check.get_file_name(), check.get_file_content()
    assert re.fullmatch(r"health_check_storage_test/test-[0-9a-f-]{36}\.txt", name)
    assert name != check.get_file_name() and isinstance(content, bytes)
    saved = check.check_save(name, content)
    assert (tmp_path / saved).read_bytes() == content
    check.check_delete(saved)
    assert not (tmp_path / saved).exists()
    with pytest.raises(ServiceUnavailable) as missing:
        Storage(alias="nope").storage
    assert str(missing.value) == "Unavailable: Storage alias does not exist: 'nope' is not in STORAGES"


def test_storage__overridden_step_changes_the_run(run_check, settings, tmp_path):
    """A subclass overriding check_delete (a storage that keeps files) is what run() uses."""

    @dataclasses.dataclass
    class KeepingStorage(Storage):
        def check_delete(self, file_name: str) -> None:
            if self.storage.exists(file_name):
                from health_check.exceptions import ServiceUnavailable

                raise ServiceUnavailable(f"File was not deleted: {file_name}")

    settings.STORAGES = {**settings.STORAGES, "media": filesystem_storage(tmp_path)}
    snapshot = run_check(KeepingStorage(alias="media"))
    assert snapshot.message.startswith("Unavailable: File was not deleted: health_check_storage_test/test-")
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []  # run() still cleans up


def test_storage__content_that_does_not_match(run_check, tmp_path):
    """A storage that reads back other bytes than it saved says "File content does not match", naming the file."""
    import io

    from django.core.files.storage import FileSystemStorage

    class Garbling(FileSystemStorage):
        def open(self, name, mode="rb"):
            return io.BytesIO(b"something else")

    @dataclasses.dataclass
    class GarblingStorage(Storage):
        @property
        def storage(self):
            return Garbling(location=str(tmp_path))

    snapshot = run_check(GarblingStorage())
    assert snapshot.status is Status.ERROR
    assert re.fullmatch(
        r"Unavailable: File content does not match: storage 'default', file health_check_storage_test/test-[0-9a-f-]{36}\.txt",
        snapshot.message,
    ), snapshot.message
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []  # run() still cleans up


def test_checks__remote_check_and_check_auth_token_are_importable(settings):
    """health_check.checks has RemoteCheck and check_auth_token, as django-health-check's module does."""
    from health_check.checks import RemoteCheck, check_auth_token
    from health_check.remote import RemoteCheck as Ours

    assert RemoteCheck is Ours
    settings.HEALTH_CHECK_AUTH_TOKEN = "  "
    assert [error.id for error in check_auth_token(None)] == ["health_check.E001"]
    settings.HEALTH_CHECK_AUTH_TOKEN = "s3cret"
    assert list(check_auth_token(None)) == []
