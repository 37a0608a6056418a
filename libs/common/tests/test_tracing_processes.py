"""common.tracing in the processes that run a service: gunicorn's preloaded workers, the relay.

Each exports over OTLP/HTTP to a receiver started here. The batch processor's delay is set far
beyond the test, so the spans arrive only through the flush at exit: that also shows that a
forked worker has a working export thread (the SDK starts a new one after fork).
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from events_support import declare, publish_names, unpublished
from tinyapp.events import WIDGET_NAMED
from tracing_support import OtlpSink

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parents[2]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", str(REPO / "deploy" / "gunicorn.conf.py")]
RELAY_ONCE = ["events", "relay", "--once"]


def _env(sink: OtlpSink, **extra: str) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "EVENTS_", "BROKER_", "DATABASE_"))
    }
    return {
        **base,
        "PYTHONPATH": str(TESTS),
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "600000",  # only the flush at exit exports
        **extra,
    }


def _app_spec(database_url: str) -> str:
    return f"tinyapp:create_app({{'SQLALCHEMY_DATABASE_URI': {database_url!r}}})"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 30.0, **headers: str) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            request = urllib.request.Request(url, headers=headers)  # noqa: S310 (http, loopback)
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                return int(response.status)
        except OSError:
            assert time.monotonic() < deadline, f"{url} did not answer"
            time.sleep(0.1)


@pytest.mark.usefixtures("postgres_only")
def test_preloaded_gunicorn_workers_export_their_spans(app: Flask, database_url: str) -> None:
    port = _free_port()
    with OtlpSink() as sink:
        server = subprocess.Popen(  # noqa: S603 (this interpreter, the repository's config)
            [*GUNICORN, _app_spec(database_url)],
            env=_env(
                sink,
                HOST="127.0.0.1",
                PORT=str(port),
                WEB_CONCURRENCY="2",
                MIGRATE_ON_START="1",  # preload: the app (and tracing) built in the master
            ),
            cwd=TESTS,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            assert _get(f"{base}/health/live") == 200
            assert _get(f"{base}/widgets", traceparent=INCOMING) == 200
        finally:
            server.send_signal(signal.SIGTERM)
            _, errors = server.communicate(timeout=30)
        assert server.returncode == 0, errors.decode()
        spans = [s for s in sink.spans if s.trace_id == TRACE_ID]
    request = next(s for s in spans if s.name == "GET /widgets")
    assert request.service == "tiny"  # OTEL_SERVICE_NAME unset: the service's SERVICE_NAME
    assert request.parent_span_id == INCOMING.split("-")[2]
    assert [s.name for s in spans if s.parent_span_id == request.span_id] == ["SELECT", "SELECT"]


def test_the_relay_command_exports_its_publish_spans_on_exit(
    app: Flask, database_url: str, event_settings: Any
) -> None:
    config = event_settings("filesystem")
    declare(config, [WIDGET_NAMED.name])
    publish_names(app, ["relayed"], traceparent=INCOMING)  # tracing off here: the header is kept
    with OtlpSink() as sink:
        done = subprocess.run(  # noqa: S603 (this interpreter's flask)
            [sys.executable, "-m", "flask", "--app", _app_spec(database_url), *RELAY_ONCE],
            env=_env(
                sink,
                EVENTS_FOLDER=config.folder,
                EVENTS_EXCHANGE=config.exchange,
                OTEL_SERVICE_NAME="tiny-relay",
            ),
            cwd=TESTS,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert unpublished(app) == 0
        spans = [s for s in sink.spans if s.trace_id == TRACE_ID]
    assert [(s.service, s.name, s.parent_span_id) for s in spans] == [
        ("tiny-relay", f"publish {WIDGET_NAMED.name}", INCOMING.split("-")[2])
    ]
