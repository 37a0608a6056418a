"""flask-restful wired to the envelope: resources return plain data, the Api wraps it.

A resource method returns ``data``, ``(data, status)`` or ``(data, status, headers)``; data may
be a ``Page`` or ``Envelope`` from ``common.envelope``. Errors are raised, never returned.
"""

import re
from dataclasses import replace
from typing import Any, cast

import flask_restful
from flask import Response, current_app, request
from marshmallow import Schema, ValidationError, fields, validate

from common.envelope import Page, json_response, success_body


def output_envelope(data: Any, code: int, headers: Any = None) -> Response:
    """flask-restful representation for JSON: wrap the view's data in the envelope."""
    if code == 204:
        response = current_app.response_class(status=204)
        response.headers.extend(headers or {})
        return response
    return json_response(success_body(data), code, headers)


class Api(flask_restful.Api):
    """flask-restful ``Api`` whose errors go through Flask's handlers like any other route.

    flask-restful's own ``handle_error`` answers errors of its routes in its own format and
    re-raises under PROPAGATE_EXCEPTIONS (on in tests); bypassing it makes every route, in tests
    and production, answer through ``common.errors``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.representations = {"application/json": output_envelope}

    def error_router(self, original_handler: Any, e: Exception) -> Any:
        """Hand every error to Flask's handler chain."""
        return original_handler(e)


def parse_body(schema: Schema) -> Any:
    """Validate the JSON body: 415 if not JSON, 400 if malformed, 422 with per-field details."""
    return schema.load(request.get_json())


def parse_query(schema: Schema) -> Any:
    """Validate the query string; unknown parameters are a 422, not silently ignored."""
    return schema.load(request.args)


def dump_page(schema: Schema, page: Page) -> Page:
    """Serialise the items of a page with a marshmallow schema, keeping its pagination."""
    return replace(page, items=schema.dump(page.items, many=True))


class FullMatch(validate.Regexp):
    """A pattern the whole value must match (``Regexp``'s ``$`` lets a trailing newline through).

    Subclassing ``Regexp`` keeps apispec writing the pattern into the OpenAPI document.
    """

    def __call__(self, value: Any) -> Any:
        """Return the value, or raise if the pattern does not span all of it."""
        if (
            not isinstance(value, str)
            or cast("re.Pattern[str]", self.regex).fullmatch(value) is None
        ):
            raise ValidationError(self._format_error(value))
        return value


class PageQuerySchema(Schema):
    """``limit``/``offset`` pagination; services extend it with their filters."""

    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000))
