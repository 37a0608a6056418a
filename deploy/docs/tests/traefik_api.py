"""What Traefik v3's API answers at /api/http/routers and /api/http/services.

Shapes as Traefik 3.7 answers them with the docker provider (and its own API test data): routers
are named ``name@provider`` and name their service without the provider when it is the same
one; services carry ``loadBalancer.servers[].url``. Besides the APIs, a gateway in compose also
has its own routers (api, dashboard, ping) and the docs router, none of which is an API.
"""

from typing import Any

Item = dict[str, Any]


def router(name: str, rule: str, service: str, provider: str = "docker", **extra: Any) -> Item:
    """One router as the API lists it."""
    entry_points = ["traefik"] if provider == "internal" else ["web"]
    return {
        "entryPoints": entry_points,
        "service": service,
        "rule": rule,
        "priority": len(rule),
        "priorityStr": str(len(rule)),
        "observability": {
            "accessLogs": True,
            "metrics": True,
            "tracing": True,
            "traceVerbosity": "minimal",
        },
        "status": "enabled",
        "using": entry_points,
        "name": f"{name}@{provider}",
        "provider": provider,
        **extra,
    }


def service(name: str, url: str | None = None, provider: str = "docker") -> Item:
    """One service; a load balancer when it has a server URL, an internal handler otherwise."""
    item: Item = {
        "status": "enabled",
        "usedBy": [f"{name}@{provider}"],
        "name": f"{name}@{provider}",
        "provider": provider,
    }
    if url is not None:
        item["loadBalancer"] = {
            "servers": [{"url": url}],
            "strategy": "wrr",
            "passHostHeader": True,
            "responseForwarding": {"flushInterval": "100ms"},
        }
        item["serverStatus"] = {url: "UP"}
        item["type"] = "loadbalancer"
    return item


def payload(backends: dict[str, str]) -> tuple[list[Item], list[Item]]:
    """Routers and services of a gateway routing /api/v1/<name> to each backend, plus the rest."""
    routers = [
        router("api", "PathPrefix(`/api`)", "api@internal", provider="internal"),
        router("dashboard", "PathPrefix(`/`)", "dashboard@internal", provider="internal"),
        router("ping", "PathPrefix(`/ping`)", "ping@internal", provider="internal"),
        router("docs", "PathPrefix(`/apidocs`)", "docs"),
    ]
    services = [
        service("api", provider="internal"),
        service("dashboard", provider="internal"),
        service("ping", provider="internal"),
        service("docs", "http://172.18.0.9:8000"),
    ]
    for name, url in backends.items():
        routers.append(router(name, f"PathPrefix(`/api/v1/{name}`)", name))
        services.append(service(name, url))
    # Traefik sorts both lists by name.
    return sorted(routers, key=lambda item: item["name"]), sorted(
        services, key=lambda item: item["name"]
    )
