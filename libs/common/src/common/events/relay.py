"""The relay: sends the outbox's committed rows to the broker, then marks them published.

One batch is one database transaction: claim up to ``EVENTS_RELAY_BATCH`` unpublished rows with
``SELECT ... FOR UPDATE SKIP LOCKED`` (another relay skips them and takes the next ones, so
replicas share the work and never send a row twice in the normal path), publish them all, wait
for the broker's confirms of the whole batch (one round trip, not one per event), mark the
confirmed ones, commit. A relay that dies between a confirm and the commit, or loses the broker
while waiting for confirms, leaves its rows unmarked: they are sent again, and the consumers'
inbox drops the copy.
Delivery is at least once; the order of events is not guaranteed across relays or retries.

While the broker is away the relay backs off (capped exponential, jittered) and the backlog
simply grows in the outbox; requests never wait for the broker. It sleeps until PostgreSQL
notifies the table's channel or ``EVENTS_POLL_SECONDS`` passed (``common.events.wakeup``); on
SQLite it polls. On SQLite ``FOR UPDATE`` does not exist: run one relay there.
It also purges published rows and completed idempotency keys past their retention.
"""

import collections
import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from kombu import Connection

from common import tracing
from common.db import get_db, utcnow
from common.events.broker import (
    Nacked,
    Outgoing,
    Publisher,
    Topology,
    Unroutable,
    broker_errors,
    connect,
    encode,
)
from common.events.outbox import OutboxEventMixin, notify_channel
from common.events.retention import purge_expired
from common.events.settings import EventSettings, backoff, require_model, settings
from common.events.wakeup import OutboxWakeup
from common.metrics import EVENTS_PUBLISHED, EVENTS_UNROUTABLE

log = logging.getLogger(__name__)


class Relay:
    """Moves outbox rows to the broker; ``run()`` loops until ``stop()``."""

    def __init__(
        self,
        app: Flask,
        *,
        config: EventSettings | None = None,
        on_published: Callable[[uuid.UUID], None] | None = None,
    ) -> None:
        """:param on_published: called after each confirm, before the mark (a test fault hook)."""
        self.app = app
        self.config = config or settings(app)
        self.on_published = on_published
        self._stop = threading.Event()
        self._connection: Connection | None = None
        self._publisher: Publisher | None = None
        with app.app_context():
            url = get_db().engine.url
            channel = notify_channel(require_model(OutboxEventMixin))
        self.wakeup = OutboxWakeup(url, channel, self._stop)
        self._errors: tuple[type[BaseException], ...] = ()
        self._next_purge = 0.0

    def stop(self) -> None:
        """Ask ``run()`` to return after the current batch."""
        self._stop.set()

    def _ensure_publisher(self) -> Publisher:
        if self._publisher is None:
            connection = connect(self.config)
            # One attempt: the caller's loop backs off between attempts.
            connection.ensure_connection(max_retries=0, timeout=self.config.confirm_timeout)
            channel = connection.channel()
            Topology(self.config.exchange).declare(channel)
            self._connection = connection
            self._errors = broker_errors(connection)
            self._publisher = Publisher(channel, timeout=self.config.confirm_timeout)
        return self._publisher

    def _disconnect(self) -> None:
        connection, self._connection, self._publisher = self._connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception:  # a broken connection may fail to close too
                log.debug("closing the broker connection failed", exc_info=True)

    def publish_batch(self) -> int:
        """Claim, publish and mark one batch; return how many rows were claimed."""
        # Its SQL makes no span (no recording span is current); each event's publish is one.
        with self.app.app_context():
            model: Any = require_model(OutboxEventMixin)
            session = get_db().session()
            now = utcnow()
            rows = session.execute(
                sa.select(model.id, model.type, model.envelope, model.attempts)
                .where(model.published_at.is_(None), model.available_at <= now)
                .order_by(model.created_at)
                .limit(self.config.relay_batch)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                session.rollback()
                return 0
            publisher = self._ensure_publisher()
            batch = [Outgoing(encode(row.envelope), row.type, str(row.id)) for row in rows]
            spans = tracing.PublishSpans(
                [row.envelope for row in rows],
                system=tracing.messaging_system(self.config.broker_url),
                exchange=self.config.exchange,
            )
            try:
                with spans:
                    outcomes = publisher.publish_many(batch, exchange=self.config.exchange)
                    spans.outcomes(outcomes)
            except self._errors:
                # Which of the batch the broker took is unknown: all of it is sent again.
                self._disconnect()
                session.rollback()
                raise
            published: list[uuid.UUID] = []
            nacked = 0
            for row, outcome in zip(rows, outcomes, strict=True):
                if isinstance(outcome, Unroutable):
                    self._postpone(session, model, row, outcome)
                elif outcome is not None:  # nacked: left as it is, sent with a later batch
                    nacked += 1
                else:
                    if self.on_published is not None:
                        self.on_published(row.id)
                    published.append(row.id)
            self._mark(session, model, published)
            published_types = collections.Counter(
                row.type for row, outcome in zip(rows, outcomes, strict=True) if outcome is None
            )
            for event_type, count in published_types.items():
                EVENTS_PUBLISHED.labels(self.config.service, event_type).inc(count)
            if nacked:
                raise Nacked(f"the broker refused {nacked} of {len(rows)} events")
            return len(rows)

    def _mark(self, session: Any, model: Any, ids: list[uuid.UUID]) -> None:
        if ids:
            session.execute(sa.update(model).where(model.id.in_(ids)).values(published_at=utcnow()))
        session.commit()

    def _postpone(self, session: Any, model: Any, row: Any, exc: Exception) -> None:
        """An unroutable event (no consumer bound yet) waits and is retried; others go on."""
        attempts = row.attempts + 1
        delay = backoff(attempts, self.config.poll_seconds, self.config.backoff_max_seconds)
        log.error("event %s (%s) not published: %s", row.id, row.type, exc)
        EVENTS_UNROUTABLE.labels(self.config.service, row.type).inc()
        session.execute(
            sa.update(model)
            .where(model.id == row.id)
            .values(
                attempts=attempts,
                last_error=str(exc)[:1000],
                available_at=utcnow() + timedelta(seconds=delay),
            )
        )

    def run(self) -> None:
        """Relay until ``stop()``: publish while there is a backlog, otherwise wait."""
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    claimed = self.publish_batch()
                    if not self._stop.is_set():  # a stopping relay starts no purge
                        self._purge_if_due()
                except Exception as exc:  # broker or database away: back off and retry
                    failures += 1
                    self._disconnect()
                    delay = backoff(failures, 0.25, self.config.backoff_max_seconds)
                    log.warning("relay: %s; retrying in %.2f s", exc, delay)
                    self._stop.wait(delay)
                    continue
                failures = 0
                if claimed < self.config.relay_batch:
                    self.wakeup.wait(self.config.poll_seconds)
        finally:
            self._disconnect()
            self.wakeup.close()

    def _purge_if_due(self) -> None:
        if time.monotonic() >= self._next_purge:
            with self.app.app_context():
                purge_expired(self.config)
            self._next_purge = time.monotonic() + self.config.purge_interval_seconds


def run_relay(app: Flask) -> None:
    """The relay process's entry point: relay until SIGTERM or SIGINT.

    Either signal stops it between batches: the batch being claimed or published is finished
    (published, confirmed, marked, committed), no other is claimed, and the process exits 0;
    an idle relay notices within ``EVENTS_POLL_SECONDS``.
    """
    relay = Relay(app)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: relay.stop())
    log.info("relay started (exchange %s)", relay.config.exchange)
    relay.run()
