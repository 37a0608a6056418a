"""Access tokens (JWTs signed through common.auth) and refresh tokens (opaque, stored hashed).

A refresh token is good for one exchange: exchanging it marks it used and issues its successor
in the same family. A used token presented again means two parties hold it (a stolen copy), so
the whole family is revoked and whoever holds its newest token must log in again.
"""

import hashlib
import logging
import secrets
import uuid
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from auth_service.keys import get_keys
from auth_service.models import Identity, RefreshToken
from common.auth import sign_access_token
from common.db import get_db, session, utcnow
from common.errors import Unauthorized

log = logging.getLogger(__name__)

SERVICE_SUBJECT = "service:auth"
SERVICE_ROLE = "service"


def _sign(*, subject: str, roles: list[str], ttl: int) -> str:
    config = current_app.config
    return sign_access_token(
        get_keys().signing_key,
        subject=subject,
        roles=roles,
        issuer=config["AUTH_ISSUER"],
        audience=config["AUTH_AUDIENCE"],
        ttl=ttl,
    )


def issue_access_token(identity: Identity) -> str:
    """An access token for ``identity``: its id as ``sub``, its roles, ACCESS_TOKEN_TTL."""
    ttl = current_app.config["ACCESS_TOKEN_TTL"]
    return _sign(subject=str(identity.id), roles=identity.roles, ttl=ttl)


def issue_service_token() -> str:
    """A short-lived token the auth service presents to other services on its own behalf."""
    ttl = current_app.config["SERVICE_TOKEN_TTL"]
    return _sign(subject=SERVICE_SUBJECT, roles=[SERVICE_ROLE], ttl=ttl)


def _digest(token: str) -> str:
    # Only the hash is stored, so a leaked table holds nothing a client could present. A fast
    # hash is enough: the token carries 256 random bits, there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def _refused() -> Unauthorized:
    return Unauthorized(
        "The refresh token is invalid, expired or revoked.", code="invalid_refresh_token"
    )


def _revoke(family_id: uuid.UUID) -> sa.Update:
    return (
        sa.update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def _revoke_now(family_id: uuid.UUID) -> None:
    # Called right before a 401, and the request's transaction rolls back on any error status:
    # the revocation must survive that, so it commits in a short transaction of its own.
    with get_db().engine.begin() as connection:
        connection.execute(_revoke(family_id))


def _find(token: str) -> RefreshToken | None:
    return session.scalar(sa.select(RefreshToken).where(RefreshToken.token_hash == _digest(token)))


def issue_refresh_token(*, identity_id: uuid.UUID, family_id: uuid.UUID | None = None) -> str:
    """A new refresh token; without ``family_id`` it starts a family (a login)."""
    token = secrets.token_urlsafe(32)
    ttl = timedelta(seconds=current_app.config["REFRESH_TOKEN_TTL"])
    session.add(
        RefreshToken(
            identity_id=identity_id,
            family_id=family_id or uuid.uuid4(),
            token_hash=_digest(token),
            expires_at=utcnow() + ttl,
        )
    )
    return token


def rotate_refresh_token(token: str) -> tuple[uuid.UUID, str]:
    """Exchange a refresh token for its successor: return the identity id and the new token."""
    row = _find(token)
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise _refused()
    family_id, identity_id = row.family_id, row.identity_id
    if row.used_at is not None:
        log.warning("refresh token reused; revoking its family %s", family_id)
        _revoke_now(family_id)
        raise _refused()
    # The conditional UPDATE is the race guard: of two concurrent exchanges of one token,
    # exactly one matches the row; the database serialises them on it.
    marked = session.execute(
        sa.update(RefreshToken)
        .where(
            RefreshToken.id == row.id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=now)
    )
    if marked.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE returns a CursorResult
        log.warning("refresh token exchanged concurrently; revoking its family %s", family_id)
        # Nothing of ours is worth keeping, and on SQLite our UPDATE holds the write lock that
        # the revocation's own transaction needs.
        session.rollback()
        _revoke_now(family_id)
        raise _refused()
    return identity_id, issue_refresh_token(identity_id=identity_id, family_id=family_id)


def revoke_family(token: str) -> None:
    """Revoke every token of the token's family (logout); an unknown token changes nothing."""
    row = _find(token)
    if row is not None:
        session.execute(_revoke(row.family_id))
