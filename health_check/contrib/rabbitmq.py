"""RabbitMQ: open an AMQP connection and a channel with kombu, then close both.

The URL usually carries a password, so it never appears anywhere: the user name and password are
taken out of the URL when the check is built and given to kombu apart, the check's name and labels are
built from its scheme, host and port only, messages name the host and the vhost, and nothing here logs
the URL. A URL that cannot be split for sure (a password with an unescaped ``/``: kombu would read part
of it as the port and echo it in its error) is refused when the check is built.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import socket
from typing import ClassVar
from urllib.parse import unquote, urlsplit

try:
    import amqp.exceptions
    import kombu
    import kombu.exceptions
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        'health_check.contrib.rabbitmq needs kombu: pip install "django-health-snapshot[rabbitmq]"'
    ) from error

from health_check._urls import describe_error, split_userinfo
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

__all__ = ["RabbitMQ"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class RabbitMQ(HealthCheck):
    """Connect to a RabbitMQ broker, open a channel and close the connection.

    Args:
        amqp_url: ``amqp://user:password@host:5672/vhost`` (kombu syntax; ``//`` is the default vhost ``/``).
            Never shown: the check is named by scheme, host and port. Percent-encode ``/``, ``?``,
            ``#`` and ``@`` in the user name and password (``urllib.parse.quote(password, safe="")``).
        timeout: Bound of the TCP connect and of the AMQP handshake, and the run budget.
    """

    default_poll_interval: ClassVar[datetime.timedelta] = datetime.timedelta(seconds=15)

    amqp_url: str = dataclasses.field(repr=False)
    timeout: datetime.timedelta = dataclasses.field(default=datetime.timedelta(seconds=5), repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        # At start-up (system check health_check.E002), never quoting the URL.
        try:
            self._url, self._userid, self._password = split_userinfo(self.amqp_url)
        except ValueError as error:
            raise ValueError(f"RabbitMQ(amqp_url=...) is not a valid URL: {error}") from None

    def _parts(self) -> dict[str, str | int]:
        """scheme, host and port of the URL; empty parts are left out, as django-health-check does."""
        try:
            parsed = urlsplit(self._url)
            parts: dict[str, str | int | None] = {"scheme": parsed.scheme, "host": parsed.hostname, "port": parsed.port}
        except ValueError:  # a malformed port: name nothing rather than fail every output
            return {}
        if not parts["host"]:
            return {}
        return {key: value for key, value in parts.items() if value}

    def _where(self) -> str:
        parts = self._parts()
        host = parts.get("host", "?")
        port = parts.get("port") or (5671 if parts.get("scheme") == "amqps" else 5672)
        try:
            path = urlsplit(self._url).path
        except ValueError:
            path = ""
        # kombu reads the path after the first "/" as the vhost; empty means "/".
        vhost = unquote(path[1:]) if len(path) > 1 else "/"
        return f"RabbitMQ at {host}:{port} (vhost {vhost!r})"

    def __repr__(self) -> str:
        return f"RabbitMQ({', '.join(f'{key}={value!r}' for key, value in self._parts().items())})"

    @property
    def labels(self) -> dict[str, str]:
        return super().labels | {key: str(value) for key, value in self._parts().items()}

    def run(self) -> None:
        seconds = self.timeout.total_seconds()
        connection = kombu.Connection(
            self._url, userid=self._userid, password=self._password, connect_timeout=seconds, heartbeat=0
        )
        try:
            # max_retries=0: one attempt per run; the poller retries on its own schedule.
            connection.ensure_connection(max_retries=0, timeout=seconds)
            channel = connection.channel()
            channel.close()
        except amqp.exceptions.AccessRefused as error:
            raise ServiceUnavailable(
                f"Unable to connect to RabbitMQ: Authentication error. ({self._where()}: "
                "the broker refused the user name or password)"
            ) from error
        except amqp.exceptions.NotAllowed as error:
            raise ServiceUnavailable(
                f"{self._where()}: vhost not found or not allowed for this user "
                "(create it, or grant the user access with rabbitmqctl set_permissions)"
            ) from error
        except amqp.exceptions.AMQPError as error:
            reply = getattr(error, "reply_text", "") or type(error).__name__
            raise ServiceUnavailable(f"{self._where()}: the broker closed the connection: {reply[:200]}") from error
        except (kombu.exceptions.OperationalError, OSError) as error:
            reason = self._reason(error)
            if reason == "Connection was refused.":
                # django-health-check's words first (monitors grep them), then where and what to do.
                message = (
                    f"Unable to connect to RabbitMQ: Connection was refused. ({self._where()}; is the broker running?)"
                )
            else:
                message = f"IOError: unable to connect to {self._where()}: {reason}"
            raise ServiceUnavailable(message) from error
        finally:
            try:
                connection.release()
            except Exception as error:
                logger.debug("Closing the RabbitMQ connection failed: %s", describe_error(error))

    def _reason(self, error: BaseException) -> str:
        """Why the connection failed, from kombu's wrapped error, in words that hold no URL."""
        original = error.__cause__ or error.__context__ or error
        text = str(error)
        if isinstance(original, ConnectionRefusedError) or "Connection refused" in text:
            return "Connection was refused."
        if isinstance(original, (socket.timeout, TimeoutError)) or "timed out" in text:
            return f"timed out after {self.timeout.total_seconds():g} s (no AMQP handshake)"
        if isinstance(original, socket.gaierror) or "Name or service not known" in text:
            return "the host name does not resolve"
        if isinstance(original, OSError) and original.strerror:
            return original.strerror
        return "IOError"
