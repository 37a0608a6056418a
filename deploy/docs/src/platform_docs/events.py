"""The events catalog: every service's AsyncAPI document merged into one, and read as a table.

Each service documents its own events (``common.events.asyncapi``): a channel per event type it
sends or receives, keyed by the type's name, and operations whose ids carry the service's name.
So the merge is a union: operations are all kept, and a channel several services declare is
taken from its producer, the one document that knows its ``data`` schema (a consumer's says
only "any JSON"). A type whose producer's document is missing keeps a consumer's channel.
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from common.events.asyncapi import ASYNCAPI_VERSION, RECEIVE, SEND
from common.events.types import CONTENT_TYPE
from platform_docs.merge import UNAVAILABLE

Spec = dict[str, Any]

TITLE = "Platform events"
VERSION = "1.0.0"
_CHANNEL_REF = "#/channels/"


@dataclass(frozen=True, slots=True)
class Field:
    """One field of an event's ``data``: a dotted path for nested ones (``address.street``)."""

    name: str
    type: str
    required: bool
    notes: str


@dataclass(slots=True)
class EventEntry:
    """One event type of the catalog: who produces it, who consumes it, what ``data`` holds."""

    name: str
    summary: str
    producers: list[str] = field(default_factory=list)
    consumers: list[str] = field(default_factory=list)
    fields: list[Field] = field(default_factory=list)
    # False when no producer's document was at hand: the fields are then unknown.
    documented: bool = False


def merge_events(documents: Mapping[str, Spec], *, unavailable: Iterable[str] = ()) -> Spec:
    """Merge the services' AsyncAPI documents (service name -> document) into one."""
    missing = sorted(unavailable)
    channels: Spec = {}
    operations: Spec = {}
    sent: set[str] = set()
    for service in sorted(documents):
        document = documents[service]
        own = {channel for channel, action in _actions(document) if action == SEND}
        for name, channel in document.get("channels", {}).items():
            if name in own and name not in sent:
                channels[name] = channel  # the producer's: it has the data schema
                sent.add(name)
            else:
                channels.setdefault(name, channel)
        for op_id, operation in document.get("operations", {}).items():
            operations.setdefault(op_id, operation)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": _description(documents, missing),
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": {name: channels[name] for name in sorted(channels)},
        "operations": {op_id: operations[op_id] for op_id in sorted(operations)},
        UNAVAILABLE: missing,
    }


def _description(documents: Mapping[str, Spec], missing: list[str]) -> str:
    """Say what the document holds (CommonMark)."""
    lines = [
        "Every integration event of the platform, from the services' live AsyncAPI documents:",
        "a channel per event type (its routing key on the topic exchange), a send operation",
        "per producer and a receive operation per consumer, each tagged with its service.",
    ]
    if documents:
        lines.append("")
    for name in sorted(documents):
        info = documents[name].get("info", {})
        lines.append(f"- **{name}**: {info.get('title', name)} {info.get('version', '')}".rstrip())
    if missing:
        lines += ["", f"Unavailable right now, so left out: {', '.join(missing)}."]
    return "\n".join(lines)


def _channel_of(operation: Spec) -> str:
    """The name of the channel an operation refers to (``#/channels/<name>``), or ""."""
    ref = str(operation.get("channel", {}).get("$ref", ""))
    if not ref.startswith(_CHANNEL_REF):
        return ""
    # A JSON pointer's escapes; event type names have neither character, other names might.
    return ref.removeprefix(_CHANNEL_REF).replace("~1", "/").replace("~0", "~")


def _actions(document: Spec) -> Iterator[tuple[str, str]]:
    """Yield (channel name, action) of every operation of a document."""
    for operation in document.get("operations", {}).values():
        yield _channel_of(operation), str(operation.get("action", ""))


def catalog(merged: Spec) -> list[EventEntry]:
    """Read a merged document as the catalog: one entry per event type, by name.

    An operation's service is its first tag, as ``common.events.asyncapi`` writes it.
    """
    entries = {name: _entry(name, channel) for name, channel in merged["channels"].items()}
    for operation in merged["operations"].values():
        entry = entries.get(_channel_of(operation))
        tags = [str(tag.get("name", "")) for tag in operation.get("tags", [])]
        if entry is None or not tags:
            continue
        action = operation.get("action")
        if action in (SEND, RECEIVE):
            (entry.producers if action == SEND else entry.consumers).append(tags[0])
    for entry in entries.values():
        entry.producers.sort()
        entry.consumers.sort()
        entry.documented = bool(entry.producers)
    return [entries[name] for name in sorted(entries)]


def _entry(name: str, channel: Spec) -> EventEntry:
    """An entry from a channel's (first) message."""
    message: Spec = next(iter(channel.get("messages", {}).values()), {})
    data = message.get("payload", {}).get("properties", {}).get("data", {})
    return EventEntry(name=name, summary=message.get("summary", ""), fields=list(_fields(data)))


def _fields(schema: Spec, prefix: str = "") -> Iterator[Field]:
    """Yield the fields of an object schema, nested objects and arrays of them flattened."""
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        yield Field(path, _type(prop), name in required, _notes(prop))
        if prop.get("properties"):
            yield from _fields(prop, f"{path}.")
        elif isinstance(prop.get("items"), dict) and prop["items"].get("properties"):
            yield from _fields(prop["items"], f"{path}[].")


def _type(schema: Spec) -> str:
    """A JSON Schema type as a reader says it: ``string (uuid)``, ``array of object``."""
    types = schema.get("type", "any")
    names = [types] if isinstance(types, str) else list(types)
    nullable = "null" in names
    names = [name for name in names if name != "null"] or ["null"]
    text = " | ".join(names)
    if "format" in schema:
        text += f" ({schema['format']})"
    if "array" in names and isinstance(schema.get("items"), dict):
        text = f"array of {_type(schema['items'])}"
    return f"{text} or null" if nullable and text != "null" else text


def _notes(schema: Spec) -> str:
    """The constraints worth showing: one of, lengths, bounds, pattern, description."""
    notes = []
    if "enum" in schema:
        notes.append("one of " + ", ".join(str(value) for value in schema["enum"]))
    for key, label in (
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minimum", "min"),
        ("maximum", "max"),
        ("pattern", "pattern"),
    ):
        if key in schema:
            notes.append(f"{label} {schema[key]}")
    if schema.get("description"):
        notes.append(str(schema["description"]))
    return "; ".join(notes)
