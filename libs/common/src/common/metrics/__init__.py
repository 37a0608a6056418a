"""Prometheus metrics: every family the platform exports, defined once for every service.

A service gets them from ``create_service_app`` with no code of its own (``common.metrics.web``):
``/metrics`` on its own port, request latency per route and status, requests in flight, its
database pool; the token check, the relay and the consumer count their own work here. The
names, labels and meanings are listed in libs/common's README (a dashboard is built from it).

Under gunicorn every worker is a process of its own: prometheus_client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, set up by deploy/gunicorn.conf.py) keeps each worker's values in
files of that folder and ``/metrics`` adds them up, whichever worker answers. The mode is chosen
when prometheus_client is first imported, so the variable must be set before any app is loaded.

Every family has a ``service`` label: several apps may share a process (tests, the benchmark),
and a scrape configuration need not add it. Labels take bounded values only: a route template,
never a raw path; a known method or ``OTHER``; a declared event type or ``unknown``.
"""

import threading
from collections.abc import Iterable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
    values,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

PATH = "/metrics"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# True when this process writes its values to PROMETHEUS_MULTIPROC_DIR: prometheus_client
# decided at its import, so read its decision rather than the environment now.
MULTIPROCESS: bool = values.ValueClass is not values.MutexValue

# Latency buckets (seconds) for an API answering in milliseconds, with room to see a hung
# dependency (HTTP_DEADLINE 1 s) and a database timeout (DB_POOL_TIMEOUT 5 s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Time to answer a request, by route template, method and status (_count: the requests).",
    ["service", "method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
REQUESTS_IN_FLIGHT = Gauge(
    "http_server_requests_in_flight",
    "Requests being answered now (all workers).",
    ["service"],
    multiprocess_mode="livesum",
)
DB_POOL_IN_USE = Gauge(
    "db_pool_connections_in_use",
    "Database connections checked out of the pool now (all workers).",
    ["service"],
    multiprocess_mode="livesum",
)
DB_POOL_OVERFLOW = Gauge(
    "db_pool_overflow_in_use",
    "Connections in use beyond the pool's size (DB_POOL_SIZE), out of its DB_MAX_OVERFLOW.",
    ["service"],
    multiprocess_mode="livesum",
)
TOKEN_CHECKS = Counter(
    "auth_token_checks",
    "Bearer tokens checked: cache=hit (accepted before, no signature check) or miss.",
    ["service", "cache"],
)
EVENTS_PUBLISHED = Counter(
    "events_published",
    "Outbox events the relay had the broker confirm.",
    ["service", "type"],
)
EVENTS_UNROUTABLE = Counter(
    "events_unroutable",
    "Outbox events the broker refused (no queue bound yet); they wait in the outbox.",
    ["service", "type"],
)
EVENTS_HANDLED = Counter(
    "events_handled",
    "Events the consumer handled and acknowledged (duplicates excluded).",
    ["service", "type"],
)
EVENTS_DUPLICATES = Counter(
    "events_duplicates",
    "Deliveries of events already handled (inbox hit): acknowledged and skipped.",
    ["service", "type"],
)
EVENTS_FAILED = Counter(
    "events_failed",
    "Handling attempts that failed: reason=handler (counts towards dead-lettering) or database.",
    ["service", "type", "reason"],
)
EVENTS_DEAD_LETTERED = Counter(
    "events_dead_lettered",
    "Events the consumer gave up on (attempts exhausted, malformed, no handler).",
    ["service", "type"],
)
EVENTS_LAG = Histogram(
    "events_consume_lag_seconds",
    "From an event's time (its request's commit) to the end of its handling.",
    ["service", "type"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0),
)


class _Union:
    """The metrics of several collectors, as one registry (what ``generate_latest`` reads)."""

    def __init__(self, *collectors: Collector) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def process_metrics() -> Collector:
    """This process's metrics, or all workers' (added up) in multiprocess mode."""
    if not MULTIPROCESS:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def exposition(extra: Iterable[Collector] = ()) -> bytes:
    """The text exposition of ``process_metrics()`` followed by ``extra`` collectors'."""
    return generate_latest(_Union(process_metrics(), *extra))


def serve(port: int, host: str) -> threading.Thread:
    """Serve this process's metrics at ``http://host:port/`` (any path) from a daemon thread.

    For the processes that answer no HTTP: the relay and the consumer (``flask events``).
    """
    _server, thread = start_http_server(port, addr=host, registry=REGISTRY)
    return thread
