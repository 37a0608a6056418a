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

``Publisher.publish_many`` sends a batch and then waits for the confirms of all of it: on
RabbitMQ one round trip per batch instead of one per message (the relay's throughput was bound
by those round trips: 783 events/s one by one on a busy 2-core machine, see bench/README.md).
RabbitMQ numbers a channel's messages from 1 once confirms are on and acknowledges them by that
number (``multiple``: every number up to it); a message returned as unroutable is returned
before its acknowledgement.
"""

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import amqp
import orjson
from kombu import Connection, Exchange, Producer, Queue

from common.events.settings import EventSettings
from common.events.types import CONTENT_TYPE


class Unroutable(Exception):
    """No queue is bound for this message: publishing it would lose it."""


class Nacked(Exception):
    """The broker refused responsibility for a message (a negative confirm): send it again."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message of a batch for ``Publisher.publish_many``."""

    body: bytes
    routing_key: str
    message_id: str


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
    return (*connection.connection_errors, *connection.channel_errors, OSError, Unroutable, Nacked)


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
        self._batch: Sequence[Outgoing] = ()
        # One producer per channel: each registers its return handler on the channel. kombu's
        # virtual channels have no returns (nor an ``events`` table): routability is checked
        # before publishing instead.
        self._virtual = virtual = hasattr(channel, "_lookup")
        self._producer = Producer(channel, on_return=None if virtual else self._on_return)
        # publish_many's state: the channel's message count, and the batch awaiting confirms.
        self._sent = 0
        self._confirming = False
        self._pending: dict[int, int] = {}  # delivery tag -> index in the batch
        self._outcomes: list[Exception | None] = []
        if not virtual:
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)

    def _on_return(
        self, exc: Any, exchange: Any = None, key: Any = None, message: Any = None
    ) -> None:
        self._returned.append(exc)
        message_id = getattr(message, "properties", {}).get("message_id")
        for index in self._pending.values():
            if self._batch[index].message_id == message_id:
                self._outcomes[index] = Unroutable(f"no queue for {key!r}: {exc}")

    def _on_ack(self, tag: int, multiple: bool, nacked: bool = False) -> None:
        for confirmed in [t for t in self._pending if t == tag or (multiple and t < tag)]:
            index = self._pending.pop(confirmed)
            if nacked:
                self._outcomes[index] = Nacked(self._batch[index].message_id)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self._on_ack(tag, multiple, nacked=True)

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
        self._sent += 1

    def publish_many(self, batch: Sequence[Outgoing], *, exchange: str) -> list[Exception | None]:
        """Publish persistent messages, then wait for all their confirms at once.

        :return: per message, None when the broker took it, else why not (``Unroutable``,
            ``Nacked``): the caller keeps those for later.
        :raise: a broker error or a timeout (``OSError``) while waiting: nothing is known of the
            batch, which is sent again (the consumers' inbox drops the copies).
        """
        if self._virtual:  # each write is final: nothing to wait for
            outcomes: list[Exception | None] = []
            for message in batch:
                try:
                    self.publish(
                        message.body,
                        exchange=exchange,
                        routing_key=message.routing_key,
                        message_id=message.message_id,
                    )
                    outcomes.append(None)
                except Unroutable as exc:
                    outcomes.append(exc)
            return outcomes
        channel = self.channel
        if not self._confirming:  # as py-amqp's own confirmed publish does, once per channel
            channel.confirm_select()
            self._confirming = True
        self._batch, self._outcomes = batch, [None] * len(batch)
        try:
            for index, message in enumerate(batch):
                prepared = channel.prepare_message(
                    message.body,
                    content_type=CONTENT_TYPE,
                    content_encoding="utf-8",
                    headers={},
                    properties={"delivery_mode": 2, "message_id": message.message_id},
                )
                # py-amqp's plain basic_publish: the connection's confirm_publish option makes
                # channel.basic_publish wait for each confirm, the round trip avoided here.
                amqp.Channel.basic_publish(
                    channel,
                    prepared,
                    exchange=exchange,
                    routing_key=message.routing_key,
                    mandatory=True,
                )
                self._sent += 1
                self._pending[self._sent] = index
            deadline = time.monotonic() + (self.timeout or 30.0)
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._pending)} confirms still missing")
                channel.connection.drain_events(timeout=left)
            return self._outcomes
        finally:
            self._pending.clear()
            self._batch = ()


def encode(envelope: dict[str, Any]) -> bytes:
    """The message body of an envelope (JSON, UTF-8)."""
    return orjson.dumps(envelope)
