"""Exceptions domain code raises, and the one place that turns any exception into an envelope.

Views never catch: they raise ``NotFound``, ``Conflict``, … and ``handle_exception`` picks the
status code. Framework errors (routing 404/405, bad JSON 400, 413, 415), validation errors,
database errors and bugs all end here, so every error has the same shape.
"""

import logging
import re
from collections.abc import Iterable
from typing import Any, ClassVar

import sqlalchemy.exc as sa_exc
from flask import Flask, Response, has_request_context, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from common.envelope import error_body, json_response

log = logging.getLogger(__name__)

Headers = Iterable[tuple[str, str]]


class ApiError(Exception):
    """Base of the errors a service raises on purpose; subclasses set status and code."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    message: ClassVar[str] = "The server could not complete the request."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or self.message)
        self.message_text = message or self.message
        self.code_text = code or self.code
        self.details = details
        self.headers = headers or {}


class BadRequest(ApiError):
    status, code, message = 400, "bad_request", "The request is malformed."


class Unauthorized(ApiError):
    status, code, message = 401, "unauthorized", "Authentication is required."

    def __init__(self, message: str | None = None, *, error: str = "invalid_token", **kw: Any):
        # RFC 6750: tell the client which scheme to use and why the token was refused.
        kw.setdefault("headers", {"WWW-Authenticate": f'Bearer error="{error}"'})
        super().__init__(message, **kw)


class Forbidden(ApiError):
    status, code, message = 403, "forbidden", "You are not allowed to do this."


class NotFound(ApiError):
    status, code, message = 404, "not_found", "The resource does not exist."


class Conflict(ApiError):
    status, code, message = 409, "conflict", "The request conflicts with the resource's state."


class Unprocessable(ApiError):
    status, code, message = 422, "validation_failed", "The request body or query is invalid."


class TooManyRequests(ApiError):
    status, code, message = 429, "too_many_requests", "Too many requests; retry later."

    def __init__(self, message: str | None = None, *, retry_after: int, **kw: Any):
        kw.setdefault("headers", {"Retry-After": str(max(1, int(retry_after)))})
        super().__init__(message, **kw)


class ServiceUnavailable(ApiError):
    status, code, message = 503, "service_unavailable", "A dependency is unavailable; retry later."


class DependencyUnavailable(ServiceUnavailable):
    """A service this one calls is down or too slow; the code names it (``users_unavailable``)."""

    def __init__(self, dependency: str, message: str | None = None, **kw: Any):
        kw.setdefault("code", f"{dependency}_unavailable")
        super().__init__(message or f"The {dependency} service is unavailable; retry later.", **kw)
        self.dependency = dependency


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


# SQLSTATEs a client can fix by retrying: serialization failure and deadlock.
_RETRYABLE_SQLSTATES = {"40001", "40P01"}


def _sqlstate(exc: sa_exc.DBAPIError) -> str | None:
    orig = exc.orig
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def _describe(exc: BaseException) -> tuple[int, str, str, Any, Headers]:
    """Map an exception to (status, code, message, details, headers)."""
    if isinstance(exc, ApiError):
        return exc.status, exc.code_text, exc.message_text, exc.details, exc.headers.items()
    if isinstance(exc, ValidationError):
        return 422, "validation_failed", Unprocessable.message, exc.normalized_messages(), ()
    if isinstance(exc, HTTPException):
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        status = exc.code or 500
        return status, _snake(exc.name), exc.description or exc.name, None, headers
    if isinstance(exc, sa_exc.DBAPIError) and _sqlstate(exc) in _RETRYABLE_SQLSTATES:
        return 409, "transaction_conflict", "A concurrent change conflicted; retry.", None, ()
    if isinstance(exc, sa_exc.IntegrityError):
        return 409, "conflict", "The change conflicts with existing data.", None, ()
    if isinstance(exc, sa_exc.OperationalError | sa_exc.TimeoutError | sa_exc.InterfaceError):
        return 503, "database_unavailable", "The database is unavailable; retry later.", None, ()
    return 500, "internal_error", ApiError.message, None, ()


# Bodies up to this size are read to the end before an error answers (see below).
DRAIN_LIMIT = 16 * 1024 * 1024


def _discard_unread_body() -> None:
    """Read the body an early error left unread, so the connection can serve the next request.

    gunicorn drains at most 64 KiB of a body the app did not read and then closes the
    connection; a gateway that pooled that connection answers 502 to the next request sent on
    it. A 413 (refused before reading), or a 401/404 on a large POST, would otherwise do that.
    """
    environ = request.environ
    length = request.content_length
    if length is None:
        # No Content-Length (chunked): a 413 read and cached only the first MAX_CONTENT_LENGTH
        # bytes. Read on to the end, which the server marks (wsgi.input_terminated, as gunicorn).
        if not environ.get("wsgi.input_terminated"):
            return
        length = DRAIN_LIMIT
    elif not length or length > DRAIN_LIMIT or getattr(request, "_cached_data", None) is not None:
        return
    stream = environ["wsgi.input"]
    while length > 0:
        chunk = stream.read(min(length, 64 * 1024))
        if not chunk:
            return
        length -= len(chunk)


def error_response(exc: BaseException) -> Response:
    """Return the envelope response for any exception; never leaks a trace or SQL."""
    if has_request_context():
        _discard_unread_body()
    status, code, message, details, headers = _describe(exc)
    if status >= 500:
        # The client gets a request id; the trace goes to the log, next to that id.
        log.error("request failed: %s", code, exc_info=exc)
    return json_response(error_body(code, message, details), status, headers)


def init_app(app: Flask) -> None:
    """Route every exception, framework ones included, through ``error_response``.

    Registering a handler for ``Exception`` means Flask never reaches its PROPAGATE_EXCEPTIONS
    branch, so tests (TESTING=True) see exactly the 500 envelope production sends.
    """
    app.register_error_handler(Exception, error_response)
