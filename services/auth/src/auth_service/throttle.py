"""Throttling of failed logins over a sliding window, per account (email) and per client IP."""

import math
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from auth_service.models import LoginFailure
from common.db import get_db, session, utcnow
from common.errors import TooManyRequests


def _window() -> timedelta:
    return timedelta(seconds=current_app.config["LOGIN_FAILURE_WINDOW"])


def _wait(criterion: sa.ColumnElement[bool], limit: int, now: datetime) -> float:
    """Seconds until fewer than ``limit`` failures matching ``criterion`` remain in the window."""
    recent = session.scalars(
        sa.select(LoginFailure.created_at)
        .where(criterion, LoginFailure.created_at > now - _window())
        .order_by(LoginFailure.created_at.desc())
        .limit(limit)
    ).all()
    if len(recent) < limit:
        return 0.0
    # When the oldest of the last `limit` failures leaves the window, one attempt frees up.
    return (recent[-1] + _window() - now).total_seconds()


def check(*, email: str, ip: str) -> None:
    """Raise TooManyRequests (429, Retry-After) when the account or the IP is out of attempts.

    Runs before the password is checked, so a throttled guess costs no hashing and tells nothing.
    """
    config = current_app.config
    now = utcnow()
    wait = max(
        _wait(LoginFailure.email == email, config["LOGIN_MAX_FAILURES_PER_ACCOUNT"], now),
        _wait(LoginFailure.ip == ip, config["LOGIN_MAX_FAILURES_PER_IP"], now),
    )
    if wait > 0:
        raise TooManyRequests("Too many failed logins; retry later.", retry_after=math.ceil(wait))


def record_failure(*, email: str, ip: str) -> None:
    """Count one failed login for the account and the IP."""
    now = utcnow()
    cutoff = now - _window()
    # Called right before a 401, and the request's transaction rolls back on any error status:
    # the failure must survive that, so it commits in a short transaction of its own.
    with get_db().engine.begin() as connection:
        connection.execute(sa.insert(LoginFailure).values(email=email, ip=ip, created_at=now))
        # Failures older than the window no longer count; dropping them keeps the table small.
        connection.execute(sa.delete(LoginFailure).where(LoginFailure.created_at <= cutoff))


def clear(*, email: str) -> None:
    """Forget the account's failures after a successful login (the IP's still count)."""
    session.execute(sa.delete(LoginFailure).where(LoginFailure.email == email))
