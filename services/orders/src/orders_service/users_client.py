"""The users service, as orders asks it about an account it has not heard of yet."""

import logging
import uuid
from typing import Any

from flask import Flask, current_app

from common.errors import DependencyUnavailable
from common.http import ServiceClient

log = logging.getLogger(__name__)

EXTENSION = "users_client"


def init_app(app: Flask) -> None:
    """Build the client once per app: every request reuses its connection pool and breaker."""
    client = ServiceClient.from_config("users", app.config["USERS_URL"], app.config)
    app.extensions[EXTENSION] = client


def fetch_user(user_id: uuid.UUID) -> dict[str, Any] | None:
    """Users' representation of the account (``is_active`` a boolean), or None if it has none.

    The call carries the caller's token and request id, and fails fast (common.http: a deadline
    per call, a circuit breaker): users down, hung, failing or answering outside its contract is
    a 503 ``users_unavailable``.
    """
    client: ServiceClient = current_app.extensions[EXTENSION]
    response = client.get(f"/api/v1/users/{user_id}")
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        # 401, 403, ...: users would not tell, so the account cannot be vouched for; that is a
        # failure of the platform, not of the caller.
        log.warning("users answered %s for user %s", response.status_code, user_id)
        raise DependencyUnavailable("users")
    try:
        user = response.json()["data"]
        if not isinstance(user["is_active"], bool):
            raise TypeError("is_active is not a boolean")
    except (ValueError, LookupError, TypeError) as exc:
        log.warning("users answered an unreadable body for user %s", user_id)
        raise DependencyUnavailable("users") from exc
    return dict(user)
