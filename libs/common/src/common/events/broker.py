"""The broker: a kombu connection, the topology, and a publish that is confirmed or raises.

Topology, declared idempotently by whoever starts (declaring what exists is a no-op):

- ``<exchange>``: the durable topic exchange every service publishes to; the routing key is the
  event type (``users.user.deleted.v1``);
- ``<exchange>.<consumer>``: one durable queue per consuming service, bound to the types it
  handles; retries are sent straight to it through the default exchange, so they reach that
  consumer only;
- ``<exchange>.<consumer>.dlx`` and ``<exchange>.<consumer>.dead``: the consumer's dead-letter
  exchange (direct) and queue, fed explicitly by the consumer (not by RabbitMQ queue arguments),
  so dead-lettering works alike on both transports.

``Publisher.publish`` sends a persistent message and returns only once the broker took
responsibility for it: on RabbitMQ, a publisher confirm (``confirm_publish``) and ``mandatory``
(a message no queue is bound for comes back, and ``Unroutable`` is raised instead of losing it
silently); on the filesystem transport, the message file is written, and routability is checked
against the bindings before writing (the transport would drop the message otherwise).
"""

import os
from dataclasses import dataclass
from typing import Any

import orjson
from kombu import Connection, Exchange, Producer, Queue

from common.events.settings import EventSettings
from common.events.types import CONTENT_TYPE


class Unroutable(Exception):
    """No queue is bound for this message: publishing it would lose it."""


def connect(config: EventSettings) -> Connection:
    """A (lazy) connection to the configured broker: ``BROKER_URL``, or the filesystem."""
    if config.broker_url:
        return Connection(
            config.broker_url,
            connect_timeout=config.confirm_timeout,
            transport_options={"confirm_publish": True},
        )
    data, control = (os.path.join(config.folder, name) for name in ("data", "control"))
    for folder in (data, control):
        os.makedirs(folder, exist_ok=True)
    return Connection(
        "filesystem://",
        transport_options={
            # One folder for all: every process of the host sees every queue.
            "data_folder_in": data,
            "data_folder_out": data,
            "control_folder": control,
            "store_processed": False,
            "polling_interval": min(config.poll_seconds, 0.1),
        },
    )


def broker_errors(connection: Connection) -> tuple[type[BaseException], ...]:
    """The exceptions meaning "the broker is away or the channel broke": back off, reconnect."""
    return (*connection.connection_errors, *connection.channel_errors, OSError, Unroutable)


@dataclass(frozen=True, slots=True)
class Topology:
    """The names of the exchanges and queues of one consumer (or of a publisher alone)."""

    exchange: str
    consumer: str | None = None

    @property
    def queue(self) -> str:
        """The consumer's queue."""
        return f"{self.exchange}.{self.consumer}"

    @property
    def dead_exchange(self) -> str:
        """The consumer's dead-letter exchange."""
        return f"{self.queue}.dlx"

    @property
    def dead_queue(self) -> str:
        """The consumer's dead-letter queue."""
        return f"{self.queue}.dead"

    def declare(self, channel: Any, event_types: list[str] | None = None) -> None:
        """Declare the exchange, and for a consumer its queue, bindings and dead-letter parts."""
        events = Exchange(self.exchange, type="topic", durable=True)
        events.maybe_bind(channel).declare()
        if self.consumer is None:
            return
        queue = Queue(self.queue, durable=True, channel=channel)
        queue.declare()
        for name in event_types or ():
            queue.bind_to(exchange=events, routing_key=name)
        dead = Exchange(self.dead_exchange, type="direct", durable=True)
        Queue(
            self.dead_queue, dead, routing_key=self.queue, durable=True, channel=channel
        ).declare()


class Publisher:
    """Publishes on one channel, each message confirmed or raising (see the module docstring)."""

    def __init__(self, channel: Any, timeout: float | None = None) -> None:
        self.channel = channel
        self.timeout = timeout
        self._returned: list[Any] = []
        # One producer per channel: each registers its return handler on the channel. kombu's
        # virtual channels have no returns (nor an ``events`` table): routability is checked
        # before publishing instead.
        virtual = hasattr(channel, "_lookup")
        self._producer = Producer(channel, on_return=None if virtual else self._on_return)

    def _on_return(self, exc: Any, *details: Any) -> None:
        self._returned.append(exc)

    def publish(
        self,
        body: bytes,
        *,
        exchange: str,
        routing_key: str,
        message_id: str,
        headers: dict[str, Any] | None = None,
    ) -> None:
        """Publish one persistent message; raise if the broker did not take it."""
        channel = self.channel
        if exchange and hasattr(channel, "_lookup") and not channel._lookup(exchange, routing_key):
            # kombu's virtual transports (filesystem) drop what no binding matches: check first.
            raise Unroutable(f"no queue bound to {exchange!r} for {routing_key!r}")
        self._returned.clear()
        self._producer.publish(
            body,
            exchange=exchange,
            routing_key=routing_key,
            content_type=CONTENT_TYPE,
            content_encoding="utf-8",
            delivery_mode=2,
            mandatory=True,
            headers=headers or {},
            message_id=message_id,
            confirm_timeout=self.timeout,
        )
        if self._returned:
            # RabbitMQ sends basic.return before the confirm: it is here once publish returned.
            raise Unroutable(f"{exchange!r} has no queue for {routing_key!r}: {self._returned[0]}")


def encode(envelope: dict[str, Any]) -> bytes:
    """The message body of an envelope (JSON, UTF-8)."""
    return orjson.dumps(envelope)
