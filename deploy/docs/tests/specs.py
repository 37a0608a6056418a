"""Realistic OpenAPI documents of fake services, shaped like the ones common.swagger writes,
and their AsyncAPI documents, written by common.events.asyncapi itself.

Each has the platform's Envelope, ErrorEnvelope, Meta and error responses, alike in every
service but orders' Envelope; and they collide on purpose: users and orders both define ``User``
and ``Envelope``, with different content.
"""

from copy import deepcopy
from typing import Any

from marshmallow import Schema, fields, validate

from common.events import EventType
from common.events.asyncapi import build_document

Spec = dict[str, Any]

BEARER = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
ERROR_RESPONSES = {
    "401": ("Unauthorized", "Missing or invalid bearer token."),
    "404": ("NotFound", "The resource does not exist."),
    "409": ("Conflict", "The request conflicts with the resource's state."),
    "422": ("ValidationFailed", "The body or query failed validation; details per field."),
    "503": ("ServiceUnavailable", "A dependency (database, another service) is unavailable."),
}
UUID = {"type": "string", "format": "uuid"}
ENVELOPE = "Every success body: the payload in data, request facts in meta."


def ref(kind: str, name: str) -> dict[str, str]:
    """A local reference to a component."""
    return {"$ref": f"#/components/{kind}/{name}"}


def success(schema: str | None, *, many: bool = False, status: str = "200") -> Spec:
    """Responses of an operation: the enveloped success plus the shared error responses."""
    data: Spec = {"nullable": True} if schema is None else ref("schemas", schema)
    if many:
        data = {"type": "array", "items": data}
    meta = ref("schemas", "PageMeta" if many else "Meta")
    envelope = {
        "allOf": [
            ref("schemas", "Envelope"),
            {"type": "object", "properties": {"data": data, "meta": meta}},
        ]
    }
    responses: Spec = {
        status: {"description": "Success.", "content": {"application/json": {"schema": envelope}}}
    }
    for code in ("401", "422", "503"):
        responses[code] = ref("responses", ERROR_RESPONSES[code][0])
    return responses


def operation(summary: str, schema: str | None, **kwargs: Any) -> Spec:
    """An authenticated operation answering ``schema`` in the envelope."""
    return {
        "summary": summary,
        "tags": ["resources"],
        "responses": success(schema, **kwargs),
        "security": [{"bearerAuth": []}],
    }


def with_body(op: Spec, schema: str) -> Spec:
    """The operation with a JSON request body."""
    op["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": ref("schemas", schema)}},
    }
    return op


def with_id(op: Spec, name: str) -> Spec:
    """The operation with a uuid path parameter and a 404 response."""
    op["parameters"] = [{"name": name, "in": "path", "required": True, "schema": UUID}]
    op["responses"]["404"] = ref("responses", "NotFound")
    return op


def document(title: str, paths: Spec, schemas: Spec, *, envelope: str = ENVELOPE) -> Spec:
    """A service's whole document: its paths and schemas plus the platform's components."""
    error_content = {"application/json": {"schema": ref("schemas", "ErrorEnvelope")}}
    meta = {
        "type": "object",
        "required": ["request_id"],
        "properties": {"request_id": {"type": "string", "description": "Equals X-Request-ID."}},
    }
    page_meta = {
        "allOf": [
            ref("schemas", "Meta"),
            {
                "type": "object",
                "required": ["total", "limit", "offset"],
                "properties": {name: {"type": "integer"} for name in ("total", "limit", "offset")},
            },
        ]
    }
    platform = {
        "Meta": meta,
        "PageMeta": page_meta,
        "Envelope": {
            "type": "object",
            "description": envelope,
            "required": ["data", "meta"],
            "properties": {"data": {"nullable": True}, "meta": ref("schemas", "Meta")},
        },
        "Error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"nullable": True},
            },
        },
        "ErrorEnvelope": {
            "type": "object",
            "required": ["error", "meta"],
            "properties": {"error": ref("schemas", "Error"), "meta": ref("schemas", "Meta")},
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1.0.0", "description": f"{title}."},
        "paths": deepcopy(paths),
        "components": {
            "schemas": {**platform, **deepcopy(schemas)},
            "responses": {
                name: {"description": text, "content": error_content}
                for name, text in ERROR_RESPONSES.values()
            },
            "securitySchemes": {"bearerAuth": dict(BEARER)},
        },
    }


def users_spec() -> Spec:
    """The users service: profiles, under /api/v1/users."""
    user = {
        "type": "object",
        "properties": {
            "id": {**UUID, "readOnly": True},
            "email": {"type": "string", "format": "email"},
            "name": {"type": "string"},
        },
        "additionalProperties": False,
    }
    create = {"type": "object", "required": ["email", "name"], "properties": user["properties"]}
    paths = {
        "/api/v1/users": {
            "get": operation("List users", "User", many=True),
            "post": with_body(operation("Create a user", "User", status="201"), "UserCreate"),
        },
        "/api/v1/users/{user_id}": {
            "get": with_id(operation("Get a user", "User"), "user_id"),
            "delete": with_id(operation("Delete a user", None, status="204"), "user_id"),
        },
    }
    return document("Users service", paths, {"User": user, "UserCreate": create})


def orders_spec() -> Spec:
    """The orders service: its own, smaller ``User`` and a differently described Envelope."""
    user = {"type": "object", "properties": {"id": UUID}, "required": ["id"]}
    order = {
        "type": "object",
        "properties": {
            "id": UUID,
            "user": ref("schemas", "User"),
            "total_cents": {"type": "integer", "minimum": 0},
        },
    }
    paths = {
        "/api/v1/orders": {
            "get": operation("List my orders", "Order", many=True),
            "post": with_body(operation("Place an order", "Order", status="201"), "OrderCreate"),
        },
        "/api/v1/orders/{order_id}": {
            "get": with_id(operation("Get an order", "Order"), "order_id")
        },
    }
    create = {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"type": "object"}}},
    }
    return document(
        "Orders service",
        paths,
        {"User": user, "Order": order, "OrderCreate": create},
        envelope="An order answer: data, and meta with the request id.",
    )


def auth_spec() -> Spec:
    """The auth service, its paths written relative to its prefix (the merge must add it)."""
    tokens = {"type": "object", "properties": {"access_token": {"type": "string"}}}
    login = {
        "type": "object",
        "properties": {"email": {"type": "string"}, "password": {"type": "string"}},
    }
    paths = {
        "/login": {"post": with_body(operation("Log in", "Tokens"), "Login")},
        "/jwks.json": {
            "get": {"summary": "Public keys", "responses": {"200": {"description": "JWKS."}}}
        },
    }
    return document("Auth service", paths, {"Tokens": tokens, "Login": login})


# The services' events documents, written by the code the services use (common.events.asyncapi)
# from event types declared here: users produces the user's lifecycle, orders the orders'; auth
# and orders consume users' deletion, users consumes orders' placement.
class UserSchema(Schema):
    """A user as the events carry it."""

    id = fields.UUID(required=True)
    email = fields.Email(required=True)
    nickname = fields.String(allow_none=True)


class UserDeletedSchema(Schema):
    """A deleted user."""

    id = fields.UUID(required=True)
    deleted_at = fields.AwareDateTime(required=True)


class LineSchema(Schema):
    """One line of an order."""

    sku = fields.String(required=True, validate=validate.Length(min=1, max=40))
    quantity = fields.Integer(required=True, validate=validate.Range(min=1))


class OrderPlacedSchema(Schema):
    """A placed order."""

    id = fields.UUID(required=True)
    currency = fields.String(required=True, validate=validate.OneOf(["EUR", "USD"]))
    lines = fields.List(fields.Nested(LineSchema), required=True)


USER_REGISTERED = EventType("users.user.registered.v1", UserSchema, "A user registered.")
USER_DELETED = EventType("users.user.deleted.v1", UserDeletedSchema, "A user was deleted.")
ORDER_PLACED = EventType("orders.order.placed.v1", OrderPlacedSchema, "An order was placed.")
EXCHANGE = "platform.events"


def events_document(service: str, produced: list[EventType], consumed: list[str]) -> Spec:
    """One service's AsyncAPI document, as ``/asyncapi.json`` answers it."""
    return build_document(
        service=service,
        title=f"{service.capitalize()} service",
        exchange=EXCHANGE,
        produced=produced,
        consumed=consumed,
        consumer_queue=f"{EXCHANGE}.{service}",
    )


def users_events() -> Spec:
    """users: publishes its users' lifecycle, consumes orders' placement."""
    return events_document("users", [USER_REGISTERED, USER_DELETED], [ORDER_PLACED.name])


def orders_events() -> Spec:
    """orders: publishes placements, consumes the users' registrations and deletions."""
    return events_document("orders", [ORDER_PLACED], [USER_REGISTERED.name, USER_DELETED.name])


def auth_events() -> Spec:
    """auth: publishes nothing, consumes deletions."""
    return events_document("auth", [], [USER_DELETED.name])
