"""The factory, and the platform contract (migrations, OpenAPI, envelope, Swagger UI, probes)."""

from common.contract import ServiceContract
from common.testing import assert_examples_succeed
from users_service import create_app


def test_factory_reads_overrides():
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.testing
    assert app.config["SERVICE_NAME"] == "users"


def test_every_operation_succeeds_with_its_documented_examples(client, admin):
    # An admin may use every operation; the created user's id comes from createUser's links.
    assert_examples_succeed(client, admin)


class TestPlatformContract(ServiceContract):
    paths = {
        "/api/v1/users": {"get", "post"},
        "/api/v1/users/{user_id}": {"get", "patch", "delete"},
    }
