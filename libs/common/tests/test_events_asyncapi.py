"""common.events.asyncapi: each service's events as an AsyncAPI 3.0.0 document, validated
against the official JSON Schema (``data/asyncapi``, vendored from ``@asyncapi/specs``)."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from marshmallow import Schema, fields

from common.app import create_service_app
from common.config import TestConfig
from common.events import EventType, Handlers
from common.events.asyncapi import ASYNCAPI_ROUTE, build_document, produced_types
from common.events.types import CONTENT_TYPE, make_envelope
from tinyapp.events import WIDGET_NAMED
from tinyapp.models import db
from tinyapp.routes import register

SCHEMA = Path(__file__).parent / "data" / "asyncapi" / "asyncapi-3.0.0.json"
DELETED = "users.user.deleted.v1"


@pytest.fixture(scope="module")
def asyncapi_validator() -> jsonschema.Draft7Validator:
    """The AsyncAPI 3.0.0 schema; its definitions are resolved by their ``$id``, offline."""
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


def assert_valid(validator: jsonschema.Draft7Validator, document: dict[str, Any]) -> None:
    errors = sorted(validator.iter_errors(document), key=lambda error: list(error.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def payload(document: dict[str, Any], name: str) -> dict[str, Any]:
    """The payload schema of the message of the type ``name``."""
    schema: dict[str, Any] = document["channels"][name]["messages"][name]["payload"]
    return schema


class NestedSchema(Schema):
    street = fields.String(required=True)


class ProfileSchema(Schema):
    id = fields.UUID(required=True)
    nickname = fields.String(required=True, allow_none=True)
    address = fields.Nested(NestedSchema, required=True)
    tags = fields.List(fields.Nested(NestedSchema))


PROFILE_CHANGED = EventType("profiles.profile.changed.v1", ProfileSchema, "A profile changed.")


def test_the_service_serves_its_document_next_to_the_openapi_one(client, asyncapi_validator):
    response = client.get(ASYNCAPI_ROUTE)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = response.get_json()
    assert_valid(asyncapi_validator, document)
    assert document["asyncapi"] == "3.0.0"
    assert document["defaultContentType"] == CONTENT_TYPE
    # tinyapp's events module declares it; the document imports that module itself.
    assert document["operations"] == {
        "tiny.send.tiny.widget.named.v1": {
            "action": "send",
            "channel": {"$ref": "#/channels/tiny.widget.named.v1"},
            "summary": document["operations"]["tiny.send.tiny.widget.named.v1"]["summary"],
            "messages": [{"$ref": "#/channels/tiny.widget.named.v1/messages/tiny.widget.named.v1"}],
            "tags": [{"name": "tiny"}],
            "bindings": {"amqp": {"deliveryMode": 2, "mandatory": True, "bindingVersion": "0.3.0"}},
        }
    }


def test_the_vendored_schema_refuses_an_asyncapi_2_operation(client, asyncapi_validator):
    document = client.get(ASYNCAPI_ROUTE).get_json()
    document["operations"]["tiny.send.tiny.widget.named.v1"]["action"] = "publish"
    assert list(asyncapi_validator.iter_errors(document))


def test_a_channel_is_the_type_as_routing_key_on_the_topic_exchange(client, app):
    channel = client.get(ASYNCAPI_ROUTE).get_json()["channels"]["tiny.widget.named.v1"]
    assert channel["address"] == "tiny.widget.named.v1"
    amqp = channel["bindings"]["amqp"]
    assert amqp["is"] == "routingKey"
    assert amqp["exchange"] == {
        "name": app.config["EVENTS_EXCHANGE"],
        "type": "topic",
        "durable": True,
        "autoDelete": False,
    }
    message = channel["messages"]["tiny.widget.named.v1"]
    assert message["name"] == message["title"] == "tiny.widget.named.v1"
    assert message["contentType"] == CONTENT_TYPE
    assert message["summary"] == "A widget name was chosen."


def test_the_payload_accepts_what_publish_writes_and_refuses_what_it_refuses(client):
    schema = payload(client.get(ASYNCAPI_ROUTE).get_json(), "tiny.widget.named.v1")
    envelope = make_envelope(
        WIDGET_NAMED,
        source="/services/tiny",
        subject="42",
        data={"name": "gear"},
        time=datetime.now(UTC),
        requestid="r-1",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    jsonschema.validate(envelope, schema)
    # The marshmallow schema's rules, written by apispec's converter: 1 to 100 characters.
    with pytest.raises(ValueError):
        WIDGET_NAMED.dump({"name": ""})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**envelope, "data": {"name": ""}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**envelope, "source": "/services/other"}, schema)


def test_only_the_types_named_after_the_service_are_its_own():
    names = [kind.name for kind in produced_types("tiny")]
    assert "tiny.widget.named.v1" in names
    assert PROFILE_CHANGED.name not in names


def test_consumed_types_are_receive_operations_on_the_same_channels(asyncapi_validator):
    handlers = Handlers()
    handlers.add(DELETED, lambda event: None)
    handlers.add(WIDGET_NAMED, lambda event: None)
    app = create_service_app(
        "tinyapp",
        config=type("Config", (TestConfig,), {"SERVICE_NAME": "tiny"}),
        overrides={"SQLALCHEMY_DATABASE_URI": "sqlite://", "EVENTS_CONSUMER_NAME": "tiny-c"},
        db=db,
        register_routes=register,
        title="Tiny service",
        handlers=handlers,
    )
    document = app.test_client().get(ASYNCAPI_ROUTE).get_json()
    assert_valid(asyncapi_validator, document)
    assert sorted(document["operations"]) == [
        "tiny.receive.tiny.widget.named.v1",
        f"tiny.receive.{DELETED}",
        "tiny.send.tiny.widget.named.v1",
    ]
    receive = document["operations"][f"tiny.receive.{DELETED}"]
    assert receive["action"] == "receive"
    assert receive["channel"] == {"$ref": f"#/channels/{DELETED}"}
    assert "`platform.events.tiny-c`" in receive["summary"]  # <exchange>.<consumer>
    # Another service's type: this service does not know its data schema, any JSON is read.
    data = payload(document, DELETED)["properties"]["data"]
    assert "type" not in data and "properties" not in data
    assert "const" not in payload(document, DELETED)["properties"]["source"]


def test_nullable_and_nested_fields_are_json_schema(asyncapi_validator):
    document = build_document(
        service="profiles",
        title="Profiles service",
        exchange="platform.events",
        produced=[PROFILE_CHANGED],
        consumed=[],
    )
    assert_valid(asyncapi_validator, document)
    data = payload(document, PROFILE_CHANGED.name)["properties"]["data"]
    assert data["description"] == "A profile changed."
    assert data["required"] == ["address", "id", "nickname"]
    # JSON Schema's null, not OpenAPI 3.0's `nullable`, which AsyncAPI's schema format lacks.
    assert data["properties"]["nickname"]["type"] == ["string", "null"]
    # Nested schemas are written in place: a message stands alone, documents merge by union.
    assert data["properties"]["address"]["properties"]["street"] == {"type": "string"}
    assert data["properties"]["tags"]["items"]["required"] == ["street"]
    assert "components" not in document


def test_a_service_without_events_serves_an_empty_valid_document(asyncapi_validator):
    # The new-service template's start: an events module declaring nothing, no handlers.
    document = build_document(
        service="fresh", title="Fresh service", exchange="platform.events", produced=[], consumed=[]
    )
    assert_valid(asyncapi_validator, document)
    assert document["channels"] == {} and document["operations"] == {}
