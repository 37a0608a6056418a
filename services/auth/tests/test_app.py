"""The factory, the JWKS's documentation, and the platform contract."""

from common.contract import ServiceContract
from tests.conftest import FAST_ARGON2
from tests.utils.auth import JWKS

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


class TestPlatformContract(ServiceContract):
    paths = ROUTES
    bare_paths = frozenset({JWKS})  # a standard document, checked above
