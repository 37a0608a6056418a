"""Retention: published outbox rows and completed idempotency keys do not live forever.

A published row is kept for a while (``EVENTS_RETENTION_SECONDS``, a week by default) so that an
operator can see what was sent, and an inbox row as long (a duplicate comes within minutes); a
completed idempotency key (``common.idempotency``) only has to outlive its clients' retries
(``IDEMPOTENCY_RETENTION_SECONDS``, a day). The relay and the consumer run the purge every
``EVENTS_PURGE_INTERVAL_SECONDS``; each function also works alone (e.g. from a CLI command).
Deletes go in bounded batches, so a large backlog never holds long locks.
"""

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from common.db import get_db, utcnow
from common.events.inbox import InboxMessageMixin
from common.events.outbox import OutboxEventMixin
from common.events.settings import EventSettings, mapped_model
from common.idempotency import COMPLETED, IdempotencyKeyMixin

_BATCH = 1000


def _delete_in_batches(model: Any, where: sa.ColumnElement[bool], key: list[Any]) -> int:
    """DELETE the rows matching ``where``, ``_BATCH`` at a time, each batch committed."""
    engine, total = get_db().engine, 0
    while True:
        with engine.begin() as conn:
            chosen = sa.select(*key).where(where).limit(_BATCH)
            if len(key) == 1:
                condition = key[0].in_(chosen.scalar_subquery())
            else:
                condition = sa.tuple_(*key).in_(chosen)
            deleted = conn.execute(sa.delete(model).where(condition)).rowcount
        total += deleted
        if deleted < _BATCH:
            return total


def purge_outbox(model: type[OutboxEventMixin], published_before: datetime) -> int:
    """Delete the outbox rows published before ``published_before``; return how many."""
    m: Any = model
    return _delete_in_batches(m, m.published_at < published_before, [m.id])


def purge_idempotency_keys(model: type[IdempotencyKeyMixin], created_before: datetime) -> int:
    """Delete the completed idempotency keys created before ``created_before``; in-flight stay."""
    m: Any = model
    where = sa.and_(m.state == COMPLETED, m.created_at < created_before)
    return _delete_in_batches(m, where, [m.scope, m.key])


def purge_inbox(model: type[InboxMessageMixin], received_before: datetime) -> int:
    """Delete the inbox rows received before ``received_before`` (no duplicate comes so late)."""
    m: Any = model
    return _delete_in_batches(m, m.received_at < received_before, [m.id])


def purge_expired(config: EventSettings) -> dict[str, int]:
    """Purge the current app's tables by their retention settings; return what went."""
    now, purged = utcnow(), {}
    outbox = mapped_model(OutboxEventMixin)
    if outbox is not None:
        cutoff = now - timedelta(seconds=config.retention_seconds)
        purged["outbox"] = purge_outbox(outbox, cutoff)
    inbox = mapped_model(InboxMessageMixin)
    if inbox is not None:
        purged["inbox"] = purge_inbox(inbox, now - timedelta(seconds=config.retention_seconds))
    keys = mapped_model(IdempotencyKeyMixin)
    if keys is not None:
        cutoff = now - timedelta(seconds=config.idempotency_retention_seconds)
        purged["idempotency_keys"] = purge_idempotency_keys(keys, cutoff)
    return purged
