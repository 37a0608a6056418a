"""pytest fixtures every service reuses: ``pytest_plugins = ["common.testing"]`` in conftest.

A service provides one fixture, ``app_factory`` (its ``create_app``). It then gets:

- ``database_url``: a database for this test session. With ``TEST_DATABASE_URL`` (a PostgreSQL
  server URL) a fresh, uniquely named database is created and dropped afterwards, so parallel
  runs never meet; without it, a SQLite file in a temporary folder.
- ``app``: the service on that database, its schema built by its own Alembic migrations.
- ``client``: a test client. Requests go through the real commit path: after each test every
  table is emptied, instead of wrapping tests in a transaction that would never commit.
- ``tokens``: mints access tokens the app accepts; its JWKS is served by a real local HTTP
  server (``jwks_url``), exactly as the auth service would serve it.
- ``app_config``: the settings the app is built with; a service extends it (e.g. the URL of a
  dependency) by overriding the fixture and calling the original through ``request``.
- ``hardening_schema``: for the property-based hardening test of a service
  (``tests/test_schemathesis.py``, marker ``hardening``; schemathesis is in the ``test`` extra),
  builds the app's own OpenAPI document as a schemathesis schema that calls the app in-process,
  with the shared settings: a fixed seed, phases examples, coverage and fuzzing, the checks of
  ``HARDENING_CHECKS``, and as many cases as ``HARDENING_EXAMPLES`` asks (``full``, the default,
  or ``quick``).
- ``failing_commits``: from its setup on, every commit of an ORM session raises, as a failure
  at COMMIT would (the request answers 500 and stores nothing); ``failing_commits.stop()`` lets
  commits through again, which the end of the test does anyway.
- ``assert_examples_succeed(client, headers)``: every operation of the app's document, sent
  with nothing but its documented examples (what Swagger UI's "Try it out" sends), answers its
  documented success status; ids of created objects come from the document's links.
- ``event_bus``: the app's consumer (the handlers it passed to ``create_service_app``) on a
  broker of this test: RabbitMQ with ``TEST_BROKER_URL`` (an exchange and queues named for the
  test, deleted afterwards), else kombu's filesystem transport in a temporary folder.
  ``event_bus.deliver(event_bus.event(type, data, subject=...))`` publishes and waits until the
  consumer handled it, through the inbox, as in production.
"""

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from common.auth import public_jwk, sign_access_token
from common.config import Config
from common.db import get_db
from common.events import Consumer, EventSettings, Handlers, settings
from common.events.broker import Publisher, connect, encode
from common.events.cli import HANDLERS
from common.swagger import SPEC_ROUTE, operations, resolve

# The contract's asserts explain their failures like a test module's do.
pytest.register_assert_rewrite("common.contract")

AppFactory = Callable[[dict[str, Any]], Flask]


@pytest.fixture(scope="session")
def app_factory() -> AppFactory:
    """Override in the service's conftest: return its ``create_app``."""
    raise pytest.UsageError("define an `app_factory` fixture returning the service's create_app")


def _admin_engine(server: URL) -> sa.Engine:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    return sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database that lives as long as the test session."""
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    server_url = make_url(server)
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(server_url)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class TokenFactory:
    """Mints access tokens signed like the auth service's, for one key."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.key = key

    def issue(self, subject: str, *roles: str, ttl: int = 300, **claims: Any) -> str:
        """An access token for ``subject`` with ``roles``; ``claims`` override any claim."""
        return sign_access_token(
            self.key,
            subject=subject,
            roles=roles,
            issuer=Config.AUTH_ISSUER,
            audience=Config.AUTH_AUDIENCE,
            ttl=ttl,
            extra=claims,
        )

    def headers(self, subject: str, *roles: str) -> dict[str, str]:
        """The Authorization header for a token of ``subject`` with ``roles``."""
        return {"Authorization": f"Bearer {self.issue(subject, *roles)}"}


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    """The private key the test "auth service" signs with."""
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def jwks_url(signing_key: Ed25519PrivateKey) -> Iterator[str]:
    """A real HTTP server publishing the test key as a JWKS document."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("/jwks.json").respond_with_json(
        {"keys": [public_jwk(signing_key.public_key())]}
    )
    server.start()
    yield server.url_for("/jwks.json")
    server.clear()
    server.stop()


@pytest.fixture(scope="session")
def tokens(signing_key: Ed25519PrivateKey) -> TokenFactory:
    """Mint access tokens the app under test accepts."""
    return TokenFactory(signing_key)


@pytest.fixture(scope="session")
def app_config(database_url: str, jwks_url: str) -> dict[str, Any]:
    """Settings the app under test is built with."""
    return {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "AUTH_JWKS_URL": jwks_url}


@pytest.fixture(scope="session")
def app(app_factory: AppFactory, app_config: dict[str, Any]) -> Iterator[Flask]:
    """The service under test, migrated to the latest revision."""
    app = app_factory(app_config)
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        get_db().engine.dispose()


def empty_tables(app: Flask) -> None:
    """Delete every row of the app's tables (children first); migrations' table stays."""
    with app.app_context():
        db = get_db()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture(autouse=True)
def _isolate_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used the app, leave its database empty for the next one."""
    yield
    if "app" in request.fixturenames:
        empty_tables(request.getfixturevalue("app"))


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    """A test client for the service."""
    return app.test_client()


class FailingCommits:
    """Every ORM session's commit raises, from creation until ``stop()``."""

    def __init__(self) -> None:
        sa.event.listen(Session, "before_commit", self._refuse)

    @staticmethod
    def _refuse(session: Session) -> None:
        raise RuntimeError("commit refused by test hook")

    def stop(self) -> None:
        """Let commits through again; stopping twice is harmless."""
        if sa.event.contains(Session, "before_commit", self._refuse):
            sa.event.remove(Session, "before_commit", self._refuse)


@pytest.fixture()
def failing_commits() -> Iterator[FailingCommits]:
    """Make every session commit fail, as a commit-time failure would, until ``.stop()``."""
    failing = FailingCommits()
    yield failing
    failing.stop()


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert ``response`` is the error envelope with ``status`` and ``code``; return its body.

    Also what every error must be: JSON, and ``meta.request_id`` equal to ``X-Request-ID``.
    """
    body = response.get_json()
    assert response.status_code == status, body
    assert response.mimetype == "application/json"
    assert body["error"]["code"] == code, body
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]
    return dict(body)


class EventBus:
    """A broker of one test and the app's consumer on it (see ``event_bus``)."""

    def __init__(self, app: Flask, config: EventSettings, handlers: Handlers) -> None:
        self.app = app
        self.config = config
        self.consumer = Consumer(app, handlers, config=config)
        self.consumer.open()  # the queue and its bindings exist before anything is published

    def event(
        self, type: str, data: Any, *, subject: str | None = None, id: str | None = None
    ) -> dict[str, Any]:
        """A CloudEvents envelope as another service's relay would send it."""
        return {
            "specversion": "1.0",
            "id": id or str(uuid.uuid4()),
            "source": "/services/test",
            "type": type,
            "subject": subject,
            "time": "2026-01-01T00:00:00Z",
            "datacontenttype": "application/json",
            "data": data,
        }

    def deliver(self, *envelopes: dict[str, Any], timeout: float = 10.0) -> None:
        """Publish ``envelopes`` in order; return once the consumer handled them all."""
        with connect(self.config) as connection:
            publisher = Publisher(connection.channel(), timeout=self.config.confirm_timeout)
            for envelope in envelopes:
                publisher.publish(
                    encode(envelope),
                    exchange=self.config.exchange,
                    routing_key=envelope["type"],
                    message_id=envelope["id"],
                )
        handled, deadline = 0, time.monotonic() + timeout
        while handled < len(envelopes):  # a duplicate counts: it was acknowledged and skipped
            assert time.monotonic() < deadline, f"{handled} of {len(envelopes)} events handled"
            handled += self.consumer.poll(0.05)

    def close(self) -> None:
        """Stop consuming; on RabbitMQ, delete the test's exchanges and queues."""
        self.consumer.close()
        if not self.config.broker_url:
            return
        topology = self.consumer.topology
        with connect(self.config) as connection:
            channel = connection.channel()
            for queue in (topology.queue, topology.dead_queue):
                channel.queue_delete(queue)
            for exchange in (topology.dead_exchange, topology.exchange):
                channel.exchange_delete(exchange)


@pytest.fixture()
def event_bus(app: Flask, tmp_path: Path) -> Iterator[EventBus]:
    """The app's consumer on a broker of this test: RabbitMQ with ``TEST_BROKER_URL``."""
    handlers = app.extensions.get(HANDLERS)
    if handlers is None:
        raise pytest.UsageError("event_bus: the app was built without handlers")
    config = replace(
        settings(app),
        broker_url=os.environ.get("TEST_BROKER_URL") or None,
        folder=str(tmp_path / "events"),
        exchange=f"test.{uuid.uuid4().hex[:12]}",
        poll_seconds=0.05,
        confirm_timeout=5.0,
        max_attempts=2,
        retry_base_seconds=0.01,
        retry_max_seconds=0.02,
    )
    bus = EventBus(app, config, handlers)
    yield bus
    bus.close()


# The one runtime expression the platform's links use: a value of the response's JSON body.
_RESPONSE_BODY = re.compile(r"\$response\.body#(?P<pointer>/.*)")


def _example(spec: Mapping[str, Any], schema: Mapping[str, Any], where: str) -> Any:
    """The value Swagger UI's "Try it out" fills in for ``schema``, from examples only.

    Like Swagger UI: the schema's own ``example``, else an object of every writable property's
    example, else an array of one example item. Where Swagger UI would fall back to a placeholder
    ("string", 0), this fails instead: the service would refuse that request.
    """
    schema = resolve(spec, schema)
    if "example" in schema:
        return schema["example"]
    if "properties" in schema:
        return {
            name: _example(spec, prop, f"{where}.{name}")
            for name, prop in schema["properties"].items()
            if not resolve(spec, prop).get("readOnly")
        }
    if schema.get("type") == "array":
        return [_example(spec, schema["items"], f"{where}[]")]
    raise AssertionError(f"{where} has no example")


def _evaluate(expression: Any, body: Any) -> Any:
    """A link's value for the next request: ``$response.body#/...`` read from ``body``."""
    if isinstance(expression, dict):
        return {name: _evaluate(value, body) for name, value in expression.items()}
    match = _RESPONSE_BODY.fullmatch(expression) if isinstance(expression, str) else None
    if match is None:
        return expression  # a constant
    for part in match["pointer"][1:].split("/"):
        body = body[int(part) if isinstance(body, list) else part]
    return body


def _links(op: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The links of an operation's responses."""
    return [link for r in op["responses"].values() for link in r.get("links", {}).values()]


def _in_sending_order(spec: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) of the document, in an order its examples can be sent in.

    First what no link feeds, then what a link feeds (the operations on a created object); in
    each, deletes last, creates first, and an operation with links before one without (a refresh
    before a logout).
    """
    linked = {link["operationId"] for _, _, op in operations(spec) for link in _links(op)}
    return sorted(
        operations(spec),
        key=lambda o: (
            o[2]["operationId"] in linked,
            o[1] == "delete",
            "201" not in o[2]["responses"],
            not _links(o[2]),
        ),
    )


def assert_examples_succeed(client: FlaskClient, headers: Mapping[str, str] | None = None) -> None:
    """Send every documented operation its examples; each must answer its success status.

    A request is what Swagger UI's "Try it out" sends with its defaults: each parameter's
    ``example`` (an optional one without example is left out), a body of examples (see
    ``_example``), plus ``headers`` (a token). A required parameter or a body field without an
    example fails, as does any answer but the documented success status. The one
    substitution is what a link of an earlier success response supplies (the id a create
    answered, for the operations on that object; the token a login answered): an operation a
    link targets runs after the others and takes the link's values instead of its examples.
    """
    spec = client.get(SPEC_ROUTE).get_json()
    supplied: dict[str, dict[str, Any]] = {}
    for path, method, op in _in_sending_order(spec):
        name = op["operationId"]
        link = supplied.get(name, {})
        params: dict[str, dict[str, Any]] = {}
        for param in (resolve(spec, p) for p in op.get("parameters", [])):
            example = param.get("example", param.get("schema", {}).get("example"))
            value = link.get("parameters", {}).get(param["name"], example)
            if value is None and not param.get("required"):
                continue  # Swagger UI leaves it empty: not sent (e.g. an admin's filter)
            assert value is not None, f"{name}: {param['in']} parameter {param['name']}: no example"
            params.setdefault(param["in"], {})[param["name"]] = value
        request: dict[str, Any] = {
            "method": method.upper(),
            "query_string": params.get("query", {}),
            "headers": {**(headers or {}), **params.get("header", {})},
        }
        if "requestBody" in op:
            media = op["requestBody"]["content"]["application/json"]
            body = media.get("example") or _example(spec, media["schema"], f"{name}: body")
            request["json"] = link.get("requestBody", body)
        url = path.format(**params.get("path", {}))
        response = client.open(url, **request)
        (status,) = [s for s in op["responses"] if s.startswith("2")]
        assert response.status_code == int(status), (name, url, request, response.get_json())
        for target in _links(op):
            supplied[target["operationId"]] = {
                key: _evaluate(target[key], response.get_json())
                for key in ("parameters", "requestBody")
                if key in target
            }


# Property-based hardening with schemathesis: the same settings for every service, so that "the
# service survives bad input" means the same thing everywhere and a failure replays exactly.
HARDENING_SEED = 20260101
# Fuzzing examples per operation; the examples and coverage phases add their own cases on top.
HARDENING_MAX_EXAMPLES = {"full": 250, "quick": 25}
# A full run that sends fewer cases than this (over all operations) fails: it no longer tests
# what it claims to.
HARDENING_MIN_CASES = {"full": 1000, "quick": 0}
# What every response must satisfy, whatever the input: no 5xx, a documented status, the
# documented content type and body schema, and every request the spec forbids refused (4xx).
HARDENING_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
_HARDENING_RUNS = pytest.StashKey[list[str]]()


def hardening_level() -> str:
    """``HARDENING_EXAMPLES``: ``full`` (the default, CI) or ``quick`` (local runs)."""
    level = os.environ.get("HARDENING_EXAMPLES") or "full"
    if level not in HARDENING_MAX_EXAMPLES:
        choices = ", ".join(HARDENING_MAX_EXAMPLES)
        raise pytest.UsageError(f"HARDENING_EXAMPLES must be one of {choices}, not {level!r}")
    return level


def _hardening_config(level: str, bearer: str | None) -> Any:
    import schemathesis  # only the hardening tests need it (the `test` extra installs it)

    settings: dict[str, Any] = {
        "seed": HARDENING_SEED,
        # Hypothesis's one clock-based health check: on a loaded machine, drawing the first
        # cases slowly would fail a run that sent nothing wrong.
        "suppress-health-check": ["too_slow"],
        "generation": {
            "max-examples": HARDENING_MAX_EXAMPLES[level],
            # No example database: a run depends on the seed alone, never on earlier runs.
            "database": "none",
        },
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
        "checks": {"enabled": False, **{name: {"enabled": True} for name in HARDENING_CHECKS}},
    }
    if bearer is not None:
        settings["auth"] = {"openapi": {"bearerAuth": {"bearer": bearer}}}
    return schemathesis.Config.from_dict(settings)


@pytest.fixture()
def hardening_schema(app: Flask, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Build the app's OpenAPI document as a schemathesis schema that calls the app in-process.

    ``hardening_schema(bearer=token)`` sends ``token`` to the operations the document secures
    with ``bearerAuth``. Serve it from a fixture of the test module, and load that fixture with
    ``schemathesis.pytest.from_fixture``; ``case.call_and_validate()`` then runs the checks of
    ``HARDENING_CHECKS``. The number of cases sent is reported at the end of the session.
    """
    # schemathesis (4.32) renames the running item through Node._nodeid, which pytest 9.2 no
    # longer has; giving it one lets the run proceed (items keep their real nodeid).
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid
    level = hardening_level()
    failures_before = request.session.testsfailed
    sent = 0

    def count(context: Any, case: Any, response: Any) -> None:
        nonlocal sent
        sent += 1

    def build(*, bearer: str | None = None) -> Any:
        import schemathesis

        config = _hardening_config(level, bearer)
        schema = schemathesis.openapi.from_wsgi(SPEC_ROUTE, app, config=config)
        schema.hook("after_call")(count)
        return schema

    yield build
    runs = request.config.stash.setdefault(_HARDENING_RUNS, [])
    runs.append(f"{request.node.nodeid}: {sent} cases ({level}, seed {HARDENING_SEED})")
    if request.session.testsfailed == failures_before and sent < HARDENING_MIN_CASES[level]:
        pytest.fail(f"only {sent} cases sent; a {level} run sends {HARDENING_MIN_CASES[level]}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List how many cases each hardening test sent."""
    runs = terminalreporter.config.stash.get(_HARDENING_RUNS, [])
    if runs:
        terminalreporter.write_sep("-", "hardening")
        for line in runs:
            terminalreporter.write_line(line)
