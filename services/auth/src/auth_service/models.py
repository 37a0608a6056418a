"""The auth service's tables; its metadata is its own (common.db.create_db)."""

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db import UTCDateTime, create_db, utcnow
from common.events import InboxMessageMixin

db = create_db()

# The base of every model: ``db.Model``. mypy takes no attribute of an object as a base class,
# so to it the base is SQLAlchemy's DeclarativeBase, which types what the models use of it.
if TYPE_CHECKING:
    Base = DeclarativeBase
else:
    Base = db.Model

DEFAULT_ROLES = ("user",)


class Identity(Base):
    """Credentials of one person; its id is the id of their profile in the users service."""

    __tablename__ = "identities"
    __table_args__ = (
        # Emails are unique whatever their case, enforced by the database, not only by code.
        sa.Index("uq_identities_email_lower", sa.func.lower(sa.text("email")), unique=True),
    )

    # No default: an identity exists only for a profile, and takes that profile's id.
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    # A plain JSON list: assign a new list to change it (in-place mutation is not tracked).
    roles: Mapped[list[str]] = mapped_column(sa.JSON, default=lambda: list(DEFAULT_ROLES))
    # The profile's is_active, as users' events report it (auth_service.handlers): false refuses
    # login and refresh until an event says true again.
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # The profile's updated_at in the last event applied: an older event (no ordering is
    # promised) must not undo a newer one. NULL until the first.
    profile_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RefreshToken(Base):
    """One refresh token, stored only as its SHA-256; rotation chains tokens into a family."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    identity_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("identities.id", ondelete="CASCADE"), index=True
    )
    # Every token a login leads to, through rotations, shares the login's family id.
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when the token is exchanged: a second exchange is reuse, i.e. theft.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginFailure(Base):
    """One failed login, counted per email and per client IP to throttle guessing."""

    __tablename__ = "login_failures"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Lower-cased; unknown emails are recorded too, so throttling reveals nothing.
    email: Mapped[str] = mapped_column(sa.String(320), index=True)
    ip: Mapped[str] = mapped_column(sa.String(45), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class InboxMessage(InboxMessageMixin, Base):
    """The ids of the users' events auth handled (auth_service.handlers): each handled once."""

    __tablename__ = "inbox_messages"
