"""Which services the gateway serves: read from Traefik's API, or from a static list.

Traefik mode needs no list of services anywhere: every router whose rule is
``PathPrefix(`/api/...`)`` is an API, named after the router, served by the first server of
its load balancer. Adding a service to the platform adds it to the docs. Several routers of one
load balancer are one API (a service's ``users`` and ``users-retry`` routers), named after the
router that bears the service's own name.
"""

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from common.errors import DependencyUnavailable
from common.http import ServiceClient

log = logging.getLogger(__name__)

# The dependency name of Traefik's API: its failures answer 503 `gateway_unavailable`.
GATEWAY = "gateway"
# A static service is served under the platform's path convention (see the README).
CONVENTIONAL_PREFIX = "/api/v1/{name}"
# Names end up in URLs, component names and the page: letters, digits, - and _ only.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
# The first API path prefix in a rule; Traefik v3 accepts backquoted or double-quoted values.
_API_PREFIX = re.compile(r"PathPrefix\(\s*[`\"](/api/[^`\"]*)[`\"]\s*\)")
# Traefik's own routers (api@internal, dashboard@internal) are never services.
_INTERNAL_PROVIDER = "internal"
# Traefik paginates lists (100 items by default) and names the next page in this header.
_NEXT_PAGE = "X-Next-Page"
_PER_PAGE = 100


@dataclass(frozen=True, slots=True)
class Service:
    """One API behind the gateway: its name, the path prefix it owns, its internal base URL."""

    name: str
    prefix: str
    url: str


class Discovery(Protocol):
    """A source of services; raises DependencyUnavailable when it cannot answer."""

    def services(self) -> list[Service]:
        """Return the services, sorted by name."""
        ...


class StaticDiscovery:
    """The services listed in DOCS_SERVICES: ``name=http://host:port,name2=...``."""

    def __init__(self, raw: str) -> None:
        self._services = parse_services(raw)

    def services(self) -> list[Service]:
        """Return the configured services."""
        return list(self._services)


def parse_services(raw: str) -> list[Service]:
    """Parse a DOCS_SERVICES value, failing loudly at start-up on anything malformed."""
    services: dict[str, Service] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, _, url = (text.strip() for text in item.partition("="))
        if not _NAME.fullmatch(name) or not url.startswith(("http://", "https://")):
            raise RuntimeError(f"DOCS_SERVICES: expected name=http://host:port, got {item!r}")
        if name in services:
            raise RuntimeError(f"DOCS_SERVICES: {name!r} is listed twice")
        services[name] = Service(name, CONVENTIONAL_PREFIX.format(name=name), url.rstrip("/"))
    return [services[name] for name in sorted(services)]


class TraefikDiscovery:
    """The services Traefik routes, from its API (``/api/http/routers`` and ``/services``)."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    def services(self) -> list[Service]:
        """Return one service per API router, read from the gateway now."""
        backends = {item.get("name"): _first_server(item) for item in self._list("services")}
        # A backend's routers are one API (users and users-retry, one load balancer), named
        # after the router named like the backend's service, or else the shortest name.
        routed: dict[str, Service] = {}
        for router in self._list("routers"):
            found = _service_of(router, backends)
            if found is None:
                continue
            backend, service = found
            named = routed.get(backend)
            if named is None or _rank(service, backend) < _rank(named, backend):
                routed[backend] = service
        apis: dict[str, Service] = {}
        for service in routed.values():
            # The same name from two providers (users@docker, users@file): the first one wins.
            apis.setdefault(service.name, service)
        return [apis[name] for name in sorted(apis)]

    def _list(self, kind: str) -> list[dict[str, Any]]:
        """Return every item of ``/api/http/<kind>``, following Traefik's pagination."""
        items: list[dict[str, Any]] = []
        page = 1
        while page:
            response = self._client.get(
                f"/api/http/{kind}", params={"page": page, "per_page": _PER_PAGE}
            )
            try:
                batch = response.json()
                next_page = int(response.headers.get(_NEXT_PAGE, "1"))
            except ValueError:  # not JSON, or a garbled header: not Traefik's API
                batch, next_page = None, 0
            if response.status_code != 200 or not isinstance(batch, list):
                log.warning("gateway API answered %s for %s", response.status_code, kind)
                raise DependencyUnavailable(GATEWAY)
            items.extend(item for item in batch if isinstance(item, dict))
            # After the last page Traefik names page 1 as the next one.
            page = next_page if next_page > page else 0
        return items


def _rank(service: Service, backend: str) -> tuple[bool, int]:
    """How well an API name fits its backend (lower is better): the backend's own name first."""
    return service.name != backend.partition("@")[0], len(service.name)


def _first_server(service: Mapping[str, Any]) -> str | None:
    """Return the first server URL of a load-balanced service (None for weighted, mirror...)."""
    servers = (service.get("loadBalancer") or {}).get("servers") or [{}]
    url = servers[0].get("url") if isinstance(servers[0], dict) else None
    return url.rstrip("/") if isinstance(url, str) and url else None


def _service_of(
    router: Mapping[str, Any], backends: Mapping[Any, str | None]
) -> tuple[str, Service] | None:
    """Return the backend a router targets (``name@provider``) and the API it serves, or None
    when it serves no API (or nothing)."""
    name, _, provider = str(router.get("name", "")).partition("@")
    match = _API_PREFIX.search(str(router.get("rule", "")))
    if (
        match is None
        or provider == _INTERNAL_PROVIDER
        or router.get("status") == "disabled"
        or not _NAME.fullmatch(name)
    ):
        return None
    target = str(router.get("service", ""))
    # A router names its service without a provider when both come from the same one.
    qualified = target if "@" in target else f"{target}@{provider}"
    url = backends.get(qualified)
    if url is None:
        log.warning("router %s: service %s has no server URL; skipped", name, qualified)
        return None
    return qualified, Service(name, match.group(1), url)


def from_config(config: Mapping[str, Any]) -> Discovery:
    """Build the discovery the configuration asks for (Traefik's API first)."""
    if config["DOCS_TRAEFIK_API"]:
        api = config["DOCS_TRAEFIK_API"]
        return TraefikDiscovery(ServiceClient.from_config(GATEWAY, api, config))
    if config["DOCS_SERVICES"]:
        return StaticDiscovery(config["DOCS_SERVICES"])
    raise RuntimeError("set DOCS_TRAEFIK_API (the gateway's API) or DOCS_SERVICES (name=url,...)")
