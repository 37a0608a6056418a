"""What the gateway answers itself, in the envelope like every service (deploy/gateway).

Two callers, both the gateway: its lowest-priority router sends every path no service is routed
at to ``/gateway/no-route`` (rewritten by Traefik's ``replacePath``, so no other path of the docs
service becomes public), and its ``errors`` middleware asks ``/gateway/errors/<status>`` for the
body of an answer that came from gunicorn or Traefik, not from a service.
"""

from typing import NoReturn

from flask import Blueprint, abort

from common.errors import NotFound

gateway_pages = Blueprint("gateway_pages", __name__, url_prefix="/gateway")

# Statuses no service answers itself (a service's own 400, 404, 413 or 503 is already an
# envelope and passes through untouched): gunicorn's request line or header over its limit,
# Traefik's own when a service does not answer or answers too late.
PAGES = {414, 431, 502, 504}
# The catch-all keeps the client's method, and any method gets the same 404. OPTIONS is listed
# so that Flask does not answer it with its automatic, bodiless 200.
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@gateway_pages.route("/no-route", methods=ANY_METHOD)
def no_route() -> NoReturn:
    """A path no service is routed at (or, under compose, one whose service is down)."""
    # Its own code: a client (and the integration suite) can tell "no service here" from a
    # service's own `not_found`, which says the object does not exist.
    raise NotFound("No service is routed at this path.", code="no_route")


@gateway_pages.get("/errors/<int:status>")
def error_page(status: int) -> NoReturn:
    """The envelope of ``status``: werkzeug's name and description, through common.errors."""
    if status not in PAGES:
        raise NotFound()
    abort(status)
