"""Fixtures: fake services and a fake Traefik API on real local HTTP servers, and the app."""

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from pytest_httpserver import HTTPServer

from platform_docs import create_app
from tests import traefik_api

Spec = dict[str, Any]


@pytest.fixture(scope="session")
def service_servers() -> Iterator[list[HTTPServer]]:
    """Three real HTTP servers for fake services, started once (stopping one takes a while)."""
    servers = [HTTPServer(host="127.0.0.1", port=0) for _ in range(3)]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture()
def serve(service_servers: list[HTTPServer]) -> Iterator[Callable[..., str]]:
    """Start a fake service answering ``spec`` at /apispec.json; return its base URL.

    ``events``, if given, is answered at /asyncapi.json (a service without it answers 500 there,
    pytest-httpserver's "no handler").
    """
    free = list(service_servers)

    def start(spec: Spec | str, status: int = 200, events: Spec | str | None = None) -> str:
        server = free.pop(0)
        for route, document in (("/apispec.json", spec), ("/asyncapi.json", events)):
            if document is None:
                continue
            handler = server.expect_request(route)
            if isinstance(document, str):
                handler.respond_with_data(document, status=status)
            else:
                handler.respond_with_json(document, status=status)
        return server.url_for("").rstrip("/")

    yield start
    for server in service_servers:
        server.clear()


@pytest.fixture()
def traefik(httpserver: HTTPServer) -> Callable[[dict[str, str]], str]:
    """Play Traefik's API routing ``{name: backend URL}``; return the API's base URL."""

    def publish(backends: dict[str, str]) -> str:
        routers, services = traefik_api.payload(backends)
        httpserver.expect_request("/api/http/routers").respond_with_json(routers)
        httpserver.expect_request("/api/http/services").respond_with_json(services)
        return httpserver.url_for("").rstrip("/")

    return publish


@pytest.fixture()
def closed_url() -> str:
    """A URL where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture()
def make_app() -> Callable[..., Flask]:
    """Build the docs app with test settings; no caching unless a test asks for it."""

    def build(**config: Any) -> Flask:
        defaults = {"TESTING": True, "DOCS_TRAEFIK_API": "", "DOCS_SERVICES": ""}
        return create_app({**defaults, "DOCS_CACHE_SECONDS": 0, **config})

    return build
