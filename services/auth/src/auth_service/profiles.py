"""The users service as registration needs it: create a profile, or adopt an orphaned one.

Calls carry a service token minted by auth itself (role ``service``) and the request's
``X-Request-ID`` (common.http). Down, slow, 5xx, or an answer outside the contract all become
``DependencyUnavailable`` (503 ``users_unavailable``): registration stores nothing then.
"""

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import requests
from flask import Flask, current_app

from auth_service.tokens import issue_service_token
from common.errors import DependencyUnavailable
from common.http import ServiceClient

log = logging.getLogger(__name__)

USERS_PATH = "/api/v1/users"


@dataclass(frozen=True, slots=True)
class Profile:
    """The part of a users-service profile registration needs."""

    id: uuid.UUID
    name: str


def init_app(app: Flask) -> None:
    """Create the app's client for the users service, reused by every request."""
    client = ServiceClient.from_config("users", app.config["USERS_URL"], app.config)
    app.extensions["users_client"] = client


def _client() -> ServiceClient:
    client: ServiceClient = current_app.extensions["users_client"]
    return client


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_code(body: Any) -> Any:
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def _broken_contract(response: requests.Response, what: str) -> DependencyUnavailable:
    log.error("users answered %s to %s outside its contract", response.status_code, what)
    return DependencyUnavailable("users")


def _profile(data: Any, response: requests.Response, what: str) -> Profile:
    try:
        return Profile(id=uuid.UUID(data["id"]), name=str(data["name"]))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise _broken_contract(response, what) from None


def create_or_adopt(*, email: str, name: str) -> Profile:
    """Create the profile for ``email``; if users already has one, adopt it.

    The caller has checked that no identity has this email, so a profile that exists is an
    orphan: an earlier registration created it and then failed. Adopting it finishes that work.
    """
    token = issue_service_token()
    response = _client().post(USERS_PATH, json={"email": email, "name": name}, token=token)
    body = _json(response)
    if response.status_code == 201 and isinstance(body, dict):
        return _profile(body.get("data"), response, "create")
    if response.status_code == 409 and _error_code(body) == "email_taken":
        return _find(email=email, token=token)
    raise _broken_contract(response, "create")


def _find(*, email: str, token: str) -> Profile:
    """The one profile with ``email`` (case-insensitive), which users just said exists."""
    response = _client().get(USERS_PATH, params={"email": email}, token=token)
    body = _json(response)
    items = body.get("data") if response.status_code == 200 and isinstance(body, dict) else None
    if not isinstance(items, list) or len(items) != 1:
        # Includes the profile vanishing between the two calls: a retry then creates it.
        raise _broken_contract(response, "find by email")
    return _profile(items[0], response, "find by email")
