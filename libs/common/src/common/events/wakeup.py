"""How an idle relay waits: for PostgreSQL's NOTIFY on the outbox channel, or a timeout.

``common.events.outbox.publish`` issues ``NOTIFY`` in the publishing transaction, which
PostgreSQL delivers on commit only: a relay wakes the moment an event exists, with no polling
lag and no query while idle. The listening connection is a psycopg connection of its own, in
autocommit mode (a LISTEN inside an open transaction would see nothing until it ends). Any other
database, driver or a broken listening connection falls back to sleeping for the timeout, so a
missed notification delays an event by one poll at most.
"""

import logging
import threading
from typing import Any

from sqlalchemy.engine import URL

log = logging.getLogger(__name__)


class OutboxWakeup:
    """Waits for a notification on ``channel``, at most ``timeout`` seconds at a time."""

    def __init__(self, url: URL, channel: str, stop: threading.Event) -> None:
        self.url = url
        self.channel = channel
        self.stop = stop
        self._connection: Any = None

    @property
    def listening(self) -> bool:
        """Whether a LISTEN connection is open (tests wait for it)."""
        return self._connection is not None

    def wait(self, timeout: float) -> None:
        """Return on a notification, after ``timeout`` seconds, or (polling) on ``stop``."""
        connection = self._listen()
        if connection is None:
            self.stop.wait(timeout)
            return
        try:
            for _ in connection.notifies(timeout=timeout, stop_after=1):
                pass
        except Exception:  # the listening connection broke: poll until it is back
            log.warning("outbox LISTEN connection lost", exc_info=True)
            self.close()
            self.stop.wait(timeout)

    def _listen(self) -> Any:
        if self._connection is not None:
            return self._connection
        url = self.url
        if url.get_backend_name() != "postgresql" or url.get_driver_name() != "psycopg":
            return None
        import psycopg  # the postgres extra provides it

        try:
            connection = psycopg.connect(
                url.set(drivername="postgresql").render_as_string(hide_password=False),
                autocommit=True,
                connect_timeout=5,
            )
            connection.execute(
                psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(self.channel))
            )
        except psycopg.Error:
            log.warning("cannot LISTEN on the outbox channel; polling", exc_info=True)
            return None
        self._connection = connection
        return connection

    def close(self) -> None:
        """Close the listening connection, if any."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
