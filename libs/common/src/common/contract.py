"""What every service of the platform promises, as tests a service's suite inherits.

::

    class TestPlatformContract(ServiceContract):
        paths = {"/api/v1/users": {"get", "post"}, "/api/v1/users/{user_id}": {"get", "delete"}}

pytest collects the inherited tests in the service's module, with the fixtures of
``common.testing`` (``app``, ``client``).
"""

from typing import ClassVar

from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import check
from openapi_spec_validator import validate


class ServiceContract:
    """Migrations, OpenAPI document, envelope, Swagger UI and probes, checked the same way."""

    #: every documented path and its methods, exactly
    paths: ClassVar[dict[str, set[str]]] = {}
    #: paths that answer a standard document instead of the envelope (e.g. a JWKS)
    bare_paths: ClassVar[frozenset[str]] = frozenset()

    def test_migrations_match_models(self, app: Flask) -> None:
        with app.app_context():
            check()  # raises if the models differ from the latest revision

    def test_spec_is_valid_openapi_3_and_documents_every_route(self, client: FlaskClient) -> None:
        spec = client.get("/apispec.json").get_json()
        validate(spec)
        assert spec["openapi"].startswith("3.")
        assert {path: set(ops) for path, ops in spec["paths"].items()} == self.paths

    def test_every_documented_response_uses_the_envelope(self, client: FlaskClient) -> None:
        spec = client.get("/apispec.json").get_json()
        for path, operations in spec["paths"].items():
            if path in self.bare_paths:
                continue
            for method, operation in operations.items():
                for status, response in operation["responses"].items():
                    if status == "204":
                        continue  # no body
                    text = str(response)
                    assert "Envelope" in text or "#/components/responses/" in text, (path, method)

    def test_swagger_ui_is_served(self, client: FlaskClient) -> None:
        response = client.get("/apidocs/")
        assert response.status_code == 200
        assert b"swagger" in response.data.lower()

    def test_health_probes_need_no_token(self, client: FlaskClient) -> None:
        assert client.get("/health/live").get_json()["data"]["status"] == "ok"
        ready = client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.get_json()["data"]["checks"]["database"] == "ok"
