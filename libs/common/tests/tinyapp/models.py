"""The tiny service's tables: widgets, parts that belong to a widget, and the mechanisms' tables
(idempotency keys, the events outbox and inbox)."""

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from common.db import create_db
from common.events import InboxMessageMixin, OutboxEventMixin
from common.idempotency import IdempotencyKeyMixin

db = create_db()


class Widget(db.Model):
    __tablename__ = "widgets"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)


class Part(db.Model):
    __tablename__ = "parts"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    # On PostgreSQL the migration makes this FK DEFERRABLE INITIALLY DEFERRED, so a dangling
    # reference is only detected at COMMIT (see test_transaction).
    widget_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("widgets.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100))


class IdempotencyKey(IdempotencyKeyMixin, db.Model):
    __tablename__ = "idempotency_keys"


class OutboxEvent(OutboxEventMixin, db.Model):
    __tablename__ = "outbox_events"


class InboxMessage(InboxMessageMixin, db.Model):
    __tablename__ = "inbox_messages"
