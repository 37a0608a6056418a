"""The same Traefik gateway as compose, configured with its file provider instead of labels.

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

# What `platform up` binds on loopback besides the services: the gateway (the same variable and
# default as docker-compose.yml), Traefik's own API (discovery for the docs service, and ping)
# and the docs service. Each is shifted by PLATFORM_PORT_OFFSET, like the services' ports.
PORTS = {"gateway": int(os.environ.get("GATEWAY_PORT", "8080")), "traefik api": 8088, "docs": 8090}
GATEWAY_PORT = PORTS["gateway"] + PORT_OFFSET
TRAEFIK_API_PORT = PORTS["traefik api"] + PORT_OFFSET
DOCS_PORT = PORTS["docs"] + PORT_OFFSET


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
    prefixes = {s.name: s.prefix for s in services} | {"docs": "/apidocs"}
    routers = {
        name: {"rule": f"PathPrefix(`{prefix}`)", "service": name}
        for name, prefix in prefixes.items()
    }
    backends = {s.name: s.port for s in services} | {"docs": DOCS_PORT}
    dynamic = {
        "http": {
            "routers": routers,
            "services": {
                name: {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{port}"}]}}
                for name, port in backends.items()
            },
        }
    }
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
