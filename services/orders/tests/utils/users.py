"""The users service, played by a real local HTTP server (pytest-httpserver)."""

import json
import time
import uuid
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


def user_path(user_id: uuid.UUID) -> str:
    """The path orders calls to ask about ``user_id``."""
    return f"/api/v1/users/{user_id}"


def user_body(
    user_id: uuid.UUID, *, active: bool = True, updated_at: str | None = "2026-01-01T00:00:00Z"
) -> dict[str, Any]:
    """What users answers for an existing account (``updated_at`` None: without the field)."""
    user = {
        "id": str(user_id),
        "email": f"{user_id}@example.com",
        "name": "Test User",
        "is_active": active,
    }
    if updated_at is not None:
        user["updated_at"] = updated_at
    return {
        "data": user,
        "meta": {"request_id": "users"},
    }


class UsersStub:
    """Configure what the stub users service answers, per user id."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server

    def active(
        self,
        user_id: uuid.UUID,
        *,
        delay: float = 0.0,
        updated_at: str | None = "2026-01-01T00:00:00Z",
    ) -> None:
        """Answer 200 with an active account, after ``delay`` seconds."""
        body = json.dumps(user_body(user_id, updated_at=updated_at))

        def answer(request: Request) -> Response:
            time.sleep(delay)
            return Response(body, content_type="application/json")

        self.server.expect_request(user_path(user_id), method="GET").respond_with_handler(answer)

    def inactive(self, user_id: uuid.UUID) -> None:
        """Answer 200 with a deactivated account."""
        handler = self.server.expect_request(user_path(user_id), method="GET")
        handler.respond_with_json(user_body(user_id, active=False))

    def missing(self, user_id: uuid.UUID) -> None:
        """Answer 404, as users does for an unknown id."""
        handler = self.server.expect_request(user_path(user_id), method="GET")
        handler.respond_with_json(error_body("user_not_found"), status=404)

    def failing(self, user_id: uuid.UUID, status: int = 503) -> None:
        """Answer an error status every time."""
        handler = self.server.expect_request(user_path(user_id), method="GET")
        handler.respond_with_json(error_body("service_unavailable"), status=status)

    def calls(self, user_id: uuid.UUID) -> list[Request]:
        """The requests users received about ``user_id``, oldest first."""
        return [request for request, _ in self.server.log if request.path == user_path(user_id)]

    def asking_requests(self, user_id: uuid.UUID) -> set[str]:
        """Request ids of the orders requests that asked about ``user_id`` (retries count once)."""
        return {call.headers["X-Request-ID"] for call in self.calls(user_id)}


def error_body(code: str) -> dict[str, Any]:
    """An error envelope, as every platform service answers."""
    return {"error": {"code": code, "message": code, "details": None}, "meta": {}}
