"""What the orders service does, independent of HTTP: views call these, never the session.

Functions take keyword-only arguments and raise common.errors exceptions; the request's
transaction (common.transaction) commits or rolls back around them. ``owner_id`` restricts a
call to one user's orders; None (an admin) means every order.
"""

import uuid
from typing import Any, cast

import sqlalchemy as sa

from common.db import session
from common.envelope import Page
from common.errors import Conflict, NotFound
from orders_service import users_client
from orders_service.models import CANCELLED, PLACED, Order, OrderItem


def place_order(*, user_id: uuid.UUID, currency: str, items: list[dict[str, Any]]) -> Order:
    """Place an order for an active user; line totals and the total are computed here."""
    # Before anything is written: an account that cannot order, or users down, stores nothing.
    users_client.require_active_user(user_id)
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


def cancel_order(*, order_id: uuid.UUID, owner_id: uuid.UUID | None) -> Order:
    """Cancel a placed order; 409 ``invalid_state`` in any other state."""
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
    return order
