"""The database behind a service's metrics: its connection pool and its outbox.

**Pool**: connections in use and beyond the pool's size, counted from SQLAlchemy's pool events
(checkout, checkin) into gauges every worker adds its own share to. Read from the pool at
scrape time instead, the figure would be the pool of whichever gunicorn worker answered the
scrape, a different one each time; the events cost two gauge updates per request that uses the
database (measured in libs/common's README).

**Outbox**: the backlog (rows not yet published) and the age of its oldest row, queried when
``/metrics`` is scraped, by the web service rather than by the relay: the figure must be there
when the relay is down or stuck, which is when it grows. One query on the indexed
``published_at IS NULL`` rows: the published rows the table keeps for their retention (a week
by default) are not read. Every replica reports the same table: aggregate with ``max``.
"""

import logging
import threading
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from flask import Flask
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from common.db import get_db, utcnow
from common.events.outbox import OutboxEventMixin
from common.events.settings import mapped_model
from common.metrics import DB_POOL_IN_USE, DB_POOL_OVERFLOW

log = logging.getLogger(__name__)


class _PoolWatch:
    """Counts one engine's checked-out connections into the service's pool gauges.

    By connection record, not by event: SQLAlchemy also signals a checkin for a connection
    that failed to open (the database is down) and so was never checked out.
    """

    def __init__(self, service: str, pool: sa.Pool) -> None:
        self.in_use = DB_POOL_IN_USE.labels(service)
        self.overflow = DB_POOL_OVERFLOW.labels(service)
        size = getattr(pool, "size", None)  # QueuePool; other pools have no overflow
        self.size: int = size() if callable(size) else 1 << 30
        self.out: set[Any] = set()
        self.lock = threading.Lock()

    def checkout(self, _connection: Any, record: Any, _proxy: Any) -> None:
        with self.lock:
            self.out.add(record)
            beyond = len(self.out) > self.size
        self.in_use.inc()
        if beyond:
            self.overflow.inc()

    def checkin(self, _connection: Any, record: Any) -> None:
        with self.lock:
            if record not in self.out:
                return
            beyond = len(self.out) > self.size
            self.out.discard(record)
        self.in_use.dec()
        if beyond:
            self.overflow.dec()


def watch_pools(app: Flask) -> None:
    """Count the connections ``app``'s engines lend (events survive ``engine.dispose()``)."""
    with app.app_context():
        engines = get_db().engines.values()
    for engine in engines:
        watch = _PoolWatch(app.config["SERVICE_NAME"], engine.pool)
        sa.event.listen(engine, "checkout", watch.checkout)
        sa.event.listen(engine, "checkin", watch.checkin)


class OutboxCollector:
    """The outbox's backlog and the age of its oldest unpublished row, read at scrape time."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.service = app.config["SERVICE_NAME"]

    def collect(self) -> Iterator[Metric]:
        """Yield both gauges; nothing for a service without an outbox or when the query fails."""
        with self.app.app_context():
            model: Any = mapped_model(OutboxEventMixin)
            if model is None:
                return
            query = sa.select(sa.func.count(), sa.func.min(model.created_at)).where(
                model.published_at.is_(None)
            )
            try:
                with get_db().engine.connect() as connection:
                    backlog, oldest = connection.execute(query).one()
            except sa.exc.SQLAlchemyError as exc:
                log.warning("metrics: the outbox could not be read: %s", exc)
                return
        labels = [self.service]
        family = GaugeMetricFamily(
            "events_outbox_backlog", "Outbox events not yet published.", labels=["service"]
        )
        family.add_metric(labels, backlog)
        yield family
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        family = GaugeMetricFamily(
            "events_outbox_oldest_age_seconds",
            "Age of the oldest unpublished outbox event (0 when none waits).",
            labels=["service"],
        )
        family.add_metric(labels, max(age, 0.0))
        yield family
