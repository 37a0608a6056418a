"""The factory, the migrations, the Swagger document and the health probes."""

from flask_migrate import check
from openapi_spec_validator import validate

from users_service import create_app


def test_factory_reads_overrides():
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.testing
    assert app.config["SERVICE_NAME"] == "users"


def test_migrations_match_models(app):
    with app.app_context():
        check()  # raises if the models differ from the latest revision


def test_spec_is_valid_openapi_3_and_documents_every_route(client):
    spec = client.get("/apispec.json").get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {"/api/v1/users", "/api/v1/users/{user_id}"}
    assert set(spec["paths"]["/api/v1/users/{user_id}"]) == {"get", "patch", "delete"}


def test_every_documented_response_uses_the_envelope(client):
    spec = client.get("/apispec.json").get_json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                text = str(response)
                if status == "204":
                    continue
                assert "Envelope" in text or "#/components/responses/" in text, (path, method)


def test_swagger_ui_is_served(client):
    response = client.get("/apidocs/")
    assert response.status_code == 200
    assert b"swagger" in response.data.lower()


def test_health_probes(client):
    assert client.get("/health/live").get_json()["data"]["status"] == "ok"
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.get_json()["data"]["checks"]["database"] == "ok"
