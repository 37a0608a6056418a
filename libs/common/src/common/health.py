"""Liveness (the process answers), readiness (the database answers, and no stop has begun), and
serving (no stop has begun: the gateway's check).

Readiness also answers 503 ``shutting_down`` while the server drains before it stops:
deploy/gunicorn.conf.py, on the first SIGTERM, creates the file named by
``SHUTDOWN_DRAIN_FILE`` and keeps serving for ``SHUTDOWN_DRAIN_SECONDS``, so that a load
balancer probing ``/health/ready`` stops sending work here before the listeners close. A file,
not a variable, because the master decides and every worker (forked before) must see it.
"""

import os

from flask import Blueprint, Response
from sqlalchemy import text

from common.api import output_envelope
from common.db import session
from common.envelope import error_body, json_response
from common.errors import ServiceUnavailable

bp = Blueprint("health", __name__, url_prefix="/health")

# The variable deploy/gunicorn.conf.py sets (when SHUTDOWN_DRAIN_SECONDS is above 0) to the
# path of the file whose existence means "draining".
DRAIN_FILE = "SHUTDOWN_DRAIN_FILE"


def draining() -> bool:
    """Whether the server this process belongs to is draining before it stops."""
    path = os.environ.get(DRAIN_FILE)
    return path is not None and os.path.exists(path)


def draining_response() -> Response | None:
    """While draining, the readiness answer: 503 ``shutting_down``; otherwise None.

    Returned rather than raised: a stop is no failure, so no error line with a trace per probe
    (the access line still shows the 503). The docs service's readiness starts with it too.
    """
    if not draining():
        return None
    return json_response(error_body("shutting_down", "The service is shutting down."), 503)


@bp.get("/live")
def live() -> Response:
    """The process is up and serving requests (while draining too: nothing to restart)."""
    return output_envelope({"status": "ok"}, 200)


@bp.get("/serving")
def serving() -> Response:
    """The process takes requests: 503 ``shutting_down`` while it drains, 200 otherwise.

    The gateway's health check, not readiness: with the database down a service still answers
    every request in the envelope (503 ``database_unavailable``), whereas a load balancer whose
    every server failed its check answers its own plain-text 503 (Traefik has no "keep the last
    servers" option). Orchestrators keep using ``/health/ready``.
    """
    if (stopping := draining_response()) is not None:
        return stopping
    return output_envelope({"status": "ok"}, 200)


@bp.get("/ready")
def ready() -> Response:
    """The service can take work: no stop has begun, and its database answers a trivial query."""
    if (stopping := draining_response()) is not None:
        return stopping
    try:
        session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means "not ready"
        raise ServiceUnavailable(
            "The database is unavailable.", code="database_unavailable"
        ) from exc
    return output_envelope({"status": "ok", "checks": {"database": "ok"}}, 200)
