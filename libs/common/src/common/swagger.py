"""OpenAPI 3 documents served by flasgger, written from the same marshmallow schemas that validate.

A view method states its contract once with ``@operation(...)``: the request body, query and
path parameters, the success response and the errors it can answer. The envelope and the error
responses are shared components, so every documented response has the shape the code sends.
The method's docstring is the operation's summary and description (see ``operation``). A schema
states a rule no field can (``@validates_schema``) in a class attribute ``openapi_extra``, JSON
Schema keywords added to its component, e.g. ``{"minProperties": 1}``.
"""

import inspect
from collections.abc import Callable, Iterable
from copy import deepcopy
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flasgger import Swagger
from flask import Flask
from marshmallow import Schema

F = TypeVar("F", bound=Callable[..., Any])
SchemaType = type[Schema]

OPENAPI_VERSION = "3.0.3"
SPEC_ROUTE = "/apispec.json"
UI_ROUTE = "/apidocs/"

# Error statuses every service can answer, as reusable responses.
ERROR_RESPONSES = {
    400: (
        "BadRequest",
        "Malformed request (e.g. invalid JSON, a JSON string with U+0000 or a lone surrogate).",
    ),
    401: ("Unauthorized", "Missing or invalid bearer token."),
    403: ("Forbidden", "The token lacks a required role."),
    404: ("NotFound", "The resource does not exist."),
    409: ("Conflict", "The request conflicts with the resource's state."),
    413: ("PayloadTooLarge", "The body is larger than the service accepts."),
    415: ("UnsupportedMediaType", "The body is not application/json."),
    422: (
        "ValidationFailed",
        "The body or query failed validation (a query value with U+0000 too); details per field.",
    ),
    429: ("TooManyRequests", "Throttled; see the Retry-After header."),
    503: ("ServiceUnavailable", "A dependency (database, another service) is unavailable."),
}

ENVELOPE_COMPONENTS: dict[str, Any] = {
    "Meta": {
        "type": "object",
        "required": ["request_id"],
        "properties": {"request_id": {"type": "string", "description": "Equals X-Request-ID."}},
    },
    "PageMeta": {
        "allOf": [
            {"$ref": "#/components/schemas/Meta"},
            {
                "type": "object",
                "required": ["total", "limit", "offset"],
                "properties": {
                    "total": {"type": "integer", "minimum": 0},
                    "limit": {"type": "integer", "minimum": 1},
                    "offset": {"type": "integer", "minimum": 0},
                },
            },
        ]
    },
    "Envelope": {
        "type": "object",
        "description": "Every success body: the payload in data, request facts in meta.",
        "required": ["data", "meta"],
        "properties": {"data": {"nullable": True}, "meta": {"$ref": "#/components/schemas/Meta"}},
    },
    "Error": {
        "type": "object",
        "required": ["code", "message", "details"],
        "properties": {
            "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
            "message": {"type": "string"},
            "details": {"nullable": True},
        },
    },
    "ErrorEnvelope": {
        "type": "object",
        "description": "Every error body.",
        "required": ["error", "meta"],
        "properties": {
            "error": {"$ref": "#/components/schemas/Error"},
            "meta": {"$ref": "#/components/schemas/Meta"},
        },
    },
}


def schema_name(schema: SchemaType | Schema) -> str:
    """Component name of a marshmallow schema: ``UserSchema`` -> ``User``."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    return name.removesuffix("Schema") or name


def _ref(schema: SchemaType) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{schema_name(schema)}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _success(status: int, schema: SchemaType | None, many: bool) -> dict[str, Any]:
    if status == 204:
        return {"description": "No content."}
    data: dict[str, Any] = {"nullable": True} if schema is None else _ref(schema)
    meta = {"$ref": "#/components/schemas/PageMeta" if many else "#/components/schemas/Meta"}
    if many:
        data = {"type": "array", "items": data}
    envelope = {
        "allOf": [
            {"$ref": "#/components/schemas/Envelope"},
            {"type": "object", "properties": {"data": data, "meta": meta}},
        ]
    }
    return {"description": "Success.", "content": _json(envelope)}


def _query_parameters(schema: SchemaType) -> list[dict[str, Any]]:
    spec = APISpec("q", "1", OPENAPI_VERSION, plugins=[MarshmallowPlugin()])
    converter = spec.plugins[0].converter  # type: ignore[attr-defined]
    return converter.schema2parameters(schema, location="query")


def operation(
    *,
    tags: Iterable[str],
    response: SchemaType | None = None,
    status: int = 200,
    many: bool = False,
    body: SchemaType | None = None,
    query: SchemaType | None = None,
    path: dict[str, dict[str, Any]] | None = None,
    errors: Iterable[int] = (),
    auth: bool = False,
) -> Callable[[F], F]:
    """Document a view method; errors implied by body/query/path/auth are added for you.

    The method's docstring is the operation's summary (first line) and description (the rest),
    as flasgger reads it. flasgger splits a docstring only above a ``---`` line (where its YAML
    would start; ``operation`` replaces that YAML), so a docstring with more than one line ends
    with a ``---`` line, and ``operation`` raises ``ValueError`` when it does not. A docstring::

        Cancel an order.

        Only a `placed` order can be cancelled (409 `invalid_state` otherwise).
        ---

    :param response: schema of ``data`` on success (``many`` for a paginated list).
    :param path: path parameters, name -> JSON schema (``{"type": "string", "format": "uuid"}``).
    :param errors: statuses beyond the implied ones (e.g. 409).
    """
    implied = set(errors) | {503}
    parameters: list[dict[str, Any]] = []
    for name, schema in (path or {}).items():
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
        implied.add(404)
    if query is not None:
        parameters.extend(_query_parameters(query))
        implied.add(422)
    if body is not None:
        implied |= {400, 413, 415, 422}
    if auth:
        implied |= {401, 403}

    spec: dict[str, Any] = {"tags": list(tags)}
    if parameters:
        spec["parameters"] = parameters
    if body is not None:
        spec["requestBody"] = {"required": True, "content": _json(_ref(body))}
    responses: dict[str, Any] = {str(status): _success(status, response, many)}
    for code in sorted(implied):
        responses[str(code)] = {"$ref": f"#/components/responses/{ERROR_RESPONSES[code][0]}"}
    spec["responses"] = responses
    if auth:
        spec["security"] = [{"bearerAuth": []}]
    schemas = [s for s in (response, body) if s is not None]

    def decorate(func: F) -> F:
        _check_docstring(func)
        func.specs_dict = spec  # type: ignore[attr-defined]  # flasgger reads this attribute
        func.openapi_schemas = schemas  # type: ignore[attr-defined]
        return func

    return decorate


def _check_docstring(func: Callable[..., Any]) -> None:
    """Refuse a docstring flasgger would serve whole as the summary (no ``---`` line)."""
    doc = inspect.getdoc(func)
    if doc and "\n" in doc and "---" not in doc.splitlines():
        raise ValueError(
            f"{func.__qualname__}: end a multi-line docstring with a '---' line, or flasgger "
            "serves all of it as the summary instead of the first line."
        )


def _docstring_text(text: str | None) -> str | None:
    """flasgger's sanitizer: docstring text as written (Markdown), minus surrounding blanks."""
    return text.strip() if text else text


def _documented_schemas(app: Flask) -> list[SchemaType]:
    """Every marshmallow schema an ``@operation`` of this app references."""
    found: dict[str, SchemaType] = {}
    for view in app.view_functions.values():
        view_class = getattr(view, "view_class", None)
        for attr in vars(view_class).values() if view_class else ():
            for schema in getattr(attr, "openapi_schemas", ()):
                found[schema_name(schema)] = schema
    return [found[name] for name in sorted(found)]


def build_template(app: Flask, *, title: str, version: str, description: str) -> dict[str, Any]:
    """Return the static part of the spec: info, security, envelope and domain schemas."""
    spec = APISpec(
        title,
        version,
        OPENAPI_VERSION,
        plugins=[MarshmallowPlugin(schema_name_resolver=schema_name)],
    )
    for schema in _documented_schemas(app):
        # What no field says (a rule of the whole body, e.g. {"minProperties": 1}) comes from
        # the schema's `openapi_extra`; the fields' own keywords are added over it.
        extra = deepcopy(getattr(schema, "openapi_extra", None))
        spec.components.schema(schema_name(schema), extra, schema=schema)
    schemas = deepcopy(ENVELOPE_COMPONENTS)
    schemas.update(spec.to_dict().get("components", {}).get("schemas", {}))
    error_content = _json({"$ref": "#/components/schemas/ErrorEnvelope"})
    responses = {
        name: {"description": text, "content": error_content}
        for name, text in ERROR_RESPONSES.values()
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "components": {
            "schemas": schemas,
            "responses": responses,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


class _Swagger(Swagger):
    """flasgger without its response hook when there are no headers for it to add."""

    def add_headers(self, app: Flask) -> None:
        """Register the hook only with headers configured: it runs on every response."""
        if self.config.get("headers"):
            super().add_headers(app)


def init_app(app: Flask, *, title: str, version: str = "1.0.0", description: str = "") -> Swagger:
    """Serve the spec at ``/apispec.json`` and Swagger UI at ``/apidocs/``; call after routes."""
    config = {
        "openapi": OPENAPI_VERSION,
        "headers": [],
        "specs": [{"endpoint": "apispec", "route": SPEC_ROUTE}],
        "static_url_path": "/flasgger_static",
        "swagger_ui": app.config.get("SWAGGER_UI", True),
        "specs_route": UI_ROUTE,
    }
    template = build_template(app, title=title, version=version, description=description)
    return _Swagger(app, template=template, config=config, merge=False, sanitizer=_docstring_text)
