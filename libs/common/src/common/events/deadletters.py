"""Dead letters: list what a consumer gave up on, and replay it once the cause is fixed.

A dead letter is the original message plus headers saying why (``x-error``), after how many
attempts (``x-attempts``) and when (``x-dead-at``). Listing reads the dead-letter queue without
consuming it (every message is taken unacknowledged, then the channel closes and the broker puts
them all back). Replaying sends the chosen ones back to the consumer's own queue with a fresh
attempt count, each confirmed before its dead copy is acknowledged; if the event was in fact
handled meanwhile, the inbox drops the replayed copy.
"""

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Flask
from kombu import Queue

from common.events.broker import Publisher, Topology, connect
from common.events.settings import EventSettings, settings

_DROPPED_HEADERS = ("x-attempts", "x-error", "x-dead-at", "x-retry-at", "x-last-error")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message of the dead-letter queue."""

    id: str
    type: str | None
    attempts: int
    error: str | None
    dead_at: datetime | None


def _describe(message: Any) -> DeadLetter:
    headers = message.headers or {}
    try:
        event_type = orjson.loads(message.body).get("type")
    except (ValueError, AttributeError):
        event_type = None
    dead_at = headers.get("x-dead-at")
    return DeadLetter(
        id=message.properties.get("message_id") or "",
        type=event_type,
        attempts=int(headers.get("x-attempts", 0)),
        error=headers.get("x-error"),
        dead_at=datetime.fromtimestamp(float(dead_at), UTC) if dead_at else None,
    )


@contextmanager
def _dead_queue(config: EventSettings, event_types: list[str]) -> Iterator[tuple[Any, Any]]:
    """The consumer's dead-letter queue (declared if need be) and a publisher, then close."""
    topology = Topology(config.exchange, config.consumer_name)
    with connect(config) as connection:
        connection.ensure_connection(max_retries=0, timeout=config.confirm_timeout)
        channel = connection.channel()
        topology.declare(channel, event_types)
        queue = Queue(topology.dead_queue, durable=True, channel=channel, no_declare=True)
        publisher = Publisher(connection.channel(), timeout=config.confirm_timeout)
        try:
            yield queue, publisher
        finally:
            channel.close()  # returns every message taken and not acknowledged


def _each(queue: Any) -> Iterator[Any]:
    while (message := queue.get(no_ack=False)) is not None:
        yield message


def list_dead_letters(app: Flask, *, config: EventSettings | None = None) -> list[DeadLetter]:
    """The consumer's dead letters, oldest first; the queue is left as it was."""
    with _dead_queue(config or settings(app), []) as (queue, _):
        return [_describe(message) for message in _each(queue)]


def replay_dead_letters(
    app: Flask, ids: Collection[str] | None = None, *, config: EventSettings | None = None
) -> int:
    """Send dead letters (all, or those whose event id is in ``ids``) back to the consumer."""
    config = config or settings(app)
    topology = Topology(config.exchange, config.consumer_name)
    replayed = 0
    with _dead_queue(config, []) as (queue, publisher):
        for message in _each(queue):
            letter = _describe(message)
            if ids is not None and letter.id not in ids:
                continue  # left unacknowledged: back in the queue when the channel closes
            headers = {
                k: v for k, v in (message.headers or {}).items() if k not in _DROPPED_HEADERS
            }
            publisher.publish(
                message.body,
                exchange="",
                routing_key=topology.queue,
                message_id=letter.id,
                headers=headers,
            )
            message.ack()
            replayed += 1
    return replayed
