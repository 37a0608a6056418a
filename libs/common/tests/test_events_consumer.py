"""The consumer: handled once (inbox), retried with backoff, dead-lettered, replayed.

Each test runs on RabbitMQ (``TEST_BROKER_URL``) and on the filesystem transport: retries and
dead letters are the application's, so both must behave alike.
"""

import uuid

from common.events import Consumer, list_dead_letters, replay_dead_letters
from common.events.broker import Publisher, connect, encode
from events_support import consume_until, publish_names, read_queue, relay_all
from tinyapp.events import WIDGET_NAMED, make_handlers


def _consumer(app, config, calls, poison=()):
    consumer = Consumer(app, make_handlers(calls, poison), config=config)
    consumer.open()  # declares the queue, so the relay's messages are routable
    return consumer


def test_a_duplicate_delivery_is_acknowledged_and_skipped(
    app, event_settings, transport, count_rows
):
    config = event_settings(transport)
    calls = []
    consumer = _consumer(app, config, calls)
    envelope = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/services/test",
        "type": WIDGET_NAMED.name,
        "data": {"name": "dup"},
    }
    with connect(config) as connection:
        publisher = Publisher(connection.channel())
        for _ in range(2):  # the same event, delivered twice
            publisher.publish(
                encode(envelope),
                exchange=config.exchange,
                routing_key=WIDGET_NAMED.name,
                message_id=envelope["id"],
            )
    consume_until(consumer, lambda: len(calls) == 1)
    consumer.poll(0.3)
    consumer.close()
    assert len(calls) == 1
    assert count_rows("inbox_messages", id=envelope["id"]) == 1
    assert count_rows("widgets", name="dup") == 1
    assert read_queue(config, consumer.topology.queue, expected=0) == []  # both acknowledged


def test_a_handler_error_leaves_neither_inbox_row_nor_side_effect(
    app, event_settings, transport, count_rows
):
    config = event_settings(
        transport, max_attempts=2, retry_base_seconds=0.4, retry_max_seconds=0.4
    )
    calls = []
    consumer = _consumer(app, config, calls, poison={"bad"})
    publish_names(app, ["bad"])
    relay_all(app, config)
    consume_until(consumer, lambda: len(calls) == 1)
    # The handler added its widget, then raised: both rolled back, no inbox row.
    assert count_rows("widgets") == 0
    assert count_rows("inbox_messages") == 0
    consume_until(consumer, lambda: len(calls) == 2)  # retried, failed again: dead-lettered
    consumer.close()
    assert count_rows("widgets") == 0 and count_rows("inbox_messages") == 0
    assert [letter.attempts for letter in list_dead_letters(app, config=config)] == [2]


def test_a_poison_message_is_dead_lettered_while_others_flow_and_replays_after_the_fix(
    app, event_settings, transport, count_rows
):
    config = event_settings(
        transport, max_attempts=3, retry_base_seconds=0.3, retry_max_seconds=0.3
    )
    calls, poison = [], {"poison"}
    consumer = _consumer(app, config, calls, poison)
    publish_names(app, ["poison", *(f"ok{i}" for i in range(5))], **{"X-Request-ID": "r-1"})
    relay_all(app, config)

    consume_until(consumer, lambda: count_rows("widgets") == 5)
    # The others did not wait for the poison's retries (at least 0.3 s of backoff).
    assert [e.data["name"] for e in calls].count("poison") < 3
    consume_until(consumer, lambda: [e.data["name"] for e in calls].count("poison") == 3)
    consumer.poll(0.2)
    attempts = [e.data["name"] for e in calls].count("poison")
    assert attempts == 3  # N attempts, then no more
    assert calls[0].requestid == "r-1"

    letters = list_dead_letters(app, config=config)
    assert [(letter.type, letter.attempts) for letter in letters] == [(WIDGET_NAMED.name, 3)]
    assert "cannot handle poison" in letters[0].error and letters[0].dead_at is not None
    assert len(list_dead_letters(app, config=config)) == 1  # listing consumed nothing

    poison.clear()  # the fix
    assert replay_dead_letters(app, [letters[0].id], config=config) == 1
    consume_until(consumer, lambda: count_rows("widgets", name="poison") == 1)
    consumer.close()
    assert list_dead_letters(app, config=config) == []
    assert count_rows("inbox_messages") == 6


def test_replay_leaves_the_letters_it_was_not_asked_for(app, event_settings, transport):
    config = event_settings(transport, max_attempts=1)
    calls = []
    consumer = _consumer(app, config, calls, poison={"p1", "p2"})
    publish_names(app, ["p1", "p2"])
    relay_all(app, config)
    consume_until(consumer, lambda: len(list_dead_letters(app, config=config)) == 2, timeout=5)
    consumer.close()
    first = list_dead_letters(app, config=config)[0]
    assert replay_dead_letters(app, ["not-an-id"], config=config) == 0
    assert replay_dead_letters(app, [first.id], config=config) == 1
    assert [letter.id for letter in list_dead_letters(app, config=config)] != [first.id]
    assert len(list_dead_letters(app, config=config)) == 1


def test_a_malformed_message_is_dead_lettered_at_once(app, event_settings, transport):
    config = event_settings(transport)
    calls = []
    consumer = _consumer(app, config, calls)
    with connect(config) as connection:
        Publisher(connection.channel()).publish(
            b'{"not": "an event"}',
            exchange=config.exchange,
            routing_key=WIDGET_NAMED.name,
            message_id="m-1",
        )
    consume_until(consumer, lambda: len(list_dead_letters(app, config=config)) == 1, timeout=5)
    consumer.close()
    [letter] = list_dead_letters(app, config=config)
    assert letter.id == "m-1" and letter.attempts == 0 and "malformed" in letter.error
    assert calls == []
