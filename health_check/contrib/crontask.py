"""django-crontask: is its scheduler running?

While it runs, django-crontask's scheduler holds a Redis lock named ``crontask-lock`` and renews it
before it expires (a dead man's switch), so a missing key means no scheduler is alive. The check only
asks Redis whether the key exists: it needs redis, not django-crontask itself, so it runs on every
Python this package supports, although django-crontask 2 needs Python 3.12+ and Django 6.

Without ``CRONTASK["REDIS_URL"]`` django-crontask uses a no-op lock, which nothing can observe: the check
then reports that setting missing, unless ``client_factory`` says where the lock lives.
"""

from __future__ import annotations

import dataclasses
import datetime
import inspect
import logging
from collections.abc import Callable
from typing import Any, ClassVar

try:
    from redis import exceptions as redis_errors
    from redis.asyncio import Redis as RedisClient
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        'health_check.contrib.crontask needs redis: pip install "django-health-snapshot[crontask]" '
        "(django-crontask itself needs Python 3.12+ and Django 6)"
    ) from error

from django.conf import settings

from health_check._urls import describe_error, split_userinfo
from health_check.base import HealthCheck
from health_check.contrib.redis import _describe, _refused, _retry_once
from health_check.exceptions import ServiceUnavailable

__all__ = ["LOCK_KEY", "Scheduler", "create_client_from_settings"]

logger = logging.getLogger(__name__)

#: The key django-crontask's lock is stored under; django-crontask has no setting for it.
LOCK_KEY = "crontask-lock"


def create_client_from_settings() -> RedisClient:
    """A ``redis.asyncio`` client for ``CRONTASK["REDIS_URL"]``, with 1 s connect and read timeouts.

    The user name and password are taken out of the URL and given to the client apart, so the URL
    that reaches redis-py (and any of its messages) holds none. Raises ``ServiceUnavailable`` when the
    setting is missing or cannot be read.
    """
    configured = getattr(settings, "CRONTASK", None) or {}
    url = configured.get("REDIS_URL") if isinstance(configured, dict) else None
    if not url:
        raise ServiceUnavailable(
            "CRONTASK['REDIS_URL'] is not configured. Set it to the Redis URL of the crontask scheduler's "
            "lock, or pass a client_factory."
        )
    try:
        bare, user, password = split_userinfo(str(url))
    except ValueError as error:
        raise ServiceUnavailable(f"CRONTASK['REDIS_URL'] is not a valid Redis URL: {error}") from None
    # A fixed 1 s budget per connect and read: an unreachable Redis must not hold the poller's thread.
    return RedisClient.from_url(
        bare, username=user or None, password=password, socket_timeout=1, socket_connect_timeout=1
    )


@dataclasses.dataclass
class Scheduler(HealthCheck):
    """Fail when no django-crontask scheduler holds its Redis lock.

    Args:
        client_factory: Returns a new Redis client (``redis.asyncio`` or sync) where the lock lives;
            called once per run and closed afterwards. Defaults to ``create_client_from_settings``
            (``CRONTASK["REDIS_URL"]``).
    """

    default_poll_interval: ClassVar[datetime.timedelta] = datetime.timedelta(seconds=30)
    #: One scheduler serves the whole fleet (the lock is what makes it one): one poller asks for all.
    default_scope: ClassVar[str] = "fleet"

    client_factory: Callable[[], Any] = dataclasses.field(default=create_client_from_settings, repr=False)

    async def run(self) -> None:
        try:
            client = self.client_factory()
        except ServiceUnavailable:
            raise
        except Exception as error:
            # One line, no traceback: the factory is where the password lives, its frames hold it.
            logger.error("Scheduler client_factory raised %s", describe_error(error))
            raise ServiceUnavailable(
                "Unable to query the crontask lock: client_factory failed to build a Redis client (see the server log)"
            ) from error
        _retry_once(client)
        target = _describe(client)
        where = f"Redis at {target['host']}:{target.get('port', 6379)}" if "host" in target else "Redis"
        try:
            found = client.exists(LOCK_KEY)
            if inspect.isawaitable(found):
                found = await found
        except redis_errors.RedisError as error:
            if _refused(error):
                reason = "Connection was refused."
            elif isinstance(error, redis_errors.TimeoutError):
                reason = "Timeout."
            elif isinstance(error, redis_errors.AuthenticationError):
                reason = "authentication failed; check the password in CRONTASK['REDIS_URL']"
            else:
                reason = str(error).strip()[:200] or type(error).__name__
            raise ServiceUnavailable(f"Unable to query the crontask lock. ({where}: {reason})") from error
        finally:
            await _close(client)
        if not found:
            raise ServiceUnavailable(
                f"No django-crontask scheduler is running. (no {LOCK_KEY!r} key in {where}; "
                "start one with: python manage.py crontask)"
            )


async def _close(client: Any) -> None:
    try:
        closer = getattr(client, "aclose", None) or getattr(client, "close", None)
        result = closer() if closer else None
        if inspect.isawaitable(result):
            await result
    except Exception as error:
        logger.debug("Closing the crontask Redis client failed: %s", describe_error(error))
