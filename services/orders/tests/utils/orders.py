"""Builders for orders: create them through the API, as a client would."""

import itertools
import uuid
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from common.db import get_db
from orders_service.models import IdempotencyKey, Order

_counter = itertools.count()
ORDERS = "/api/v1/orders"


def order_payload(**overrides: Any) -> dict[str, Any]:
    """A valid POST /orders body with a unique SKU."""
    n = next(_counter)
    items = [
        {"sku": f"SKU-{n}", "quantity": 2, "unit_price_cents": 1250},
        {"sku": f"SKU-{n}.b", "quantity": 1, "unit_price_cents": 99},
    ]
    return {"items": items, **overrides}


def create_order(client: FlaskClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    """Place an order and return its data."""
    response = client.post(ORDERS, json=order_payload(**overrides), headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["data"]


def count_orders(app: Flask) -> int:
    """How many orders are stored (committed)."""
    with app.app_context():
        return get_db().session.scalar(sa.select(sa.func.count()).select_from(Order)) or 0


def count_keys(app: Flask) -> int:
    """How many idempotency keys are stored (committed)."""
    with app.app_context():
        return get_db().session.scalar(sa.select(sa.func.count()).select_from(IdempotencyKey)) or 0


def set_status(app: Flask, order_id: str, status: str) -> None:
    """Change an order's status behind the API's back (e.g. to "fulfilled")."""
    with app.app_context(), get_db().engine.begin() as conn:
        order = sa.update(Order).where(Order.id == uuid.UUID(order_id))
        conn.execute(order.values(status=status))
