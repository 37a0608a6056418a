"""The services and their live documents (OpenAPI, AsyncAPI), fetched on demand, kept a few seconds.

One page load asks for the UI, the merged document and perhaps a service's own: the cache makes
that one discovery and one fetch per service. A spec that cannot be fetched is cached as missing
too, so a dead service costs one timeout per cache period, not one per request -- unless the
service served one before: a service the gateway still routes keeps its last document while it
restarts, instead of dropping out of the merged document (and of clients generated from it).
"""

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard, TypeVar

from flask import Flask, current_app

from common.errors import DependencyUnavailable, NotFound
from common.events.asyncapi import ASYNCAPI_ROUTE
from common.http import ServiceClient
from common.swagger import SPEC_ROUTE
from platform_docs import discovery
from platform_docs.discovery import Discovery, Service

log = logging.getLogger(__name__)

EXTENSION = "platform_docs"
Spec = dict[str, Any]
T = TypeVar("T")


class _TTLCache:
    """Values kept for ``ttl`` seconds; a loader that raises caches nothing."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        # dict reads and writes are atomic: threads missing together both load, which is harmless.
        self._entries: dict[str, tuple[float, Any]] = {}

    def get(self, key: str, load: Callable[[], T]) -> T:
        """Return the cached value of ``key``, loading it when missing or expired."""
        entry = self._entries.get(key)
        now = self._clock()
        if entry is not None and now - entry[0] < self._ttl:
            return entry[1]
        value = load()
        self._entries[key] = (now, value)
        return value


class Catalog:
    """What the docs show: the discovered services and, for each, its spec or None."""

    def __init__(self, source: Discovery, config: Mapping[str, Any]) -> None:
        self._source = source
        self._config = config
        self._cache = _TTLCache(config["DOCS_CACHE_SECONDS"])
        self._clients: dict[str, ServiceClient] = {}
        self._last_served: dict[tuple[str, str], Spec] = {}  # (service, route) -> its document

    def services(self) -> list[Service]:
        """Return the services the gateway serves; 503 ``gateway_unavailable`` if unknown."""
        return self._cache.get("services", self._source.services)

    def find(self, name: str) -> Service:
        """Return the service called ``name``; 404 ``service_not_found`` if there is none."""
        for service in self.services():
            if service.name == name:
                return service
        raise NotFound(f"No service named {name!r} behind the gateway.", code="service_not_found")

    def spec(self, service: Service) -> Spec | None:
        """Return the service's OpenAPI 3.0 document as it serves it, or None if unavailable."""
        return self._cache.get(
            f"spec:{service.name}",
            lambda: self._fetch(service, SPEC_ROUTE, _is_openapi_3_0, "OpenAPI 3.0"),
        )

    def events(self, service: Service) -> Spec | None:
        """Return the service's AsyncAPI 3.0 document (its events), or None if unavailable."""
        return self._cache.get(
            f"events:{service.name}",
            lambda: self._fetch(service, ASYNCAPI_ROUTE, _is_asyncapi_3, "AsyncAPI 3.0"),
        )

    def _fetch(
        self, service: Service, route: str, usable: Callable[[Any], TypeGuard[Spec]], kind: str
    ) -> Spec | None:
        """Fetch one of the service's documents. When it is down, too slow or unusable: the last
        one it served, or None if it never did."""
        try:
            response = self._client(service).get(route)
            spec = response.json() if response.status_code == 200 else None
        except (DependencyUnavailable, ValueError):  # refused, timed out, 5xx, or not JSON
            spec = None
        key = (service.name, route)
        if not usable(spec):
            last = self._last_served.get(key)
            kept = "; keeping the last one it served" if last is not None else ""
            log.warning("no %s document at %s%s%s", kind, service.url, route, kept)
            return last
        self._last_served[key] = spec
        return spec

    def _client(self, service: Service) -> ServiceClient:
        """Reuse one client (and its connection pool) per service while its URL is the same."""
        client = self._clients.get(service.name)
        if client is None or client.base_url != service.url:
            client = ServiceClient.from_config(service.name, service.url, self._config)
            self._clients[service.name] = client
        return client


def _is_openapi_3_0(spec: Any) -> TypeGuard[Spec]:
    """Tell a mergeable document: Swagger 2 or OpenAPI 3.1 in a 3.0 one would be nonsense."""
    return (
        isinstance(spec, dict)
        and str(spec.get("openapi", "")).startswith("3.0.")
        and isinstance(spec.get("paths"), dict)
        and isinstance(spec.get("components", {}), dict)
    )


def _is_asyncapi_3(document: Any) -> TypeGuard[Spec]:
    """Tell a mergeable events document: AsyncAPI 2 has no ``operations`` to merge."""
    return (
        isinstance(document, dict)
        and str(document.get("asyncapi", "")).startswith("3.")
        and isinstance(document.get("channels", {}), dict)
        and isinstance(document.get("operations", {}), dict)
    )


def init_app(app: Flask) -> None:
    """Give the app the catalog its configuration describes."""
    app.extensions[EXTENSION] = Catalog(discovery.from_config(app.config), app.config)


def current_catalog() -> Catalog:
    """Return the catalog of the current app."""
    catalog: Catalog = current_app.extensions[EXTENSION]
    return catalog
