"""The documents the gateway serves: merged and per service, from live specs over HTTP."""

import pytest
from openapi_spec_validator import validate

from tests.refs import all_refs, resolve
from tests.specs import auth_spec, orders_spec, users_spec

GATEWAY = "http://127.0.0.1:8080"


@pytest.fixture()
def platform(serve, traefik, make_app):
    """The docs app discovering users, orders and auth through a fake Traefik API."""
    backends = {
        "users": serve(users_spec()),
        "orders": serve(orders_spec()),
        "auth": serve(auth_spec()),
    }
    return make_app(DOCS_TRAEFIK_API=traefik(backends))


def test_the_merged_document_holds_every_service_and_validates(platform):
    response = platform.test_client().get("/apidocs/openapi.json", base_url=GATEWAY)
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    assert {path.split("/")[3] for path in document["paths"]} == {"users", "orders", "auth"}
    # auth's paths were relative to its router prefix: the gateway serves them under it.
    assert "/api/v1/auth/login" in document["paths"]
    assert [tag["name"] for tag in document["tags"]] == ["auth", "orders", "users"]
    assert document["x-unavailable-services"] == []
    for ref in all_refs(document):
        resolve(document, ref)
    schemas = document["components"]["schemas"]
    assert schemas["users.User"] != schemas["orders.User"]


def test_try_it_out_targets_the_gateway_the_browser_used(platform):
    client = platform.test_client()
    document = client.get("/apidocs/openapi.json", base_url="http://docs.example:9000").get_json()
    assert document["servers"] == [{"url": "http://docs.example:9000"}]


def test_forwarded_headers_are_honoured_only_from_trusted_proxies(serve, make_app):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com"}
    for trusted, expected in ((1, "https://api.example.com"), (0, "http://docs:8000")):
        app = make_app(DOCS_SERVICES=f"users={serve(users_spec())}", TRUSTED_PROXIES=trusted)
        response = app.test_client().get(
            "/apidocs/openapi.json", base_url="http://docs:8000", headers=forwarded
        )
        assert response.get_json()["servers"] == [{"url": expected}]


def test_two_trusted_proxies_take_the_host_the_nearest_one_set_as_the_services_do(serve, make_app):
    # common.app.trust_proxies, the services' rules: X-Forwarded-For has an address per proxy,
    # X-Forwarded-Proto and -Host the one value the proxy nearest the app set.
    app = make_app(DOCS_SERVICES=f"users={serve(users_spec())}", TRUSTED_PROXIES=2)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com"}
    response = app.test_client().get(
        "/apidocs/openapi.json", base_url="http://docs:8000", headers=forwarded
    )
    assert response.get_json()["servers"] == [{"url": "https://api.example.com"}]


def test_each_service_document_is_served_for_the_gateway(platform):
    response = platform.test_client().get("/apidocs/specs/auth.json", base_url=GATEWAY)
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    assert document["servers"] == [{"url": GATEWAY}]
    assert set(document["paths"]) == {"/api/v1/auth/login", "/api/v1/auth/jwks.json"}
    # The service's own names: nothing to namespace in a document of one service.
    assert "Tokens" in document["components"]["schemas"]


def test_an_unknown_service_is_a_404_envelope(platform):
    response = platform.test_client().get("/apidocs/specs/billing.json")
    assert response.status_code == 404
    body = response.get_json()
    assert body["error"]["code"] == "service_not_found"
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "answer", [None, ("oops", 500), ("<html>", 200), ('{"swagger": "2.0", "paths": {}}', 200)]
)
def test_a_service_without_a_spec_is_left_out_and_listed(
    serve, traefik, make_app, closed_url, answer
):
    orders = closed_url if answer is None else serve(*answer)
    api = traefik({"users": serve(users_spec()), "orders": orders})
    client = make_app(DOCS_TRAEFIK_API=api).test_client()

    response = client.get("/apidocs/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    assert document["x-unavailable-services"] == ["orders"]
    assert all(path.startswith("/api/v1/users") for path in document["paths"])

    own = client.get("/apidocs/specs/orders.json")
    assert own.status_code == 503
    assert own.get_json()["error"]["code"] == "orders_unavailable"


@pytest.mark.parametrize("url", ["/apidocs/openapi.json", "/apidocs/specs/users.json", "/apidocs/"])
def test_without_the_gateway_api_the_docs_answer_503(make_app, closed_url, url):
    response = make_app(DOCS_TRAEFIK_API=closed_url).test_client().get(url)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "gateway_unavailable"


def test_discovery_and_specs_are_cached_for_a_few_seconds(traefik, make_app, httpserver):
    # The fake service shares the fake gateway's server, so one log holds every fetch.
    httpserver.expect_request("/users/apispec.json").respond_with_json(users_spec())
    api = traefik({"users": httpserver.url_for("/users")})
    client = make_app(DOCS_TRAEFIK_API=api, DOCS_CACHE_SECONDS=60).test_client()
    for url in ("/apidocs/", "/apidocs/openapi.json", "/apidocs/specs/users.json"):
        assert client.get(url).status_code == 200
    fetched = [request.path for request, _ in httpserver.log]
    assert fetched.count("/api/http/routers") == 1
    assert fetched.count("/users/apispec.json") == 1


def test_without_caching_every_request_asks_again(traefik, make_app, httpserver):
    httpserver.expect_request("/users/apispec.json").respond_with_json(users_spec())
    api = traefik({"users": httpserver.url_for("/users")})
    client = make_app(DOCS_TRAEFIK_API=api, DOCS_CACHE_SECONDS=0).test_client()
    client.get("/apidocs/openapi.json")
    client.get("/apidocs/openapi.json")
    fetched = [request.path for request, _ in httpserver.log]
    assert fetched.count("/api/http/routers") == 2
    assert fetched.count("/users/apispec.json") == 2


def test_a_service_that_stops_answering_keeps_its_last_document(traefik, make_app, httpserver):
    # A restart (the gateway still routes it): the merged document must not lose the service.
    httpserver.expect_oneshot_request("/users/apispec.json").respond_with_json(users_spec())
    httpserver.expect_request("/users/apispec.json").respond_with_data("", status=503)
    api = traefik({"users": httpserver.url_for("/users")})
    client = make_app(DOCS_TRAEFIK_API=api, DOCS_CACHE_SECONDS=0).test_client()
    first = client.get("/apidocs/openapi.json").get_json()
    during = client.get("/apidocs/openapi.json").get_json()
    assert [request.path for request, _ in httpserver.log].count("/users/apispec.json") >= 2
    assert during["paths"] == first["paths"] != {}
    assert during["x-unavailable-services"] == []


def test_a_service_that_never_answered_is_listed_unavailable(traefik, make_app, closed_url):
    client = make_app(DOCS_TRAEFIK_API=traefik({"users": closed_url})).test_client()
    document = client.get("/apidocs/openapi.json").get_json()
    assert document["x-unavailable-services"] == ["users"]
    assert document["paths"] == {}


def test_the_static_list_serves_the_same_documents(serve, make_app):
    services = f"users={serve(users_spec())},orders={serve(orders_spec())}"
    document = (
        make_app(DOCS_SERVICES=services).test_client().get("/apidocs/openapi.json").get_json()
    )
    validate(document)
    assert [tag["name"] for tag in document["tags"]] == ["orders", "users"]
