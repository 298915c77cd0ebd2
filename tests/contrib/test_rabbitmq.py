"""health_check.contrib.rabbitmq.RabbitMQ against the local RabbitMQ (guest/guest) and fake servers."""

from __future__ import annotations

import datetime
import logging
import time

import pytest

from health_check.contrib.rabbitmq import RabbitMQ
from health_check.specs import CheckSpec
from tests.conftest import require_service


def test_rabbitmq__ok(run_check):
    """The cookbook's URL against the local broker gives OK."""
    host, port = require_service("rabbitmq")
    snapshot = run_check(RabbitMQ(amqp_url=f"amqp://guest:guest@{host}:{port}//"))
    assert (snapshot.status, snapshot.message) == ("ok", "OK")


def test_rabbitmq__name_and_labels_hold_no_credentials():
    """repr, labels and the store key show scheme, host and port, never the user or password."""
    check = RabbitMQ(amqp_url="amqp://admin:hunter2@broker.internal:5673/prod")
    spec = CheckSpec.of(check)
    assert repr(check) == spec.name == "RabbitMQ(scheme='amqp', host='broker.internal', port=5673)"
    assert check.labels == {"check": "RabbitMQ", "scheme": "amqp", "host": "broker.internal", "port": "5673"}
    assert "hunter2" not in spec.key and "admin" not in spec.key


def test_rabbitmq__wrong_password(run_check, caplog):
    """Wrong credentials: one clear line; the password is in no message and no log record at INFO+."""
    host, port = require_service("rabbitmq")
    caplog.set_level(logging.INFO)
    snapshot = run_check(RabbitMQ(amqp_url=f"amqp://guest:Wr0ngPassw0rd@{host}:{port}//"))
    assert snapshot.message == (
        f"Unavailable: Unable to connect to RabbitMQ: Authentication error. (RabbitMQ at {host}:{port} (vhost '/'): "
        "the broker refused the user name or password)"
    )
    assert caplog.records, "the failure is logged"
    assert all("Wr0ngPassw0rd" not in record.getMessage() for record in caplog.records)


def test_rabbitmq__wrong_vhost(run_check):
    """A vhost that does not exist: one clear line naming it and what to do."""
    host, port = require_service("rabbitmq")
    snapshot = run_check(RabbitMQ(amqp_url=f"amqp://guest:guest@{host}:{port}/no-such-vhost"))
    assert snapshot.message == (
        f"Unavailable: RabbitMQ at {host}:{port} (vhost 'no-such-vhost'): vhost not found or not allowed for this "
        "user (create it, or grant the user access with rabbitmqctl set_permissions)"
    )


def test_rabbitmq__down(run_check, closed_port):
    """Nothing listening: connection refused, at once."""
    snapshot = run_check(RabbitMQ(amqp_url=f"amqp://guest:secret@127.0.0.1:{closed_port}//"))
    assert snapshot.message == (
        f"Unavailable: Unable to connect to RabbitMQ: Connection was refused. (RabbitMQ at 127.0.0.1:{closed_port} "
        "(vhost '/'); is the broker running?)"
    )
    assert snapshot.duration_seconds < 3


def test_rabbitmq__silent_server_times_out_within_budget(run_check, silent_listener):
    """A server that accepts and never speaks AMQP: the check's own timeout message, within its budget."""
    check = RabbitMQ(
        amqp_url=f"amqp://guest:secret@127.0.0.1:{silent_listener.port}//", timeout=datetime.timedelta(seconds=1)
    )
    started = time.monotonic()
    snapshot = run_check(check)
    assert snapshot.message == (
        f"Unavailable: IOError: unable to connect to RabbitMQ at 127.0.0.1:{silent_listener.port} (vhost '/'): "
        "timed out after 1 s (no AMQP handshake)"
    )
    assert time.monotonic() - started < 1 + 1 + 1  # timeout, the runner's grace second, slack


def test_rabbitmq__credentials_are_percent_decoded_and_default_to_guest(run_check):
    """A percent-encoded user and password reach the broker decoded; no userinfo is kombu's guest/guest."""
    host, port = require_service("rabbitmq")
    assert run_check(RabbitMQ(amqp_url=f"amqp://%67uest:gues%74@{host}:{port}/%2F")).message == "OK"
    assert run_check(RabbitMQ(amqp_url=f"amqp://{host}:{port}//")).message == "OK"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("amqp://guest:Zq/Wv@127.0.0.1:5672//", "it has an '@' after the host"),
        ("amqp://guest:Zq#Wv@127.0.0.1:5672//", "it has an '@' after the host"),
        ("amqp://guest:ZqWv@127.0.0.1:56x2//", "its port is not a number"),
    ],
)
def test_rabbitmq__unparsable_url_is_a_start_up_error(url, reason):
    """A password with an unescaped "/" is refused when the check is built (system check E002), naming the check, not the password."""
    from health_check.specs import resolve_entries

    specs, errors = resolve_entries([("health_check.contrib.rabbitmq.RabbitMQ", {"amqp_url": url})])
    assert specs == [] and len(errors) == 1
    assert errors[0].entry == "('health_check.contrib.rabbitmq.RabbitMQ', {'amqp_url': …})"
    assert errors[0].message.startswith(
        f"RabbitMQ cannot be built: RabbitMQ(amqp_url=...) is not a valid URL: {reason}"
    )
    assert "Zq" not in errors[0].message and "Wv" not in errors[0].message
