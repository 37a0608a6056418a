"""Realistic OpenAPI documents of fake services, shaped like the ones common.swagger writes.

Each has the platform's Envelope, ErrorEnvelope, Meta and error responses, alike in every
service but orders' Envelope; and they collide on purpose: users and orders both define ``User``
and ``Envelope``, with different content.
"""

from copy import deepcopy
from typing import Any

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
