"""Helpers the events tests share (not fixtures): publish, relay, consume, read a queue."""

import time
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from flask import Flask
from kombu import Queue

from common.db import get_db
from common.events import Consumer, EventSettings, Relay, Topology, publish
from common.events.broker import connect
from tinyapp.events import WIDGET_NAMED
from tinyapp.models import OutboxEvent


def publish_names(app: Flask, names: Iterable[str], **headers: str) -> None:
    """Publish one event per name in a request's transaction, committed."""
    with app.test_request_context(headers=headers):
        session = get_db().session()
        for name in names:
            publish(WIDGET_NAMED, subject=name, data={"name": name})
        session.commit()


def unpublished(app: Flask) -> int:
    """Outbox rows not yet published."""
    with app.app_context():
        query = sa.select(sa.func.count()).where(OutboxEvent.published_at.is_(None))
        return int(get_db().session.scalar(query) or 0)


def relay_all(app: Flask, config: EventSettings) -> None:
    """Publish the whole outbox, one batch after the other."""
    relay = Relay(app, config=config)
    try:
        while relay.publish_batch():
            pass
    finally:
        relay._disconnect()


def declare(config: EventSettings, event_types: list[str]) -> None:
    """Declare the consumer's topology, so that published events have a queue."""
    with connect(config) as connection:
        Topology(config.exchange, config.consumer_name).declare(connection.channel(), event_types)


def queue_depth(config: EventSettings, queue: str) -> int:
    """Messages ready in ``queue`` (none taken by a consumer)."""
    with connect(config) as connection:
        q = Queue(queue, durable=True, channel=connection.channel())
        return int(q.queue_declare(passive=True).message_count)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, step: float = 0.02) -> None:
    """Wait until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(step)


def consume_until(consumer: Consumer, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``consumer`` until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        consumer.poll(0.05)


def read_queue(
    config: EventSettings, queue: str, expected: int, timeout: float = 10.0
) -> list[Any]:
    """Take (and acknowledge) messages from ``queue`` until ``expected`` arrived, then any more
    that arrive within a short grace period; return their message ids."""
    ids: list[Any] = []
    with connect(config) as connection:
        q = Queue(queue, durable=True, channel=connection.channel(), no_declare=True)
        deadline = time.monotonic() + timeout
        grace: float | None = None
        while True:
            message = q.get(no_ack=True)
            if message is not None:
                ids.append(message.properties.get("message_id"))
                continue
            now = time.monotonic()
            if len(ids) >= expected:
                grace = grace or now + 0.2
                if now >= grace:
                    return ids
            assert now < deadline, f"{len(ids)} of {expected} messages arrived"
            time.sleep(0.01)
