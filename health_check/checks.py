"""Checks of Django's own services: cache, database, DNS, mail and storage.

Same classes and arguments as django-health-check 4.x. Messages name the alias or host they are
about, so an operator reading a probe answer knows where to look.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import smtplib
import socket
import typing
import uuid
from collections.abc import Iterator
from typing import Any

import django
import django.core.mail
import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver
from django.conf import settings
from django.core.cache import CacheKeyWarning, InvalidCacheBackendError, caches
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import InvalidStorageError, storages
from django.core.files.storage import Storage as DjangoStorage
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import Error as DatabaseError
from django.db import connections
from django.utils.connection import ConnectionDoesNotExist

from health_check._urls import describe_error, first_line
from health_check.base import HealthCheck
from health_check.exceptions import ServiceReturnedUnexpectedResult, ServiceUnavailable
from health_check.remote import RemoteCheck

__all__ = ["DNS", "Cache", "Database", "Mail", "RemoteCheck", "Storage", "check_auth_token"]

#: The mailer alias ``Mail`` uses by default: Django 6.1's ``DEFAULT_MAILER_ALIAS``, "default" before.
DEFAULT_MAILER_ALIAS: str = getattr(django.core.mail, "DEFAULT_MAILER_ALIAS", "default")

logger = logging.getLogger(__name__)


def _first_line(error: BaseException) -> str:
    """The first line of an error, bounded and scrubbed; the type's name when it says nothing."""
    return first_line(error, 200) or type(error).__name__


def check_auth_token(app_configs: Any = None, **kwargs: Any) -> Iterator[CheckMessage]:
    """django-health-check's deploy check of ``HEALTH_CHECK_AUTH_TOKEN``: yields ``health_check.E001``.

    Registered once, through ``health_check.system_checks.check_settings``, which reports it among the
    other settings; kept here under django-health-check's name for code that calls it.
    """
    if hasattr(settings, "HEALTH_CHECK_AUTH_TOKEN"):
        token = settings.HEALTH_CHECK_AUTH_TOKEN
        several = isinstance(token, (list, tuple)) and all(isinstance(one, str) for one in token)
        if not (several and any(one.strip() for one in token)) and (not isinstance(token, str) or not token.strip()):
            yield Error(
                "HEALTH_CHECK_AUTH_TOKEN must be a non-empty string.",
                hint="Set a non-empty string or remove the setting to disable authentication.",
                id="health_check.E001",
            )


@dataclasses.dataclass
class Cache(HealthCheck):
    """Set, get and delete a unique key in a cache.

    Messages start with django-health-check's phrases ("Cache alias does not exist", "Cache key ... does
    not match", "Cache key warning", "ValueError", "Connection Error") and add the alias and the cause.

    Args:
        alias: The cache alias in ``CACHES``.
        key_prefix: Prefix of the probe key.
        timeout: Expiry of the probe key, and the run budget.
    """

    alias: str = "default"
    key_prefix: str = dataclasses.field(default="djangohealthcheck_test", repr=False)
    timeout: datetime.timedelta = dataclasses.field(default=datetime.timedelta(seconds=5), repr=False)

    def run(self) -> None:
        try:
            cache = caches[self.alias]
        except InvalidCacheBackendError as error:
            raise ServiceUnavailable(f"Cache alias does not exist: {self.alias!r} is not in CACHES") from error
        key = f"{self.key_prefix}:{uuid.uuid4().hex}"
        value = f"itworks-{datetime.datetime.now().timestamp()}"
        try:
            cache.set(key, value, timeout=self.timeout.total_seconds())
            if cache.get(key) != value:
                raise ServiceUnavailable(
                    f"Cache key {key} does not match in cache {self.alias!r}: the value read back differs from the value set"
                )
            cache.delete(key)
        except CacheKeyWarning as error:
            raise ServiceReturnedUnexpectedResult(f"Cache key warning: cache {self.alias!r}: {error}") from error
        except ValueError as error:
            # A backend refusing the value or the timeout (a serializer, a pickling problem).
            raise ServiceReturnedUnexpectedResult(f"ValueError: cache {self.alias!r}: {_first_line(error)}") from error
        except ConnectionError as error:
            raise ServiceReturnedUnexpectedResult(
                f"Connection Error: cache {self.alias!r}: {_first_line(error)}"
            ) from error
        except OSError as error:  # a file-based cache whose directory is gone or read-only
            raise ServiceUnavailable(f"Cache {self.alias!r}: {_first_line(error)}") from error
        except ServiceUnavailable:
            raise
        except Exception as error:
            # Cache clients raise their own families (redis.RedisError, pymemcache errors...); as in
            # django-health-check, a client failing to talk to its server is "Connection Error".
            family = type(error).__module__.split(".")[0]
            if family in ("redis", "pymemcache", "pylibmc"):
                raise ServiceReturnedUnexpectedResult(
                    f"Connection Error: cache {self.alias!r}: {_first_line(error)}"
                ) from error
            if family == "django":  # DatabaseCache: the database's own error (a missing table...)
                raise ServiceUnavailable(f"Cache {self.alias!r}: {_first_line(error)}") from error
            raise


@dataclasses.dataclass
class Database(HealthCheck):
    """Run ``SELECT 1`` on a database connection; reads and writes no data.

    Args:
        alias: The database alias in ``DATABASES``.
    """

    alias: str = "default"

    def run(self) -> None:
        try:
            connection = connections[self.alias]
        except ConnectionDoesNotExist as error:
            raise ServiceUnavailable(f"Database alias does not exist: {self.alias!r} is not in DATABASES") from error
        query = "SELECT 1 FROM DUAL" if connection.vendor == "oracle" else "SELECT 1"
        try:
            with connection.temporary_connection() as cursor:
                cursor.execute(query)
                row = cursor.fetchone()
        except DatabaseError as error:
            raise ServiceUnavailable(f"Database {self.alias!r}: {_first_line(error)}") from error
        if row is None or tuple(row) != (1,):
            raise ServiceUnavailable(
                f"Health Check query did not return the expected result: {query} on database {self.alias!r} "
                f"returned {row!r}"
            )


@dataclasses.dataclass
class DNS(HealthCheck):
    """Resolve a hostname (this server's, by default) through the configured nameservers.

    Args:
        hostname: The name to resolve.
        timeout: Lifetime of the DNS query.
        nameservers: Nameservers to ask: IP addresses, or ``dns.nameserver.Nameserver`` objects for
            another port or protocol. ``None`` (the default) asks the system's, read when the check
            runs; an empty list asks none and reports "no nameservers available".
        record_type: The record type to query (A by default).
    """

    hostname: str = dataclasses.field(default_factory=socket.gethostname)
    timeout: datetime.timedelta = dataclasses.field(default=datetime.timedelta(seconds=5), repr=False)
    nameservers: typing.Sequence[str | dns.nameserver.Nameserver] | None = None
    record_type: str | dns.rdatatype.RdataType = "A"

    async def run(self) -> None:
        if self.nameservers is not None and not self.nameservers:
            raise ServiceUnavailable(
                "DNS resolution failed: no nameservers available (nameservers=[] was given: "
                "list at least one, or leave it out to use the system's)"
            )
        # Given nameservers replace the system's, so /etc/resolv.conf is not read (it may not exist).
        try:
            resolver = dns.asyncresolver.Resolver(configure=self.nameservers is None)
        except dns.resolver.NoResolverConfiguration as error:
            raise ServiceUnavailable(
                "DNS resolution failed: no nameservers available: none configured on this host (pass nameservers=[...])"
            ) from error
        resolver.lifetime = self.timeout.total_seconds()
        if self.nameservers is not None:
            resolver.nameservers = [*self.nameservers]
        try:
            await resolver.resolve(self.hostname, self.record_type)
        except dns.resolver.NXDOMAIN as error:
            raise ServiceUnavailable(f"DNS resolution failed: hostname {self.hostname} does not exist") from error
        except dns.resolver.NoAnswer as error:
            raise ServiceUnavailable(f"DNS resolution failed: no answer for {self.hostname}") from error
        except dns.resolver.LifetimeTimeout as error:
            raise ServiceUnavailable(f"DNS resolution failed: timeout resolving {self.hostname}") from error
        except dns.resolver.NoNameservers as error:
            raise ServiceUnavailable(
                f"DNS resolution failed: no nameservers available: none answered for {self.hostname}"
            ) from error
        except dns.exception.DNSException as error:
            raise ServiceUnavailable(f"DNS resolution failed: {_first_line(error)}") from error


@dataclasses.dataclass
class Mail(HealthCheck):
    """Open and close a connection with the email backend (an SMTP handshake, with login if configured).

    Which backend: on Django 6.1 and later, the mailer ``alias`` (Django's ``mailers[alias]``: the
    ``MAILERS`` entry, or ``EMAIL_*`` settings for "default" while ``MAILERS`` is not set) unless
    ``backend`` names one and ``MAILERS`` is not set; before Django 6.1, ``backend`` or ``EMAIL_BACKEND``.

    Args:
        backend: Dotted path of an email backend to use instead; ``EMAIL_BACKEND`` by default (read
            when run). Before Django 6.1, the only way to choose the backend.
        alias: The mailer alias in ``MAILERS`` (Django 6.1+); ignored by older Django versions.
        timeout: Connection timeout.
    """

    backend: str | None = dataclasses.field(default=None, repr=False)
    alias: str = DEFAULT_MAILER_ALIAS
    timeout: datetime.timedelta = dataclasses.field(default=datetime.timedelta(seconds=15), repr=False)

    def get_connection(self) -> BaseEmailBackend:
        """The backend to open.

        On Django 6.1+, Django's ``mailers[alias]`` when the project has a ``MAILERS`` setting (Django
        refuses ``get_connection(backend)`` then) or names no ``backend``; otherwise ``backend``, or
        ``EMAIL_BACKEND`` when it is None.
        """
        if django.VERSION >= (6, 1) and (self.backend is None or hasattr(settings, "MAILERS")):
            from django.core.mail import mailers

            try:
                return mailers[self.alias]
            except KeyError as error:  # MailerDoesNotExist
                raise ServiceUnavailable(f"Mailer alias does not exist: {self.alias!r} is not in MAILERS") from error
            except ImproperlyConfigured as error:  # InvalidMailer: a wrong BACKEND or OPTIONS
                raise ServiceUnavailable(f"Mailer {self.alias!r} cannot be built: {_first_line(error)}") from error
        return get_connection(self.backend, fail_silently=False)

    def run(self) -> None:
        connection = self.get_connection()
        connection.timeout = self.timeout.total_seconds()  # type: ignore[attr-defined]  # SMTP's; others ignore it
        host = getattr(connection, "host", None)
        server = f" {host}:{getattr(connection, 'port', '')}" if host else ""
        target = f"SMTP server{server}" if host else "Mail backend"
        failed = f"Failed to open connection with SMTP server{server}"
        try:
            connection.open()
        except smtplib.SMTPAuthenticationError as error:
            raise ServiceUnavailable(f"{failed}: authentication refused (check EMAIL_HOST_USER/PASSWORD)") from error
        except smtplib.SMTPServerDisconnected as error:
            # smtplib turns a read timeout (a server that never greets) into "Connection unexpectedly closed".
            if isinstance(error.__context__, (socket.timeout, TimeoutError)):
                raise ServiceUnavailable(f"{failed}: timed out after {self.timeout.total_seconds():g} s") from error
            raise ServiceUnavailable(f"{failed}: {_first_line(error)}") from error
        except smtplib.SMTPException as error:
            raise ServiceUnavailable(f"{failed}: {_first_line(error)}") from error
        except ConnectionRefusedError as error:
            raise ServiceUnavailable(
                f"Connection refused error: {target} (is it running? check EMAIL_HOST and EMAIL_PORT)"
            ) from error
        except TimeoutError as error:
            raise ServiceUnavailable(f"{target}: timed out after {self.timeout.total_seconds():g} s") from error
        except OSError as error:
            raise ServiceUnavailable(f"{target}: {error.strerror or _first_line(error)}") from error
        finally:
            try:
                connection.close()
            except (smtplib.SMTPException, OSError) as error:
                logger.debug("Closing the mail connection failed: %s", describe_error(error))


@dataclasses.dataclass
class Storage(HealthCheck):
    """Save, read back and delete a small file in a storage backend.

    The steps are django-health-check's public methods, so a subclass can change one: ``storage``,
    ``get_file_name()``, ``get_file_content()``, ``check_save(name, content)`` (returns the name
    the storage saved under) and ``check_delete(name)``.

    Args:
        alias: The storage alias in ``STORAGES``.
    """

    alias: str = "default"

    @property
    def storage(self) -> DjangoStorage:
        """The storage backend of ``alias``; ``ServiceUnavailable`` when ``STORAGES`` has no such alias."""
        try:
            return storages[self.alias]
        except InvalidStorageError as error:
            raise ServiceUnavailable(f"Storage alias does not exist: {self.alias!r} is not in STORAGES") from error

    def get_file_name(self) -> str:
        """A new name for each run, so that runs in several processes never touch each other's file."""
        return f"health_check_storage_test/test-{uuid.uuid4()}.txt"

    def get_file_content(self) -> bytes:
        """The probe file's bytes: different each run, so a stale file cannot pass the comparison."""
        return f"# generated by health_check.Storage at {datetime.datetime.now().timestamp()}".encode()

    def check_save(self, file_name: str, file_content: bytes) -> str:
        """Save the file, make sure it exists and reads back the same; return the name it was saved as."""
        storage = self.storage
        file_name = storage.save(file_name, ContentFile(content=file_content))
        if not storage.exists(file_name):
            raise ServiceUnavailable(
                f"File does not exist: storage {self.alias!r} lost {file_name} right after saving it"
            )
        with storage.open(file_name) as handle:
            if handle.read() != file_content:
                raise ServiceUnavailable(f"File content does not match: storage {self.alias!r}, file {file_name}")
        return file_name

    def check_delete(self, file_name: str) -> None:
        """Delete the file and make sure it is gone."""
        storage = self.storage
        storage.delete(file_name)
        if storage.exists(file_name):
            raise ServiceUnavailable(f"File was not deleted: storage {self.alias!r} still has {file_name}")

    def run(self) -> None:
        storage = self.storage
        file_name = self.get_file_name()
        file_content = self.get_file_content()
        deleted = False
        step = "cannot write a file"
        try:
            file_name = self.check_save(file_name, file_content)
            step = "cannot delete the file"
            self.check_delete(file_name)
            deleted = True
        except ServiceUnavailable:
            raise
        except OSError as error:
            # The path says where to look (a missing mount, a file where a directory should be).
            where = f": {error.filename}" if error.filename else ""
            raise ServiceUnavailable(
                f"Storage {self.alias!r}: {step}: {error.strerror or _first_line(error)}{where}"
            ) from error
        except Exception as error:
            # Remote storages raise their own families (botocore, google-cloud...); their text may
            # carry request details, so the log gets one line (without URL credentials, without a
            # traceback, whose frames may hold keys) and the output only the error's class.
            logger.error("Storage %r: %s: %s", self.alias, step, describe_error(error))
            raise ServiceUnavailable(f"Storage {self.alias!r}: {step}: {type(error).__name__} (see the log)") from error
        finally:
            if not deleted:  # whatever failed, leave no probe file behind
                try:
                    storage.delete(file_name)
                except Exception as error:
                    logger.debug("Removing the storage probe file failed: %s", describe_error(error))
