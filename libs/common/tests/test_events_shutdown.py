"""Stopping the events processes: ``flask events consume`` and ``relay`` as real processes.

On SIGTERM a consumer finishes the message it is handling (commit, then acknowledgement), takes
no other, and exits 0; killed outright it has acknowledged nothing it did not commit. A relay
stops between batches. The consumer's handler (shutdown_support) waits until the test releases
it, so the signal surely arrives mid-message; the relay is held inside its claim by a table lock.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from common.db import get_db
from common.events import Consumer, Event, EventSettings, Topology
from events_support import (
    declare,
    publish_names,
    queue_depth,
    read_queue,
    relay_all,
    unpublished,
    wait_for,
)
from tinyapp.events import WIDGET_NAMED, make_handlers

TESTS = Path(__file__).resolve().parent


@pytest.fixture()
def events_process(
    database_url: str, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """``events_process(config, "consume", ...)``: ``flask events ...`` of the tiny service
    whose handler waits for ``tmp_path/gate`` (shutdown_support), in a process of its own."""
    started: list[subprocess.Popen[str]] = []
    gate = tmp_path / "gate"
    gate.mkdir()

    def start(config: EventSettings, *args: str, **settings: Any) -> subprocess.Popen[str]:
        overrides = {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "BROKER_URL": config.broker_url,
            "EVENTS_FOLDER": config.folder,
            "EVENTS_EXCHANGE": config.exchange,
            "EVENTS_CONSUMER_NAME": config.consumer_name,
            "EVENTS_POLL_SECONDS": 0.2,
            **settings,
        }
        factory = f"shutdown_support:create_consumer_app({overrides!r}, {str(gate)!r})"
        process = subprocess.Popen(  # noqa: S603 (our interpreter, our arguments)
            [sys.executable, "-m", "flask", "--app", factory, "events", *args],
            env={**os.environ, "PYTHONPATH": str(TESTS)},
            cwd=TESTS.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def wait_started(process: subprocess.Popen[str], marker: Path) -> None:
    """Wait until the handler wrote ``marker``; fail with the process' output otherwise."""
    wait_any_started(process, marker.parent, [marker.name.removeprefix("started-")])


def wait_any_started(process: subprocess.Popen[str], gate: Path, names: list[str]) -> str:
    """Wait until the handler started one of ``names``; return it."""
    deadline = time.monotonic() + 60  # a busy machine takes seconds to import the app
    while not (started := [n for n in names if (gate / f"started-{n}").exists()]):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"none of {names} started:\n{process.communicate()[0]}")
        time.sleep(0.02)
    return started[0]


def outbox_ids(app: Any) -> list[str]:
    """The outbox's event ids, oldest first: the messages' ids."""
    with app.app_context():
        session = get_db().session
        ids = session.scalars(sa.text("SELECT id FROM outbox_events ORDER BY created_at")).all()
        session.rollback()
    # The raw column: a uuid on PostgreSQL, 32 hex digits on SQLite; the message ids are str(UUID).
    return [str(uuid.UUID(str(value))) for value in ids]


def test_a_stopped_consumer_finishes_its_message_and_takes_no_other(
    app, event_settings, transport, events_process, count_rows, tmp_path
):
    config = event_settings(transport)
    declare(config, [WIDGET_NAMED.name])
    publish_names(app, ["first", "second"])
    relay_all(app, config)
    first, second = outbox_ids(app)
    gate = tmp_path / "gate"

    consumer = events_process(config, "consume")
    # Whichever comes first: nothing orders events (the filesystem transport orders files by
    # the millisecond, then by a random id).
    taken = wait_any_started(consumer, gate, ["first", "second"])
    other = "second" if taken == "first" else "first"
    consumer.send_signal(signal.SIGTERM)  # mid-message: the handler waits for its release
    time.sleep(0.3)
    assert consumer.poll() is None
    (gate / f"release-{taken}").touch()
    (gate / f"release-{other}").touch()  # were it taken, it would not hang the test
    output, _ = consumer.communicate(timeout=15)

    assert consumer.returncode == 0, output
    assert count_rows("widgets", name=taken) == 1  # its work committed ...
    assert count_rows("inbox_messages") == 1  # ... with its inbox row
    assert not (gate / f"started-{other}").exists()  # the next message was not taken ...
    assert count_rows("widgets", name=other) == 0
    # ... but given back, and the one handled acknowledged: the queue holds the other alone.
    left = read_queue(config, Topology(config.exchange, "tiny").queue, expected=1)
    assert left == [second if taken == "first" else first]


def test_after_stop_the_messages_already_received_are_not_handled(
    app, event_settings, transport, count_rows
):
    # One drain of the connection may hand the consumer several messages (up to the prefetch);
    # a stop during the first leaves the others unacknowledged, for the queue.
    config = event_settings(transport)
    calls: list[Event] = []
    consumer = Consumer(app, make_handlers(calls), config=config)
    handler = consumer.handlers.get(WIDGET_NAMED.name)
    assert handler is not None

    def handle_then_stop(event: Event) -> None:
        handler(event)
        consumer.stop()  # as SIGTERM would, mid-message

    consumer.handlers._handlers[WIDGET_NAMED.name] = handle_then_stop
    connection = consumer.open()
    publish_names(app, ["first", "second", "third"])
    relay_all(app, config)
    wait_for(lambda: _drained(connection) or len(consumer._received) == 3)
    consumer.poll(1.0)
    consumer.close()

    # One handled (whichever came first: nothing orders events), the other two given back.
    (handled,) = calls
    assert count_rows("inbox_messages") == 1
    queue = Topology(config.exchange, "tiny").queue
    given_back = sorted(read_queue(config, queue, expected=2))
    assert given_back == sorted(i for i in outbox_ids(app) if i != str(handled.id))


def _drained(connection: Any) -> bool:
    """Let the connection deliver what arrived to the consumer's buffer; always False."""
    with contextlib.suppress(TimeoutError):
        connection.drain_events(timeout=0.05)
    return False


def test_a_killed_consumer_acknowledged_nothing_it_did_not_commit(
    app, event_settings, events_process, count_rows, tmp_path
):
    # RabbitMQ only: the filesystem transport loses what a killed consumer held (its README).
    config = event_settings("amqp")
    declare(config, [WIDGET_NAMED.name])
    publish_names(app, ["first"])
    relay_all(app, config)
    gate = tmp_path / "gate"
    queue = Topology(config.exchange, "tiny").queue

    consumer = events_process(config, "consume")
    wait_started(consumer, gate / "started-first")
    consumer.kill()  # mid-message, its transaction open
    consumer.communicate(timeout=15)

    assert count_rows("widgets") == 0  # nothing committed ...
    assert count_rows("inbox_messages") == 0
    wait_for(lambda: queue_depth(config, queue) == 1)  # ... nor acknowledged: it is back
    (gate / "started-first").unlink()
    (gate / "release-first").touch()
    again = events_process(config, "consume", "--once")
    output, _ = again.communicate(timeout=30)

    assert again.returncode == 0, output
    assert "1 handled" in output
    assert count_rows("widgets", name="first") == 1
    assert count_rows("inbox_messages") == 1
    assert queue_depth(config, queue) == 0


def test_a_stopped_relay_finishes_its_batch_and_claims_no_other(
    app, database_url, postgres_only, event_settings, transport, events_process
):
    batch = 5
    config = event_settings(transport)
    declare(config, [WIDGET_NAMED.name])
    publish_names(app, [f"w{i}" for i in range(3 * batch)])
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as locker, engine.connect() as observer:
            # The relay's first claim waits behind this lock: it is inside a batch.
            locker.execute(sa.text("LOCK TABLE outbox_events IN ACCESS EXCLUSIVE MODE"))
            relay = events_process(config, "relay", EVENTS_RELAY_BATCH=batch)

            def claim_waits() -> bool:
                waiting = observer.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND query LIKE '%FROM outbox_events%FOR UPDATE SKIP LOCKED%'"
                    )
                ).scalar_one()
                observer.rollback()
                return bool(waiting)

            wait_for(claim_waits, timeout=30)
            relay.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            assert relay.poll() is None
            locker.rollback()  # the claim proceeds
            output, _ = relay.communicate(timeout=15)
    finally:
        engine.dispose()

    assert relay.returncode == 0, output
    # That one batch published, marked and committed; no other claimed.
    assert unpublished(app) == 2 * batch
    delivered = read_queue(config, Topology(config.exchange, "tiny").queue, expected=batch)
    assert len(delivered) == batch
