"""The same Traefik gateway as compose, configured with its file provider instead of labels.

Each service gets what its compose labels give it (``docker_labels`` below, which
``platform check`` holds every services/<name>/compose.yaml to): a router for its prefix, a
``<name>-retry`` router for the requests that may be retried on another server, and a load
balancer that checks ``/health/serving`` every second when it has more than one server.

Like compose's, it serves its Prometheus metrics on its API's (internal) entry point, and traces
exactly when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set: it starts each trace (or continues the
caller's ``traceparent``) and sends ``traceparent`` on to the services.
"""

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from platform_local.services import PORT_OFFSET, ROOT, Service

# Security headers and CORS, the envelope on answers no service wrote, the catch-all router: the
# very file the compose gateway loads. Its `docs` service is the one written below (compose has
# its own, deploy/gateway/compose-docs.yaml, which this stack does not load).
MIDDLEWARES = ROOT / "deploy" / "gateway" / "middlewares.yaml"
# Go's default, written down as in docker-compose.yml: above what gunicorn accepts (100 headers
# of 8 KiB, deploy/gunicorn.conf.py), so gunicorn refuses an oversized header first with a 431
# that `envelope` wraps; beyond it Go answers a plain-text 431 no middleware sees.
MAX_HEADER_BYTES = 1024 * 1024
# As docker-compose.yml: a server that does not accept a connection within 1 s counts as a
# network error (retried where safe), not a 30 s wait.
DIAL_TIMEOUT = "1s"

# What `platform up` binds on loopback besides the services: the gateway (the same variable and
# default as docker-compose.yml), Traefik's own API (discovery for the docs service, and ping)
# and the docs service. Each is shifted by PLATFORM_PORT_OFFSET, like the services' ports.
PORTS = {"gateway": int(os.environ.get("GATEWAY_PORT", "8080")), "traefik api": 8088, "docs": 8090}
GATEWAY_PORT = PORTS["gateway"] + PORT_OFFSET
TRAEFIK_API_PORT = PORTS["traefik api"] + PORT_OFFSET
DOCS_PORT = PORTS["docs"] + PORT_OFFSET


# The requests the gateway may send again, to the load balancer's next server, when they did not
# reach one or lost its connection before an answer (the `retry` middleware of middlewares.yaml
# says when). The methods RFC 9110 calls idempotent, and a POST carrying an Idempotency-Key,
# which the services take once (common.idempotency). Never another POST, nor a PATCH: those
# take the plain router.
RETRYABLE = (
    "Method(`GET`) || Method(`HEAD`) || Method(`OPTIONS`) || Method(`PUT`) || Method(`DELETE`)"
    " || (Method(`POST`) && HeaderRegexp(`Idempotency-Key`, `.+`))"
)
RETRY_MIDDLEWARE = "retry@file"
# The load balancer's own check of each server: one that does not answer /health/serving with a
# 2xx/3xx within `timeout` gets no request until it does again. Checked every `interval`: a
# server draining before a stop (503), refusing connections or gone (no connection within the
# dial timeout, 1 s) is out within 1-2 s; a hung one within interval + timeout. One failed check
# is enough for Traefik (3.7 has no threshold), so the timeout must exceed what a busy server
# takes to answer: measured on 2 shared cores, 1 s took healthy replicas out (147 of 531
# requests answered 503 "no available server" at 40 requests/s, probes up to 4.5 s while the
# machine ran other loads); at 80 requests/s on a quieter machine the probes stayed under 0.9 s.
# /health/serving, not /health/ready: readiness also fails without the database, and once every
# server of a service has failed its check the gateway answers its own plain-text 503 "no
# available server" where the service would have answered its 503 database_unavailable envelope.
HEALTH_CHECK = {"path": "/health/serving", "interval": "1s", "timeout": "3s"}


def rules(prefix: str) -> dict[str, str]:
    """The rules of a service's two routers: ``plain`` (its prefix) and ``retry``.

    Traefik's default priority is a rule's length: the retry rule, longer, wins for the requests
    it matches, and the plain one takes the rest.
    """
    plain = f"PathPrefix(`{prefix}`)"
    return {"plain": plain, "retry": f"{plain} && ({RETRYABLE})"}


def docker_labels(name: str, prefix: str, port: int = 8000) -> dict[str, str]:
    """The Traefik labels of a service's compose block (``platform check`` compares them)."""
    rule = rules(prefix)
    service = f"traefik.http.services.{name}.loadbalancer"
    return {
        "traefik.enable": "true",
        f"traefik.http.routers.{name}.rule": rule["plain"],
        f"traefik.http.routers.{name}-retry.rule": rule["retry"],
        f"traefik.http.routers.{name}-retry.middlewares": RETRY_MIDDLEWARE,
        f"{service}.server.port": str(port),
        **{f"{service}.healthcheck.{key}": value for key, value in HEALTH_CHECK.items()},
    }


def service_routes(name: str, prefix: str, urls: list[str]) -> dict[str, dict[str, Any]]:
    """A service's routers and load balancer for the file provider: what its labels say.

    The health check only where there is another server to send the requests to: with one (each
    service under `platform up`), failing it could only turn the server's own answers (its 503
    of a database gone, a slow 200 under load) into the gateway's plain 503 "no available
    server". Compose's labels cannot know how many replicas run, and always carry it.
    """
    rule = rules(prefix)
    balancer: dict[str, Any] = {"servers": [{"url": url} for url in urls]}
    if len(urls) > 1:
        balancer["healthCheck"] = dict(HEALTH_CHECK)
    return {
        "routers": {
            name: {"rule": rule["plain"], "service": name},
            f"{name}-retry": {
                "rule": rule["retry"],
                "service": name,
                "middlewares": [RETRY_MIDDLEWARE],
            },
        },
        "services": {name: {"loadBalancer": balancer}},
    }


def traces_endpoint(env: Mapping[str, str]) -> str | None:
    """Where the gateway sends its spans (OTLP/HTTP), as the services do: None when off."""
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
    return None


def sample_rate(env: Mapping[str, str]) -> float:
    """The share of requests without a sampled ``traceparent`` the gateway traces.

    Read from the services' own sampler settings, so one setting samples the platform: the
    gateway starts (almost) every trace, and the services' parent-based samplers follow it.
    Traefik's sampler always follows an incoming ``traceparent`` (parent-based) first.
    """
    sampler = (env.get("OTEL_TRACES_SAMPLER") or "parentbased_always_on").strip().lower()
    if sampler.endswith("always_off"):
        return 0.0
    if sampler.endswith("traceidratio"):
        try:
            return min(max(float(env.get("OTEL_TRACES_SAMPLER_ARG") or "1.0"), 0.0), 1.0)
        except ValueError:
            return 1.0  # the services' SDK falls back to 1.0 as well
    return 1.0


def observability(env: Mapping[str, str]) -> dict[str, Any]:
    """Traefik's metrics and, when an OTLP endpoint is set, its tracing (static config)."""
    static: dict[str, Any] = {
        # Entry point, router and service metrics on the internal `traefik` entry point (with
        # the API and ping, on loopback), never on the public one; as in docker-compose.yml.
        "metrics": {"prometheus": {"entryPoint": "traefik", "addRoutersLabels": True}},
    }
    endpoint = traces_endpoint(env)
    if endpoint:
        static["tracing"] = {
            "serviceName": "gateway",
            "sampleRate": sample_rate(env),
            "otlp": {"http": {"endpoint": endpoint}},
        }
    return static


def write_config(folder: Path, services: list[Service]) -> Path:
    """Write Traefik's static and dynamic configuration; return the static file's path.

    JSON is valid YAML, and Traefik reads both: no YAML writer needed.
    """
    # The docs: one router, one server, no retry or check (while they are down the catch-all
    # and the error pages are Traefik's plain 502, as under compose).
    http: dict[str, dict[str, Any]] = {
        "routers": {"docs": {"rule": "PathPrefix(`/apidocs`)", "service": "docs"}},
        "services": {
            "docs": {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{DOCS_PORT}"}]}}
        },
    }
    for service in services:
        routes = service_routes(service.name, service.prefix, [f"http://127.0.0.1:{service.port}"])
        for kind in ("routers", "services"):
            http[kind] |= routes[kind]
    dynamic = {"http": http}
    static = {
        "entryPoints": {
            "web": {
                "address": f"127.0.0.1:{GATEWAY_PORT}",
                "http": {
                    "middlewares": ["secure@file", "envelope@file"],
                    "maxHeaderBytes": MAX_HEADER_BYTES,
                },
            },
            "traefik": {"address": f"127.0.0.1:{TRAEFIK_API_PORT}"},
        },
        "serversTransport": {"forwardingTimeouts": {"dialTimeout": DIAL_TIMEOUT}},
        "providers": {"file": {"directory": str(folder / "dynamic")}},
        "api": {"insecure": True, "dashboard": False},
        "ping": {},
        "log": {"level": "WARN"},
    } | observability(os.environ)
    (folder / "dynamic").mkdir()
    (folder / "dynamic" / "routes.yaml").write_text(json.dumps(dynamic, indent=2))
    shutil.copy(MIDDLEWARES, folder / "dynamic" / MIDDLEWARES.name)
    static_file = folder / "traefik.yaml"
    static_file.write_text(json.dumps(static, indent=2))
    return static_file
