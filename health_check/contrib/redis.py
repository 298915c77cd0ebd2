"""Redis: ping a server (single, Sentinel-managed or a cluster) through a client the project builds.

The poller runs this check every few seconds for as long as the process lives, so a client must
never outlive its run: a client from ``client_factory`` is closed after every run, and the pooled
connections of a client passed as ``client`` are released after every async run (its event loop ends
with the run, so its connections could not be reused anyway). At most one connection per check is
open at any time.
"""

from __future__ import annotations

import dataclasses
import datetime
import inspect
import logging
import warnings
from collections.abc import Callable
from typing import Any, ClassVar

try:
    from redis import exceptions as redis_errors
    from redis.backoff import NoBackoff
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError('health_check.contrib.redis needs redis: pip install "django-health-snapshot[redis]"') from error

from health_check._urls import describe_error
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

__all__ = ["Redis"]

logger = logging.getLogger(__name__)

_SHOWN_KWARGS = ("db", "host", "port")


def _describe(client: Any) -> dict[str, Any]:
    """What identifies the server(s) a client talks to, read from its shape (never its password)."""
    pool = getattr(client, "connection_pool", None)
    service_name = getattr(pool, "service_name", None)
    if service_name is not None:  # Sentinel: master_for()/slave_for() pools name the service
        sentinels = getattr(getattr(pool, "sentinel_manager", None), "sentinels", None) or []
        hosts = []
        for sentinel in sentinels:
            kwargs = getattr(getattr(sentinel, "connection_pool", None), "connection_kwargs", {})
            if "host" in kwargs:
                hosts.append(f"{kwargs['host']}:{kwargs.get('port', 26379)}")
        return {"service_name": service_name, "sentinels": hosts}
    kwargs = getattr(pool, "connection_kwargs", None)
    if isinstance(kwargs, dict):
        shown = {key: kwargs[key] for key in _SHOWN_KWARGS if key in kwargs}
        if "path" in kwargs and "host" not in shown:  # unix socket
            shown["path"] = kwargs["path"]
        if shown:
            return shown
    nodes = getattr(client, "startup_nodes", None)
    if nodes is None:
        nodes = getattr(getattr(client, "nodes_manager", None), "startup_nodes", None)
    if nodes:
        names = nodes.keys() if isinstance(nodes, dict) else [getattr(node, "name", str(node)) for node in nodes]
        return {"hosts": sorted(names)}
    return {}


def _refused(error: BaseException) -> bool:
    """redis-py wraps a refused connection in its own ConnectionError; its text is all that is left."""
    text = str(error)
    return "Error 111 " in text or "Connect call failed" in text or "refused" in text.lower()


def _retry_once(client: Any) -> None:
    """Let a client the check built retry once, at once, instead of redis-py 8's ten backoff retries.

    Those retries take about 5 s on a refused port, the whole run budget, so "Connection was refused."
    would turn into "Timed out after 5 seconds" at random. A run is one attempt: the poller retries on
    its own schedule. One retry still covers a connection the server dropped.
    """
    get_retry = getattr(client, "get_retry", None)
    set_retry = getattr(client, "set_retry", None)
    try:
        current = get_retry() if get_retry else None
        if current is not None and set_retry is not None:
            set_retry(type(current)(NoBackoff(), 1))
    except Exception as error:  # an unusual client keeps its own policy
        logger.debug("Cannot change the retry policy of %s: %s", type(client).__name__, describe_error(error))


@dataclasses.dataclass
class Redis(HealthCheck):
    """Ping a Redis server with a client built by ``client_factory`` (sync or ``redis.asyncio``).

    Works with any client that has ``ping()``: ``redis.asyncio.Redis.from_url(...)``, a sync
    ``redis.Redis``, ``Sentinel(...).master_for(name)`` and ``RedisCluster(...)``. Exactly one of
    ``client_factory`` and ``client`` must be given.

    The run budget is 5 seconds; give the client ``socket_connect_timeout``/``socket_timeout`` below it
    for a more specific message than "Timed out after 5 seconds". Clients from ``client_factory`` retry
    a failed command once, at once (see ``_retry_once``).

    Args:
        client_factory: Returns a new client; called once per run, and the client is closed afterwards.
        client: Deprecated: one client reused by every run; its pooled connections are released after
            each async run, the client itself is never closed.
    """

    default_poll_interval: ClassVar[datetime.timedelta] = datetime.timedelta(seconds=10)

    client: Any = dataclasses.field(default=None, repr=False)
    client_factory: Callable[[], Any] | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()  # the thresholds' and scope's validation
        self._target: dict[str, Any] | None = None
        if self.client is not None and self.client_factory is not None:
            raise ValueError("Provide exactly one of `client` or `client_factory`, not both.")
        if self.client is None and self.client_factory is None:
            raise ValueError(
                "You must provide either `client` (deprecated) or `client_factory` when instantiating `Redis`."
            )
        if self.client is not None:
            warnings.warn(
                "Redis(client=...) is deprecated: pass client_factory=lambda: <your client> instead, "
                "so each run gets a fresh client that is closed afterwards.",
                DeprecationWarning,
                stacklevel=3,  # the dataclass __init__ sits between the caller and us
            )

    # --- identity -------------------------------------------------------------------------------

    def target(self) -> dict[str, Any]:
        """Host/port/db (or cluster hosts, or Sentinel service) of the client; computed once.

        With ``client_factory`` this builds one client to look at its settings; building a client
        opens no connection, and it is dropped at once.
        """
        if self._target is None:
            try:
                client = self.client if self.client is not None else self.client_factory()  # type: ignore[misc]
                self._target = _describe(client)
            except Exception as error:  # a broken factory is reported by run(); the name must not fail
                logger.debug("Cannot describe the Redis client: %s", describe_error(error))
                self._target = {}
        return self._target

    def _where(self) -> str:
        target = self.target()
        if "hosts" in target:
            return f"Redis cluster {','.join(target['hosts'])}"
        if "service_name" in target:
            return f"Redis Sentinel service {target['service_name']!r}"
        if "path" in target:
            return f"Redis at {target['path']}"
        if "host" in target:
            return f"Redis at {target['host']}:{target.get('port', 6379)}"
        return "Redis"

    def __repr__(self) -> str:
        target = self.target()
        if "hosts" in target:
            return f"Redis(client=RedisCluster(hosts={target['hosts']!r}))"
        if target:
            return f"Redis({', '.join(f'{key}={value!r}' for key, value in sorted(target.items()))})"
        return "Redis()"

    @property
    def labels(self) -> dict[str, str]:
        return super().labels | {key: str(value) for key, value in self.target().items()}

    # --- run ------------------------------------------------------------------------------------

    async def run(self) -> None:
        created = self.client is None
        try:
            client = self.client_factory() if created else self.client  # type: ignore[misc]
        except Exception as error:
            # One line, no traceback: the factory is where the password lives, its frames hold it.
            logger.error("Redis client_factory raised %s", describe_error(error))
            raise ServiceUnavailable("Redis client_factory failed to build a client (see the server log)") from error
        if created:
            _retry_once(client)
        try:
            reply = client.ping()
            if inspect.isawaitable(reply):
                await reply
        except redis_errors.AuthenticationError as error:
            raise ServiceUnavailable(
                f"{self._where()}: authentication failed; check the password or ACL user"
            ) from error
        except redis_errors.TimeoutError as error:
            raise ServiceUnavailable(f"Unable to connect to Redis: Timeout. ({self._where()})") from error
        except (ConnectionRefusedError, redis_errors.ConnectionError) as error:
            # django-health-check's words first (monitors grep them), then where and why.
            if type(error).__name__ == "MasterNotFoundError":
                message = (
                    f"Connection Error ({self._where()}: no Sentinel answered with its master; "
                    "check the sentinels and the service name)"
                )
            elif isinstance(error, ConnectionRefusedError) or _refused(error):
                message = f"Connection was refused. ({self._where()}; is the server running?)"
            else:
                message = f"Connection Error ({self._where()}: {str(error).strip()[:200] or type(error).__name__})"
            raise ServiceUnavailable(f"Unable to connect to Redis: {message}") from error
        except redis_errors.RedisClusterException as error:
            if "Cluster mode is not enabled" in str(error):
                message = (
                    f"Connection Error ({self._where()}: the server is not in cluster mode; use a plain client for it)"
                )
            elif _refused(error):
                message = f"Connection was refused. ({self._where()})"
            else:
                message = f"Connection Error ({self._where()}: no startup node is reachable)"
            raise ServiceUnavailable(f"Unable to connect to Redis: {message}") from error
        except redis_errors.ResponseError as error:
            raise ServiceUnavailable(f"{self._where()} answered PING with an error: {str(error)[:200]}") from error
        finally:
            await self._release(client, created)

    @staticmethod
    async def _release(client: Any, created: bool) -> None:
        """Close a client we built; drop the pooled connections of a reused async client."""
        try:
            if created:
                closer = getattr(client, "aclose", None) or getattr(client, "close", None)
                result = closer() if closer else None
            else:
                pool = getattr(client, "connection_pool", None)
                disconnect = getattr(pool, "disconnect", None)
                # A sync client's pool outlives the run's event loop and reuses its connection.
                result = disconnect() if disconnect and inspect.iscoroutinefunction(disconnect) else None
            if inspect.isawaitable(result):
                await result
        except Exception as error:
            logger.debug("Closing the Redis client failed: %s", describe_error(error))
