"""The factory, the users client, the documented contract of orders, and the platform contract."""

from common.contract import ServiceContract
from common.events.cli import HANDLERS
from common.http import ServiceClient
from common.idempotency import KEY_PATTERN
from common.testing import assert_examples_succeed
from orders_service import create_app
from orders_service.handlers import handlers
from orders_service.users_client import EXTENSION

PATHS = {
    "/api/v1/orders": {"get", "post"},
    "/api/v1/orders/{order_id}": {"get"},
    "/api/v1/orders/{order_id}/cancel": {"post"},
}


def test_factory_reads_overrides_and_defaults():
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.testing
    assert app.config["SERVICE_NAME"] == "orders"
    assert app.config["USERS_URL"] == "http://127.0.0.1:8001"


def test_users_client_is_built_once_per_app_with_its_settings(app):
    client = app.extensions[EXTENSION]
    assert isinstance(client, ServiceClient)
    assert client.base_url == app.config["USERS_URL"]
    assert client.timeout == (app.config["HTTP_CONNECT_TIMEOUT"], 0.3)
    assert client.deadline == app.config["HTTP_DEADLINE"]


def test_the_consumer_handles_users_account_events(app):
    assert app.extensions[HANDLERS] is handlers
    assert handlers.types() == [
        "users.user.deleted.v1",
        "users.user.registered.v1",
        "users.user.updated.v1",
    ]


def test_every_operation_requires_a_token_and_documents_its_errors(client):
    spec = client.get("/apispec.json").get_json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation["security"] == [{"bearerAuth": []}], (path, method)
            assert {"401", "403", "503"} <= set(operation["responses"]), (path, method)
            if "{order_id}" in path:
                assert {"404"} <= set(operation["responses"]), (path, method)
    assert "409" in spec["paths"]["/api/v1/orders/{order_id}/cancel"]["post"]["responses"]


def test_create_documents_idempotency_key_header_and_its_errors(client):
    create = client.get("/apispec.json").get_json()["paths"]["/api/v1/orders"]["post"]
    headers = [p for p in create["parameters"] if p["in"] == "header"]
    assert [h["name"] for h in headers] == ["Idempotency-Key"]
    # The pattern says what parse_key accepts (common's tests hold the two together).
    assert headers[0]["schema"]["pattern"] == KEY_PATTERN
    assert headers[0]["example"]
    assert {"201", "400", "409", "422"} <= set(create["responses"])
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OrderCreate"
    }


def test_every_operation_succeeds_with_its_documented_examples(client, admin):
    # An admin, whose account users reports active; the placed order's id comes from the links.
    assert_examples_succeed(client, admin.headers)


class TestPlatformContract(ServiceContract):
    paths = PATHS
