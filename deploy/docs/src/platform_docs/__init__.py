"""The docs service: one Swagger UI for every API behind the gateway, served at /apidocs/."""

from collections.abc import Mapping
from typing import Any

from flask import Flask

from common import logs, request_id
from common.app import create_base_app, trust_proxies
from platform_docs import catalog, views
from platform_docs.config import DocsConfig
from platform_docs.gateway_pages import gateway_pages


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the docs service; ``config`` overrides the environment (tests use it)."""
    # No database, so not common.app.create_service_app: its base (JSON, settings, the error
    # envelope) and the same proxy rules, so "Try it out" targets the host and scheme the
    # browser used.
    app = create_base_app(__name__, config=DocsConfig, overrides=config, static_folder=None)
    # after_request hooks run last-registered-first: request id, then the access log.
    logs.init_app(app)
    request_id.init_app(app)
    catalog.init_app(app)
    app.register_blueprint(views.docs)
    app.register_blueprint(views.health)
    app.register_blueprint(gateway_pages)
    trust_proxies(app)
    return app
