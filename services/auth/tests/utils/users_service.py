"""The users service, played by pytest-httpserver: what registration sees from it."""

import json
import uuid
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

USERS = "/api/v1/users"


def profile(email: str, name: str) -> dict[str, Any]:
    """A profile as users returns it."""
    now = "2026-01-01T00:00:00+00:00"
    return {
        "id": str(uuid.uuid4()),
        "email": email,
        "name": name,
        "is_active": True,
        "created_at": now,
        "updated_at": now,
    }


def create_profile(request: Request) -> Response:
    """Users' answer to POST /users: 201 with a new profile for the email and name sent."""
    body = request.get_json()
    created = {"data": profile(body["email"], body["name"]), "meta": {"request_id": "users"}}
    return Response(json.dumps(created), status=201, content_type="application/json")


def expect_create(httpserver: HTTPServer, email: str, name: str) -> dict[str, Any]:
    """Users creates the profile (201) once; return it."""
    created = profile(email, name)
    httpserver.expect_oneshot_request(
        USERS, method="POST", json={"email": email, "name": name}
    ).respond_with_json({"data": created, "meta": {"request_id": "users"}}, status=201)
    return created


def expect_orphan(httpserver: HTTPServer, orphan: dict[str, Any]) -> None:
    """Users already has the profile: POST answers 409 email_taken, the list finds it."""
    error = {"code": "email_taken", "message": "taken", "details": None}
    httpserver.expect_oneshot_request(USERS, method="POST").respond_with_json(
        {"error": error, "meta": {"request_id": "users"}}, status=409
    )
    httpserver.expect_oneshot_request(
        USERS, method="GET", query_string={"email": orphan["email"]}
    ).respond_with_json(
        {"data": [orphan], "meta": {"request_id": "users", "total": 1, "limit": 20, "offset": 0}}
    )


def requests_to_users(httpserver: HTTPServer) -> list[Any]:
    """The requests users received in this test, oldest first."""
    return [request for request, _ in httpserver.log]
