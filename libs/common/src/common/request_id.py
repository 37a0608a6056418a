"""The request id: taken from a well-formed ``X-Request-ID`` header, generated otherwise."""

import re
import secrets

from flask import Flask, Response, g, request

HEADER = "X-Request-ID"
# Ids end up in logs and headers: accept only short, printable, unambiguous ones.
_VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def get_request_id() -> str:
    """Return the id of the current request, choosing it on first use."""
    # Read on every log line, by the envelope and for the header: the proxy resolved once.
    # (Each attribute read through a werkzeug LocalProxy costs about five times resolving it;
    # Flask does the same in its own hot paths.)
    request_globals = g._get_current_object()
    rid: str | None = request_globals.get("request_id")
    if rid is None:
        incoming = request._get_current_object().headers.get(HEADER, "")  # type: ignore[attr-defined]
        # 128 random bits as 32 hex digits, the shape of uuid4().hex without building a UUID.
        rid = incoming if _VALID.fullmatch(incoming) else secrets.token_hex(16)
        request_globals.request_id = rid
    return rid


def _set_header(response: Response) -> Response:
    response.headers[HEADER] = get_request_id()
    return response


def init_app(app: Flask) -> None:
    """Echo the request id on every response."""
    app.after_request(_set_header)
