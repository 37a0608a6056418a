"""The one response envelope every service answers with.

Success: ``{"data": ..., "meta": {...}}``; error:
``{"error": {"code", "message", "details"}, "meta": {...}}``; ``meta.request_id`` always equals
the ``X-Request-ID`` response header.
"""

from dataclasses import dataclass, field
from typing import Any

from flask import Response, current_app

from common.request_id import get_request_id


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list: the items plus what a client needs to fetch the next one."""

    items: list[Any]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class Envelope:
    """A success body with extra ``meta``; views return it when plain data is not enough."""

    data: Any
    meta: dict[str, Any] = field(default_factory=dict)


def meta(**extra: Any) -> dict[str, Any]:
    """Return the ``meta`` object for the current request."""
    return {"request_id": get_request_id(), **extra}


def success_body(data: Any) -> dict[str, Any]:
    """Wrap what a view returned (plain data, a ``Page`` or an ``Envelope``) in the envelope."""
    if isinstance(data, Page):
        return {
            "data": data.items,
            "meta": meta(total=data.total, limit=data.limit, offset=data.offset),
        }
    if isinstance(data, Envelope):
        return {"data": data.data, "meta": meta(**data.meta)}
    return {"data": data, "meta": meta()}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """Return the error envelope."""
    return {"error": {"code": code, "message": message, "details": details}, "meta": meta()}


def json_response(body: dict[str, Any], status: int, headers: Any = None) -> Response:
    """Serialise an envelope with the app's JSON provider."""
    response = current_app.response_class(
        current_app.json.dumps(body), status=status, mimetype="application/json"
    )
    if headers:
        response.headers.extend(headers)
    return response
