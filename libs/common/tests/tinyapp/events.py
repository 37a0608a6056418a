"""The tiny service's integration events: one event type and handlers with a switchable fault."""

from collections.abc import Collection

from marshmallow import Schema, fields, validate

from common.db import session
from common.events import Event, EventType, Handlers

from .models import Widget


class WidgetNamedSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


WIDGET_NAMED = EventType("tiny.widget.named.v1", WidgetNamedSchema, "A widget name was chosen.")


class Boom(Exception):
    """What a faulty handler raises."""


def make_handlers(calls: list[Event], poison: Collection[str] = ()) -> Handlers:
    """Handlers creating a widget per event (the side effect), recording each call in ``calls``.

    An event whose name is in ``poison`` makes the handler fail after doing its work, so the
    tests can check that the work is rolled back with the inbox row.
    """
    handlers = Handlers()

    @handlers.on(WIDGET_NAMED)
    def widget_named(event: Event) -> None:
        calls.append(event)
        session.add(Widget(name=event.data["name"]))
        session.flush()
        if event.data["name"] in poison:
            raise Boom(f"cannot handle {event.data['name']}")

    return handlers
