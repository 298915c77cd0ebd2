"""Threadmill: the queue telemetry of a Threadmill backend of Django's task framework (``TASKS``).

The check reads how many tasks of one queue are ready, deferred and failed. It cannot see workers:
when they stop, the ready count grows until ``max_pending_tasks`` fails the check.

Threadmill 0.7.3+ needs Python 3.14 and Django 6 (``django.tasks``): on older versions importing
this module raises ``ImportError`` saying so, and ``pip install "django-health-snapshot[threadmill]"``
installs nothing there.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import sys
from typing import Any

_NEEDS = (
    "health_check.contrib.threadmill needs threadmill 0.7.3+, which needs Python 3.14+ and Django 6.0+: "
    'pip install "django-health-snapshot[threadmill]" on Python 3.14'
)

if sys.version_info < (3, 14):  # pragma: no cover - depends on the interpreter
    raise ImportError(f"{_NEEDS} (this is Python {sys.version_info.major}.{sys.version_info.minor})")

try:  # pragma: no cover - threadmill installs on Python 3.14+ only
    from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, DEFAULT_TASK_QUEUE_NAME, task_backends
    from django.tasks.exceptions import InvalidTaskBackend
    from redis.exceptions import RedisError
    from threadmill.backends.base import ThreadmillTaskBackend
    from threadmill.backends.redis import RedisTaskBackend
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(_NEEDS) from error

from health_check._urls import describe_error  # noqa: E402 - after the version gate
from health_check.base import HealthCheck  # noqa: E402
from health_check.exceptions import ServiceUnavailable, ServiceWarning  # noqa: E402

__all__ = ["Threadmill"]


@dataclasses.dataclass
class Threadmill(HealthCheck):  # pragma: no cover - runs on Python 3.14+ only
    """Fail when a Threadmill queue has too many pending tasks; warn when too many failed.

    Args:
        alias: The backend alias in ``TASKS``.
        queue_name: The queue to read.
        max_pending_tasks: Fail above this many ready and deferred tasks, or None to disable.
        max_failed_tasks: Warn above this many failed tasks, or None to disable.
        timeout: Bound of the telemetry request.
    """

    alias: str = DEFAULT_TASK_BACKEND_ALIAS
    queue_name: str = DEFAULT_TASK_QUEUE_NAME
    max_pending_tasks: int | None = dataclasses.field(default=1000, repr=False)
    max_failed_tasks: int | None = dataclasses.field(default=None, repr=False)
    timeout: datetime.timedelta = dataclasses.field(default=datetime.timedelta(seconds=5), repr=False)

    async def run(self) -> dict[str, int]:
        try:
            backend = task_backends[self.alias]
        except InvalidTaskBackend as error:
            raise ServiceUnavailable(f"Task backend alias does not exist: {self.alias!r} is not in TASKS") from error
        if not isinstance(backend, ThreadmillTaskBackend):
            raise ServiceUnavailable(
                f"Task backend does not support queue telemetry: TASKS[{self.alias!r}] is "
                f"{type(backend).__module__}.{type(backend).__qualname__}, not a Threadmill backend"
            )
        if self.queue_name not in backend.queues:
            raise ServiceUnavailable(
                f"Task queue does not exist: {self.queue_name!r} is not among TASKS[{self.alias!r}]'s queues"
            )
        # The handler's backend keeps an async client bound to the loop that made it; each run has its
        # own loop, so each run builds its own backend and closes it.
        probe: Any = task_backends.create_connection(self.alias)
        try:
            telemetry = await asyncio.wait_for(probe.queue_stats(), timeout=self.timeout.total_seconds())
        except TimeoutError as error:
            raise ServiceUnavailable(
                f"Threadmill queue telemetry timed out after {self.timeout.total_seconds():g} s"
            ) from error
        except (RedisError, OSError) as error:
            raise ServiceUnavailable(
                f"Unable to connect to threadmill task broker ({describe_error(error)[:200]})"
            ) from error
        finally:
            if isinstance(probe, RedisTaskBackend):
                try:
                    await probe.async_client.aclose()
                except Exception:  # noqa: BLE001 - closing a broken client must not hide the verdict
                    pass
        counts = telemetry.queues[self.queue_name].counts
        pending, failed = counts.ready + counts.deferred, counts.failed
        figures = {"pending": pending, "failed": failed}
        if self.max_pending_tasks is not None and pending > self.max_pending_tasks:
            raise ServiceUnavailable(
                f"{pending} pending tasks exceed max_pending_tasks of {self.max_pending_tasks} "
                f"(queue {self.queue_name!r}; are the workers running?)",
                details=figures,
            )
        if self.max_failed_tasks is not None and failed > self.max_failed_tasks:
            raise ServiceWarning(
                f"{failed} failed tasks exceed max_failed_tasks of {self.max_failed_tasks} (queue {self.queue_name!r})",
                details=figures,
            )
        return figures
