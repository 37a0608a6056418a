"""The integration events orders consumes: users' account lifecycle, into ``known_users``.

Declared once, like routes.py; ``flask --app orders_service events consume`` runs them. Each
handler works through the request-style session and never commits: the consumer commits its work
with the inbox row (a redelivered event is skipped). ``data`` is read tolerantly: fields orders
does not use are ignored, and no event ordering is assumed (``updated_at`` decides).
"""

import uuid

from common.db import utcnow
from common.events import Event, Handlers
from orders_service import domain, known_users
from orders_service.events import USER_DELETED

handlers = Handlers()


@handlers.on("users.user.registered.v1")
@handlers.on("users.user.updated.v1")
def user_changed(event: Event) -> None:
    """Hold the account's state (active or not), unless a newer one is held."""
    updated_at = known_users.parse_time(event.data.get("updated_at"))
    if updated_at is None:  # users always sends it; without it the state cannot be ordered
        raise ValueError(f"event {event.id} has no readable updated_at")
    known_users.record_state(
        user_id=uuid.UUID(str(event.data["id"])),
        is_active=event.data["is_active"] is True,
        updated_at=updated_at,
    )


@handlers.on("users.user.deleted.v1")
def user_deleted(event: Event) -> None:
    """Refuse the account's orders from now on, and cancel those still open."""
    user_id = uuid.UUID(str(event.data["id"]))
    deleted_at = (
        known_users.parse_time(event.data.get("deleted_at"))
        or known_users.parse_time(event.time)
        or utcnow()
    )
    known_users.record_deleted(user_id=user_id, deleted_at=deleted_at)
    domain.cancel_open_orders(user_id=user_id, reason=USER_DELETED)
