"""Kafka: ask the bootstrap servers for the cluster's metadata (brokers and topics) with confluent-kafka.

The verdict is kept apart from the I/O (``judge``), so it is tested without a broker: this project's
test machines run none. The client's own logging is silenced; the check's message says what failed,
and the poller logs every change of state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
from typing import Any, ClassVar

try:
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.aio import AIOConsumer
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        'health_check.contrib.kafka needs confluent-kafka: pip install "django-health-snapshot[kafka]"'
    ) from error

from health_check._urls import describe_error
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

__all__ = ["Kafka"]

logger = logging.getLogger(__name__)

_TIMEOUT_CODES = {KafkaError._TIMED_OUT, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN}


@dataclasses.dataclass
class Kafka(HealthCheck):
    """List the topics of a Kafka cluster through its bootstrap servers.

    Fails when no broker answers within ``timeout``, or when the cluster answers with no broker or no
    topic (a working cluster has at least its internal topics once a consumer group has run).

    Args:
        bootstrap_servers: ``["host:9092", ...]``, as in the client's ``bootstrap.servers``; a
            comma-separated string is accepted too. An entry with ``user:password@`` is refused when
            the check is built: the servers are shown in every message.
        timeout: Bound of the metadata request and of the client's sockets.
    """

    default_poll_interval: ClassVar[datetime.timedelta] = datetime.timedelta(seconds=15)

    bootstrap_servers: list[str]
    timeout: datetime.timedelta = dataclasses.field(default=datetime.timedelta(seconds=10), repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.bootstrap_servers, str):  # "a:9092,b:9092", as the client's own setting reads
            self.bootstrap_servers = [part.strip() for part in self.bootstrap_servers.split(",") if part.strip()]
        if not self.bootstrap_servers:
            raise ValueError("Kafka(bootstrap_servers=...) needs at least one host:port")
        # Every message names the servers: a "user:password@" written into one would be shown everywhere.
        if any("@" in str(server) for server in self.bootstrap_servers):
            raise ValueError(
                "Kafka(bootstrap_servers=...) takes host:port entries; one holds an '@' "
                "(a user name or password does not belong in bootstrap.servers)"
            )

    @property
    def timeout_budget(self) -> datetime.timedelta:
        # One second past the client's own bound, so its message reports first.
        return self.timeout + datetime.timedelta(seconds=1)

    def _where(self) -> str:
        return f"Kafka at {','.join(self.bootstrap_servers)}"

    def consumer_config(self) -> dict[str, Any]:
        """The client configuration: a throw-away consumer that joins no group until it subscribes."""
        milliseconds = int(self.timeout.total_seconds() * 1000)
        return {
            "bootstrap.servers": ",".join(self.bootstrap_servers),
            "client.id": "health-check",
            "group.id": "health-check",
            "session.timeout.ms": max(milliseconds, 1000),
            "socket.timeout.ms": max(milliseconds, 10),
            "log_level": 0,  # librdkafka would print every failed connect to stderr
        }

    def make_consumer(self) -> Any:
        """Build the client; tests subclass the check and return a fake with ``list_topics``/``close``."""
        return AIOConsumer(self.consumer_config(), max_workers=1)

    def judge(self, metadata: Any) -> dict[str, int]:
        """The verdict on the cluster metadata: raise when it shows no working cluster, else return figures."""
        if metadata is None or not getattr(metadata, "brokers", None):
            raise ServiceUnavailable(f"{self._where()}: Failed to retrieve Kafka topics (no broker in the metadata).")
        if not getattr(metadata, "topics", None):
            raise ServiceUnavailable(f"{self._where()}: Failed to retrieve Kafka topics (the cluster lists none).")
        return {"brokers": len(metadata.brokers), "topics": len(metadata.topics)}

    def explain(self, error: KafkaException) -> str:
        """One line for a client error: a timeout is the usual shape of "no broker reachable"."""
        kafka_error = error.args[0] if error.args else None
        code = kafka_error.code() if isinstance(kafka_error, KafkaError) else None
        if code in _TIMEOUT_CODES:
            return f"Unable to connect to {self._where()}: no broker answered within {self.timeout.total_seconds():g} s"
        text = kafka_error.str() if isinstance(kafka_error, KafkaError) else str(error)
        return f"Unable to connect to {self._where()}: {text[:200]}"

    async def run(self) -> dict[str, int]:
        consumer = self.make_consumer()
        try:
            metadata = await consumer.list_topics(timeout=self.timeout.total_seconds())
        except KafkaException as error:
            raise ServiceUnavailable(self.explain(error)) from error
        finally:
            try:
                await asyncio.wait_for(consumer.close(), 1)
            except Exception as error:
                logger.debug("Closing the Kafka consumer failed: %s", describe_error(error))
        return self.judge(metadata)
