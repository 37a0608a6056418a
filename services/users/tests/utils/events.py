"""Builders and readers for events: what the outbox holds, events as orders would send them."""

from typing import Any

import sqlalchemy as sa
from flask import Flask

from common.db import get_db
from users_service.models import OutboxEvent


def outbox(app: Flask, event_type: str | None = None) -> list[dict[str, Any]]:
    """The committed outbox's envelopes (of ``event_type``, if given), oldest first."""
    query = sa.select(OutboxEvent.envelope).order_by(OutboxEvent.created_at)
    if event_type is not None:
        query = query.where(OutboxEvent.type == event_type)
    with app.app_context():
        return list(get_db().session.scalars(query))


def order_placed(user_id: str, order_id: str = "0b7e2d4c-1f3a-4a5e-9c8d-6f2e1a0b3c4d") -> dict:
    """The data of orders.order.placed.v1 (with a field users does not know: ignored)."""
    return {
        "id": order_id,
        "user_id": user_id,
        "total_cents": 1250,
        "currency": "EUR",
        "placed_at": "2026-01-01T00:00:00Z",
        "channel": "web",
    }


def order_cancelled(user_id: str, order_id: str = "0b7e2d4c-1f3a-4a5e-9c8d-6f2e1a0b3c4d") -> dict:
    """The data of orders.order.cancelled.v1."""
    return {
        "id": order_id,
        "user_id": user_id,
        "reason": "cancelled_by_user",
        "cancelled_at": "2026-01-01T00:05:00Z",
    }
