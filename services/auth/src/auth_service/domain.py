"""What the auth service does, independent of HTTP: resources call these, never the session.

Functions take keyword-only arguments and raise common.errors exceptions; the request's
transaction (common.transaction) commits or rolls back around them. The only writes that commit
on their own are those a 4xx must not undo: failed logins (throttle) and revoked token families
(tokens).
"""

import re
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from auth_service import profiles, throttle, tokens
from auth_service.models import DEFAULT_ROLES, Identity
from auth_service.passwords import get_passwords
from common.db import session
from common.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable

ADMIN_ROLE = "admin"
ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


@dataclass(frozen=True, slots=True)
class Account:
    """A registered identity with its profile's name, as registration answers it."""

    id: uuid.UUID
    email: str
    name: str
    roles: list[str]


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login or a refresh hands the client."""

    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 (the OAuth 2 token type, not a secret)


def _find_identity(email: str) -> Identity | None:
    query = sa.select(Identity).where(sa.func.lower(Identity.email) == email.lower())
    return session.scalar(query)


def _email_taken() -> Conflict:
    return Conflict("An account with this email already exists.", code="email_taken")


def _initial_roles(email: str) -> list[str]:
    listed = current_app.config["AUTH_ADMIN_EMAILS"].split(",")
    admins = {address.strip().lower() for address in listed if address.strip()}
    roles = {*DEFAULT_ROLES, ADMIN_ROLE} if email.lower() in admins else set(DEFAULT_ROLES)
    return sorted(roles)


def register(*, email: str, password: str, name: str) -> Account:
    """Create the identity and its profile in users; never one without the other (README)."""
    if _find_identity(email) is not None:
        raise _email_taken()
    # Hash before calling users: past that call, a failure leaves a profile to adopt later.
    password_hash = get_passwords().hash(password)
    profile = profiles.create_or_adopt(email=email, name=name)
    identity = Identity(
        id=profile.id, email=email, password_hash=password_hash, roles=_initial_roles(email)
    )
    session.add(identity)
    try:
        # Flush so a concurrent registration of the same email that won fails here, as a 409.
        session.flush()
    except sa.exc.IntegrityError:
        raise _email_taken() from None
    return Account(id=identity.id, email=identity.email, name=profile.name, roles=identity.roles)


def _refuse_if_disabled(identity: Identity) -> None:
    """403 for a deactivated account: the credentials are right, the account may not be used.

    403 rather than 401: another password or token would not help. Only someone who proved to
    hold the password (or a refresh token) ever sees it, so it tells a stranger nothing.
    """
    if not identity.is_active:
        raise Forbidden("This account is deactivated.", code="account_disabled")


def _tokens_for(identity: Identity, refresh_token: str) -> TokenPair:
    return TokenPair(
        access_token=tokens.issue_access_token(identity),
        refresh_token=refresh_token,
        expires_in=current_app.config["ACCESS_TOKEN_TTL"],
    )


def login(*, email: str, password: str, ip: str) -> TokenPair:
    """Exchange credentials for tokens; an unknown email and a wrong password look the same."""
    account_key = email.lower()
    throttle.check(email=account_key, ip=ip)
    identity = _find_identity(email)
    passwords = get_passwords()
    # Always verify, against a dummy hash for an unknown email: equal answers, equal time.
    matches = passwords.verify(identity.password_hash if identity else None, password)
    if identity is None or not matches:
        throttle.record_failure(email=account_key, ip=ip)
        raise Unauthorized(
            "The email or password is incorrect.",
            code="invalid_credentials",
            headers={"WWW-Authenticate": 'Bearer realm="platform"'},
        )
    _refuse_if_disabled(identity)
    throttle.clear(email=account_key)
    if passwords.needs_rehash(identity.password_hash):
        # The cost was raised since this hash was made; only now do we hold the password.
        identity.password_hash = passwords.hash(password)
    return _tokens_for(identity, tokens.issue_refresh_token(identity_id=identity.id))


def refresh(*, refresh_token: str) -> TokenPair:
    """Rotate the refresh token and issue a fresh access token with the identity's roles."""
    identity_id, new_refresh_token = tokens.rotate_refresh_token(refresh_token)
    # Tokens reference their identity (the foreign key cascades on delete).
    identity = session.get_one(Identity, identity_id)
    # The 403 rolls the rotation back: once reactivated, the same refresh token works again.
    _refuse_if_disabled(identity)
    return _tokens_for(identity, new_refresh_token)


def logout(*, refresh_token: str) -> None:
    """End the session the refresh token belongs to; unknown tokens are ignored."""
    tokens.revoke_family(refresh_token)


def grant_role(*, email: str, role: str) -> Identity:
    """Add ``role`` to the account; it is in the tokens from its next login or refresh."""
    if not ROLE_NAME.fullmatch(role) or role == tokens.SERVICE_ROLE:
        raise Unprocessable(details={"role": ["Not a role that can be granted."]})
    identity = _find_identity(email)
    if identity is None:
        raise NotFound("No account with this email.", code="identity_not_found")
    if role not in identity.roles:
        identity.roles = sorted({*identity.roles, role})  # a new list: JSON is not change-tracked
    return identity
