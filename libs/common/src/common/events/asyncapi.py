"""The service's events as an AsyncAPI 3.0.0 document, served at ``/asyncapi.json``.

Written from what the code declares, never by hand: a ``send`` operation for every event type
the service produces (the registry's types named ``<SERVICE_NAME>.…``, as the naming rule
says: a type's first word is its producer), a ``receive`` operation for every type its
``Handlers`` consume. The docs service merges every service's document into the platform's
events catalog.

- **Channels**: one per event type, its ``address`` the routing key on the platform's durable
  topic exchange (``EVENTS_EXCHANGE``), which the AMQP channel binding names. Keys are the type
  names, so the documents of several services merge by union.
- **Messages**: CloudEvents' structured mode, as the relay sends them: the body is the whole
  envelope and the content type ``application/cloudevents+json`` (the broker message's
  content type too). Binary mode (``ce_*`` headers, the body being ``data`` alone) would
  describe another wire format than ours. AsyncAPI tooling treats ``contentType`` as a media
  type to show and the payload as a JSON Schema to validate against: with the envelope as
  the payload, a tool validating a message validates what actually travels.
- **Payload**: the envelope's attributes with ``data`` written by apispec's marshmallow
  converter from the type's schema (nested schemas inlined, so a message stands alone), the
  same schema ``EventType.dump`` validates with at publish. The converter writes OpenAPI 3.1
  (JSON Schema: ``"type": ["string", "null"]``), not 3.0's ``nullable``, since AsyncAPI's
  default schema format is JSON Schema. A consumer's own document does not know the
  producer's schema (it never imports the producer's package): ``data`` is any JSON there.
"""

import importlib
from collections.abc import Iterable
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, Response, current_app, jsonify

from common.events.broker import Topology
from common.events.inbox import Handlers
from common.events.types import CONTENT_TYPE, SPECVERSION, TRACEPARENT, EventType, event_types

ASYNCAPI_VERSION = "3.0.0"
ASYNCAPI_ROUTE = "/asyncapi.json"
# The AMQP bindings' version this document follows (channel, operation, message).
AMQP_BINDING_VERSION = "0.3.0"
SEND, RECEIVE = "send", "receive"
EXTENSION = "asyncapi"  # app.extensions key: the document
# Where a service declares the types it produces (``<package>.events``), by convention.
DECLARATIONS = "events"


def _inline(schema: Any) -> Any:
    """No component name for any schema: apispec then writes nested schemas in place."""
    return None  # apispec's annotation says str; None is its documented "inline" answer


def _data_schema(event_type: EventType) -> dict[str, Any]:
    """The JSON Schema of the type's ``data``, from its marshmallow schema."""
    plugin = MarshmallowPlugin(schema_name_resolver=_inline)
    APISpec("events", "1", "3.1.0", plugins=[plugin])
    schema: dict[str, Any] = plugin.converter.schema2jsonschema(event_type.schema_class)  # type: ignore[union-attr]
    if event_type.description:
        schema = {"description": event_type.description, **schema}
    return schema


def envelope_schema(name: str, data: dict[str, Any], source: str | None = None) -> dict[str, Any]:
    """The CloudEvents 1.0 envelope of the type ``name`` carrying ``data``."""
    properties: dict[str, Any] = {
        "specversion": {"type": "string", "const": SPECVERSION},
        "id": {"type": "string", "format": "uuid", "description": "Unique per event."},
        "source": {"type": "string", "description": "The producer: /services/<name>."},
        "type": {"type": "string", "const": name},
        "time": {"type": "string", "format": "date-time"},
        "subject": {"type": "string", "description": "The id of the object concerned."},
        "datacontenttype": {"type": "string", "const": "application/json"},
        "requestid": {"type": "string", "description": "The request that caused the event."},
        "traceparent": {
            "type": "string",
            "pattern": f"^{TRACEPARENT.pattern}$",
            "description": "W3C trace context of that request.",
        },
        "data": data,
    }
    if source is not None:
        properties["source"] = {**properties["source"], "const": source}
    return {
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "datacontenttype", "data"],
        "properties": properties,
    }


def _message(name: str, payload: dict[str, Any], summary: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": name,
        "title": name,
        "contentType": CONTENT_TYPE,
        "payload": payload,
        "bindings": {"amqp": {"messageType": name, "bindingVersion": AMQP_BINDING_VERSION}},
    }
    if summary:
        message["summary"] = summary
    return message


def _channel(name: str, exchange: str, message: dict[str, Any]) -> dict[str, Any]:
    return {
        "address": name,
        "description": f"Messages routed by the key `{name}` on the topic exchange `{exchange}`.",
        "messages": {name: message},
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {
                    "name": exchange,
                    "type": "topic",
                    "durable": True,
                    "autoDelete": False,
                },
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
    }


def operation_id(service: str, action: str, name: str) -> str:
    """The id of ``service``'s operation on the type ``name``, unique across services.

    E.g. ``auth.receive.users.user.deleted.v1``: the documents of several services merge by
    union.
    """
    return f"{service}.{action}.{name}"


def _operation(service: str, action: str, name: str, queue: str | None) -> dict[str, Any]:
    pointer = name.replace("~", "~0").replace("/", "~1")
    if action == SEND:
        summary = f"{service} publishes {name} from its outbox, in the transaction of the change."
        # Persistent, and mandatory: a message no queue is bound for is refused, not lost.
        binding = {"deliveryMode": 2, "mandatory": True}
    else:
        summary = f"{service} consumes {name} from the queue `{queue}` (acknowledged after commit)."
        binding = {"ack": True}
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{pointer}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{pointer}/messages/{pointer}"}],
        "tags": [{"name": service}],
        "bindings": {"amqp": {**binding, "bindingVersion": AMQP_BINDING_VERSION}},
    }


def produced_types(service: str) -> list[EventType]:
    """The types ``service`` produces: the registry's types whose name starts ``<service>.``."""
    return [kind for name, kind in sorted(event_types().items()) if name.startswith(f"{service}.")]


def build_document(
    *,
    service: str,
    title: str,
    description: str = "",
    exchange: str,
    produced: Iterable[EventType],
    consumed: Iterable[str],
    consumer_queue: str | None = None,
    version: str = "1.0.0",
) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of one service's events."""
    source = f"/services/{service}"
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for kind in produced:
        payload = envelope_schema(kind.name, _data_schema(kind), source)
        channels[kind.name] = _channel(
            kind.name, exchange, _message(kind.name, payload, kind.description)
        )
        operations[operation_id(service, SEND, kind.name)] = _operation(
            service, SEND, kind.name, None
        )
    for name in sorted(set(consumed)):
        if name not in channels:
            # The producer's schema is the producer's: here ``data`` is any JSON value.
            data = {"description": "As its producer documents it; read tolerantly."}
            message = _message(name, envelope_schema(name, data), "")
            channels[name] = _channel(name, exchange, message)
        operations[operation_id(service, RECEIVE, name)] = _operation(
            service, RECEIVE, name, consumer_queue
        )
    text = description or f"The integration events of the {service} service."
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": f"{title}: events", "version": version, "description": text},
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
    }


def init_app(
    app: Flask, *, title: str, description: str = "", handlers: Handlers | None = None
) -> None:
    """Serve the service's AsyncAPI document at ``/asyncapi.json``; call after the routes.

    The service's ``events`` module is imported first, if it has one: a type declared there
    but not yet published anywhere is still part of the service's contract.
    """
    module = f"{app.import_name}.{DECLARATIONS}"
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name != module:  # the module exists but imports something missing
            raise
    service, exchange = app.config["SERVICE_NAME"], app.config["EVENTS_EXCHANGE"]
    consumer = app.config.get("EVENTS_CONSUMER_NAME") or service
    app.extensions[EXTENSION] = build_document(
        service=service,
        title=title,
        description=description,
        exchange=exchange,
        produced=produced_types(service),
        consumed=handlers.types() if handlers is not None else (),
        consumer_queue=Topology(exchange, consumer).queue,
    )
    app.add_url_rule(ASYNCAPI_ROUTE, "asyncapi", _serve, methods=["GET"])


def _serve() -> Response:
    """The document, bare like ``/apispec.json``: AsyncAPI tools read it as it is."""
    return jsonify(current_app.extensions[EXTENSION])
