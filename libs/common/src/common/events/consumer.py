"""The consumer: each message handled once, in one transaction with its inbox row.

For each message of the service's queue (``<exchange>.<consumer>``):

1. insert the inbox row (the event id) and run the handler, in ONE database transaction; an
   inbox row already there (a duplicate delivery) means: acknowledge and skip;
2. commit, and only then acknowledge: a crash before the acknowledgement redelivers the message,
   and the committed inbox row makes that copy a duplicate;
3. a handler that raises leaves neither work nor inbox row. The message is republished to the
   queue with ``x-attempts`` + 1 and a due time (capped exponential backoff), then acknowledged;
   the copy waits in memory until due while the other messages keep flowing. After
   ``EVENTS_MAX_ATTEMPTS`` it goes to the dead-letter exchange instead (see
   ``common.events.deadletters`` to list and replay). A database outage
   (``OperationalError``) does not count as an attempt.

Retries and dead-lettering are done here rather than with RabbitMQ queue arguments so that
they behave alike on the filesystem transport. Deliveries are buffered by the kombu callback and
handled after ``drain_events`` returns: py-amqp may dispatch a delivery while a publish on the
same connection waits for its confirm, and a handler must never run re-entrantly.
"""

import contextlib
import heapq
import itertools
import logging
import signal
import threading
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from flask import Flask
from kombu import Connection, Queue

from common import tracing
from common.events.broker import Publisher, Topology, connect
from common.events.inbox import Handlers, handle_once
from common.events.retention import purge_expired
from common.events.settings import EventSettings, backoff, settings
from common.events.types import Event, parse_envelope
from common.metrics import (
    EVENTS_DEAD_LETTERED,
    EVENTS_DUPLICATES,
    EVENTS_FAILED,
    EVENTS_HANDLED,
    EVENTS_LAG,
)

log = logging.getLogger(__name__)


class Consumer:
    """Consumes the service's queue with ``handlers``; ``run()`` loops until ``stop()``."""

    def __init__(
        self, app: Flask, handlers: Handlers, *, config: EventSettings | None = None
    ) -> None:
        self.app = app
        self.handlers = handlers
        self.config = config or settings(app)
        self.topology = Topology(self.config.exchange, self.config.consumer_name)
        self._stop = threading.Event()
        self._connection: Connection | None = None
        self._publisher: Publisher | None = None
        self._received: list[Any] = []
        self._deferred: list[tuple[float, int, Any]] = []
        self._sequence = itertools.count()
        self._next_purge = 0.0

    def stop(self) -> None:
        """Ask ``run()`` to return once the message being handled is done (committed, then
        acknowledged). Messages received but not yet handled are left unacknowledged: closing
        the connection gives them back to the queue, for another consumer or the next run."""
        self._stop.set()

    def open(self) -> Connection:
        """Connect, declare the topology, start consuming (idempotent); return the connection."""
        if self._connection is not None:
            return self._connection
        connection = connect(self.config)
        connection.ensure_connection(max_retries=0, timeout=self.config.confirm_timeout)
        channel = connection.channel()
        self.topology.declare(channel, self.handlers.types())
        # Publishing (retries, dead letters) on a channel of its own: confirms stay separate.
        self._publisher = Publisher(connection.channel(), timeout=self.config.confirm_timeout)
        consumer = connection.Consumer(
            Queue(self.topology.queue, durable=True, no_declare=True),
            channel=channel,
            on_message=self._received.append,
            auto_declare=False,
        )
        consumer.qos(prefetch_count=self.config.prefetch)
        consumer.consume()
        self._connection = connection
        return connection

    def close(self) -> None:
        """Disconnect; unacknowledged messages go back to the queue."""
        connection, self._connection, self._publisher = self._connection, None, None
        self._received.clear()
        self._deferred.clear()
        if connection is not None:
            try:
                connection.release()
            except Exception:
                log.debug("closing the broker connection failed", exc_info=True)

    def poll(self, timeout: float) -> int:
        """Receive and handle messages for up to ``timeout`` seconds; return how many."""
        connection = self.open()
        done, deadline = 0, time.monotonic() + timeout
        while True:
            # Up to `prefetch` messages arrive at once: after stop() none more is handled.
            while self._received and not self._stop.is_set():
                done += self._process(self._received.pop(0))
            while self._deferred and self._deferred[0][0] <= time.time():
                if self._stop.is_set():
                    break
                done += self._process(heapq.heappop(self._deferred)[2], due=True)
            wait = deadline - time.monotonic()
            if wait <= 0 or self._stop.is_set():
                return done
            if self._deferred:
                wait = min(wait, max(self._deferred[0][0] - time.time(), 0.001))
            with contextlib.suppress(TimeoutError):  # socket.timeout: nothing arrived
                connection.drain_events(timeout=wait)

    def _process(self, message: Any, due: bool = False) -> int:
        headers = message.headers or {}
        attempts = int(headers.get("x-attempts", 0))
        try:
            event = parse_envelope(orjson.loads(message.body))
        except ValueError as exc:
            self._dead_letter(message, None, attempts, f"malformed event: {exc}")
            return 0
        handler = self.handlers.get(event.type)
        if handler is None:
            self._dead_letter(message, event, attempts, f"no handler for {event.type}")
            return 0
        if not due and float(headers.get("x-retry-at", 0)) > time.time():
            # A retry, not yet due: keep it (unacknowledged) and handle it when due.
            due_at = float(headers["x-retry-at"])
            heapq.heappush(self._deferred, (due_at, next(self._sequence), message))
            return 0
        try:
            # The handler's work, SQL included, in a CONSUMER span continuing the event's trace.
            with tracing.processing(
                event,
                system=tracing.messaging_system(self.config.broker_url),
                exchange=self.config.exchange,
                queue=self.topology.queue,
            ):
                handled = handle_once(self.app, event, handler)
        except sa.exc.OperationalError as exc:  # the database is away: not the message's fault
            EVENTS_FAILED.labels(self.config.service, event.type, "database").inc()
            self._retry(message, attempts, exc)
            return 0
        except Exception as exc:
            log.warning("handler of %s failed (event %s)", event.type, event.id, exc_info=True)
            EVENTS_FAILED.labels(self.config.service, event.type, "handler").inc()
            if attempts + 1 >= self.config.max_attempts:
                self._dead_letter(message, event, attempts + 1, repr(exc))
            else:
                self._retry(message, attempts + 1, exc)
            return 0
        message.ack()
        _count_handled(self.config.service, event, handled)
        return 1

    def _retry(self, message: Any, attempts: int, exc: Exception) -> None:
        delay = backoff(
            max(attempts, 1), self.config.retry_base_seconds, self.config.retry_max_seconds
        )
        headers = {
            **(message.headers or {}),
            "x-attempts": attempts,
            "x-retry-at": time.time() + delay,
            "x-last-error": repr(exc)[:500],
        }
        self._republish(message, "", self.topology.queue, headers)

    def _dead_letter(self, message: Any, event: Event | None, attempts: int, error: str) -> None:
        log.error(
            "event %s dead-lettered after %d attempts: %s", event and event.id, attempts, error
        )
        # Only the types handled here are label values: a stray message's type could be anything.
        known = event.type if event and self.handlers.get(event.type) else "unknown"
        EVENTS_DEAD_LETTERED.labels(self.config.service, known).inc()
        headers = {
            **(message.headers or {}),
            "x-attempts": attempts,
            "x-error": error[:500],
            "x-dead-at": time.time(),
            "x-original-routing-key": message.delivery_info.get("routing_key"),
        }
        headers.pop("x-retry-at", None)
        self._republish(message, self.topology.dead_exchange, self.topology.queue, headers)

    def _republish(
        self, message: Any, exchange: str, routing_key: str, headers: dict[str, Any]
    ) -> None:
        """Publish a copy (confirmed), then acknowledge the original."""
        if self._publisher is None:
            raise RuntimeError("the consumer is closed")
        message_id = message.properties.get("message_id") or ""
        self._publisher.publish(
            message.body,
            exchange=exchange,
            routing_key=routing_key,
            message_id=message_id,
            headers=headers,
        )
        message.ack()

    def run(self) -> None:
        """Consume until ``stop()``, reconnecting with backoff while the broker is away."""
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    self.poll(self.config.poll_seconds)
                    if not self._stop.is_set():  # a stopping consumer starts no purge
                        self._purge_if_due()
                    failures = 0
                except Exception as exc:
                    failures += 1
                    self.close()
                    delay = backoff(failures, 0.25, self.config.backoff_max_seconds)
                    log.warning("consumer: %s; retrying in %.2f s", exc, delay)
                    self._stop.wait(delay)
        finally:
            self.close()

    def _purge_if_due(self) -> None:
        if time.monotonic() >= self._next_purge:
            with self.app.app_context():  # housekeeping: no span is current, so no trace
                purge_expired(self.config)
            self._next_purge = time.monotonic() + self.config.purge_interval_seconds


def _count_handled(service: str, event: Event, handled: bool) -> None:
    """Count a handled event and its lag since it was published; or a duplicate."""
    if not handled:
        EVENTS_DUPLICATES.labels(service, event.type).inc()
        return
    EVENTS_HANDLED.labels(service, event.type).inc()
    try:
        published = datetime.fromisoformat(event.time) if event.time else None
    except ValueError:  # CloudEvents' time is optional and, from another producer, anything
        published = None
    if published is not None and published.tzinfo is not None:
        lag = (datetime.now(UTC) - published).total_seconds()
        EVENTS_LAG.labels(service, event.type).observe(max(lag, 0.0))


def run_consumer(app: Flask, handlers: Handlers) -> None:
    """The consumer process's entry point: consume until SIGTERM or SIGINT.

    Either signal stops it gracefully: the message being handled is finished (its transaction
    committed, then acknowledged), no other is taken, and the process exits 0. A consumer killed
    outright (SIGKILL, a crash) has acknowledged nothing it did not commit: the broker delivers
    that message again (tested in test_events_shutdown).
    """
    consumer = Consumer(app, handlers)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: consumer.stop())
    log.info("consumer %s started: %s", consumer.topology.queue, ", ".join(handlers.types()))
    consumer.run()
