"""What the users service does, independent of HTTP: views call these, never the session.

Functions take keyword-only arguments and raise common.errors exceptions; the request's
transaction (common.transaction) commits or rolls back around them, together with the events
they publish (users_service.events): no event for a change that did not commit.
"""

import uuid
from typing import Any

import sqlalchemy as sa

from common.db import session, utcnow
from common.envelope import Page
from common.errors import Conflict, NotFound
from common.events import publish
from users_service.events import USER_DELETED, USER_REGISTERED, USER_UPDATED
from users_service.models import User


def _email_taken(email: str, *, excluding: uuid.UUID | None = None) -> bool:
    query = sa.select(User.id).where(sa.func.lower(User.email) == email.lower())
    if excluding is not None:
        query = query.where(User.id != excluding)
    return session.scalar(query.limit(1)) is not None


def create_user(*, email: str, name: str) -> User:
    """Create a user; 409 when the email is taken in any letter case."""
    if _email_taken(email):
        raise Conflict("A user with this email already exists.", code="email_taken")
    user = User(email=email, name=name)
    session.add(user)
    # Flush so a concurrent insert that won the race fails here (409), and the id is known.
    session.flush()
    publish(USER_REGISTERED, subject=str(user.id), data=user)
    return user


def get_user(*, user_id: uuid.UUID) -> User:
    """Return one user or raise 404."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("No user with this id.", code="user_not_found")
    return user


def list_users(*, limit: int, offset: int, email: str | None = None) -> Page:
    """Return one page of users, oldest first, optionally filtered by email."""
    query = sa.select(User)
    if email is not None:
        query = query.where(sa.func.lower(User.email) == email.lower())
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.order_by(User.created_at, User.id).limit(limit).offset(offset))
    return Page(items=list(items), total=total, limit=limit, offset=offset)


def update_user(*, user_id: uuid.UUID, changes: dict[str, Any]) -> User:
    """Apply a partial update; a new email must still be unique."""
    user = get_user(user_id=user_id)
    if "email" in changes and _email_taken(changes["email"], excluding=user.id):
        raise Conflict("A user with this email already exists.", code="email_taken")
    for field, value in changes.items():
        setattr(user, field, value)
    session.flush()  # sets updated_at, which the event carries
    publish(USER_UPDATED, subject=str(user.id), data=user)
    return user


def delete_user(*, user_id: uuid.UUID) -> None:
    """Delete a user or raise 404; auth and orders learn it from the event."""
    user = get_user(user_id=user_id)
    session.delete(user)
    publish(USER_DELETED, subject=str(user.id), data={"id": user.id, "deleted_at": utcnow()})
