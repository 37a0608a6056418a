"""JSON log lines: one access line per request, errors logged with their trace and request id."""

import io
import json
import logging
import os
from datetime import UTC, datetime

import pytest

from common.logs import configure_logging


@pytest.fixture()
def log_lines(app):
    """Redirect the platform's JSON handler to a buffer; return a reader of parsed lines."""
    handlers = [h for h in logging.getLogger().handlers if getattr(h, "_platform_json", False)]
    assert len(handlers) == 1, "configure_logging installs exactly one JSON handler"
    handler = handlers[0]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)

    def read(logger=None):
        lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
        return [line for line in lines if logger is None or line["logger"] == logger]

    yield read
    handler.setStream(previous)


def test_every_log_line_is_json_with_service_and_level(client, log_lines):
    client.get("/widgets")
    client.get("/_test/boom")

    lines = log_lines()
    assert lines
    for line in lines:
        assert line["service"] == "tiny"
        assert {"time", "level", "logger", "message", "request_id"} <= set(line)
        assert datetime.fromisoformat(line["time"]).utcoffset() == UTC.utcoffset(None)


def test_one_access_line_per_request(client, log_lines):
    responses = [
        client.get("/widgets"),
        client.post("/widgets", json={"name": "w"}),
        client.get("/nowhere"),
        client.get("/_test/boom"),
    ]

    access = log_lines("common.access")
    assert len(access) == len(responses)
    assert [line["request_id"] for line in access] == [r.headers["X-Request-ID"] for r in responses]


def test_access_line_has_service_request_id_method_path_status_duration(client, log_lines):
    response = client.post("/widgets?x=1", json={"name": "w"}, headers={"X-Request-ID": "rid-7"})

    (line,) = log_lines("common.access")
    assert line["service"] == "tiny"
    assert line["request_id"] == "rid-7" == response.headers["X-Request-ID"]
    assert line["method"] == "POST"
    assert line["path"] == "/widgets"
    assert line["status"] == response.status_code
    assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
    assert line["level"] == "INFO"


def test_access_line_logs_the_status_sent_after_a_failed_commit(client, failing_commits, log_lines):
    response = client.post("/widgets", json={"name": "w"})

    assert response.status_code == 500
    (line,) = log_lines("common.access")
    assert line["status"] == 500


def test_unhandled_error_is_logged_with_its_trace_and_request_id(client, log_lines):
    response = client.get("/_test/boom", headers={"X-Request-ID": "rid-boom"})

    assert response.status_code == 500
    (error,) = log_lines("common.errors")
    assert error["level"] == "ERROR"
    assert error["request_id"] == "rid-boom"
    assert "RuntimeError" in error["exc_info"] and "Traceback" in error["exc_info"]


def test_client_errors_are_not_logged_as_errors(client, log_lines):
    client.get("/nowhere")
    client.post("/widgets", json={})

    assert log_lines("common.errors") == []


def test_configure_logging_leaves_the_stdlib_switches_alone(monkeypatch):
    # The process's first call (the one that adds the handler) is the one that could flip them.
    root = logging.getLogger()
    others = [h for h in root.handlers if not getattr(h, "_platform_json", False)]
    monkeypatch.setattr(root, "handlers", others)

    configure_logging("tiny")

    assert logging.logThreads and logging.logProcesses and logging.logMultiprocessing
    assert logging._srcfile is not None
    # What gunicorn's master formats once the app is preloaded in it.
    record = logging.makeLogRecord({"msg": "Booting worker"})
    line = logging.Formatter("[%(process)d] %(message)s").format(record)
    assert line == f"[{os.getpid()}] Booting worker"
