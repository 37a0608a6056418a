"""HTTP endpoints for users: parse, act through users_service.domain, return data."""

import uuid

from flask import url_for
from flask_restful import Resource

from common.api import dump_page, parse_body, parse_query
from common.swagger import operation
from users_service import domain
from users_service.schemas import UserCreateSchema, UserQuerySchema, UserSchema, UserUpdateSchema

TAGS = ["users"]
USER_ID = {"user_id": {"type": "string", "format": "uuid"}}
user_schema = UserSchema()


class UserList(Resource):
    """The collection of users."""

    @operation(
        summary="List users", tags=TAGS, query=UserQuerySchema, response=UserSchema, many=True
    )
    def get(self):
        """Return one page of users, optionally filtered by email."""
        args = parse_query(UserQuerySchema())
        return dump_page(user_schema, domain.list_users(**args))

    @operation(
        summary="Create a user",
        tags=TAGS,
        body=UserCreateSchema,
        response=UserSchema,
        status=201,
        errors=[409],
    )
    def post(self):
        """Create a user; the Location header points at it."""
        user = domain.create_user(**parse_body(UserCreateSchema()))
        location = url_for("user", user_id=user.id)
        return user_schema.dump(user), 201, {"Location": location}


class UserItem(Resource):
    """One user."""

    @operation(summary="Get a user", tags=TAGS, path=USER_ID, response=UserSchema)
    def get(self, user_id: uuid.UUID):
        """Return the user."""
        return user_schema.dump(domain.get_user(user_id=user_id))

    @operation(
        summary="Update a user",
        tags=TAGS,
        path=USER_ID,
        body=UserUpdateSchema,
        response=UserSchema,
        errors=[409],
    )
    def patch(self, user_id: uuid.UUID):
        """Change any subset of the user's writable fields."""
        changes = parse_body(UserUpdateSchema())
        return user_schema.dump(domain.update_user(user_id=user_id, changes=changes))

    @operation(summary="Delete a user", tags=TAGS, path=USER_ID, status=204)
    def delete(self, user_id: uuid.UUID):
        """Delete the user."""
        domain.delete_user(user_id=user_id)
        return None, 204
