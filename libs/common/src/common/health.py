"""Liveness (the process answers) and readiness (the database answers) probes."""

from flask import Blueprint, Response
from sqlalchemy import text

from common.api import output_envelope
from common.db import session
from common.errors import ServiceUnavailable

bp = Blueprint("health", __name__, url_prefix="/health")


@bp.get("/live")
def live() -> Response:
    """The process is up and serving requests."""
    return output_envelope({"status": "ok"}, 200)


@bp.get("/ready")
def ready() -> Response:
    """The service can do its work: its database answers a trivial query."""
    try:
        session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means "not ready"
        raise ServiceUnavailable(
            "The database is unavailable.", code="database_unavailable"
        ) from exc
    return output_envelope({"status": "ok", "checks": {"database": "ok"}}, 200)
