"""The request id: taken from a well-formed ``X-Request-ID`` header, generated otherwise."""

import re
import secrets

from flask import Flask, Response, g, request

HEADER = "X-Request-ID"
# Ids end up in logs and headers: accept only short, printable, unambiguous ones.
_VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def get_request_id() -> str:
    """Return the id of the current request, choosing it on first use."""
    rid: str | None = g.get("request_id")
    if rid is None:
        incoming = request.headers.get(HEADER, "")
        # 128 random bits as 32 hex digits, the shape of uuid4().hex without building a UUID.
        rid = incoming if _VALID.fullmatch(incoming) else secrets.token_hex(16)
        g.request_id = rid
    return rid


def _set_header(response: Response) -> Response:
    response.headers[HEADER] = get_request_id()
    return response


def init_app(app: Flask) -> None:
    """Echo the request id on every response."""
    app.after_request(_set_header)
