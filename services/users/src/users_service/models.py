"""The users service's tables; its metadata is its own (common.db.create_db)."""

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db import UTCDateTime, create_db, utcnow
from common.events import InboxMessageMixin, OutboxEventMixin

db = create_db()

# The base of every model: ``db.Model``. mypy takes no attribute of an object as a base class,
# so to it the base is SQLAlchemy's DeclarativeBase, which types what the models use of it.
if TYPE_CHECKING:
    Base = DeclarativeBase
else:
    Base = db.Model


class User(Base):
    """A person's profile; the auth service owns their credentials."""

    __tablename__ = "users"
    __table_args__ = (
        # Emails are unique whatever their case, enforced by the database, not only by code.
        sa.Index("uq_users_email_lower", sa.func.lower(sa.text("email")), unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(sa.String(320))
    name: Mapped[str] = mapped_column(sa.String(200))
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Fed by the orders service's events (users_service.handlers): placed +1, cancelled -1.
    # Eventually consistent with orders, and never below 0 (a cancel may overtake its place).
    open_order_count: Mapped[int] = mapped_column(default=0, server_default="0")


class OutboxEvent(OutboxEventMixin, Base):
    """The events users publishes (users_service.events), written in the request's transaction."""

    __tablename__ = "outbox_events"


class InboxMessage(InboxMessageMixin, Base):
    """The ids of the events users handled (users_service.handlers): each is handled once."""

    __tablename__ = "inbox_messages"
