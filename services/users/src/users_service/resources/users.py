"""HTTP endpoints for users: authorize, parse, act through users_service.domain, return data.

A user sees and changes only their own profile; another user's profile answers 404, exactly
like one that does not exist, so ids cannot be probed. ``admin`` may do anything; ``service``
(other services, e.g. auth creating a profile at registration) may create, list and read.
"""

import uuid
from typing import Any

from flask import url_for

from common.api import dump_page, parse_body, parse_query
from common.auth import AuthResource, current_principal, roles_required
from common.envelope import Page
from common.errors import Forbidden, NotFound
from common.swagger import operation
from users_service import domain
from users_service.schemas import (
    UserCreateSchema,
    UserQuerySchema,
    UserSchema,
    UserUpdateSchema,
)

TAGS = ["users"]
USER_ID = {
    "user_id": {
        "type": "string",
        "format": "uuid",
        "example": "4a1c2f0e-8b7d-4e5a-9c3b-2d6f1e0a7b98",
    }
}
# The operations a created user's id leads to (OpenAPI links: clients and test tools follow them).
CREATED_USER = {"parameters": {"user_id": "$response.body#/data/id"}}
# Fields only an admin may change: a user sending one is refused (403), not silently ignored.
ADMIN_FIELDS = ("is_active",)
user_schema = UserSchema()


def authorize_access(user_id: uuid.UUID, *roles: str) -> None:
    """Let through the user themself or a holder of ``roles``; anyone else gets a 404."""
    principal = current_principal()
    if principal.subject != str(user_id) and not principal.has_role(*roles):
        raise NotFound("No user with this id.", code="user_not_found")


class UserList(AuthResource):
    """The collection of users."""

    @operation(
        operation_id="listUsers",
        tags=TAGS,
        query=UserQuerySchema,
        response=UserSchema,
        many=True,
        auth=True,
    )
    @roles_required("admin", "service")
    def get(self) -> Page:
        """List users, optionally filtered by email (admin or service only)."""
        args = parse_query(UserQuerySchema())
        return dump_page(user_schema, domain.list_users(**args))

    @operation(
        operation_id="createUser",
        tags=TAGS,
        body=UserCreateSchema,
        response=UserSchema,
        status=201,
        errors=[409],
        auth=True,
        links={"getUser": CREATED_USER, "updateUser": CREATED_USER, "deleteUser": CREATED_USER},
    )
    @roles_required("admin", "service")
    def post(self) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Create a user (admin, or the auth service at registration).

        The Location header points at the new user.
        ---
        """
        user = domain.create_user(**parse_body(UserCreateSchema()))
        location = url_for("user", user_id=user.id)
        return user_schema.dump(user), 201, {"Location": location}


class UserItem(AuthResource):
    """One user."""

    @operation(operation_id="getUser", tags=TAGS, path=USER_ID, response=UserSchema, auth=True)
    def get(self, user_id: uuid.UUID) -> dict[str, Any]:
        """Get a user (yourself, unless admin or service)."""
        authorize_access(user_id, "admin", "service")
        return user_schema.dump(domain.get_user(user_id=user_id))

    @operation(
        operation_id="updateUser",
        tags=TAGS,
        path=USER_ID,
        body=UserUpdateSchema,
        response=UserSchema,
        errors=[409],
        auth=True,
    )
    def patch(self, user_id: uuid.UUID) -> dict[str, Any]:
        """Update a user (yourself, unless admin).

        Change any subset of the writable fields: users change their name and email; only an
        admin may set is_active (403 `forbidden` naming the field otherwise).
        ---
        """
        authorize_access(user_id, "admin")
        changes = parse_body(UserUpdateSchema())
        refused = [name for name in ADMIN_FIELDS if name in changes]
        if refused and not current_principal().has_role("admin"):
            message = f"Only an admin may change {', '.join(refused)}."
            raise Forbidden(message, details={name: ["Admin only."] for name in refused})
        return user_schema.dump(domain.update_user(user_id=user_id, changes=changes))

    @operation(operation_id="deleteUser", tags=TAGS, path=USER_ID, status=204, auth=True)
    def delete(self, user_id: uuid.UUID) -> tuple[None, int]:
        """Delete a user (yourself, unless admin)."""
        authorize_access(user_id, "admin")
        domain.delete_user(user_id=user_id)
        return None, 204
