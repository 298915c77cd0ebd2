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

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver
from django.core.cache import CacheKeyWarning, InvalidCacheBackendError, caches
from django.core.files.base import ContentFile
from django.core.files.storage import InvalidStorageError, storages
from django.core.mail import get_connection
from django.db import Error as DatabaseError
from django.db import connections
from django.utils.connection import ConnectionDoesNotExist

from health_check._urls import describe_error
from health_check.base import HealthCheck
from health_check.exceptions import ServiceReturnedUnexpectedResult, ServiceUnavailable

__all__ = ["DNS", "Cache", "Database", "Mail", "Storage"]

logger = logging.getLogger(__name__)


def _first_line(error: BaseException, limit: int = 200) -> str:
    """The first line of an error, bounded: driver messages can carry whole server notices."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclasses.dataclass
class Cache(HealthCheck):
    """Set, get and delete a unique key in a cache.

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
            raise ServiceUnavailable(f"Cache alias {self.alias!r} is not in CACHES") from error
        key = f"{self.key_prefix}:{uuid.uuid4().hex}"
        value = f"itworks-{datetime.datetime.now().timestamp()}"
        try:
            cache.set(key, value, timeout=self.timeout.total_seconds())
            if cache.get(key) != value:
                raise ServiceUnavailable(f"Cache {self.alias!r}: the value read back differs from the value set")
            cache.delete(key)
        except CacheKeyWarning as error:
            raise ServiceReturnedUnexpectedResult(f"Cache {self.alias!r}: key warning: {error}") from error
        except OSError as error:  # ConnectionError included
            raise ServiceUnavailable(f"Cache {self.alias!r}: {_first_line(error)}") from error
        except ServiceUnavailable:
            raise
        except Exception as error:
            # Cache clients raise their own families (redis.RedisError, pymemcache errors...).
            if type(error).__module__.split(".")[0] in ("redis", "pymemcache", "pylibmc", "django"):
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
            raise ServiceUnavailable(f"Database alias {self.alias!r} is not in DATABASES") from error
        query = "SELECT 1 FROM DUAL" if connection.vendor == "oracle" else "SELECT 1"
        try:
            with connection.temporary_connection() as cursor:
                cursor.execute(query)
                row = cursor.fetchone()
        except DatabaseError as error:
            raise ServiceUnavailable(f"Database {self.alias!r}: {_first_line(error)}") from error
        if row is None or row[0] != 1:
            raise ServiceReturnedUnexpectedResult(f"Database {self.alias!r}: SELECT 1 returned {row!r}")


@dataclasses.dataclass
class DNS(HealthCheck):
    """Resolve a hostname (this server's, by default) through the configured nameservers.

    Args:
        hostname: The name to resolve.
        timeout: Lifetime of the DNS query.
        nameservers: Nameservers to ask: IP addresses, or ``dns.nameserver.Nameserver`` objects for
            another port or protocol. The system's (read when run) by default.
        record_type: The record type to query (A by default).
    """

    hostname: str = dataclasses.field(default_factory=socket.gethostname)
    timeout: datetime.timedelta = dataclasses.field(default=datetime.timedelta(seconds=5), repr=False)
    nameservers: typing.Sequence[str | dns.nameserver.Nameserver] | None = None
    record_type: str | dns.rdatatype.RdataType = "A"

    async def run(self) -> None:
        # Given nameservers replace the system's, so /etc/resolv.conf is not read (it may not exist).
        try:
            resolver = dns.asyncresolver.Resolver(configure=not self.nameservers)
        except dns.resolver.NoResolverConfiguration as error:
            raise ServiceUnavailable(
                "DNS resolution failed: no nameservers configured on this host (pass nameservers=[...])"
            ) from error
        resolver.lifetime = self.timeout.total_seconds()
        if self.nameservers:
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
            raise ServiceUnavailable("DNS resolution failed: no nameservers available") from error
        except dns.exception.DNSException as error:
            raise ServiceUnavailable(f"DNS resolution failed: {_first_line(error)}") from error


@dataclasses.dataclass
class Mail(HealthCheck):
    """Open and close a connection with the email backend (an SMTP handshake, with login if configured).

    Args:
        backend: Dotted path of the email backend; ``EMAIL_BACKEND`` by default (read when run).
        alias: The mailer alias (Django 6.1+ ``MAILERS``); kept for compatibility.
        timeout: Connection timeout.
    """

    backend: str | None = dataclasses.field(default=None, repr=False)
    alias: str = "default"
    timeout: datetime.timedelta = dataclasses.field(default=datetime.timedelta(seconds=15), repr=False)

    def run(self) -> None:
        connection = get_connection(self.backend, fail_silently=False)
        connection.timeout = self.timeout.total_seconds()
        host = getattr(connection, "host", None)
        target = f"SMTP server {host}:{getattr(connection, 'port', '')}" if host else "Mail backend"
        try:
            connection.open()
        except smtplib.SMTPAuthenticationError as error:
            raise ServiceUnavailable(f"{target}: authentication refused (check EMAIL_HOST_USER/PASSWORD)") from error
        except smtplib.SMTPServerDisconnected as error:
            # smtplib turns a read timeout (a server that never greets) into "Connection unexpectedly closed".
            if isinstance(error.__context__, (socket.timeout, TimeoutError)):
                raise ServiceUnavailable(f"{target}: timed out after {self.timeout.total_seconds():g} s") from error
            raise ServiceUnavailable(f"{target}: {_first_line(error)}") from error
        except smtplib.SMTPException as error:
            raise ServiceUnavailable(f"{target}: {_first_line(error)}") from error
        except ConnectionRefusedError as error:
            raise ServiceUnavailable(f"{target}: connection refused") from error
        except (socket.timeout, TimeoutError) as error:
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

    Args:
        alias: The storage alias in ``STORAGES``.
    """

    alias: str = "default"

    def run(self) -> None:
        try:
            storage = storages[self.alias]
        except InvalidStorageError as error:
            raise ServiceUnavailable(f"Storage alias {self.alias!r} is not in STORAGES") from error
        content = f"# written by health_check.Storage at {datetime.datetime.now().timestamp()}".encode()
        name = f"health_check_storage_test/test-{uuid.uuid4()}.txt"
        saved: str | None = None
        step = "cannot write a file"
        try:
            saved = storage.save(name, ContentFile(content))
            step = "cannot read the file back"
            if not storage.exists(saved):
                raise ServiceUnavailable(f"Storage {self.alias!r}: the file written does not exist")
            with storage.open(saved) as handle:
                if handle.read() != content:
                    raise ServiceUnavailable(f"Storage {self.alias!r}: the file read back differs")
            step = "cannot delete the file"
            storage.delete(saved)
            if storage.exists(saved):
                raise ServiceUnavailable(f"Storage {self.alias!r}: the file could not be deleted")
            saved = None
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
            if saved is not None:
                try:
                    storage.delete(saved)
                except Exception as error:
                    logger.debug("Removing the storage probe file failed: %s", describe_error(error))
