"""JSON log lines carrying the service name and request id, plus one access line per request."""

import logging
import sys
import time

from flask import Flask, Response, current_app, g, has_app_context, has_request_context, request
from pythonjsonlogger.orjson import OrjsonFormatter

from common import tracing
from common.request_id import get_request_id

access_log = logging.getLogger("common.access")


class _ContextFilter(logging.Filter):
    """Stamp every record with the service name and, inside a request, its id (and trace)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        # Several apps can share a process (tests, the benchmark): name the one logging.
        if has_app_context():
            record.service = current_app.config["SERVICE_NAME"]
        else:
            record.service = self.service
        record.request_id = get_request_id() if has_request_context() else None
        tracing.stamp_log_record(record)  # trace_id, span_id inside a recording span
        return True


def json_formatter(service: str | None = None) -> logging.Formatter:
    """The formatter of every JSON line: the services' and gunicorn's own (deploy/gunicorn.conf.py).

    :param service: a fixed ``service`` field, for a handler without the app's context filter.
    """
    # python-json-logger's orjson flavour: the same lines, a fifth cheaper than json.dumps
    # with an encoder class built per record.
    return OrjsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        # ISO 8601 in UTC (not asctime's local time without a zone): lines from hosts in
        # any zone sort and compare as they are. Cheaper than asctime's strftime, too.
        timestamp="time",
        static_fields={"service": service} if service else None,
    )


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send JSON lines to stdout once per process (repeated calls only update the level)."""
    root = logging.getLogger()
    root.setLevel(level)
    if any(getattr(h, "_platform_json", False) for h in root.handlers):
        return
    # The stdlib's process-wide switches (logging._srcfile, logging.logProcesses, ...) are left
    # alone although these lines never show what they gather: they would change every other
    # logger of the process too, gunicorn's included (its master loads the app when
    # preload_app is on), whose own format needs %(process)d.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(json_formatter())
    handler.addFilter(_ContextFilter(service))
    handler._platform_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)


def _start_timer() -> None:
    g.request_started = time.perf_counter()


def _log_request(response: Response) -> Response:
    started = g.get("request_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
    access_log.info(
        "request",
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": duration_ms,
        },
    )
    return response


def init_app(app: Flask) -> None:
    """Configure JSON logging for the process and log every request once it is answered."""
    configure_logging(app.config["SERVICE_NAME"], app.config["LOG_LEVEL"])
    app.before_request(_start_timer)
    app.after_request(_log_request)
