"""The docs' URLs: Swagger UI, the merged document, each service's own, the events catalog
(AsyncAPI and a page), and the probes.

Everything a browser sees lives under ``/apidocs``, the prefix the gateway routes here. The
OpenAPI and AsyncAPI documents are answered bare, not in the envelope: Swagger UI, AsyncAPI
tools and code generators read them as they are (like each service's ``/apispec.json``).
"""

from pathlib import Path
from typing import Any

import flask_swagger_ui
from flask import Blueprint, Response, jsonify, render_template, request, url_for

from common.envelope import json_response, success_body
from common.errors import DependencyUnavailable
from common.health import draining_response
from platform_docs.catalog import current_catalog
from platform_docs.events import catalog as events_catalog
from platform_docs.events import merge_events
from platform_docs.merge import UNAVAILABLE, for_gateway, merge, with_prefix

# Swagger UI's own release dist, as flask-swagger-ui ships it (its version is Swagger UI's):
# served from here, so the page needs no CDN. Only the files are used, not its blueprint, so the
# page and its configuration stay ours (the selector of documents, persistAuthorization).
SWAGGER_UI_DIST = Path(flask_swagger_ui.__file__).parent / "dist"
ALL_SERVICES = "All services"

docs = Blueprint(
    "docs",
    __name__,
    url_prefix="/apidocs",
    static_folder=SWAGGER_UI_DIST,
    static_url_path="/static",
    template_folder="templates",
)
health = Blueprint("health", __name__, url_prefix="/health")


def gateway_url() -> str:
    """Return the gateway's base URL as the caller reached it (ProxyFix applies X-Forwarded-*)."""
    return request.host_url.rstrip("/")


# /apidocs answers too, rather than a redirect whose body would not be in the envelope.
@docs.get("/", strict_slashes=False)
def ui() -> str:
    """One Swagger UI page; its top bar switches between the merged and each service's doc."""
    urls = [{"name": ALL_SERVICES, "url": url_for(".merged")}]
    urls += [
        {"name": service.name, "url": url_for(".service_spec", name=service.name)}
        for service in current_catalog().services()
    ]
    config = {
        "urls": urls,
        "urls.primaryName": ALL_SERVICES,
        "deepLinking": True,
        "persistAuthorization": True,
        # Swagger UI would otherwise send every spec URL to an online validator.
        "validatorUrl": None,
    }
    return render_template("swagger_ui.html", config=config)


@docs.get("/openapi.json")
def merged() -> Response:
    """The merged document of every service whose spec answers; the others are listed."""
    catalog = current_catalog()
    specs, unavailable = {}, []
    for service in catalog.services():
        spec = catalog.spec(service)
        if spec is None:
            unavailable.append(service.name)
        else:
            specs[service.name] = with_prefix(spec, service.prefix)
    return jsonify(merge(specs, server_url=gateway_url(), unavailable=unavailable))


@docs.get("/specs/<name>.json")
def service_spec(name: str) -> Response:
    """One service's own document, its "Try it out" sent through the gateway."""
    catalog = current_catalog()
    service = catalog.find(name)
    spec = catalog.spec(service)
    if spec is None:
        raise DependencyUnavailable(service.name)
    return jsonify(for_gateway(spec, prefix=service.prefix, server_url=gateway_url()))


def merged_events() -> dict[str, Any]:
    """Every service's AsyncAPI document merged; the services without one are listed."""
    catalog = current_catalog()
    documents, unavailable = {}, []
    for service in catalog.services():
        document = catalog.events(service)
        if document is None:
            unavailable.append(service.name)
        else:
            documents[service.name] = document
    return merge_events(documents, unavailable=unavailable)


@docs.get("/asyncapi.json")
def asyncapi() -> Response:
    """The events catalog as one AsyncAPI 3.0 document: each type, its producer, its consumers."""
    return jsonify(merged_events())


@docs.get("/events")
def events() -> str:
    """The events catalog as a page: a table per event type, no script."""
    merged = merged_events()
    return render_template(
        "events.html", entries=events_catalog(merged), unavailable=merged[UNAVAILABLE]
    )


@health.get("/live")
def live() -> Response:
    """The process is up and serving requests."""
    return json_response(success_body({"status": "ok"}), 200)


@health.get("/ready")
def ready() -> Response:
    """The docs can be served: discovery answers (a service without a spec is only left out);
    503 ``shutting_down`` while gunicorn drains before it stops (common.health)."""
    if (stopping := draining_response()) is not None:
        return stopping
    services = current_catalog().services()
    body = {"status": "ok", "checks": {"discovery": "ok"}, "services": len(services)}
    return json_response(success_body(body), 200)
