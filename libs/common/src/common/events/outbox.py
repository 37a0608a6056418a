"""The transactional outbox: an event is a row written in the request's own transaction.

``publish`` inserts the event through ``common.db.session``; ``common.transaction`` commits it
with the change it describes, or rolls both back. So an event exists exactly when its change
committed, and no broker call ever sits inside a request: the relay (``common.events.relay``)
sends the rows later, even if the broker was away when the request ran.

A service maps the table on its own metadata, so its Alembic migrations own it::

    class OutboxEvent(OutboxEventMixin, db.Model):
        __tablename__ = "outbox_events"

On PostgreSQL the INSERT also issues ``NOTIFY`` on a channel named after the table:
PostgreSQL delivers it only if the transaction commits, which wakes the relays without polling
(notifications with the same payload in one transaction are folded into one).
"""

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app, g, has_app_context, has_request_context, request
from sqlalchemy.orm import Mapped, mapped_column

from common import tracing
from common.db import UTCDateTime, get_db, session, utcnow
from common.events.settings import require_model, settings
from common.events.types import EventType, make_envelope
from common.request_id import get_request_id

TRACEPARENT_HEADER = "traceparent"


class OutboxEventMixin:
    """The outbox's columns; a service maps it on its own ``db.Model``."""

    # The CloudEvents id: also the AMQP message id, and the consumers' inbox key.
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(255))
    # The whole CloudEvents envelope, exactly as it will be sent.
    envelope: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # NULL until a relay had the broker confirm it; indexed for the relay's claim and the purge.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # A row the broker refused (unroutable) waits until then; failures are counted and kept.
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)


def notify_channel(model: type[OutboxEventMixin]) -> str:
    """The PostgreSQL notification channel of an outbox table."""
    return str(model.__tablename__)  # type: ignore[attr-defined]


def _trace_context() -> tuple[str | None, str | None]:
    """The request id and traceparent to carry: the request's, or the handled event's.

    When tracing is on, the traceparent is the current span's (the request's, or the consumer's
    span handling an event), so the relay and the consumers continue the trace from there.
    """
    traceparent = tracing.current_traceparent()
    if has_request_context():
        return get_request_id(), traceparent or request.headers.get(TRACEPARENT_HEADER)
    if has_app_context():  # a consumer's handler: the event it handles set them
        return g.get("request_id"), traceparent or g.get("traceparent")
    return None, traceparent


def publish(event_type: EventType, subject: str | None, data: Any) -> uuid.UUID:
    """Record an event in the current transaction; it is sent once the transaction commits.

    :param event_type: a declared ``EventType``; ``data`` is dumped and validated with its schema.
    :param subject: what the event is about, e.g. the user's id (CloudEvents ``subject``).
    :raise ValueError: ``data`` does not satisfy the schema (a bug of the producer).
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    model = require_model(OutboxEventMixin)
    requestid, traceparent = _trace_context()
    now = utcnow()
    envelope = make_envelope(
        event_type,
        source=settings(app).source,
        subject=subject,
        data=data,
        time=now,
        requestid=requestid,
        traceparent=traceparent,
    )
    event_id = uuid.UUID(envelope["id"])
    table = model.__table__  # type: ignore[attr-defined]
    insert = table.insert().values(
        id=event_id, type=event_type.name, envelope=envelope, created_at=now, available_at=now
    )
    if get_db().engine.dialect.name == "postgresql":
        # The NOTIFY that wakes the relays rides on the INSERT (RETURNING calls it for the one
        # row): one statement, one round trip, where a NOTIFY of its own costs another.
        insert = insert.returning(sa.func.pg_notify(notify_channel(model), ""))
    session.execute(insert)
    return event_id
