"""The events the users service consumes: the orders service's, into ``open_order_count``.

Each handler runs in the consumer's transaction with the event's inbox row (common.events), so
a redelivered event changes nothing twice. No ordering is promised: a cancellation can arrive
before its placement, so the count never goes below 0 (an order it misses stays uncounted:
the count is an indication on the profile, orders remains the source of truth).
"""

import uuid

import sqlalchemy as sa

from common.db import session
from common.events import Event, Handlers
from users_service.models import User

handlers = Handlers()


def _user_id(event: Event) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(event.data["user_id"]))
    except (KeyError, TypeError, ValueError):
        return None


def _change_open_orders(event: Event, delta: int) -> None:
    user_id = _user_id(event)
    if user_id is None:
        raise ValueError(f"event {event.id} has no valid data.user_id")  # dead-lettered
    # One UPDATE computed by the database: concurrent consumers cannot lose an increment. An
    # unknown user (deleted meanwhile) matches no row: nothing to count. updated_at stays: the
    # profile itself did not change, and consumers order users.user.updated.v1 events by it.
    count = User.open_order_count + delta
    session.execute(
        sa.update(User)
        .where(User.id == user_id)
        .values(open_order_count=sa.case((count < 0, 0), else_=count), updated_at=User.updated_at)
    )


@handlers.on("orders.order.placed.v1")
def order_placed(event: Event) -> None:
    """The user has one more open order."""
    _change_open_orders(event, +1)


@handlers.on("orders.order.cancelled.v1")
def order_cancelled(event: Event) -> None:
    """The user has one open order fewer (never below 0)."""
    _change_open_orders(event, -1)
