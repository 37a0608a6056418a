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

from common.swagger import OPERATION_ID, operations, resolve


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
        for path, method, operation in operations(spec):
            if path in self.bare_paths:
                continue
            for status, response in operation["responses"].items():
                if status == "204":
                    continue  # no body
                if "$ref" in response:
                    assert response["$ref"].startswith("#/components/responses/"), (path, method)
                    continue
                schema = resolve(spec, response["content"]["application/json"]["schema"])
                assert schema["required"] == ["data", "meta"], (path, method)
                meta = schema["properties"]["meta"]["$ref"]
                assert meta.removeprefix("#/components/schemas/") in {"Meta", "PageMeta"}

    def test_every_operation_has_a_unique_camel_case_operation_id(
        self, client: FlaskClient
    ) -> None:
        # Generated clients name their functions after it; without one they make up
        # `post_api_v1_orders_order_id_cancel`. Unique across services: keep nouns in it.
        spec = client.get("/apispec.json").get_json()
        ids = [op.get("operationId") for _, _, op in operations(spec)]
        assert all(isinstance(i, str) and OPERATION_ID.fullmatch(i) for i in ids), ids
        assert len(set(ids)) == len(ids), ids

    def test_links_name_operations_of_the_document(self, client: FlaskClient) -> None:
        spec = client.get("/apispec.json").get_json()
        ids = {op["operationId"] for _, _, op in operations(spec)}
        for path, method, operation in operations(spec):
            for response in operation["responses"].values():
                for link in response.get("links", {}).values():
                    assert link["operationId"] in ids, (path, method, link)

    def test_every_operation_with_a_body_documents_400(self, client: FlaskClient) -> None:
        # A JSON string with U+0000 or a lone surrogate is a 400 (common.errors).
        for path, method, operation in operations(client.get("/apispec.json").get_json()):
            if "requestBody" in operation:
                assert "400" in operation["responses"], (path, method)

    def test_swagger_ui_is_served(self, client: FlaskClient) -> None:
        response = client.get("/apidocs/")
        assert response.status_code == 200
        assert b"swagger" in response.data.lower()

    def test_health_probes_need_no_token(self, client: FlaskClient) -> None:
        assert client.get("/health/live").get_json()["data"]["status"] == "ok"
        ready = client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.get_json()["data"]["checks"]["database"] == "ok"
