"""What the users API accepts and returns; the same schemas write the OpenAPI document."""

from typing import Any, ClassVar

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from common.api import Email, PageQuerySchema


class UserSchema(Schema):
    """A user as the API returns it."""

    id = fields.UUID(dump_only=True)
    email = fields.Email(dump_only=True)
    name = fields.String(dump_only=True)
    is_active = fields.Boolean(dump_only=True)
    open_order_count = fields.Integer(
        dump_only=True,
        metadata={
            "description": "Orders placed and not cancelled, as the orders service's events "
            "reported them (eventually consistent: it lags them by about a second)."
        },
    )
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class UserCreateSchema(Schema):
    """Body of POST /users; unknown fields are refused (no mass assignment)."""

    email = Email(required=True, metadata={"example": "ada@example.com"})
    name = fields.String(
        required=True, validate=validate.Length(min=1, max=200), metadata={"example": "Ada"}
    )


class UserUpdateSchema(Schema):
    """Body of PATCH /users/{id}: any subset of the writable fields, at least one."""

    # _not_empty's rule, in the OpenAPI document (common.swagger); the body's example is what
    # Swagger UI sends by default, a change any caller may make (is_active is an admin's).
    openapi_extra: ClassVar[dict[str, Any]] = {"minProperties": 1, "example": {"name": "Ada L."}}

    email = Email(metadata={"example": "ada@example.com"})
    name = fields.String(validate=validate.Length(min=1, max=200), metadata={"example": "Ada L."})
    is_active = fields.Boolean(
        metadata={"example": False, "description": "An admin's only (403 for anyone else)."}
    )

    @validates_schema
    def _not_empty(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Give at least one field to change.", "_schema")


class UserQuerySchema(PageQuerySchema):
    """Query of GET /users: pagination plus an exact (case-insensitive) email filter."""

    email = fields.String(
        validate=validate.Length(min=1, max=320), metadata={"example": "ada@example.com"}
    )
