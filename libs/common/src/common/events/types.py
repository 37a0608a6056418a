"""Event types and the CloudEvents 1.0 envelope every integration event travels in.

An event type is a versioned name (``users.user.deleted.v1``) and a marshmallow schema for its
``data``, declared once by the producing service, the way ``routes.py`` declares URLs. A change
that breaks consumers gets a new version (``.v2``), published next to the old one until every
consumer moved. The registry lists every type a process declared: the events catalog (AsyncAPI)
is generated from it.

The envelope is CloudEvents' JSON format (structured mode, ``application/cloudevents+json``):
the attributes ``id``, ``source``, ``type``, ``specversion``, ``time``, ``subject``,
``datacontenttype``, ``data``, plus two extension attributes (lowercase alphanumeric names, as
the spec requires): ``requestid``, the request that caused the event, and ``traceparent``, its
W3C trace context, so a consumer's logs and traces continue the producer's.
"""

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import Schema

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
# <service>.<entity>.<happening>.v<N>: lowercase words separated by dots, a version last.
_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\.v[1-9][0-9]*")
# W3C trace context, version 00: version-traceid-parentid-flags, lowercase hex.
TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_REQUIRED = ("id", "source", "type", "specversion")

_registry: dict[str, "EventType"] = {}


class EventType:
    """A versioned event name and the schema of its ``data``; declaring one registers it."""

    name: str
    schema_class: type[Schema]
    schema: Schema
    description: str

    def __init__(self, name: str, schema: type[Schema], description: str = "") -> None:
        if not _NAME.fullmatch(name):
            raise ValueError(f"event type {name!r} is not <service>.<entity>.<verb>.v<N>")
        known = _registry.get(name)
        if known is not None and known.schema_class is not schema:
            raise ValueError(f"event type {name!r} is declared twice with different schemas")
        self.name = name
        self.schema_class = schema
        self.schema = schema()
        self.description = description
        _registry[name] = self

    def dump(self, data: Any) -> dict[str, Any]:
        """Serialise ``data`` with the schema; raise ``ValueError`` if the result is invalid.

        The dumped document is validated as a consumer would load it: a producer bug fails the
        request that publishes, not every consumer later.
        """
        document: dict[str, Any] = self.schema.dump(data)
        errors = self.schema.validate(document)
        if errors:
            raise ValueError(f"invalid data for event {self.name}: {errors}")
        return document

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"EventType({self.name!r}, {self.schema_class.__name__})"


def event_types() -> dict[str, EventType]:
    """Every event type this process declared, by name."""
    return dict(_registry)


@dataclass(frozen=True, slots=True)
class Event:
    """An event as a handler receives it: the envelope's attributes, ``data`` as sent."""

    id: str
    type: str
    source: str
    time: str | None
    subject: str | None
    data: Any
    requestid: str | None = None
    traceparent: str | None = None


def make_envelope(
    event_type: EventType,
    *,
    source: str,
    subject: str | None,
    data: Any,
    time: datetime,
    requestid: str | None = None,
    traceparent: str | None = None,
) -> dict[str, Any]:
    """Build the CloudEvents envelope of a new event (a fresh UUID for its ``id``)."""
    envelope: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": str(uuid.uuid4()),
        "source": source,
        "type": event_type.name,
        "time": time.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": event_type.dump(data),
    }
    if subject is not None:
        envelope["subject"] = subject
    if requestid:
        envelope["requestid"] = requestid
    if traceparent and TRACEPARENT.fullmatch(traceparent):
        envelope["traceparent"] = traceparent
    return envelope


def parse_envelope(document: Any) -> Event:
    """Read a received envelope; ``ValueError`` if it is not a CloudEvents 1.0 event."""
    if not isinstance(document, dict):
        raise ValueError("an event must be a JSON object")
    missing = [name for name in _REQUIRED if not isinstance(document.get(name), str)]
    if missing:
        raise ValueError(f"event lacks {', '.join(missing)}")
    if document["specversion"] != SPECVERSION:
        raise ValueError(f"unsupported specversion {document['specversion']!r}")
    return Event(
        id=document["id"],
        type=document["type"],
        source=document["source"],
        time=document.get("time"),
        subject=document.get("subject"),
        data=document.get("data"),
        requestid=document.get("requestid"),
        traceparent=document.get("traceparent"),
    )
