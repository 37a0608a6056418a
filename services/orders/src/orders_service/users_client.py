"""The users service, as orders needs it: may this account place orders?"""

import logging
import uuid

from flask import Flask, current_app

from common.errors import DependencyUnavailable, Forbidden
from common.http import ServiceClient

log = logging.getLogger(__name__)

EXTENSION = "users_client"


def init_app(app: Flask) -> None:
    """Build the client once per app: every request reuses its connection pool."""
    client = ServiceClient.from_config("users", app.config["USERS_URL"], app.config)
    app.extensions[EXTENSION] = client


def require_active_user(user_id: uuid.UUID) -> None:
    """Return if the account exists and is active; 403 ``user_inactive`` otherwise.

    The call carries the caller's token and request id (common.http); users being down, too slow
    or failing is a 503 ``users_unavailable``.
    """
    client: ServiceClient = current_app.extensions[EXTENSION]
    response = client.get(f"/api/v1/users/{user_id}")
    if response.status_code == 404:
        raise _inactive()
    if response.status_code != 200:
        # 401, 403, ...: users would not tell, so the account cannot be vouched for; that is a
        # failure of the platform, not of the caller.
        log.warning("users answered %s for user %s", response.status_code, user_id)
        raise DependencyUnavailable("users")
    try:
        active = response.json()["data"]["is_active"]
    except (ValueError, LookupError, TypeError) as exc:
        log.warning("users answered an unreadable body for user %s", user_id)
        raise DependencyUnavailable("users") from exc
    if active is not True:
        raise _inactive()


def _inactive() -> Forbidden:
    return Forbidden("This account cannot place orders.", code="user_inactive")
