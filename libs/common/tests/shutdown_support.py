"""The tiny service as the shutdown tests run it in processes of their own (gunicorn, ``flask
events consume``): with a slow route, and with a handler that waits until the test releases it.

Not in ``tinyapp`` itself: these are no operations of its documented API (the slow route is a
plain Flask route, outside the OpenAPI document the other tests read).
"""

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, request

import tinyapp
from common.app import create_service_app
from common.db import session
from common.envelope import json_response, success_body
from common.events import Event, Handlers
from tinyapp import routes
from tinyapp.events import WIDGET_NAMED
from tinyapp.models import Widget

HANDLER_TIMEOUT = 60.0  # a handler never released gives up (and fails) after this long


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """The tiny service with ``GET /_test/slow?seconds=S``: answers 200 after S seconds."""
    app = tinyapp.create_app(overrides)

    def slow() -> Any:
        time.sleep(float(request.args.get("seconds", "1")))
        return json_response(success_body({"slept": True}), 200)

    app.add_url_rule("/_test/slow", "slow", slow)
    return app


def create_consumer_app(overrides: Mapping[str, Any], gate: str) -> Flask:
    """The tiny service whose handler of ``tiny.widget.named.v1`` adds the widget, writes
    ``<gate>/started-<name>``, then waits until ``<gate>/release-<name>`` exists: a test stops
    the consumer while a message is being handled, then lets the handler finish."""
    folder = Path(gate)
    handlers = Handlers()

    @handlers.on(WIDGET_NAMED)
    def widget_named(event: Event) -> None:
        name = event.data["name"]
        session.add(Widget(name=name))
        session.flush()
        (folder / f"started-{name}").touch()
        deadline = time.monotonic() + HANDLER_TIMEOUT
        while not (folder / f"release-{name}").exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} was never released")
            time.sleep(0.01)

    return create_service_app(
        "tinyapp",
        config=tinyapp.TinyConfig,
        overrides=overrides,
        db=tinyapp.db,
        register_routes=routes.register,
        title="Tiny service",
        handlers=handlers,
    )
