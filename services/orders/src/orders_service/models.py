"""The orders service's tables; its metadata is its own (common.db.create_db).

Besides orders: what orders knows of users (``KnownUser``, fed by users' events), and the
mechanisms' tables (idempotency keys, the events outbox and inbox).
"""

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from common.db import UTCDateTime, create_db, utcnow
from common.events import InboxMessageMixin, OutboxEventMixin
from common.idempotency import IdempotencyKeyMixin

db = create_db()

# The base of every model: ``db.Model``. mypy takes no attribute of an object as a base class,
# so to it the base is SQLAlchemy's DeclarativeBase, which types what the models use of it.
if TYPE_CHECKING:
    Base = DeclarativeBase
else:
    Base = db.Model

# An order's life: placed -> cancelled (by its owner or an admin). Fulfilment does not exist
# yet: only the database sets "fulfilled" today. Only a placed order can be cancelled.
PLACED = "placed"
CANCELLED = "cancelled"
FULFILLED = "fulfilled"
STATUSES = (PLACED, CANCELLED, FULFILLED)


class Order(Base):
    """What a user ordered; its total is computed by the service, never taken from the client."""

    __tablename__ = "orders"
    __table_args__ = (
        sa.CheckConstraint(sa.column("status").in_(STATUSES), name="status_known"),
        sa.CheckConstraint("total_cents >= 0", name="total_cents_non_negative"),
        # "My orders, newest first" is the list endpoint's query: one index serves it.
        sa.Index("ix_orders_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # The users service's id of the owner (the token's subject); no foreign key across services.
    user_id: Mapped[uuid.UUID] = mapped_column()
    status: Mapped[str] = mapped_column(sa.String(16), default=PLACED)
    currency: Mapped[str] = mapped_column(sa.String(3))
    # Up to 100 lines of 1000 x 100,000.00: more than a 32-bit integer holds.
    total_cents: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    # selectin: a page of orders loads all its lines in one more query, not one per order.
    items: Mapped[list["OrderItem"]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="OrderItem.position",
        lazy="selectin",
    )


class OrderItem(Base):
    """One line of an order: a quantity of a SKU at a unit price."""

    __tablename__ = "order_items"
    __table_args__ = (
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.CheckConstraint("unit_price_cents >= 0", name="unit_price_cents_non_negative"),
        sa.CheckConstraint("line_total_cents >= 0", name="line_total_cents_non_negative"),
        # Lines keep the order the client gave; the index also serves the foreign key.
        sa.UniqueConstraint("order_id", "position", name="uq_order_items_order_id_position"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    order_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orders.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column()
    sku: Mapped[str] = mapped_column(sa.String(64))
    quantity: Mapped[int] = mapped_column()
    unit_price_cents: Mapped[int] = mapped_column()
    line_total_cents: Mapped[int] = mapped_column(sa.BigInteger)


class IdempotencyKey(IdempotencyKeyMixin, Base):
    """Idempotency-Key claims and the responses they replay (see common.idempotency)."""

    __tablename__ = "idempotency_keys"


class KnownUser(Base):
    """A user as orders last heard of them: the local read model of users' events.

    Creating an order reads this instead of calling users. ``updated_at`` is users' time of the
    state held (from the event or users' answer), so an older update arriving late is ignored;
    ``deleted`` is final (user ids are never reused).
    """

    __tablename__ = "known_users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    is_active: Mapped[bool] = mapped_column()
    deleted: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxEvent(OutboxEventMixin, Base):
    """Events orders publishes, written in the request's transaction (common.events)."""

    __tablename__ = "outbox_events"


class InboxMessage(InboxMessageMixin, Base):
    """Ids of the events orders handled: a redelivered event is skipped (common.events)."""

    __tablename__ = "inbox_messages"
