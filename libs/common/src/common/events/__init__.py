"""Integration events: a transactional outbox, a relay, idempotent consumers, dead letters.

A producing service declares its event types and publishes in its request's transaction::

    USER_DELETED = EventType("users.user.deleted.v1", UserDeletedSchema)
    publish(USER_DELETED, subject=str(user.id), data={"id": user.id})

and runs ``run_relay(app)`` as a process of its own. A consuming service registers
``Handlers`` and runs ``run_consumer(app, handlers)``. Each maps the tables it uses on its own
metadata (``OutboxEventMixin``, ``InboxMessageMixin``) in its migrations; the code finds them.

What each transport guarantees (``BROKER_URL`` set, or not):

- **RabbitMQ** (AMQP 0-9-1 through py-amqp): durable exchange and queues, persistent messages,
  publisher confirms and mandatory routing, acknowledgements after the consumer's commit. An
  event committed in the outbox reaches every bound consumer at least once, across broker
  restarts and process crashes; the inbox makes handling effectively once. Relays and consumers
  can run as several replicas.
- **filesystem** (kombu, no server; for development without Docker): one folder shared by the
  services of one host; a message is a file, written before ``publish`` returns (not fsynced),
  routed across processes through the bindings kept in the control folder. A consumer takes a
  message's file when it receives it: a consumer killed (not stopped) while holding unacknowledged
  messages loses them, and a message put back on a graceful stop is routed again through its
  exchange (other consumers get a copy, which their inbox drops). Good for a laptop, not for
  production.

Nothing here orders events: consumers compare versions or timestamps when order matters.
"""

from common.events.broker import Topology, Unroutable
from common.events.consumer import Consumer, run_consumer
from common.events.deadletters import DeadLetter, list_dead_letters, replay_dead_letters
from common.events.inbox import Handlers, InboxMessageMixin
from common.events.outbox import OutboxEventMixin, publish
from common.events.relay import Relay, run_relay
from common.events.retention import purge_expired, purge_idempotency_keys, purge_outbox
from common.events.settings import EventSettings, settings
from common.events.types import Event, EventType, event_types

__all__ = [
    "Consumer",
    "DeadLetter",
    "Event",
    "EventSettings",
    "EventType",
    "Handlers",
    "InboxMessageMixin",
    "OutboxEventMixin",
    "Relay",
    "Topology",
    "Unroutable",
    "event_types",
    "list_dead_letters",
    "publish",
    "purge_expired",
    "purge_idempotency_keys",
    "purge_outbox",
    "replay_dead_letters",
    "run_consumer",
    "run_relay",
    "settings",
]
