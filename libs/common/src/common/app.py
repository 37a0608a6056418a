"""The factory every service's ``create_app`` calls: one place wires every mechanism in order."""

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Request
from flask.json.provider import DefaultJSONProvider
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wsgi import LimitedStream

from common import auth, errors, health, logs, request_id, swagger, tracing, transaction
from common.api import Api
from common.config import Config
from common.events import asyncapi
from common.events import cli as events_cli
from common.events.inbox import Handlers
from common.metrics import web as metrics_web

# Characters no JSON string may carry into a service: U+0000, which PostgreSQL text cannot store
# (SQLite can, so the same request would behave differently per backend), and unpaired
# surrogates, which are not Unicode text at all (UTF-8 cannot encode them; I-JSON, RFC 7493,
# forbids them) and fail wherever the string is encoded: the database, a hash, a password hasher.
_UNACCEPTABLE_CHARACTERS = re.compile(r"[\x00\ud800-\udfff]")


class UnacceptableText(ValueError):
    """A JSON document is well-formed but carries characters no service accepts."""


def check_text(document: Any) -> None:
    """Raise ``UnacceptableText`` if a string (key or value) of ``document`` has such characters."""
    pending: list[Any] = [document]
    while pending:  # iterative: a document may be nested as deeply as the parser allows
        item = pending.pop()
        if isinstance(item, str):
            if _UNACCEPTABLE_CHARACTERS.search(item):
                raise UnacceptableText(
                    "JSON strings must not contain U+0000 or unpaired surrogates."
                )
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, compact, keeping key order, and treating absurd input as bad input."""

    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialise without the spaces json.dumps puts after separators by default."""
        kwargs.setdefault("separators", (",", ":"))
        return super().dumps(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse JSON; too deep a nesting or unacceptable text is a client error (400)."""
        try:
            document = super().loads(s, **kwargs)
        except RecursionError:
            # Flask turns ValueError into 400 "Failed to decode JSON object".
            raise ValueError("JSON is nested too deeply") from None
        check_text(document)
        return document


class JSONRequest(Request):
    """Request whose JSON errors tell the client what is wrong (Flask hides it outside debug)."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        """Malformed JSON is a 400 with a plain reason; a wrong content type stays a 415."""
        if e is None:
            return super().on_json_loading_failed(e)
        if isinstance(e, UnacceptableText):
            raise BadRequest(str(e))
        raise BadRequest("The request body is not valid JSON.")

    def get_data(self, *args: Any, **kwargs: Any) -> Any:
        """The body; one sent without Content-Length (chunked) over the limit is a 413 too."""
        data = super().get_data(*args, **kwargs)
        # A Content-Length over MAX_CONTENT_LENGTH is refused before reading. Without one, werkzeug
        # reads at most MAX_CONTENT_LENGTH bytes and returns them as the whole body: a longer body
        # arrived cut (and failed to parse, or worse, parsed). One more byte from the server's
        # stream, which ends where the body ends, tells a body of exactly the limit from a longer.
        stream = self.stream
        if (
            self.content_length is None
            and isinstance(stream, LimitedStream)
            and stream.is_exhausted
            and self.environ["wsgi.input"].read(1)
        ):
            raise RequestEntityTooLarge()
        return data


def create_base_app(
    import_name: str, *, config: type, overrides: Mapping[str, Any] | None, **options: Any
) -> Flask:
    """A Flask app with what every app of the platform has, a database or not: compact JSON,
    the JSON request rules, settings (``config``, then ``overrides``), the error envelope.

    ``create_service_app`` builds on it, and so does the docs service (deploy/docs), which has
    no database; ``options`` go to Flask.
    """
    app = Flask(import_name, instance_relative_config=True, **options)
    app.json = JSONProvider(app)
    app.request_class = JSONRequest
    app.config.from_object(config)
    app.config.update(overrides or {})
    errors.init_app(app)
    return app


def trust_proxies(app: Flask) -> None:
    """Behind ``TRUSTED_PROXIES`` proxies (the gateway), read the client's address, scheme,
    host and prefix from the X-Forwarded-* headers they set; nothing when it is 0.

    X-Forwarded-For gets one address per proxy, the others one value set by the proxy nearest
    the app. It wraps the WSGI app: call it after anything else that does (tracing), so that
    they see the client's values.
    """
    if app.config["TRUSTED_PROXIES"]:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"], x_proto=1, x_host=1, x_prefix=1
        )


def create_service_app(
    import_name: str,
    *,
    config: type[Config],
    overrides: Mapping[str, Any] | None,
    db: SQLAlchemy,
    register_routes: Callable[[Api], None],
    title: str,
    description: str = "",
    handlers: Handlers | None = None,
) -> Flask:
    """Build a service app: config, logging, request id, errors, session, routes, API documents.

    :param import_name: the service package (``__name__`` of its ``__init__``); its
        ``migrations/`` folder holds the Alembic revisions.
    :param overrides: settings that win over the environment (tests pass them).
    :param handlers: the integration events the service consumes (``flask events consume``);
        None for a service that consumes none.
    """
    app = create_base_app(import_name, config=config, overrides=overrides)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        # Development default: a SQLite file per service in the instance folder.
        os.makedirs(app.instance_path, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{app.config['SERVICE_NAME']}.db"
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # SQLite has no server connections to budget; its pools refuse the sizing options.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
    # An API has no use for trailing-slash redirects: /users/ and /users are the same resource.
    app.url_map.strict_slashes = False

    # after_request hooks run last-registered-first: commit, then request id, then access log,
    # then the request's metrics (db.init_app first: they watch its engines' pools).
    db.init_app(app)
    metrics_web.init_app(app)
    logs.init_app(app)
    request_id.init_app(app)
    # Batch mode lets Alembic alter tables on SQLite, the development default.
    Migrate(app, db, directory=str(Path(app.root_path) / "migrations"), render_as_batch=True)
    transaction.init_app(app)
    auth.init_app(app)
    # Spans when an OTEL_* exporter is set (nothing otherwise); inside ProxyFix, so a span's
    # client.address is the client's, not the gateway's.
    tracing.init_app(app)
    trust_proxies(app)

    app.register_blueprint(health.bp)
    api = Api(app)
    register_routes(api)
    swagger.init_app(app, title=title, description=description)
    # Its events next to its API: /asyncapi.json, what it publishes and what it consumes.
    asyncapi.init_app(app, title=title, handlers=handlers)
    events_cli.init_app(app, handlers)
    return app
