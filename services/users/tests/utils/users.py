"""Builders for users: create them through the API, as a client would."""

import itertools
from typing import Any

from flask.testing import FlaskClient

_counter = itertools.count()
USERS = "/api/v1/users"


def user_payload(**overrides: Any) -> dict[str, Any]:
    """A valid POST /users body with a unique email."""
    n = next(_counter)
    return {"email": f"user{n}@example.com", "name": f"User {n}", **overrides}


def create_user(client: FlaskClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    """Create a user (``headers`` of an admin or service) and return its data."""
    response = client.post(USERS, json=user_payload(**overrides), headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["data"]
