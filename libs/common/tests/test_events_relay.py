"""The relay against a real broker: at least once, never lost, shared safely by replicas.

RabbitMQ tests need ``TEST_BROKER_URL``; the replicas test needs PostgreSQL (SKIP LOCKED).
"""

import threading
import time
from collections import Counter
from dataclasses import replace

import pytest
import sqlalchemy as sa

from common.db import get_db
from common.events import Consumer, Relay, Topology
from events_support import (
    consume_until,
    declare,
    publish_names,
    queue_depth,
    read_queue,
    relay_all,
    unpublished,
    wait_for,
)
from tinyapp.events import WIDGET_NAMED, make_handlers
from tinyapp.models import OutboxEvent

# Nothing listens there: the broker is "down".
CLOSED_PORT_URL = "amqp://guest:guest@127.0.0.1:1//"


def _start(relay):
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    return thread


def _stop(relay, thread):
    relay.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_relay_publishes_each_committed_event_to_the_bound_queues(app, event_settings, transport):
    config = event_settings(transport)
    declare(config, [WIDGET_NAMED.name])
    publish_names(app, ["a", "b", "c"])
    assert unpublished(app) == 3

    relay_all(app, config)

    assert unpublished(app) == 0
    ids = read_queue(config, Topology(config.exchange, "tiny").queue, expected=3)
    assert len(ids) == len(set(ids)) == 3


def test_an_unroutable_event_is_kept_and_retried_not_dropped(app, event_settings, transport):
    config = event_settings(transport)  # no consumer queue declared: nothing is bound
    publish_names(app, ["lonely"])
    Relay(app, config=config).publish_batch()
    with app.app_context():
        row = get_db().session.scalars(sa.select(OutboxEvent)).one()
    assert row.published_at is None and row.attempts == 1
    assert "no queue" in row.last_error and row.available_at > row.created_at


def test_broker_down_requests_succeed_backlog_grows_then_all_delivered(app, event_settings):
    config = event_settings("amqp")
    declare(config, [WIDGET_NAMED.name])
    down = Relay(app, config=replace(config, broker_url=CLOSED_PORT_URL, confirm_timeout=0.2))
    thread = _start(down)
    for batch in range(3):
        publish_names(app, [f"down-{batch}-{i}" for i in range(10)])  # the requests commit
        assert unpublished(app) == 10 * (batch + 1)  # the backlog grows
        time.sleep(0.1)
    _stop(down, thread)
    assert unpublished(app) == 30

    up = Relay(app, config=config)
    thread = _start(up)
    wait_for(lambda: unpublished(app) == 0)
    _stop(up, thread)
    ids = read_queue(config, Topology(config.exchange, "tiny").queue, expected=30)
    assert len(set(ids)) == len(ids) == 30


class Killed(Exception):
    """The relay process "dies" between the broker's confirm and the mark."""


def test_relay_killed_between_publish_and_mark_sends_twice_consumer_handles_once(
    app, event_settings, transport, count_rows
):
    config = event_settings(transport)
    calls = []
    declare(config, [WIDGET_NAMED.name])
    publish_names(app, ["once"])

    def die(event_id):
        raise Killed(event_id)

    dying = Relay(app, config=config, on_published=die)
    with pytest.raises(Killed):
        dying.publish_batch()
    dying._disconnect()
    assert unpublished(app) == 1  # confirmed by the broker, never marked
    relay_all(app, config)  # a new relay sends it again
    assert unpublished(app) == 0
    queue = Topology(config.exchange, "tiny").queue
    assert queue_depth(config, queue) == 2  # the event arrives twice

    consumer = Consumer(app, make_handlers(calls), config=config)
    consume_until(consumer, lambda: len(calls) >= 1)
    consumer.poll(0.3)  # the second copy arrives and is skipped
    consumer.close()
    assert len(calls) == 1
    assert count_rows("widgets", name="once") == 1
    assert count_rows("inbox_messages") == 1
    assert read_queue(config, consumer.topology.queue, expected=0) == []  # both acknowledged


def test_two_relays_over_a_thousand_events_publish_each_exactly_once(
    app, event_settings, postgres_only
):
    config = event_settings("amqp", relay_batch=50)
    declare(config, [WIDGET_NAMED.name])
    publish_names(app, [f"e{i}" for i in range(1000)])
    relays = [Relay(app, config=config) for _ in range(2)]
    published = Counter()
    for index, relay in enumerate(relays):
        relay.on_published = lambda event_id, index=index: published.update([index])
    threads = [_start(relay) for relay in relays]
    wait_for(lambda: unpublished(app) == 0, timeout=60)
    for relay, thread in zip(relays, threads, strict=True):
        _stop(relay, thread)

    ids = read_queue(config, Topology(config.exchange, "tiny").queue, expected=1000)
    assert len(ids) == 1000 and len(set(ids)) == 1000
    assert sum(published.values()) == 1000
    assert all(published[i] > 0 for i in range(2)), published  # both took a share


def test_the_relay_is_woken_by_the_commit_not_by_its_poll(app, event_settings, postgres_only):
    config = event_settings("amqp", poll_seconds=10.0)
    declare(config, [WIDGET_NAMED.name])
    relay = Relay(app, config=config)
    thread = _start(relay)
    try:
        wait_for(lambda: relay.wakeup.listening)
        started = time.monotonic()
        publish_names(app, ["wake"])
        wait_for(lambda: unpublished(app) == 0, timeout=5)
        assert time.monotonic() - started < 2.0  # far below the 10 s poll
    finally:
        _stop_later(relay, thread)


def _stop_later(relay, thread):
    """Stop a relay waiting in LISTEN (for up to its poll): a notification ends the wait."""
    relay.stop()
    with relay.app.app_context(), get_db().engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_notify('outbox_events', '')"))
    thread.join(timeout=10)
    assert not thread.is_alive()
