"""What every service serves at ``/metrics``, and the per-request measures behind it.

Per request: one histogram observation labelled with the route *template* (``request.url_rule``,
e.g. ``/widgets/<uuid:widget_id>``; ``unmatched`` for a 404 without a route), the method and
the status, plus the in-flight gauge's increment and decrement around the WSGI call. The
labelled children are looked up once per (route, method, status) and kept, since
prometheus_client's ``labels()`` costs several times an observation. The database pool and the
outbox are read elsewhere (``common.metrics.database``): pool events, and a query at scrape
time.

``/metrics`` is served on the service's own port like any route; the gateway routes only
``/api/v1/<service>`` prefixes, so it stays inside (deploy/gateway).
"""

import time
from typing import Any

from flask import Flask, Response, g, request

from common.metrics import (
    CONTENT_TYPE,
    PATH,
    REQUEST_DURATION,
    REQUESTS_IN_FLIGHT,
    exposition,
)
from common.metrics.database import OutboxCollector, watch_pools

UNMATCHED = "unmatched"
# Anything else a client sends as a method is counted as OTHER: one label value each would let
# a client create series at will.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _InFlight:
    """WSGI middleware: the requests between arrival and answer, counted in ``gauge``.

    Around the WSGI call rather than in Flask's hooks: a request context pushed without a
    request (``test_request_context``, or a before_request hook that refused it) would run a
    teardown without its before_request, and the gauge would drift.
    """

    def __init__(self, wsgi_app: Any, gauge: Any) -> None:
        self.wsgi_app = wsgi_app
        self.gauge = gauge

    def __call__(self, environ: Any, start_response: Any) -> Any:
        self.gauge.inc()
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            self.gauge.dec()


def init_app(app: Flask) -> None:
    """Measure every request of ``app`` and serve the metrics at ``/metrics``.

    Register it before ``common.logs``: after_request hooks run last-registered-first, so the
    observation is the request's last step and its duration includes the commit and the log.
    """
    service = app.config["SERVICE_NAME"]
    in_flight = REQUESTS_IN_FLIGHT.labels(service)
    children: dict[tuple[str, str, int], Any] = {}

    def observe(response: Response) -> Response:
        started = g.get("request_started")  # common.logs' timer
        if started is None:  # a before_request hook ahead of the timer refused the request
            return response
        rule, method = request.url_rule, request.method
        key = (
            UNMATCHED if rule is None else rule.rule,
            method if method in METHODS else "OTHER",
            response.status_code,
        )
        child = children.get(key)
        if child is None:
            child = children[key] = REQUEST_DURATION.labels(service, key[1], key[0], key[2])
        child.observe(time.perf_counter() - started)
        return response

    app.after_request(observe)
    app.wsgi_app = _InFlight(app.wsgi_app, in_flight)  # type: ignore[method-assign]
    watch_pools(app)
    outbox = OutboxCollector(app)

    def serve_metrics() -> Response:
        """Prometheus' text exposition of the service (all workers under gunicorn)."""
        return Response(exposition([outbox]), content_type=CONTENT_TYPE)

    app.add_url_rule(PATH, "metrics", serve_metrics, methods=["GET"])
