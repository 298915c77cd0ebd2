"""health_check.contrib.kafka.Kafka: the real client against ports with no broker, the verdict on given metadata.

No Kafka broker runs on this project's machines, so a healthy cluster is represented by the client's
own ``ClusterMetadata`` objects handed to the check through a subclass.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import BrokerMetadata, ClusterMetadata, TopicMetadata

from health_check.contrib.kafka import Kafka
from health_check.exceptions import ServiceUnavailable

ONE_SECOND = datetime.timedelta(seconds=1)


def metadata(brokers: int, topics: list[str]) -> ClusterMetadata:
    cluster = ClusterMetadata()
    for broker_id in range(brokers):
        broker = BrokerMetadata()
        broker.id, broker.host, broker.port = broker_id, f"kafka-{broker_id}", 9092
        cluster.brokers[broker_id] = broker
    for name in topics:
        topic = TopicMetadata()
        topic.topic = name
        cluster.topics[name] = topic
    return cluster


class FakeConsumer:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.closed = False

    async def list_topics(self, timeout: float) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    async def close(self) -> None:
        self.closed = True


@dataclasses.dataclass
class ScriptedKafka(Kafka):
    """Kafka whose client returns a scripted answer instead of talking to a broker."""

    answer: Any = dataclasses.field(default=None, repr=False)
    consumers: list = dataclasses.field(default_factory=list, repr=False)

    def make_consumer(self) -> FakeConsumer:
        consumer = FakeConsumer(self.answer)
        self.consumers.append(consumer)
        return consumer


def test_kafka__no_broker_on_the_port(run_check, closed_port):
    """The real client against a closed port: one line naming the servers and the timeout."""
    snapshot = run_check(Kafka(bootstrap_servers=[f"127.0.0.1:{closed_port}"], timeout=ONE_SECOND))
    assert snapshot.message == (
        f"Unavailable: Unable to connect to Kafka at 127.0.0.1:{closed_port}: no broker answered within 1 s"
    )


def test_kafka__silent_server_within_budget(run_check, silent_listener):
    """A server that accepts and never answers: the client's own timeout, inside the run budget."""
    snapshot = run_check(Kafka(bootstrap_servers=[f"127.0.0.1:{silent_listener.port}"], timeout=ONE_SECOND))
    assert snapshot.message == (
        f"Unavailable: Unable to connect to Kafka at 127.0.0.1:{silent_listener.port}: no broker answered within 1 s"
    )
    assert snapshot.duration_seconds < 2 + 1


def test_kafka__healthy_cluster(run_check):
    """Brokers and topics in the metadata: OK, with the counts kept as details; the client is closed."""
    check = ScriptedKafka(bootstrap_servers=["kafka-0:9092"], answer=metadata(3, ["orders", "__consumer_offsets"]))
    snapshot = run_check(check)
    assert (snapshot.message, snapshot.details) == ("OK", {"brokers": 3, "topics": 2})
    assert check.consumers[0].closed


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (metadata(1, []), "the cluster lists none"),
        (metadata(0, ["orders"]), "no broker in the metadata"),
        (None, "no broker in the metadata"),
    ],
)
def test_kafka__judge_rejects_empty_metadata(answer, reason):
    """Metadata without brokers or topics is not a working cluster."""
    with pytest.raises(ServiceUnavailable) as caught:
        Kafka(bootstrap_servers=["kafka-0:9092"]).judge(answer)
    assert str(caught.value) == f"Unavailable: Kafka at kafka-0:9092: Failed to retrieve Kafka topics ({reason})."


def test_kafka__other_client_errors_are_named(run_check):
    """A client error other than a timeout is shown by its text; the client is still closed."""
    error = KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Not authorized to list topics"))
    check = ScriptedKafka(bootstrap_servers=["a:9092", "b:9092"], answer=error)
    snapshot = run_check(check)
    assert snapshot.message == "Unavailable: Unable to connect to Kafka at a:9092,b:9092: Not authorized to list topics"
    assert check.consumers[0].closed


def test_kafka__name_and_defaults():
    """Named by its servers like django-health-check; timeout 10 s (budget 11 s), polled every 15 s."""
    check = Kafka(bootstrap_servers=["kafka:9092"])
    assert repr(check) == "Kafka(bootstrap_servers=['kafka:9092'])"
    assert check.labels == {"check": "Kafka", "bootstrap_servers": "['kafka:9092']"}
    assert (check.timeout_budget, check.schedule_interval) == (
        datetime.timedelta(seconds=11),
        datetime.timedelta(seconds=15),
    )


def test_kafka__servers_as_a_comma_separated_string():
    """``bootstrap_servers="a:9092,b:9092"`` means two servers, not a list of letters; none is an error."""
    from health_check.contrib.kafka import Kafka

    assert Kafka("a:9092, b:9092").bootstrap_servers == ["a:9092", "b:9092"]
    with pytest.raises(ValueError, match=r"needs at least one host:port"):
        Kafka([])
