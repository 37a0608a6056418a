"""Builders for events: users' events as the consumer hands them over, and orders' outbox."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from common.db import get_db
from common.events import Event
from common.events.inbox import handle_once
from orders_service.handlers import handlers
from orders_service.models import KnownUser, OutboxEvent

REGISTERED = "users.user.registered.v1"
UPDATED = "users.user.updated.v1"
DELETED = "users.user.deleted.v1"
# A fixed origin for users' times, so a test can say "older" and "newer" plainly.
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> str:
    """Users' ISO 8601 time ``seconds`` after EPOCH, as its events write it."""
    return (EPOCH + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def user_event(event_type: str, user_id: uuid.UUID, **data: Any) -> Event:
    """An event of users about ``user_id``, with a fresh id; ``data`` adds to the id."""
    return Event(
        id=str(uuid.uuid4()),
        type=event_type,
        source="users",
        time=at(0),
        subject=str(user_id),
        data={"id": str(user_id), **data},
    )


def user_state(
    event_type: str, user_id: uuid.UUID, *, active: bool = True, seconds: float = 0
) -> Event:
    """users.user.registered/updated.v1 as users sends it, ``seconds`` after EPOCH."""
    return user_event(
        event_type,
        user_id,
        email=f"{user_id}@example.com",
        name="Test User",
        is_active=active,
        updated_at=at(seconds),
    )


def handle(app: Flask, event: Event) -> bool:
    """Hand ``event`` to orders' handler in the consumer's transaction (the inbox's); False if
    the inbox already had it."""
    handler = handlers.get(event.type)
    assert handler is not None, f"orders does not handle {event.type}"
    return handle_once(app, event, handler)


def known_user(app: Flask, user_id: uuid.UUID) -> KnownUser | None:
    """What orders holds about ``user_id`` (committed)."""
    with app.app_context():
        return get_db().session.get(KnownUser, user_id)


def published(app: Flask, event_type: str | None = None) -> list[dict[str, Any]]:
    """The envelopes in orders' outbox (committed), oldest first, of one type if given."""
    query = sa.select(OutboxEvent).order_by(OutboxEvent.created_at)
    if event_type is not None:
        query = query.where(OutboxEvent.type == event_type)
    with app.app_context():
        return [row.envelope for row in get_db().session.scalars(query)]
