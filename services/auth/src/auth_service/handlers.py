"""The events the auth service consumes: a profile deleted or (de)activated in users.

Each handler runs in the consumer's transaction with the event's inbox row (common.events), so
a redelivered event does nothing twice; ``data`` is read tolerantly (unknown fields ignored).
Until an event is consumed, auth still accepts the account (README, "Consistency window").
"""

import uuid
from datetime import datetime

import sqlalchemy as sa

from auth_service.models import Identity, RefreshToken
from common.db import session
from common.events import Event, Handlers

handlers = Handlers()


def _identity_id(event: Event) -> uuid.UUID:
    # A malformed event raises: retried, then dead-lettered for someone to look at.
    return uuid.UUID(str(event.data["id"]))


@handlers.on("users.user.deleted.v1")
def user_deleted(event: Event) -> None:
    """Delete the credentials and every refresh token: no login, no refresh, email free again."""
    identity_id = _identity_id(event)
    # Explicitly, not through the foreign key's ON DELETE CASCADE, which SQLite does not
    # enforce unless told to.
    session.execute(sa.delete(RefreshToken).where(RefreshToken.identity_id == identity_id))
    session.execute(sa.delete(Identity).where(Identity.id == identity_id))


@handlers.on("users.user.updated.v1")
def user_updated(event: Event) -> None:
    """Follow the profile's is_active; an event older than the last one applied is ignored."""
    identity = session.get(Identity, _identity_id(event), with_for_update=True)
    if identity is None:
        return  # no credentials for this profile (deleted, or made by an admin in users)
    updated_at = datetime.fromisoformat(event.data["updated_at"])
    if identity.profile_updated_at is not None and updated_at < identity.profile_updated_at:
        return
    identity.is_active = bool(event.data["is_active"])
    identity.profile_updated_at = updated_at
