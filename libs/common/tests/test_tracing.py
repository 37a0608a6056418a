"""common.tracing in process: one trace from a request through its call, SQL, event and consumer.

The SDK's in-memory exporter receives the spans (``tracing.configure`` with it, undone after the
module); the "off" cases run in a fresh interpreter, where nothing was ever patched.
"""

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, request
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import tinyapp
from common import tracing
from common.db import get_db, savepoint, session
from common.errors import DependencyUnavailable
from common.events import Consumer, publish
from common.http import ServiceClient
from events_support import consume_until, declare, relay_all
from tinyapp.events import WIDGET_NAMED, make_handlers
from tracing_support import served

TESTS = Path(__file__).resolve().parent
TRACE_ID = uuid.uuid4().hex
INCOMING = f"00-{TRACE_ID}-{uuid.uuid4().hex[:16]}-01"


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for this module's apps, into memory; off again afterwards."""
    tracing.reset()  # the session's first app decided "off" (no exporter in the environment)
    exporter = InMemorySpanExporter()
    assert tracing.configure("tiny", [exporter])
    yield exporter
    tracing.reset()


def _finished(exporter: InMemorySpanExporter) -> list[Any]:
    tracing.flush()
    return list(exporter.get_finished_spans())


@pytest.fixture()
def traced(app: Flask, app_config: dict[str, Any], spans: InMemorySpanExporter) -> Iterator[Any]:
    """A caller and a callee built while tracing is on; the callee served over real HTTP."""
    spans.clear()
    callee = tinyapp.create_app(app_config)
    received: list[dict[str, str | None]] = []

    @callee.before_request
    def record_headers() -> None:
        received.append({h: request.headers.get(h) for h in ("traceparent", "X-Request-ID")})

    caller = tinyapp.create_app(app_config)
    with served(callee) as callee_url:

        def order() -> Any:
            """Call the callee (SQL there), then publish an event (SQL here)."""
            peer = ServiceClient.from_config("peer", callee_url).get("/widgets?name=x")
            name = f"traced-{uuid.uuid4().hex[:8]}"
            publish(WIDGET_NAMED, subject=name, data={"name": name})
            return {"peer": peer.status_code, "name": name}, 201

        caller.add_url_rule("/_test/order", view_func=order, methods=["POST"])

        class Traced:
            pass

        t = Traced()
        t.caller, t.callee, t.received = caller, callee, received
        yield t
    for built in (caller, callee):
        with built.app_context():
            get_db().engine.dispose()


def test_apps_built_while_tracing_is_on_are_wrapped_and_no_driver_is_patched(
    traced: Any,
) -> None:
    assert isinstance(traced.caller.wsgi_app, tracing.ServerSpans)
    with traced.caller.app_context():
        assert get_db().engine.dialect.dispatch.do_execute, "the engine is listened to"
    import sqlite3

    import psycopg

    # The SQL spans come from the app's own engines: other code's connections are untouched.
    assert not hasattr(psycopg.connect, "__wrapped__"), "psycopg is not patched"
    assert not hasattr(sqlite3.connect, "__wrapped__"), "sqlite3 is not patched"


def test_a_request_on_sqlite_has_its_sql_spans(spans: InMemorySpanExporter) -> None:
    # The no-Docker platform's default database: its statements are spans too.
    app = tinyapp.create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    app.add_url_rule("/_test/sql", view_func=lambda: {"one": session.scalar(sa.text("SELECT 1"))})
    spans.clear()

    assert app.test_client().get("/_test/sql").status_code == 200

    (server,) = [s for s in _finished(spans) if s.kind == SpanKind.SERVER]
    sql = [s for s in _finished(spans) if s.attributes.get("db.system.name") == "sqlite"]
    assert sql, "no SQL span from SQLite"
    assert {s.context.trace_id for s in sql} == {server.context.trace_id}


@pytest.mark.usefixtures("postgres_only")
def test_request_call_sql_publish_consume_are_one_trace(
    traced: Any, spans: InMemorySpanExporter, event_settings: Any, transport: str
) -> None:
    config = event_settings(transport)
    declare(config, [WIDGET_NAMED.name])
    response = traced.caller.test_client().post(
        "/_test/order", headers={"traceparent": INCOMING, "X-Request-ID": "trace-test-1"}
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    relay_all(traced.caller, config)
    calls: list[Any] = []
    consumer = Consumer(traced.caller, make_handlers(calls), config=config)
    try:
        consume_until(consumer, lambda: bool(calls))
    finally:
        consumer.close()

    finished = _finished(spans)
    mine = [s for s in finished if f"{s.context.trace_id:032x}" == TRACE_ID]

    def one(kind: SpanKind, name: str) -> Any:
        found = [s for s in mine if s.kind == kind and s.name == name]
        assert len(found) == 1, (
            name,
            [
                (s.name, s.kind.name)
                for s in mine
                if s.kind != SpanKind.CLIENT or "db.system.name" not in s.attributes
            ],
        )
        return found[0]

    server = one(SpanKind.SERVER, "POST /_test/order")
    client = one(SpanKind.CLIENT, "GET")
    callee = one(SpanKind.SERVER, "GET /widgets")
    publish_span = one(SpanKind.PRODUCER, f"publish {WIDGET_NAMED.name}")
    process = one(SpanKind.CONSUMER, f"process {WIDGET_NAMED.name}")
    # The incoming traceparent is continued; each hop is a child of the one that caused it.
    assert server.parent.span_id == int(INCOMING.split("-")[2], 16)
    assert client.parent.span_id == server.context.span_id
    assert callee.parent.span_id == client.context.span_id
    assert publish_span.parent.span_id == server.context.span_id
    assert process.parent.span_id == server.context.span_id
    assert server.attributes["http.route"] == "/_test/order"
    assert server.attributes["http.response.status_code"] == 201
    assert client.attributes["peer.service"] == "peer"
    assert client.attributes["http.response.status_code"] == 200
    system = "rabbitmq" if transport == "amqp" else "kombu_filesystem"
    for span in (publish_span, process):
        assert span.attributes["messaging.system"] == system
        assert span.attributes["messaging.destination.name"] == config.exchange
        assert span.attributes["messaging.message.id"] == calls[0].id
    # The traceparent went out with the call, next to the request id.
    assert traced.received[-1]["traceparent"].split("-")[1:3] == [
        TRACE_ID,
        f"{client.context.span_id:016x}",
    ]
    assert traced.received[-1]["X-Request-ID"] == "trace-test-1"
    # SQL: the callee's query, the caller's outbox insert, the consumer's inbox and widget.
    sql = [s for s in mine if s.attributes.get("db.system.name") == "postgresql"]

    def statements(parent: Any) -> list[str]:
        return [s.name for s in sql if s.parent.span_id == parent.context.span_id]

    assert "SELECT" in statements(callee)
    assert "INSERT" in statements(server)
    assert statements(process).count("INSERT") >= 2, statements(process)


@pytest.mark.usefixtures("postgres_only")
def test_the_pools_ping_of_a_connection_is_not_a_span(
    traced: Any, spans: InMemorySpanExporter
) -> None:
    client = traced.caller.test_client()
    assert client.get("/widgets").status_code == 200  # the pool now holds a used connection
    spans.clear()

    assert client.get("/widgets").status_code == 200  # that connection is pinged, then used

    sql = [s.name for s in _finished(spans) if s.attributes.get("db.system.name") == "postgresql"]
    assert sql and ";" not in sql, sql


def test_a_statement_span_names_the_database_and_leaves_the_values_out(
    traced: Any, spans: InMemorySpanExporter, app_config: dict[str, Any]
) -> None:
    app = traced.caller
    query = sa.text("SELECT :secret AS echoed")
    app.add_url_rule(
        "/_test/echo",
        view_func=lambda: {"echoed": session.scalar(query, {"secret": "value-of-a-user"})},
    )
    spans.clear()

    assert app.test_client().get("/_test/echo").json == {"echoed": "value-of-a-user"}

    (sql,) = [s for s in _finished(spans) if "echoed" in s.attributes.get("db.query.text", "")]
    url = sa.engine.make_url(app_config["SQLALCHEMY_DATABASE_URI"])
    assert sql.name == "SELECT"
    assert sql.kind == SpanKind.CLIENT
    assert sql.attributes["db.system.name"] == url.get_backend_name()
    assert "value-of-a-user" not in sql.attributes["db.query.text"]  # a placeholder instead
    if url.host:  # PostgreSQL: where the statement went
        assert sql.attributes["db.namespace"] == url.database
        assert sql.attributes["server.address"] == url.host
        assert sql.attributes["server.port"] == (url.port or 5432)


def test_a_failed_statement_is_an_error_span(traced: Any, spans: InMemorySpanExporter) -> None:
    app = traced.caller

    def broken() -> Any:
        with pytest.raises(sa.exc.DBAPIError), savepoint():
            session.execute(sa.text("SELECT * FROM no_such_table"))
        return {"survived": True}

    app.add_url_rule("/_test/broken", view_func=broken)
    spans.clear()

    assert app.test_client().get("/_test/broken").status_code == 200

    (failed,) = [
        s for s in _finished(spans) if "no_such_table" in s.attributes.get("db.query.text", "")
    ]
    assert not failed.status.is_ok
    assert failed.attributes["error.type"] in {"UndefinedTable", "OperationalError"}
    assert failed.end_time is not None


def test_sql_outside_a_recording_span_is_no_span(traced: Any, spans: InMemorySpanExporter) -> None:
    # The relay's polls and the consumer's housekeeping: SQL with no request around it.
    spans.clear()
    with traced.caller.app_context():
        assert session.scalar(sa.text("SELECT 1")) == 1
        session.rollback()
    assert _finished(spans) == []


def test_log_lines_carry_trace_and_span_ids(traced: Any, spans: InMemorySpanExporter) -> None:
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_platform_json", False))
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        traced.caller.test_client().get("/widgets", headers={"traceparent": INCOMING})
    finally:
        handler.setStream(previous)
    access = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    access = [line for line in access if line["logger"] == "common.access"]
    server = next(s for s in _finished(spans) if s.name == "GET /widgets")
    assert access[-1]["trace_id"] == TRACE_ID
    assert access[-1]["span_id"] == f"{server.context.span_id:016x}"
    assert access[-1]["request_id"]


def test_a_sampled_out_request_records_nothing_and_passes_the_decision_on(
    traced: Any, spans: InMemorySpanExporter
) -> None:
    sampled_out = INCOMING[:-2] + "00"
    response = traced.caller.test_client().post(
        "/_test/order", headers={"traceparent": sampled_out}
    )
    assert response.status_code == 201
    assert _finished(spans) == []  # neither the request, nor the call, nor any SQL
    trace_id, _, flags = traced.received[-1]["traceparent"].split("-")[1:]
    assert (trace_id, flags) == (TRACE_ID, "00")


def test_health_checks_and_their_sql_are_not_traced(
    traced: Any, spans: InMemorySpanExporter
) -> None:
    assert traced.caller.test_client().get("/health/ready").status_code == 200
    assert _finished(spans) == []


def test_a_failing_call_is_an_error_span(traced: Any, spans: InMemorySpanExporter) -> None:
    with traced.caller.test_request_context():
        closed = ServiceClient("peer", "http://127.0.0.1:9", retries=0)  # nothing listens
        with pytest.raises(DependencyUnavailable):
            closed.get("/x")
    client = next(s for s in _finished(spans) if s.kind == SpanKind.CLIENT)
    assert not client.status.is_ok
    assert client.events[0].name == "exception"


# --- off: a fresh interpreter, where nothing was patched before -----------------------------

OFF_PROBE = """
import sqlite3, sys, threading
import psycopg
import tinyapp
from common import tracing
app = tinyapp.create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
assert app.test_client().get("/health/live").status_code == 200
assert not tracing.active()
assert not isinstance(app.wsgi_app, tracing.ServerSpans), "the app is not wrapped"
assert not hasattr(psycopg.connect, "__wrapped__"), "psycopg is not patched"
assert not hasattr(sqlite3.connect, "__wrapped__"), "sqlite3 is not patched"
with app.app_context():
    from common.db import get_db
    assert not get_db().engine.dialect.dispatch.do_execute, "no engine is listened to"
assert "opentelemetry.sdk.trace" not in sys.modules, "the SDK is not even imported"
assert not [t for t in threading.enumerate() if "Otel" in t.name], "no exporter thread"
print("off")
"""


def _clean_env(**env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return {**base, "PYTHONPATH": str(TESTS), **env}


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"},
        {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"},
        {"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"},  # no exporter: off
    ],
    ids=["nothing-set", "exporter-none", "sdk-disabled", "no-endpoint"],
)
def test_without_an_exporter_nothing_is_instrumented(env: dict[str, str]) -> None:
    done = subprocess.run(  # noqa: S603 (this interpreter, this module's probe)
        [sys.executable, "-c", OFF_PROBE],
        env=_clean_env(**env),
        cwd=TESTS,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("off")


@pytest.mark.parametrize(
    ("env", "kinds"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ["OTLPSpanExporter"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://h:4318/v1/traces"}, ["OTLPSpanExporter"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["ConsoleSpanExporter"]),
        (
            {"OTEL_TRACES_EXPORTER": "otlp,console", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://h"},
            ["OTLPSpanExporter", "ConsoleSpanExporter"],
        ),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, []),
    ],
)
def test_exporters_come_from_the_standard_variables(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], kinds: list[str]
) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert [type(e).__name__ for e in tracing.exporters_from_env()] == kinds


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_TRACES_EXPORTER": "jaeger"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
    ],
)
def test_a_misconfigured_exporter_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(RuntimeError, match="OTEL_"):
        tracing.exporters_from_env()
