"""The consumer's side of a service: its inbox table and the handlers it registers.

The inbox remembers every event id the service handled, in the same transaction as the
handler's work: delivery is at least once (a relay or a consumer may die after the broker took a
message and before it was marked), and the inbox turns that into "handled once". A service maps
the table on its own metadata, like the outbox::

    class InboxMessage(InboxMessageMixin, db.Model):
        __tablename__ = "inbox_messages"

Handlers are declared in one module, the way ``routes.py`` declares URLs::

    handlers = Handlers()

    @handlers.on("users.user.deleted.v1")
    def user_deleted(event: Event) -> None:
        session.execute(sa.delete(Credential).where(Credential.user_id == event.subject))

A handler does its work through ``common.db.session`` and never commits nor acknowledges: the
consumer commits the work with the inbox row, then acknowledges. A handler that raises leaves
neither, and the message is retried.
"""

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask, g
from sqlalchemy.orm import Mapped, mapped_column

from common.db import UTCDateTime, get_db, utcnow
from common.events.settings import require_model
from common.events.types import Event, EventType

log = logging.getLogger(__name__)

Handler = Callable[[Event], None]


class InboxMessageMixin:
    """The inbox's columns; a service maps it on its own ``db.Model``."""

    # The CloudEvents id (unique per source; ours are UUIDs, so unique outright).
    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(255))
    source: Mapped[str] = mapped_column(sa.String(255))
    # Kept for the retention purge: a duplicate arrives within minutes, not weeks.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Handlers:
    """Event type name -> handler: what one service consumes."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def on(self, event_type: EventType | str) -> Callable[[Handler], Handler]:
        """Decorator: handle ``event_type`` with the decorated function."""

        def register(handler: Handler) -> Handler:
            self.add(event_type, handler)
            return handler

        return register

    def add(self, event_type: EventType | str, handler: Handler) -> None:
        """Handle ``event_type`` with ``handler``; a type has one handler per service."""
        name = str(event_type)
        if name in self._handlers:
            raise ValueError(f"{name} already has a handler")
        self._handlers[name] = handler

    def get(self, name: str) -> Handler | None:
        """The handler of the type called ``name``, if any."""
        return self._handlers.get(name)

    def types(self) -> list[str]:
        """The names of the handled types: the queue's bindings."""
        return sorted(self._handlers)


def handle_once(app: Flask, event: Event, handler: Handler) -> bool:
    """Run ``handler`` and record the inbox row in one transaction; False for a duplicate.

    Runs in an app context of its own, with the event's request id and traceparent in ``g`` (so
    log lines and the events the handler publishes carry them). Whatever the handler raises
    rolls back its work and the inbox row, and propagates.
    """
    with app.app_context():
        g.request_id, g.traceparent = event.requestid, event.traceparent
        session = get_db().session()
        inbox: Any = require_model(InboxMessageMixin)
        session.add(inbox(id=event.id, type=event.type, source=event.source))
        try:
            # Flushed first: a copy handled concurrently waits here for our commit, then fails.
            session.flush()
        except sa.exc.IntegrityError:
            session.rollback()
            log.info("event %s already handled: skipped", event.id)
            return False
        try:
            handler(event)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        return True
