"""A Celery app whose broker, control exchange and queues come from the environment.

The tests start real workers on it (``celery -A tests.contrib.celery_app worker``) and build the same app
in-process with ``make_app``. A control exchange per test keeps one test's workers out of another's ping.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue


def make_app(broker: str, control: str, queues: list[str] | None = None, main: str = "hs_tests") -> Celery:
    app = Celery(main, broker=broker, set_as_current=False)
    app.conf.update(
        control_exchange=control,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_default_queue=f"{control}-default",
    )
    if queues:
        app.conf.task_queues = [Queue(name, durable=False, auto_delete=True) for name in queues]
    return app


app = make_app(
    os.environ.get("HS_CELERY_BROKER", "memory://"),
    os.environ.get("HS_CELERY_CONTROL", "hs-tests"),
    [name for name in os.environ.get("HS_CELERY_QUEUES", "").split(",") if name],
)
