"""Discovery: Traefik's API (a real local server playing it) and the static list."""

import pytest
from pytest_httpserver import HTTPServer

from common.errors import DependencyUnavailable
from common.http import ServiceClient
from platform_docs.config import DocsConfig
from platform_docs.discovery import (
    Service,
    StaticDiscovery,
    TraefikDiscovery,
    from_config,
    parse_services,
)
from tests import traefik_api


def discover(httpserver: HTTPServer) -> list[Service]:
    """Run Traefik discovery against the fake API."""
    client = ServiceClient("gateway", httpserver.url_for(""), retries=0)
    return TraefikDiscovery(client).services()


def publish(httpserver: HTTPServer, routers: list[dict], services: list[dict]) -> None:
    """Make the fake API answer these lists."""
    httpserver.expect_request("/api/http/routers").respond_with_json(routers)
    httpserver.expect_request("/api/http/services").respond_with_json(services)


def test_every_api_router_is_a_service_and_nothing_else(httpserver):
    routers, services = traefik_api.payload(
        {"users": "http://172.18.0.4:8000", "orders": "http://172.18.0.5:8000"}
    )
    publish(httpserver, routers, services)
    # The payload also holds api@internal (PathPrefix(`/api`)), the dashboard, ping and the
    # docs router (PathPrefix(`/apidocs`)): none of them is an API.
    assert discover(httpserver) == [
        Service("orders", "/api/v1/orders", "http://172.18.0.5:8000"),
        Service("users", "/api/v1/users", "http://172.18.0.4:8000"),
    ]


def test_a_rule_combining_matchers_still_names_its_api_prefix(httpserver):
    rule = 'Host(`api.example.com`) && PathPrefix("/api/v1/auth")'
    publish(
        httpserver,
        [traefik_api.router("auth", rule, "auth-svc@file", provider="docker")],
        [traefik_api.service("auth-svc", "http://auth:8000/", provider="file")],
    )
    # The service is qualified with another provider here; the URL loses its trailing slash.
    assert discover(httpserver) == [Service("auth", "/api/v1/auth", "http://auth:8000")]


def test_the_file_provider_of_the_stack_without_docker_reads_the_same(httpserver):
    secure = {"middlewares": ["secure@file"]}
    publish(
        httpserver,
        [
            traefik_api.router("users", "PathPrefix(`/api/v1/users`)", "users", "file", **secure),
            traefik_api.router("docs", "PathPrefix(`/apidocs`)", "docs", "file", **secure),
        ],
        [
            traefik_api.service("users", "http://127.0.0.1:8001", provider="file"),
            traefik_api.service("docs", "http://127.0.0.1:8090", provider="file"),
        ],
    )
    assert discover(httpserver) == [Service("users", "/api/v1/users", "http://127.0.0.1:8001")]


def test_a_services_retry_router_is_not_another_api(httpserver):
    # The gateway routes each service twice (platform_local.gateway.rules): its prefix, and the
    # requests it may retry. Traefik lists routers by name: users-retry@docker before
    # users@docker ("-" sorts before "@").
    retry = "PathPrefix(`/api/v1/users`) && (Method(`GET`) || Method(`HEAD`))"
    publish(
        httpserver,
        [
            traefik_api.router("users-retry", retry, "users", middlewares=["retry@file"]),
            traefik_api.router("users", "PathPrefix(`/api/v1/users`)", "users"),
        ],
        [traefik_api.service("users", "http://172.18.0.4:8000")],
    )
    assert discover(httpserver) == [Service("users", "/api/v1/users", "http://172.18.0.4:8000")]


def test_disabled_routers_and_routers_without_a_server_are_skipped(httpserver):
    publish(
        httpserver,
        [
            traefik_api.router("users", "PathPrefix(`/api/v1/users`)", "users", status="disabled"),
            traefik_api.router("orders", "PathPrefix(`/api/v1/orders`)", "weighted"),
        ],
        [traefik_api.service("weighted")],  # no loadBalancer: e.g. a weighted service
    )
    assert discover(httpserver) == []


def test_pages_are_followed(httpserver):
    routers, services = traefik_api.payload(
        {"users": "http://users:8000", "auth": "http://auth:8000"}
    )
    first, rest = routers[:3], routers[3:]
    httpserver.expect_request(
        "/api/http/routers", query_string={"page": "1", "per_page": "100"}
    ).respond_with_json(first, headers={"X-Next-Page": "2"})
    httpserver.expect_request(
        "/api/http/routers", query_string={"page": "2", "per_page": "100"}
    ).respond_with_json(rest, headers={"X-Next-Page": "1"})
    httpserver.expect_request("/api/http/services").respond_with_json(
        services, headers={"X-Next-Page": "1"}
    )
    assert [service.name for service in discover(httpserver)] == ["auth", "users"]


@pytest.mark.parametrize(
    "status, body, headers",
    [
        (404, "404 page not found", {}),
        (200, "<html>not the API</html>", {}),
        (200, '{"routers": []}', {}),
        (200, "[]", {"X-Next-Page": "two"}),
    ],
)
def test_an_answer_that_is_not_traefiks_api_means_the_gateway_is_unavailable(
    httpserver, status, body, headers
):
    for kind in ("routers", "services"):
        httpserver.expect_request(f"/api/http/{kind}").respond_with_data(
            body, status=status, headers=headers, content_type="application/json"
        )
    with pytest.raises(DependencyUnavailable) as raised:
        discover(httpserver)
    assert raised.value.code_text == "gateway_unavailable"


def test_an_unreachable_api_means_the_gateway_is_unavailable(closed_url):
    client = ServiceClient("gateway", closed_url, retries=0)
    with pytest.raises(DependencyUnavailable) as raised:
        TraefikDiscovery(client).services()
    assert raised.value.code_text == "gateway_unavailable"


def test_the_static_list_follows_the_path_convention():
    assert parse_services(" users=http://users:8000/ , auth=http://auth:8000,") == [
        Service("auth", "/api/v1/auth", "http://auth:8000"),
        Service("users", "/api/v1/users", "http://users:8000"),
    ]


@pytest.mark.parametrize(
    "raw",
    ["users", "users=users:8000", "=http://x:1", "us ers=http://x:1", "a=http://x,a=http://y"],
)
def test_a_malformed_static_list_fails_at_start_up(raw):
    with pytest.raises(RuntimeError, match="DOCS_SERVICES"):
        parse_services(raw)


def config(**values: str) -> dict:
    """The default settings with some values replaced."""
    defaults = {key: getattr(DocsConfig, key) for key in dir(DocsConfig) if key.isupper()}
    return {**defaults, "DOCS_TRAEFIK_API": "", "DOCS_SERVICES": "", **values}


def test_the_gateway_api_wins_over_the_static_list():
    both = config(DOCS_TRAEFIK_API="http://gateway:8080", DOCS_SERVICES="users=http://users:8000")
    assert isinstance(from_config(both), TraefikDiscovery)
    assert isinstance(from_config(config(DOCS_SERVICES="users=http://users:8000")), StaticDiscovery)


def test_without_any_source_the_service_refuses_to_start():
    with pytest.raises(RuntimeError, match="DOCS_TRAEFIK_API"):
        from_config(config())
