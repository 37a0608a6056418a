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
    """Validate the query string; unknown parameters are a 422, not silently ignored.

    A value with U+0000 (``%00``) is a 422 too: PostgreSQL text cannot hold it, so a filter
    carrying it would fail in the database instead of matching nothing.
    """
    with_nul = {name for name, value in request.args.items(multi=True) if "\x00" in value}
    if with_nul:
        raise ValidationError({name: ["Must not contain U+0000."] for name in sorted(with_nul)})
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


# The addresses Email accepts: a dot-atom local part, then a hostname of letter-digit-hyphen
# labels (no two hyphens in a row, which also rules out IDNA's "xn--") under a top-level domain
# of letters. No lookaround, so that test generators derive addresses from it quickly.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"
EMAIL_PATTERN = rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*\.[A-Za-z]{{2,63}}$"
# RFC 5321: a path is at most 256 octets with its angle brackets; of an address, the local part
# is at most 64, the domain 253 and each label 63 (``format: email`` implies these three).
EMAIL_MAX_LENGTH = 254


class _EmailAddress(FullMatch):
    """``EMAIL_PATTERN``, and the lengths RFC 5321 sets for the parts of an address."""

    def __call__(self, value: Any) -> Any:
        """Return the value, or raise if it is not an address Email accepts."""
        super().__call__(value)
        local, _, domain = value.rpartition("@")
        if len(local) > 64 or len(domain) > 253 or max(map(len, domain.split("."))) > 63:
            raise ValidationError(self._format_error(value))
        return value


class Email(fields.Email):
    """An email address every service accepts alike, and that its OpenAPI document describes.

    marshmallow's check alone accepts what ``format: email`` validators refuse: non-ASCII
    addresses, labels like ``a-`` or ``xn--zz``. Once stored, such an address would make every
    response carrying it contradict the document; and ``lower()``, on which emails' uniqueness
    rests, folds only ASCII on SQLite. Email keeps to the ASCII subset every validator accepts
    (marshmallow's included): ``EMAIL_PATTERN``, with the lengths of the parts, replaces
    marshmallow's check, and is written into the document with ``EMAIL_MAX_LENGTH``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        address = _EmailAddress(EMAIL_PATTERN, error=str(self.error_messages["invalid"]))
        others = [v for v in self.validators if not isinstance(v, validate.Email)]
        self.validators = [address, validate.Length(max=EMAIL_MAX_LENGTH), *others]


class PageQuerySchema(Schema):
    """``limit``/``offset`` pagination; services extend it with their filters."""

    limit = fields.Integer(
        load_default=20, validate=validate.Range(min=1, max=100), metadata={"example": 20}
    )
    offset = fields.Integer(
        load_default=0, validate=validate.Range(min=0, max=10_000_000), metadata={"example": 0}
    )
