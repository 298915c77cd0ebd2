"""Celery: are workers alive, and does every queue the app defines have one consuming it?

One run makes a single broker connection and uses it for the three steps, each bounded: connect (one
attempt), ``ping`` the workers, then ask the workers that answered which queues they consume. So a
broker that is down, no worker at all and a queue nobody consumes each get their own message.

A broker URL that cannot be parsed for sure (a password with an unescaped ``/``) is refused when the
check is built: kombu would read part of the password as the port and echo it in its error.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Iterator
from typing import Any, ClassVar

try:
    import celery
    import kombu.exceptions
    from celery.app import app_or_default
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        'health_check.contrib.celery needs celery: pip install "django-health-snapshot[celery]"'
    ) from error

from health_check._urls import describe_error, split_userinfo
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

__all__ = ["Ping"]

logger = logging.getLogger(__name__)

#: Bound of the broker connection attempt, on top of the ping and inspect round trips.
_CONNECT_SECONDS = 2.0


def _app_name(app: Any) -> str:
    """The app's ``main`` name: what the project calls it, stable across processes (never its address)."""
    return str(getattr(app, "main", None) or "default")


@dataclasses.dataclass
class Ping(HealthCheck):
    """Ping Celery workers and check that every defined task queue has a worker consuming it.

    The queues are ``task_queues`` when the app defines them, else ``task_default_queue``. The run
    budget is twice ``timeout`` (ping, then the queue inquiry) plus 2 seconds to reach the broker.

    Args:
        app: The Celery app; Celery's current app if omitted. Celery's current app is per thread, so
            call ``app.set_default()`` in your ``celery.py`` for the poller's threads to find it.
        timeout: How long to wait for workers' answers to the ping (and, again, to the queue inquiry).
        limit: Stop waiting once this many workers have answered the ping; all of them otherwise.
    """

    CORRECT_PING_RESPONSE: ClassVar[dict[str, str]] = {"ok": "pong"}
    default_poll_interval: ClassVar[datetime.timedelta] = datetime.timedelta(seconds=30)
    #: Every host would see the same answer: one elected poller asks for the whole fleet.
    default_scope: ClassVar[str] = "fleet"

    app: celery.Celery = dataclasses.field(default_factory=app_or_default)
    timeout: datetime.timedelta = dataclasses.field(default=datetime.timedelta(seconds=1), repr=False)
    limit: int | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        reason = self._unparsable_broker_url()
        if reason:
            raise ValueError(f"Ping(app={_app_name(self.app)!r}): the broker URL is not valid: {reason}")

    def _unparsable_broker_url(self) -> str | None:
        """Why the app's broker URL (``broker_url``, ``broker_write_url``) cannot be parsed, if it cannot."""
        try:
            configured = [self.app.conf.broker_write_url, self.app.conf.broker_url]
        except Exception as error:  # an app whose configuration cannot be read yet: run() reports it
            logger.debug("Cannot read the Celery app's broker URL: %s", describe_error(error))
            return None
        for value in configured:
            # kombu accepts a list, or several URLs separated by ";" (fail-over).
            urls = value if isinstance(value, (list, tuple)) else str(value or "").split(";")
            for url in urls:
                if isinstance(url, str) and "://" in url:
                    try:
                        split_userinfo(url.strip())
                    except ValueError as error:
                        return str(error)
        return None

    def __repr__(self) -> str:
        return f"Ping(app={_app_name(self.app)!r})"

    @property
    def labels(self) -> dict[str, str]:
        return {"check": "Ping", "app": _app_name(self.app)}

    @property
    def timeout_budget(self) -> datetime.timedelta:
        return self.timeout * 2 + datetime.timedelta(seconds=_CONNECT_SECONDS)

    def run(self) -> None:
        seconds = self.timeout.total_seconds()
        try:
            connection = self.app.connection_for_write(connect_timeout=_CONNECT_SECONDS)
        except ValueError as error:
            # kombu's own text quotes the part of the URL it could not read, maybe a piece of the password.
            reason = self._unparsable_broker_url() or type(error).__name__
            raise ServiceUnavailable(f"The Celery broker URL is not valid: {reason}") from error
        try:
            self._connect(connection)
            try:
                replies = self.app.control.ping(timeout=seconds, limit=self.limit, connection=connection)
            except NotImplementedError as error:
                raise ServiceUnavailable("NotImplementedError: Make sure CELERY_RESULT_BACKEND is set") from error
            except (kombu.exceptions.OperationalError, OSError) as error:
                raise ServiceUnavailable(
                    f"IOError: {self._broker(connection)}: the connection failed during the ping"
                ) from error
            if not replies:
                raise ServiceUnavailable(
                    f"Celery workers unavailable: no worker answered the ping within {seconds:g} s "
                    f"(start one: celery -A <project> worker)"
                )
            self.check_active_queues(*self.active_workers(replies), connection=connection)
        finally:
            try:
                connection.release()
            except Exception as error:
                logger.debug("Closing the Celery broker connection failed: %s", describe_error(error))

    def _broker(self, connection: Any) -> str:
        """The broker as ``transport://host:port``: no user, no password."""
        transport = getattr(connection, "transport_cls", None) or "amqp"
        if not isinstance(transport, str):
            transport = getattr(transport, "__name__", "broker")
        port = f":{connection.port}" if getattr(connection, "port", None) else ""
        return f"Celery broker {transport}://{connection.hostname or 'localhost'}{port}"

    def _connect(self, connection: Any) -> None:
        try:
            connection.ensure_connection(max_retries=0, timeout=_CONNECT_SECONDS)
        except (kombu.exceptions.OperationalError, OSError) as error:
            text = str(error)
            if "refused" in text.lower() or "Error 111" in text:
                reason = "Connection was refused."
            elif "timed out" in text.lower() or "timeout" in text.lower():
                reason = f"timed out after {_CONNECT_SECONDS:g} s"
            else:
                reason = type(error.__cause__ or error).__name__
            raise ServiceUnavailable(
                f"IOError: unable to connect to the {self._broker(connection)}: {reason}"
            ) from error
        except Exception as error:  # amqp's AccessRefused/NotAllowed and kin: the broker said no
            reply = getattr(error, "reply_text", "") or type(error).__name__
            raise ServiceUnavailable(f"The {self._broker(connection)} refused the connection: {reply[:200]}") from error

    def active_workers(self, ping_result: list[dict[str, Any]]) -> Iterator[str]:
        """Yield the name of each worker in a ``control.ping()`` result; raise on a reply that is not a pong."""
        for reply in ping_result:
            for worker, response in reply.items():
                if response != self.CORRECT_PING_RESPONSE:
                    raise ServiceUnavailable(f"Celery worker {worker} response was incorrect: {str(response)[:200]}")
                yield worker

    def check_active_queues(self, *active_workers: str, connection: Any = None) -> None:
        """Raise unless every queue the app defines is consumed by one of ``active_workers``.

        The queues are ``task_queues``, or ``task_default_queue`` when the app defines none. The
        workers are asked once, within ``timeout``; ``connection`` reuses the run's broker connection.
        """
        seconds = self.timeout.total_seconds()
        workers = list(active_workers)
        queues = self.app.conf.task_queues
        defined = {queue.name for queue in queues} if queues else {self.app.conf.task_default_queue}
        inspector = self.app.control.inspect(
            workers or None, timeout=seconds, limit=len(workers) or None, connection=connection
        )
        try:
            answers = inspector.active_queues() or {}
        except (kombu.exceptions.OperationalError, OSError) as error:
            raise ServiceUnavailable(
                f"{self._broker(connection)}: the connection failed while asking workers for their queues"
            ) from error
        consumed = {queue.get("name") for worker_queues in answers.values() for queue in worker_queues or ()}
        missing = sorted(defined - consumed)
        if missing:
            raise ServiceUnavailable(
                "; ".join(f"No worker for Celery task queue {queue}" for queue in missing)
                + f" (start one with: celery -A <project> worker -Q {','.join(missing)})"
            )
