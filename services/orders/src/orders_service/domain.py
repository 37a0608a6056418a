"""What the orders service does, independent of HTTP: views call these, never the session.

Functions take keyword-only arguments and raise common.errors exceptions; the request's
transaction (common.transaction) commits or rolls back around them. ``owner_id`` restricts a
call to one user's orders; None (an admin) means every order. Every change publishes its event
(orders_service.events) in that same transaction: the event exists exactly when the change does.
"""

import uuid
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa

from common.db import session
from common.envelope import Page
from common.errors import Conflict, NotFound
from common.events import publish
from orders_service import known_users
from orders_service.events import ORDER_CANCELLED, ORDER_PLACED
from orders_service.models import CANCELLED, PLACED, Order, OrderItem


def place_order(*, user_id: uuid.UUID, currency: str, items: list[dict[str, Any]]) -> Order:
    """Place an order for an active user; line totals and the total are computed here."""
    # Before anything is written: an account that cannot order, or users down while asked about
    # an account orders has not heard of, stores nothing.
    known_users.require_can_order(user_id)
    lines = [
        OrderItem(
            position=position,
            sku=item["sku"],
            quantity=item["quantity"],
            unit_price_cents=item["unit_price_cents"],
            line_total_cents=item["quantity"] * item["unit_price_cents"],
        )
        for position, item in enumerate(items, start=1)
    ]
    order = Order(
        user_id=user_id,
        status=PLACED,
        currency=currency,
        items=lines,
        total_cents=sum(line.line_total_cents for line in lines),
    )
    session.add(order)
    session.flush()  # the id and timestamps are known before the view answers
    publish(ORDER_PLACED, subject=str(order.id), data=order)
    return order


def get_order(*, order_id: uuid.UUID, owner_id: uuid.UUID | None) -> Order:
    """Return one order or raise 404; another user's order is 404 too, not 403."""
    query = sa.select(Order).where(Order.id == order_id)
    if owner_id is not None:
        query = query.where(Order.user_id == owner_id)
    order = session.scalar(query)
    if order is None:
        # Saying "forbidden" would confirm that the id exists.
        raise NotFound("No order with this id.", code="order_not_found")
    return order


def list_orders(
    *,
    limit: int,
    offset: int,
    owner_id: uuid.UUID | None,
    status: str | None = None,
) -> Page:
    """Return one page of orders, newest first, optionally filtered by status."""
    query = sa.select(Order)
    if owner_id is not None:
        query = query.where(Order.user_id == owner_id)
    if status is not None:
        query = query.where(Order.status == status)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    newest_first = query.order_by(Order.created_at.desc(), Order.id.desc())
    items = session.scalars(newest_first.limit(limit).offset(offset))
    return Page(items=list(items), total=total, limit=limit, offset=offset)


def cancel_order(*, order_id: uuid.UUID, owner_id: uuid.UUID | None, reason: str) -> Order:
    """Cancel a placed order; 409 ``invalid_state`` in any other state.

    :param reason: why, as the cancelled event says it (orders_service.events.CANCEL_REASONS).
    """
    order = get_order(order_id=order_id, owner_id=owner_id)
    # Compare-and-set: only a row still "placed" changes, so of two concurrent cancellations
    # (or a cancellation racing fulfilment) exactly one wins, on every database backend.
    cancelled = session.execute(
        sa.update(Order)
        .where(Order.id == order.id, Order.status == PLACED)
        .values(status=CANCELLED)
        .execution_options(synchronize_session=False)
    )
    if cast(sa.CursorResult[Any], cancelled).rowcount != 1:
        raise Conflict("Only a placed order can be cancelled.", code="invalid_state")
    session.refresh(order)  # status and updated_at as stored
    _publish_cancelled(order.id, order.user_id, reason, order.updated_at)
    return order


def cancel_open_orders(*, user_id: uuid.UUID, reason: str) -> int:
    """Cancel every placed order of ``user_id``, one cancelled event each; return how many."""
    # The same compare-and-set as cancel_order, for all of them at once: an order its owner
    # cancels concurrently is cancelled (and announced) once, by whichever commits first.
    rows = session.execute(
        sa.update(Order)
        .where(Order.user_id == user_id, Order.status == PLACED)
        .values(status=CANCELLED)
        .returning(Order.id, Order.updated_at)
        .execution_options(synchronize_session=False)
    ).all()
    for order_id, cancelled_at in rows:
        _publish_cancelled(order_id, user_id, reason, cancelled_at)
    return len(rows)


def _publish_cancelled(
    order_id: uuid.UUID, user_id: uuid.UUID, reason: str, cancelled_at: datetime
) -> None:
    data = {"id": order_id, "user_id": user_id, "reason": reason, "cancelled_at": cancelled_at}
    publish(ORDER_CANCELLED, subject=str(order_id), data=data)
