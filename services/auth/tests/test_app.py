"""The factory, the JWKS's documentation, and the platform contract."""

from common.contract import ServiceContract
from common.testing import assert_examples_succeed
from tests.conftest import FAST_ARGON2
from tests.utils.auth import JWKS
from tests.utils.users_service import USERS, create_profile

ROUTES = {
    "/api/v1/auth/register": {"post"},
    "/api/v1/auth/login": {"post"},
    "/api/v1/auth/refresh": {"post"},
    "/api/v1/auth/logout": {"post"},
    JWKS: {"get"},
}


def test_factory_reads_overrides(app_factory, tmp_path):
    app = app_factory(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "AUTH_DEV_KEY_FILE": str(tmp_path / "key.pem"),
            **FAST_ARGON2,
        }
    )
    assert app.testing
    assert app.config["SERVICE_NAME"] == "auth"
    assert app.config["ACCESS_TOKEN_TTL"] == 900


def test_jwks_is_documented_as_a_bare_key_set(client):
    operation = client.get("/apispec.json").get_json()["paths"][JWKS]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["keys"]
    assert "NOT wrapped in the envelope" in operation["description"]


def test_every_operation_succeeds_with_its_documented_examples(client, httpserver):
    # Register, log in with the same example credentials; the links hand the login's refresh
    # token to the refresh, and the refresh's to the logout.
    httpserver.expect_request(USERS, method="POST").respond_with_handler(create_profile)
    assert_examples_succeed(client)


class TestPlatformContract(ServiceContract):
    paths = ROUTES
    bare_paths = frozenset({JWKS})  # a standard document, checked above
