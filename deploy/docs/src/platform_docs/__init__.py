"""The docs service: one Swagger UI for every API behind the gateway, served at /apidocs/."""

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from common import errors, logs, request_id
from common.app import JSONProvider
from platform_docs import catalog, views
from platform_docs.config import DocsConfig
from platform_docs.gateway_pages import gateway_pages


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the docs service; ``config`` overrides the environment (tests use it)."""
    # No database, so not common.app.create_service_app: the same mechanisms, picked one by one.
    app = Flask(__name__, static_folder=None)
    # Compact and in authored order: an OpenAPI document reads top-down (openapi, info, paths).
    app.json = JSONProvider(app)
    app.config.from_object(DocsConfig)
    app.config.update(config or {})

    errors.init_app(app)
    # after_request hooks run last-registered-first: request id, then the access log.
    logs.init_app(app)
    request_id.init_app(app)
    if app.config["TRUSTED_PROXIES"]:
        # Behind the gateway: "Try it out" must target the host and scheme the browser used.
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops
        )

    catalog.init_app(app)
    app.register_blueprint(views.docs)
    app.register_blueprint(views.health)
    app.register_blueprint(gateway_pages)
    return app
