"""``flask --app <service> events ...``: the relay, the consumer and the dead letters, as commands.

``common.app.create_service_app`` registers the group on every service, so a service runs its
two extra processes from the same code and image as its web process::

    flask --app users_service events relay           # until SIGTERM; --once: the backlog, then exit
    flask --app users_service events consume         # until SIGTERM; --once: what waits, then exit
    flask --app users_service events dead-letters    # list them, leaving the queue as it was
    flask --app users_service events replay [ID ...] # all dead letters, or those with these ids

The consumer's handlers are those the service passed to ``create_service_app(handlers=...)``.
A service that consumes nothing has none: ``consume`` then says so and exits 0 instead of
idling, since a queue bound to no event type would hold a connection open for nothing (deploy
no consumer for such a service; a restart policy of ``on-failure`` leaves it stopped). A relay
with an empty outbox idles quietly, so every service may run one from its first day; a service
that maps no outbox table at all (it publishes nothing) is told so, and ``relay`` exits 0.

``--once`` serves operators (send or handle a backlog now, from a shell or a job) and tests,
which cannot stop a loop that waits for SIGTERM.

``relay`` and ``consume`` serve their Prometheus metrics on ``METRICS_PORT`` when it is set
(any path answers; ``/metrics`` by convention), since these processes answer no HTTP otherwise.
"""

from typing import Any

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup

from common import metrics
from common.db import get_db
from common.events.consumer import Consumer, run_consumer
from common.events.deadletters import list_dead_letters, replay_dead_letters
from common.events.inbox import Handlers
from common.events.outbox import OutboxEventMixin
from common.events.relay import Relay, run_relay
from common.events.settings import mapped_model, require_model

HANDLERS = "events_handlers"  # the app.extensions key

events = AppGroup("events", help="Integration events: relay, consume, dead letters.")


def init_app(app: Flask, handlers: Handlers | None) -> None:
    """Keep the service's handlers (None: it consumes nothing) and register ``flask events``."""
    app.extensions[HANDLERS] = handlers
    app.cli.add_command(events)


def _app() -> Flask:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app


def _handlers(app: Flask) -> Handlers | None:
    """The service's handlers; None (after saying so) when it handles no event type."""
    handlers: Handlers | None = app.extensions.get(HANDLERS)
    if handlers is None or not handlers.types():
        click.echo(f"{app.config['SERVICE_NAME']} handles no event type: nothing to consume.")
        return None
    return handlers


def _serve_metrics(app: Flask) -> None:
    """Serve the process's Prometheus metrics on METRICS_PORT, if set (it answers no HTTP)."""
    port = app.config.get("METRICS_PORT") or 0
    if port:
        metrics.serve(port, app.config["METRICS_HOST"])
        click.echo(f"metrics on http://{app.config['METRICS_HOST']}:{port}{metrics.PATH}")


def _unpublished(app: Flask) -> int:
    with app.app_context():
        model: Any = require_model(OutboxEventMixin)
        query = sa.select(sa.func.count()).where(model.published_at.is_(None))
        return int(get_db().session.scalar(query) or 0)


@events.command("relay")
@click.option("--once", is_flag=True, help="Publish what the outbox holds now, then exit.")
def relay_command(once: bool) -> None:
    """Send the outbox's committed events to the broker, until SIGTERM."""
    app = _app()
    with app.app_context():
        outbox = mapped_model(OutboxEventMixin)
    if outbox is None:
        click.echo(f"{app.config['SERVICE_NAME']} has no outbox table: nothing to relay.")
        return
    if not once:
        _serve_metrics(app)
        run_relay(app)
        return
    before = _unpublished(app)
    relay = Relay(app)
    try:
        while relay.publish_batch():
            pass
    except Exception as exc:  # the broker or the database is away: say which, exit 1
        raise click.ClickException(f"relay: {exc!r}") from exc
    finally:
        relay._disconnect()
    # What the broker refused (no queue bound for the type yet) waits for a later run.
    waiting = _unpublished(app)
    click.echo(f"relay: {max(before - waiting, 0)} published, {waiting} waiting in the outbox.")


@events.command("consume")
@click.option("--once", is_flag=True, help="Handle the messages waiting now, then exit.")
def consume_command(once: bool) -> None:
    """Handle the service's events, each once, until SIGTERM."""
    app = _app()
    handlers = _handlers(app)
    if handlers is None:
        return
    if not once:
        _serve_metrics(app)
        run_consumer(app, handlers)
        return
    consumer = Consumer(app, handlers)
    handled = 0
    try:
        # Until one poll period passes with nothing to handle; retries not yet due go back
        # to the queue on close, for the next run.
        while done := consumer.poll(consumer.config.poll_seconds):
            handled += done
    except Exception as exc:
        raise click.ClickException(f"consumer: {exc!r}") from exc
    finally:
        consumer.close()
    click.echo(f"consumer {consumer.topology.queue}: {handled} handled.")


@events.command("dead-letters")
def dead_letters_command() -> None:
    """List the events the consumer gave up on (the queue is left as it was)."""
    app = _app()
    if _handlers(app) is None:
        return
    letters = list_dead_letters(app)
    for letter in letters:
        dead_at = letter.dead_at.isoformat(timespec="seconds") if letter.dead_at else "-"
        click.echo(
            f"{letter.id}  {letter.type or '-'}  {letter.attempts} attempts  {dead_at}  "
            f"{letter.error or ''}"
        )
    click.echo(f"{len(letters)} dead letter(s).")


@events.command("replay")
@click.argument("ids", nargs=-1)
def replay_command(ids: tuple[str, ...]) -> None:
    """Send dead letters back to the consumer: those with these event IDS, or all."""
    app = _app()
    if _handlers(app) is None:
        return
    replayed = replay_dead_letters(app, set(ids) if ids else None)
    click.echo(f"{replayed} replayed.")
    if ids and replayed < len(set(ids)):
        # A script replaying chosen letters learns that some were not there (already replayed?).
        raise click.ClickException(f"{len(set(ids)) - replayed} of the ids are no dead letter.")
