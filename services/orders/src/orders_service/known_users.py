"""What orders knows of users: a read model fed by users' events, asked before every order.

An order is placed without calling users when the account is known here, so orders keeps
taking orders while users is down or hung. Only an account orders has not heard of yet costs a
call to users (``users_client``, which fails fast). Between a change in users and its event
being handled here, orders acts on the state it holds: see the README's consistency window.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from common.db import get_db, session
from common.errors import Forbidden
from orders_service import users_client
from orders_service.models import KnownUser


def require_can_order(user_id: uuid.UUID) -> None:
    """Return if the account may place orders; 403 ``user_inactive`` otherwise.

    Deactivated, deleted and unknown to users all answer the same 403: the client cannot tell
    (and need not know) whether orders decided from an event or from asking users.
    """
    # The two columns, not the entity: nothing here needs a KnownUser object (or the identity
    # map's bookkeeping for it), and every order asks.
    known = session.execute(
        sa.select(KnownUser.is_active, KnownUser.deleted).where(KnownUser.id == user_id)
    ).one_or_none()
    if known is not None:
        if known.deleted or not known.is_active:
            raise _cannot_order()
        return
    user = users_client.fetch_user(user_id)
    if user is None or not user["is_active"]:
        raise _cannot_order()
    # Recording the answer is safe only with users' own time of that state: it then goes
    # through the same newer-wins upsert as the events, so this answer and an event handled
    # meanwhile (older or newer, before or after) settle on the newest state in any order, and a
    # deletion is never undone. Without that time the answer cannot be compared with a later,
    # older event, so it is not kept (the next order asks again). Only an active answer gets
    # here: a refusal rolls the request's transaction back anyway.
    updated_at = parse_time(user.get("updated_at"))
    if updated_at is not None:
        record_state(user_id=user_id, is_active=True, updated_at=updated_at)


def record_state(*, user_id: uuid.UUID, is_active: bool, updated_at: datetime) -> None:
    """Hold this state of the account, unless a newer one (or its deletion) is held already."""
    insert = _insert().values(id=user_id, is_active=is_active, deleted=False, updated_at=updated_at)
    newer = sa.and_(KnownUser.deleted.is_(False), KnownUser.updated_at < updated_at)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=[KnownUser.id],
            set_={"is_active": is_active, "updated_at": updated_at},
            where=newer,
        )
    )


def record_deleted(*, user_id: uuid.UUID, deleted_at: datetime) -> None:
    """Hold that the account is deleted, for good: no later or earlier event revives it."""
    insert = _insert().values(id=user_id, is_active=False, deleted=True, updated_at=deleted_at)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=[KnownUser.id],
            set_={"is_active": False, "deleted": True, "updated_at": deleted_at},
        )
    )


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time from an event or users' answer (UTC if it names no offset); else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _insert() -> Any:
    """INSERT for known_users with ON CONFLICT (PostgreSQL's and SQLite's spell it alike)."""
    dialect = postgresql if get_db().engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(KnownUser)


def _cannot_order() -> Forbidden:
    return Forbidden("This account cannot place orders.", code="user_inactive")
