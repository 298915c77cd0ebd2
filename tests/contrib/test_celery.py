"""health_check.contrib.celery.Ping against real Celery workers on the local RabbitMQ and Redis."""

from __future__ import annotations

import datetime
import os
import pathlib
import sys
import uuid
from collections.abc import Callable, Iterator

import pytest

from health_check.contrib.celery import Ping
from health_check.specs import CheckSpec
from tests.conftest import require_service
from tests.contrib.celery_app import make_app
from tests.support import Process, wait_for

ROOT = pathlib.Path(__file__).resolve().parents[2]


def broker_url(kind: str) -> str:
    host, port = require_service(kind)
    return f"amqp://guest:guest@{host}:{port}//" if kind == "rabbitmq" else f"redis://{host}:{port}/14"


@pytest.fixture
def control() -> str:
    """A control exchange of this test's own, so workers of other tests never answer its ping."""
    return f"hs-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def start_worker(control) -> Iterator[Callable[..., Process]]:
    """Start ``celery worker`` processes on the test app; they are killed at the end."""
    workers: list[Process] = []

    def start(broker: str, queues: list[str] | None = None, consume: list[str] | None = None) -> Process:
        env = {
            **os.environ,
            "HS_CELERY_BROKER": broker,
            "HS_CELERY_CONTROL": control,
            "HS_CELERY_QUEUES": ",".join(queues or []),
            "PYTHONPATH": str(ROOT),
        }
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.contrib.celery_app",
            "worker",
            "--pool=solo",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "--loglevel=WARNING",
            "-n",
            f"{control}@%h",
        ]
        if consume:
            command += ["-Q", ",".join(consume)]
        process = Process(command, env=env, cwd=ROOT, name=f"celery worker {control}")
        workers.append(process)
        app = make_app(broker, control, queues)
        wait_for(
            lambda: not process.alive() or app.control.ping(timeout=0.5),
            timeout=60,
            interval=0.2,
            what="the celery worker answering a ping or exiting",
        )
        process.assert_running()
        return process

    yield start
    for process in workers:
        # Kill: even a cold shutdown takes seconds, and these workers hold no task worth finishing.
        # The broker sees the socket close at once and drops their consumers.
        process.kill()
        process.stop()  # closes its output file


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["rabbitmq", "redis"])
def test_ping__worker_up(run_check, start_worker, control, kind):
    """A worker consuming the default queue answers: OK."""
    broker = broker_url(kind)
    start_worker(broker)
    snapshot = run_check(Ping(app=make_app(broker, control)))
    assert (snapshot.status, snapshot.message) == ("ok", "OK")


@pytest.mark.parametrize("kind", ["rabbitmq", "redis"])
def test_ping__no_worker(run_check, control, kind):
    """No worker running: one line saying so and how to start one."""
    snapshot = run_check(Ping(app=make_app(broker_url(kind), control)))
    assert snapshot.message == (
        "Unavailable: Celery workers unavailable: no worker answered the ping within 1 s "
        "(start one: celery -A <project> worker)"
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["rabbitmq", "redis"])
def test_ping__queue_without_consumer(run_check, start_worker, control, kind):
    """A defined queue no worker consumes is named, with the command that fixes it."""
    broker = broker_url(kind)
    queues = [f"{control}-mail", f"{control}-reports"]
    start_worker(broker, queues=queues, consume=[queues[0]])
    snapshot = run_check(Ping(app=make_app(broker, control, queues)))
    assert snapshot.message == (
        f"Unavailable: No worker for Celery task queue {queues[1]} "
        f"(start one with: celery -A <project> worker -Q {queues[1]})"
    )


@pytest.mark.parametrize(
    ("broker", "shown"),
    [
        ("amqp://guest:Secr3t@127.0.0.1:{port}//", "amqp://127.0.0.1:{port}"),
        ("redis://:Secr3t@127.0.0.1:{port}/0", "redis://127.0.0.1:{port}"),
    ],
)
def test_ping__broker_down(run_check, control, closed_port, broker, shown):
    """Broker down: one line naming the broker without its password, at once."""
    snapshot = run_check(Ping(app=make_app(broker.format(port=closed_port), control)))
    assert snapshot.message == (
        f"Unavailable: IOError: unable to connect to the Celery broker {shown.format(port=closed_port)}: Connection was refused."
    )
    assert snapshot.duration_seconds < 3


def test_ping__wrong_broker_credentials(run_check, control):
    """The broker refusing the login is reported as such."""
    host, port = require_service("rabbitmq")
    snapshot = run_check(Ping(app=make_app(f"amqp://guest:Wr0ng@{host}:{port}//", control)))
    assert snapshot.message == (
        f"Unavailable: The Celery broker amqp://{host}:{port} refused the connection: ACCESS_REFUSED - Login was "
        "refused using authentication mechanism PLAIN. For details see the broker logfile."
    )


def test_ping__identity_has_no_memory_address():
    """Name, labels and store key come from the app's main name, the same in every process."""
    first, second = Ping(app=make_app("memory://", "x", main="proj")), Ping(app=make_app("memory://", "x", main="proj"))
    assert repr(first) == CheckSpec.of(first).name == "Ping(app='proj')"
    assert first.labels == {"check": "Ping", "app": "proj"}
    assert "0x" not in CheckSpec.of(first).key
    assert CheckSpec.of(first).key == CheckSpec.of(second).key


def test_ping__run_budget_covers_ping_and_inquiry():
    """The budget is twice the timeout plus the broker connect allowance."""
    check = Ping(app=make_app("memory://", "x"), timeout=datetime.timedelta(seconds=3))
    assert check.timeout_budget == datetime.timedelta(seconds=8)
    assert Ping.default_poll_interval == datetime.timedelta(seconds=30)


@pytest.mark.parametrize(
    "broker",
    ["amqp://guest:Zq/Wv@127.0.0.1:5672//", "redis://:Zq/Wv@127.0.0.1:6379/0", "amqp://h1:5672//;amqp://u:Zq/Wv@h2//"],
)
def test_ping__unparsable_broker_url_is_a_start_up_error(control, broker):
    """A broker password with an unescaped "/" is refused when the check is built (system check E002), without the password."""
    from health_check.specs import resolve_entries

    specs, errors = resolve_entries([("health_check.contrib.celery.Ping", {"app": make_app(broker, control)})])
    assert specs == [] and len(errors) == 1
    assert errors[0].message.startswith(
        "Ping cannot be built: Ping(app='hs_tests'): the broker URL is not valid: it has an '@' after the host"
    )
    assert "Zq" not in errors[0].message and "Wv" not in errors[0].message


@pytest.mark.slow
def test_ping__public_helpers_work_on_their_own(start_worker, control):
    """``active_workers`` and ``check_active_queues``, django-health-check's public steps, work called directly."""
    from health_check.exceptions import ServiceUnavailable

    broker = broker_url("rabbitmq")
    queues = [f"{control}-mail", f"{control}-reports"]
    start_worker(broker, queues=queues, consume=[queues[0]])
    check = Ping(app=make_app(broker, control, [queues[0]]))
    workers = list(check.active_workers(check.app.control.ping(timeout=1)))
    assert [worker.split("@")[0] for worker in workers] == [control]
    check.check_active_queues(*workers)  # the one defined queue is consumed: no error

    everything = Ping(app=make_app(broker, control, queues))
    with pytest.raises(ServiceUnavailable) as missing:
        everything.check_active_queues(*workers)
    assert f"No worker for Celery task queue {queues[1]}" in str(missing.value)

    with pytest.raises(ServiceUnavailable) as wrong:
        list(check.active_workers([{"w1@host": {"ok": "pong"}}, {"w2@host": {"error": "busy"}}]))
    assert str(wrong.value) == "Unavailable: Celery worker w2@host response was incorrect: {'error': 'busy'}"
