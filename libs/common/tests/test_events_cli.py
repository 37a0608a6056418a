"""``flask events``: relay, consume, dead-letters and replay, as an operator runs them.

The tiny service is built here with ``create_service_app(handlers=...)``, on the session's
(migrated) database and the events settings of the test; the loops run with ``--once``. Each
test runs on RabbitMQ (``TEST_BROKER_URL``) and on the filesystem transport.
"""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

import tinyapp
from common.app import create_service_app
from common.db import get_db
from common.events import EventSettings, Handlers
from events_support import declare, publish_names, read_queue, unpublished
from tinyapp import routes
from tinyapp.events import WIDGET_NAMED, make_handlers


@pytest.fixture()
def cli_app(
    app: Flask,
    app_config: dict[str, Any],
    event_settings: Callable[..., EventSettings],
    transport: str,
) -> Iterator[Callable[..., Flask]]:
    """Build the tiny service for ``flask events``: ``cli_app(handlers, **settings)``."""
    built: list[Flask] = []

    def build(handlers: Handlers | None, **changes: Any) -> Flask:
        config = event_settings(transport, **changes)
        app = create_service_app(
            "tinyapp",
            config=tinyapp.TinyConfig,
            overrides={
                **app_config,
                "BROKER_URL": config.broker_url,
                "EVENTS_FOLDER": config.folder,
                "EVENTS_EXCHANGE": config.exchange,
                "EVENTS_CONSUMER_NAME": config.consumer_name,
                "EVENTS_POLL_SECONDS": 0.2,
                "EVENTS_MAX_ATTEMPTS": config.max_attempts,
                "EVENTS_RETRY_BASE_SECONDS": 0.01,
                "EVENTS_RETRY_MAX_SECONDS": 0.02,
            },
            db=tinyapp.db,
            register_routes=routes.register,
            title="Tiny service",
            handlers=handlers,
        )
        app.config["EVENT_SETTINGS"] = config  # for the assertions below
        built.append(app)
        return app

    yield build
    for app in built:
        with app.app_context():
            get_db().engine.dispose()


def events(app: Flask, *args: str) -> Any:
    """Run ``flask events ARGS`` against ``app``; return the click result."""
    return app.test_cli_runner().invoke(args=["events", *args])


def test_every_service_app_has_the_events_commands(app):
    assert set(app.cli.commands["events"].commands) == {
        "relay",
        "consume",
        "dead-letters",
        "replay",
    }


def test_relay_once_publishes_the_outbox_and_exits(cli_app, app):
    service = cli_app(None)
    config = service.config["EVENT_SETTINGS"]
    declare(config, [WIDGET_NAMED.name])
    publish_names(app, ["a", "b"])
    result = events(service, "relay", "--once")
    assert result.exit_code == 0, result.output
    assert "2 published, 0 waiting" in result.output
    assert unpublished(app) == 0
    assert len(read_queue(config, f"{config.exchange}.tiny", expected=2)) == 2


def test_relay_once_with_an_empty_outbox_publishes_nothing(cli_app):
    result = events(cli_app(None), "relay", "--once")
    assert result.exit_code == 0, result.output
    assert "0 published, 0 waiting" in result.output


def test_consume_once_handles_what_waits_once(cli_app, app, count_rows):
    calls = []
    service = cli_app(make_handlers(calls))
    assert events(service, "consume", "--once").exit_code == 0  # declares the queue
    publish_names(app, ["x", "y"])
    assert events(service, "relay", "--once").exit_code == 0
    result = events(service, "consume", "--once")
    assert result.exit_code == 0, result.output
    assert "2 handled" in result.output
    assert count_rows("widgets") == 2 and count_rows("inbox_messages") == 2


def test_a_service_without_handlers_consumes_nothing_and_exits_0(cli_app):
    service = cli_app(None)
    for command in (["consume"], ["dead-letters"], ["replay"]):
        result = events(service, *command)
        assert result.exit_code == 0, result.output
        assert "tiny handles no event type: nothing to consume." in result.output


def test_dead_letters_are_listed_then_replayed_after_the_fix(cli_app, app, count_rows):
    calls, poison = [], {"bad"}
    service = cli_app(make_handlers(calls, poison), max_attempts=1)
    events(service, "consume", "--once")
    publish_names(app, ["bad", "good"])
    events(service, "relay", "--once")
    events(service, "consume", "--once")
    assert count_rows("widgets") == 1

    listed = events(service, "dead-letters")
    assert listed.exit_code == 0, listed.output
    assert "1 dead letter(s)." in listed.output
    (line,) = [line for line in listed.output.splitlines() if WIDGET_NAMED.name in line]
    assert "1 attempts" in line and "cannot handle bad" in line
    event_id = line.split()[0]

    unknown = events(service, "replay", "not-an-id")
    assert unknown.exit_code == 1 and "1 of the ids are no dead letter" in unknown.output
    poison.clear()  # the fix
    replayed = events(service, "replay", event_id)
    assert replayed.exit_code == 0 and "1 replayed." in replayed.output
    assert "1 handled" in events(service, "consume", "--once").output
    assert count_rows("widgets", name="bad") == 1
    assert "0 dead letter(s)." in events(service, "dead-letters").output


def test_relay_once_says_when_the_broker_is_away(cli_app, transport):
    if transport != "amqp":
        pytest.skip("the filesystem transport has no server to be away")
    service = cli_app(None)
    service.config["BROKER_URL"] = "amqp://guest:guest@127.0.0.1:1//"  # nothing listens there
    service.config["EVENTS_CONFIRM_TIMEOUT"] = 0.5
    publish_names(service, ["lost?"])
    result = events(service, "relay", "--once")
    assert result.exit_code == 1 and "relay:" in result.output
    assert unpublished(service) == 1  # kept for the next run
