"""The factory, the migrations, the Swagger document and the health probes."""

from flask_migrate import check
from openapi_spec_validator import validate

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


def test_migrations_match_models(app):
    with app.app_context():
        check()  # raises if the models differ from the latest revision


def test_spec_is_valid_openapi_3_and_documents_every_route(client):
    spec = client.get("/apispec.json").get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert {path: set(operations) for path, operations in spec["paths"].items()} == ROUTES


def test_every_enveloped_response_is_documented_with_the_envelope(client):
    spec = client.get("/apispec.json").get_json()
    for path, operations in spec["paths"].items():
        if path == JWKS:
            continue  # a standard document, checked below
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status == "204":
                    continue
                text = str(response)
                assert "Envelope" in text or "#/components/responses/" in text, (path, method)


def test_jwks_is_documented_as_a_bare_key_set(client):
    operation = client.get("/apispec.json").get_json()["paths"][JWKS]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["keys"]
    assert "NOT wrapped in the envelope" in operation["description"]


def test_swagger_ui_is_served(client):
    response = client.get("/apidocs/")
    assert response.status_code == 200
    assert b"swagger" in response.data.lower()


def test_health_probes(client):
    assert client.get("/health/live").get_json()["data"]["status"] == "ok"
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.get_json()["data"]["checks"]["database"] == "ok"
