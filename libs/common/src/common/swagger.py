"""OpenAPI 3 documents served by flasgger, written from the same marshmallow schemas that validate.

A view method states its contract once with ``@operation(...)``: the request body, query and
path parameters, the success response and the errors it can answer. The envelope and the error
responses are shared components, so every documented response has the shape the code sends.
The method's docstring is the operation's summary and description (see ``operation``). A schema
states a rule no field can (``@validates_schema``) in a class attribute ``openapi_extra``, JSON
Schema keywords added to its component, e.g. ``{"minProperties": 1}``.

The document is written for the tools people feed it to, not only for readers: every operation
has an ``operationId`` (generated clients name their functions after it), every input field an
``example`` in its metadata (Swagger UI's "Try it out" sends them; ``common.testing``'s
``assert_examples_succeed`` holds them to it), a success body is a named component per payload
(``OrderEnvelope``, ``OrderPage``) whose fields a response always carries are ``required``, and
a create response ``links`` to the operations on what it created.
"""

import inspect
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from copy import deepcopy
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flasgger import Swagger
from flask import Flask
from marshmallow import Schema, fields

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


# The methods an OpenAPI path item may hold operations under.
HTTP_METHODS = frozenset({"get", "put", "post", "patch", "delete", "head", "options", "trace"})


def operations(spec: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) of every operation of an OpenAPI document."""
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield path, method, op


def resolve(spec: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow local ``$ref``s of an OpenAPI document to what they name."""
    while "$ref" in node:
        ref, node = node["$ref"], spec
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
    return node


def schema_name(schema: SchemaType | Schema) -> str:
    """Component name of a marshmallow schema: ``UserSchema`` -> ``User``."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    return name.removesuffix("Schema") or name


def _ref(schema: SchemaType) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{schema_name(schema)}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def envelope_name(schema: SchemaType, many: bool) -> str:
    """Component name of a success body: ``OrderEnvelope``, or ``OrderPage`` for a list."""
    return schema_name(schema) + ("Page" if many else "Envelope")


def _envelope_component(schema: SchemaType, many: bool) -> dict[str, Any]:
    # A plain object, not an allOf of Envelope plus overrides: client generators (e.g.
    # openapi-python-client) keep the first definition of a property of an allOf, so a list's
    # meta came out as Meta and its total/limit/offset as untyped extra properties.
    data: dict[str, Any] = _ref(schema)
    meta = "PageMeta" if many else "Meta"
    if many:
        data = {"type": "array", "items": data}
    return {
        "type": "object",
        "description": f"Success body: {'a page of ' if many else ''}{schema_name(schema)}.",
        "required": ["data", "meta"],
        "properties": {"data": data, "meta": {"$ref": f"#/components/schemas/{meta}"}},
    }


def _success(
    status: int, schema: SchemaType | None, many: bool, links: dict[str, Any]
) -> dict[str, Any]:
    if status == 204:
        response: dict[str, Any] = {"description": "No content."}
    else:
        name = "Envelope" if schema is None else envelope_name(schema, many)
        response = {
            "description": "Success.",
            "content": _json({"$ref": f"#/components/schemas/{name}"}),
        }
    if links:
        response["links"] = links
    return response


# camelCase, as generators expect: `cancelOrder` becomes `cancel_order` in Python, `cancelOrder`
# in TypeScript.
OPERATION_ID = re.compile(r"[a-z][a-zA-Z0-9]*")


def _query_parameters(schema: SchemaType) -> list[dict[str, Any]]:
    spec = APISpec("q", "1", OPENAPI_VERSION, plugins=[MarshmallowPlugin()])
    converter = spec.plugins[0].converter  # type: ignore[attr-defined]
    return converter.schema2parameters(schema, location="query")


def operation(
    *,
    operation_id: str,
    tags: Iterable[str],
    response: SchemaType | None = None,
    status: int = 200,
    many: bool = False,
    body: SchemaType | None = None,
    query: SchemaType | None = None,
    path: dict[str, dict[str, Any]] | None = None,
    errors: Iterable[int] = (),
    auth: bool = False,
    links: Mapping[str, Mapping[str, Any]] | None = None,
) -> Callable[[F], F]:
    """Document a view method; errors implied by body/query/path/auth are added for you.

    The method's docstring is the operation's summary (first line) and description (the rest),
    as flasgger reads it. flasgger splits a docstring only above a ``---`` line (where its YAML
    would start; ``operation`` replaces that YAML), so a docstring with more than one line ends
    with a ``---`` line, and ``operation`` raises ``ValueError`` when it does not. A docstring::

        Cancel an order.

        Only a `placed` order can be cancelled (409 `invalid_state` otherwise).
        ---

    :param operation_id: unique among every service's operations (the gateway merges their
        documents), verb + noun in camelCase: ``cancelOrder``, ``listUsers``.
    :param response: schema of ``data`` on success (``many`` for a paginated list).
    :param path: path parameters, name -> JSON schema with an ``example``.
    :param errors: statuses beyond the implied ones (e.g. 409).
    :param links: from the success response to the operations it enables, target
        ``operationId`` -> the rest of an OpenAPI Link object, e.g.
        ``{"getOrder": {"parameters": {"order_id": "$response.body#/data/id"}}}``.
    """
    if not OPERATION_ID.fullmatch(operation_id):
        raise ValueError(f"operation_id {operation_id!r}: verb + noun in camelCase, e.g. getOrder")
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

    spec: dict[str, Any] = {"operationId": operation_id, "tags": list(tags)}
    if parameters:
        spec["parameters"] = parameters
    if body is not None:
        spec["requestBody"] = {"required": True, "content": _json(_ref(body))}
    # A link is named after the operation it leads to: the name says where it goes.
    named = {target: {"operationId": target, **link} for target, link in (links or {}).items()}
    responses: dict[str, Any] = {str(status): _success(status, response, many, named)}
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
        func.openapi_body = body  # type: ignore[attr-defined]
        func.openapi_response = (response, many) if status != 204 else None  # type: ignore[attr-defined]
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


def _documented_methods(app: Flask) -> list[Any]:
    """Every method of this app's views that an ``@operation`` documents."""
    methods = []
    for view in app.view_functions.values():
        view_class = getattr(view, "view_class", None)
        for attr in vars(view_class).values() if view_class else ():
            if hasattr(attr, "openapi_schemas"):
                methods.append(attr)
    return methods


def _documented_schemas(methods: Iterable[Any]) -> list[SchemaType]:
    """Every marshmallow schema the documented methods reference."""
    found = {schema_name(s): s for method in methods for s in method.openapi_schemas}
    return [found[name] for name in sorted(found)]


def _answered(methods: Iterable[Any]) -> dict[str, tuple[SchemaType, bool]]:
    """The success bodies, component name -> (schema of data, many)."""
    found = {}
    for method in methods:
        schema, many = method.openapi_response or (None, False)
        if schema is not None:
            found[envelope_name(schema, many)] = (schema, many)
    return found


def _nested(schema: SchemaType) -> Iterable[SchemaType]:
    """The schemas ``schema`` nests (in a Nested or a List of Nested), at any depth."""
    for field in schema._declared_fields.values():  # marshmallow's field map
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested) and isinstance(inner.nested, type):
            yield inner.nested
            yield from _nested(inner.nested)


def _require_every_field(components: dict[str, Any], names: Iterable[str]) -> None:
    """Mark every property of what a response carries ``required`` (a nullable one stays so).

    A response is a dump, and a dump writes every field of its schema (None as null); saying so
    is what makes a generated client type them ``X`` instead of ``X | Unset``.
    """
    for name in names:
        component = components[name]
        component["required"] = list(component.get("properties", {}))


def build_template(app: Flask, *, title: str, version: str, description: str) -> dict[str, Any]:
    """Return the static part of the spec: info, security, envelope and domain schemas."""
    methods = _documented_methods(app)
    answered = _answered(methods)
    sent = {schema_name(m.openapi_body) for m in methods if m.openapi_body is not None}
    received = {schema_name(s) for s, _ in answered.values() for s in (s, *_nested(s))}
    if sent & received:
        # Every field of a response is required, which a body's optional fields are not.
        raise ValueError(f"{sorted(sent & received)}: one schema for a body, another for data")
    spec = APISpec(
        title,
        version,
        OPENAPI_VERSION,
        plugins=[MarshmallowPlugin(schema_name_resolver=schema_name)],
    )
    for schema in _documented_schemas(methods):
        # What no field says (a rule of the whole body, e.g. {"minProperties": 1}) comes from
        # the schema's `openapi_extra`; the fields' own keywords are added over it.
        extra = deepcopy(getattr(schema, "openapi_extra", None))
        spec.components.schema(schema_name(schema), extra, schema=schema)
    schemas = deepcopy(ENVELOPE_COMPONENTS)
    domain = spec.to_dict().get("components", {}).get("schemas", {})
    _require_every_field(domain, received)
    clashes = set(domain) & set(answered) | (set(domain) | set(answered)) & set(schemas)
    if clashes:
        raise ValueError(f"{sorted(clashes)}: a schema named like an envelope component")
    schemas.update(domain)
    schemas.update({name: _envelope_component(*shape) for name, shape in answered.items()})
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
