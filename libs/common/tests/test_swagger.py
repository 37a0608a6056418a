"""``common.swagger``: a valid OpenAPI 3.0 document whose responses are the envelope."""

from typing import Any, ClassVar

import pytest
from flask import Flask
from flask_restful import Resource
from marshmallow import Schema, fields
from openapi_spec_validator import validate

from common.swagger import (
    ERROR_RESPONSES,
    build_template,
    operation,
    operations,
    resolve,
    schema_name,
)
from tinyapp.schemas import WidgetCreateSchema, WidgetQuerySchema, WidgetSchema

ENVELOPE = "#/components/schemas/Envelope"
ERROR_ENVELOPE = "#/components/schemas/ErrorEnvelope"


@pytest.fixture()
def spec(client):
    response = client.get("/apispec.json")
    assert response.status_code == 200
    return response.get_json()


def test_apispec_validates_as_openapi(spec):
    validate(spec)


def test_apispec_is_openapi_3_0(spec):
    assert spec["openapi"].startswith("3.0.")
    assert "swagger" not in spec


def test_apispec_documents_every_resource_route(app, spec):
    documented = {(path, method) for path, method, _ in operations(spec)}

    assert ("/widgets", "get") in documented
    assert ("/widgets", "post") in documented
    assert ("/widgets/{widget_id}", "delete") in documented
    assert ("/widgets/{widget_id}/parts", "post") in documented
    assert len(documented) >= 15


def test_every_success_response_is_the_envelope(spec):
    for path, method, op in operations(spec):
        successes = {s: r for s, r in op["responses"].items() if s.startswith("2")}
        assert len(successes) == 1, (path, method)
        ((status, response),) = successes.items()
        if status == "204":
            assert "content" not in response, (path, method)
            continue
        schema = resolve(spec, response["content"]["application/json"]["schema"])
        assert schema["type"] == "object", (path, method)
        assert schema["required"] == ["data", "meta"], (path, method)


def test_every_error_response_references_an_error_envelope_component(spec):
    for path, method, op in operations(spec):
        errors = {s: r for s, r in op["responses"].items() if not s.startswith("2")}
        assert "503" in errors, (path, method)
        for status, response in errors.items():
            assert set(response) == {"$ref"}, (path, method, status)
            assert response["$ref"].startswith("#/components/responses/")
            component = resolve(spec, response)
            assert component["content"]["application/json"]["schema"] == {"$ref": ERROR_ENVELOPE}


def test_error_responses_cover_every_declared_status(spec):
    responses = spec["components"]["responses"]

    assert set(responses) == {name for name, _ in ERROR_RESPONSES.values()}


def test_list_operation_documents_page_meta_and_query_parameters(spec):
    op = spec["paths"]["/widgets"]["get"]

    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/WidgetPage"}
    shape = resolve(spec, schema)["properties"]
    assert shape["meta"] == {"$ref": "#/components/schemas/PageMeta"}
    assert shape["data"] == {"type": "array", "items": {"$ref": "#/components/schemas/Widget"}}
    assert {(p["in"], p["name"]) for p in op["parameters"]} >= {
        ("query", "limit"),
        ("query", "offset"),
        ("query", "name"),
    }


def test_domain_schemas_are_components(spec):
    schemas = spec["components"]["schemas"]

    assert set(schemas["Widget"]["properties"]) == {"id", "name"}
    assert schemas["WidgetCreate"]["required"] == ["name"]
    assert {"Envelope", "ErrorEnvelope", "Meta", "PageMeta", "Error"} <= set(schemas)


def test_swagger_ui_answers_html(client):
    response = client.get("/apidocs/")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert b"swagger" in response.data.lower()


def test_success_body_is_a_plain_object_per_payload_named_after_it(spec):
    # Not an allOf of Envelope plus overrides: generators would type a list's meta as Meta.
    schemas = spec["components"]["schemas"]
    for name, meta in (("WidgetEnvelope", "Meta"), ("WidgetPage", "PageMeta")):
        assert "allOf" not in schemas[name]
        assert schemas[name]["properties"]["meta"] == {"$ref": f"#/components/schemas/{meta}"}
    ping = spec["paths"]["/_test/ping"]["get"]["responses"]["200"]
    assert ping["content"]["application/json"]["schema"] == {"$ref": ENVELOPE}


def test_every_field_of_a_response_payload_is_required(spec):
    # A dump writes every field (None as null): generated clients type them X, not X | Unset.
    schemas = spec["components"]["schemas"]

    assert schemas["Widget"]["required"] == ["id", "name"]
    assert schemas["Part"]["required"] == ["id", "widget_id", "name"]


def test_a_nested_payload_is_required_too_and_a_nullable_field_stays_nullable():
    class LineSchema(Schema):
        sku = fields.String()

    class BasketSchema(Schema):
        lines = fields.List(fields.Nested(LineSchema))
        note = fields.String(allow_none=True)

    class Baskets(Resource):
        @operation(operation_id="getBasket", tags=["t"], response=BasketSchema)
        def get(self):
            """Get a basket."""

    template = build_template(_app_with(Baskets), title="t", version="1", description="")

    schemas = template["components"]["schemas"]
    assert schemas["Basket"]["required"] == ["lines", "note"]
    assert schemas["Basket"]["properties"]["note"]["nullable"] is True
    assert schemas["Line"]["required"] == ["sku"]


def test_one_schema_for_a_body_and_a_response_is_refused():
    class Things(Resource):
        @operation(operation_id="putThing", tags=["t"], body=WidgetSchema, response=WidgetSchema)
        def put(self):
            """Replace a thing."""

    with pytest.raises(ValueError, match="Widget"):
        build_template(_app_with(Things), title="t", version="1", description="")


def test_operation_id_is_required_and_camel_case():
    with pytest.raises(TypeError, match="operation_id"):
        operation(tags=["t"])  # type: ignore[call-arg]
    for bad in ("get_widget", "GetWidget", "get widget", ""):
        with pytest.raises(ValueError, match="camelCase"):
            operation(operation_id=bad, tags=["t"])


def test_operation_ids_and_links_are_in_the_document(spec):
    create = spec["paths"]["/widgets"]["post"]
    assert create["operationId"] == "createWidget"
    assert create["responses"]["201"]["links"]["getWidget"] == {
        "operationId": "getWidget",
        "parameters": {"widget_id": "$response.body#/data/id"},
    }


def test_operation_adds_the_errors_its_inputs_imply():
    @operation(
        operation_id="replaceWidget",
        tags=["t"],
        response=WidgetSchema,
        status=201,
        body=WidgetCreateSchema,
        query=WidgetQuerySchema,
        path={"widget_id": {"type": "string"}},
        auth=True,
        errors=[409],
    )
    def view():
        """Replace a widget."""

    spec = view.specs_dict
    assert set(spec["responses"]) == {
        "201",
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "415",
        "422",
        "503",
    }
    assert spec["security"] == [{"bearerAuth": []}]
    assert spec["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WidgetCreate"
    }
    assert view.openapi_schemas == [WidgetSchema, WidgetCreateSchema]


def test_operation_without_inputs_documents_only_success_and_503():
    @operation(operation_id="answer", tags=["t"])
    def view():
        """Answer without inputs."""

    assert set(view.specs_dict["responses"]) == {"200", "503"}
    assert "security" not in view.specs_dict


def test_schema_name_drops_the_schema_suffix():
    class Schema_(Schema):
        x = fields.Int()

    assert schema_name(WidgetSchema) == "Widget"
    assert schema_name(WidgetSchema()) == "Widget"
    assert schema_name(Schema_) == "Schema_"


def test_operation_summary_and_description_come_from_the_method_docstring(spec):
    import inspect

    from tinyapp.routes import WidgetItem, WidgetList

    summary, _, rest = inspect.getdoc(WidgetItem.patch).partition("\n")
    description = rest.removesuffix("---").strip()
    patch = spec["paths"]["/widgets/{widget_id}"]["patch"]
    assert description  # the docstring has a body
    assert (patch["summary"], patch["description"]) == (summary, description)

    # A one-line docstring is the summary alone.
    listing = spec["paths"]["/widgets"]["get"]
    assert listing["summary"] == inspect.getdoc(WidgetList.get)
    assert "description" not in listing


def test_operation_refuses_a_multi_line_docstring_flasgger_would_not_split():
    with pytest.raises(ValueError, match="---"):

        @operation(operation_id="summarize", tags=["t"])
        def view():
            """Summary.

            A body without the separator line: flasgger would serve all of it as the summary.
            """


def test_openapi_extra_of_a_schema_is_added_to_its_component():
    class NonEmptySchema(Schema):
        openapi_extra: ClassVar[dict[str, Any]] = {"minProperties": 1}
        name = fields.String()

    class Things(Resource):
        @operation(operation_id="changeThing", tags=["t"], body=NonEmptySchema)
        def post(self):
            """Change a thing."""

    template = build_template(_app_with(Things), title="t", version="1", description="")

    component = template["components"]["schemas"]["NonEmpty"]
    assert component["minProperties"] == 1
    assert set(component["properties"]) == {"name"}


def _app_with(resource: type[Resource]) -> Flask:
    app = Flask(__name__)
    app.add_url_rule("/things", view_func=resource.as_view("things"))
    return app
