"""What the relay and the consumer read from the app's config, and the helpers they share.

Settings are read once into a frozen dataclass (``settings(app)``); tests derive variants with
``dataclasses.replace`` (a relay pointed at a closed port, short retry delays) without building
another app.
"""

import os
import random
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask

from common.db import get_db

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class EventSettings:
    """The events settings of one service (see ``common.config.Config``, ``EVENTS_*``)."""

    service: str
    broker_url: str | None
    folder: str
    exchange: str
    consumer_name: str
    relay_batch: int
    poll_seconds: float
    backoff_max_seconds: float
    confirm_timeout: float
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    prefetch: int
    retention_seconds: int
    idempotency_retention_seconds: int
    purge_interval_seconds: int

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of this service's events (a URI-reference)."""
        return f"/services/{self.service}"


def settings(app: Flask) -> EventSettings:
    """Read the events settings of ``app``."""
    config = app.config
    return EventSettings(
        service=config["SERVICE_NAME"],
        broker_url=config.get("BROKER_URL") or None,
        folder=config.get("EVENTS_FOLDER") or os.path.join(app.instance_path, "events"),
        exchange=config["EVENTS_EXCHANGE"],
        consumer_name=config.get("EVENTS_CONSUMER_NAME") or config["SERVICE_NAME"],
        relay_batch=config["EVENTS_RELAY_BATCH"],
        poll_seconds=config["EVENTS_POLL_SECONDS"],
        backoff_max_seconds=config["EVENTS_BACKOFF_MAX_SECONDS"],
        confirm_timeout=config["EVENTS_CONFIRM_TIMEOUT"],
        max_attempts=config["EVENTS_MAX_ATTEMPTS"],
        retry_base_seconds=config["EVENTS_RETRY_BASE_SECONDS"],
        retry_max_seconds=config["EVENTS_RETRY_MAX_SECONDS"],
        prefetch=config["EVENTS_PREFETCH"],
        retention_seconds=config["EVENTS_RETENTION_SECONDS"],
        idempotency_retention_seconds=config["IDEMPOTENCY_RETENTION_SECONDS"],
        purge_interval_seconds=config["EVENTS_PURGE_INTERVAL_SECONDS"],
    )


def backoff(attempt: int, base: float, cap: float) -> float:
    """Capped exponential delay before retry ``attempt`` (1, 2, ...), with full jitter.

    Jitter spreads the retries of replicas that failed together (a broker restart) instead of
    sending them back in step.
    """
    ceiling = min(cap, base * 2 ** min(attempt - 1, 30))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (timing, not security)


def mapped_model(mixin: type[T]) -> type[T] | None:
    """The current app's model mapped from ``mixin``, or None if the service maps none.

    Found once per app in its SQLAlchemy registry: a service only declares
    ``class OutboxEvent(OutboxEventMixin, db.Model)`` and the events code finds the table.
    """
    db = get_db()
    cache: dict[type, Any] = db.__dict__.setdefault("_events_models", {})
    if mixin not in cache:
        base: Any = db.Model  # flask-sqlalchemy's declarative base (typed without registry)
        found = [m.class_ for m in base.registry.mappers if issubclass(m.class_, mixin)]
        if len(found) > 1:
            raise RuntimeError(f"several models map {mixin.__name__}: {found}")
        cache[mixin] = found[0] if found else None
    model: type[T] | None = cache[mixin]
    return model


def require_model(mixin: type[T]) -> type[T]:
    """Like ``mapped_model``, but a service that maps no such table is a configuration error."""
    model = mapped_model(mixin)
    if model is None:
        raise RuntimeError(
            f"no model maps {mixin.__name__}: declare "
            f"`class X({mixin.__name__}, db.Model)` with a __tablename__ and a migration"
        )
    return model
