"""common.metrics in one process: /metrics parses, and each family moves with what it counts."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests
import sqlalchemy as sa
from prometheus_client import REGISTRY

from common import metrics
from common.db import get_db
from common.events import Consumer
from events_support import consume_until, publish_names, relay_all
from metrics_support import parse, sample_labels, value
from tinyapp.events import make_handlers
from tinyapp.models import OutboxEvent

DURATION_COUNT = "http_server_request_duration_seconds_count"


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type == metrics.CONTENT_TYPE
    return parse(response.get_data(as_text=True))


def current() -> dict:
    """This process's values, without a request (the in-process registry)."""
    return parse(metrics.exposition().decode())


def test_metrics_parse_and_name_every_family(client):
    families = scrape(client)
    for name in (
        "http_server_request_duration_seconds",
        "http_server_requests_in_flight",
        "db_pool_connections_in_use",
        "events_outbox_backlog",
        "events_outbox_oldest_age_seconds",
    ):
        assert name in families, name


def test_the_request_count_moves_with_traffic_per_route_method_and_status(client):
    labels = {"service": "tiny", "method": "GET", "route": "/_test/ping", "status": "200"}
    before = value(current(), DURATION_COUNT, **labels)
    for _ in range(7):
        assert client.get("/_test/ping").status_code == 200
    after = scrape(client)
    assert value(after, DURATION_COUNT, **labels) == before + 7
    # Each observation lands in a bucket: the +Inf bucket holds them all.
    bucket = {**labels, "le": "+Inf"}
    assert value(after, "http_server_request_duration_seconds_bucket", **bucket) == before + 7


def test_a_route_is_labelled_by_its_template_never_its_path(client):
    widget = str(uuid.uuid4())
    assert client.get(f"/widgets/{widget}").status_code == 404
    assert client.get(f"/no-such-route/{widget}").status_code == 404
    routes = {labels["route"] for labels in sample_labels(scrape(client), DURATION_COUNT)}
    assert "/widgets/<uuid:widget_id>" in routes
    assert "unmatched" in routes
    assert not [route for route in routes if widget in route]


def test_an_unknown_method_is_counted_as_other(client):
    before = value(current(), DURATION_COUNT, method="OTHER")
    client.open("/_test/ping", method="BREW")
    families = scrape(client)
    assert value(families, DURATION_COUNT, method="OTHER") == before + 1
    assert not [s for s in sample_labels(families, DURATION_COUNT) if s["method"] == "BREW"]


def test_errors_are_counted_with_their_status(any_client):
    before = value(current(), DURATION_COUNT, route="/_test/boom", status="500")
    assert any_client.get("/_test/boom").status_code == 500
    assert value(current(), DURATION_COUNT, route="/_test/boom", status="500") == before + 1


def test_the_scrape_itself_is_the_one_request_in_flight(client):
    families = scrape(client)
    assert value(families, "http_server_requests_in_flight", service="tiny") == 1
    assert value(current(), "http_server_requests_in_flight", service="tiny") == 0


def test_the_pool_gauges_follow_checked_out_connections(app):
    with app.app_context():
        engine = get_db().engine
        size = engine.pool.size()
        before = value(current(), "db_pool_connections_in_use", service="tiny")
        connections = [engine.connect() for _ in range(size + 1)]
        try:
            now = current()
            assert value(now, "db_pool_connections_in_use", service="tiny") == before + size + 1
            assert value(now, "db_pool_overflow_in_use", service="tiny") == 1
        finally:
            for connection in connections:
                connection.close()
        now = current()
        assert value(now, "db_pool_connections_in_use", service="tiny") == before
        assert value(now, "db_pool_overflow_in_use", service="tiny") == 0
        # After dispose() (gunicorn's master before forking) the new pool is still watched.
        engine.dispose()
        with engine.connect():
            assert value(current(), "db_pool_connections_in_use", service="tiny") == before + 1


def test_the_outbox_backlog_and_its_oldest_age_are_read_at_scrape_time(app, client):
    families = scrape(client)
    assert value(families, "events_outbox_backlog", service="tiny") == 0
    assert value(families, "events_outbox_oldest_age_seconds", service="tiny") == 0
    publish_names(app, ["a", "b", "c"])
    families = scrape(client)
    assert value(families, "events_outbox_backlog", service="tiny") == 3
    assert 0 <= value(families, "events_outbox_oldest_age_seconds", service="tiny") < 60


def test_the_outbox_query_uses_the_published_at_index(app, postgres_only):
    with app.app_context(), get_db().engine.connect() as connection:
        connection.execute(sa.text("SET enable_seqscan = off"))  # the tiny table would be scanned
        query = sa.select(sa.func.count(), sa.func.min(OutboxEvent.created_at)).where(
            OutboxEvent.published_at.is_(None)
        )
        compiled = query.compile(connection, compile_kwargs={"literal_binds": True})
        plan = "\n".join(connection.exec_driver_sql(f"EXPLAIN {compiled}").scalars())
    assert "ix_outbox_events_published_at" in plan, plan


def test_the_token_check_counts_cache_hits_and_misses(app, tokens):
    token = tokens.issue("user-1", "user")
    before = current()
    for _ in range(3):  # as AuthResource does for each request
        assert app.extensions["auth"].verify(token).subject == "user-1"
    after = current()
    hits = "auth_token_checks_total"
    assert value(after, hits, service="tiny", cache="miss") == (
        value(before, hits, service="tiny", cache="miss") + 1
    )
    assert value(after, hits, service="tiny", cache="hit") == (
        value(before, hits, service="tiny", cache="hit") + 2
    )


def test_the_relay_and_the_consumer_count_their_events(app, event_settings, transport):
    config = event_settings(transport, max_attempts=2, retry_base_seconds=0.01)
    calls = []
    consumer = Consumer(app, make_handlers(calls, poison={"bad"}), config=config)
    consumer.open()
    before = current()
    publish_names(app, ["good", "bad"])
    relay_all(app, config)
    consume_until(consumer, lambda: len(calls) >= 3)  # good once, bad twice
    consumer.poll(0.2)
    consumer.close()
    after = current()
    typ = {"service": "tiny", "type": "tiny.widget.named.v1"}

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **typ, **labels) - value(before, name, **typ, **labels)

    assert moved("events_published_total") == 2
    assert moved("events_handled_total") == 1
    assert moved("events_failed_total", reason="handler") == 2
    assert moved("events_dead_lettered_total") == 1
    assert moved("events_consume_lag_seconds_count") == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_process_without_http_serves_its_metrics_on_a_port_of_its_own():
    port = _free_port()
    metrics.serve(port, "127.0.0.1")
    response = requests.get(f"http://127.0.0.1:{port}{metrics.PATH}", timeout=5)
    assert response.status_code == 200
    families = parse(response.text)
    assert "events_handled" in families  # the counter family, named without _total
    assert "process_cpu_seconds" in families  # the process' own, outside multiprocess mode


def test_outside_gunicorn_the_process_registry_is_served():
    assert not metrics.MULTIPROCESS
    assert metrics.process_metrics() is REGISTRY


def test_flask_events_relay_serves_its_metrics_on_metrics_port(database_url, app):
    port = _free_port()
    factory = f"tinyapp:create_app({{'SQLALCHEMY_DATABASE_URI': {database_url!r}}})"
    tests = Path(__file__).resolve().parent
    relay = subprocess.Popen(  # noqa: S603 (our interpreter, our arguments)
        [sys.executable, "-m", "flask", "--app", factory, "events", "relay"],
        env={
            **os.environ,
            "PYTHONPATH": str(tests),
            "METRICS_PORT": str(port),
            "METRICS_HOST": "127.0.0.1",
        },
        cwd=tests.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, response = time.monotonic() + 30, None
        while response is None and time.monotonic() < deadline and relay.poll() is None:
            try:
                response = requests.get(f"http://127.0.0.1:{port}{metrics.PATH}", timeout=1)
            except requests.ConnectionError:
                time.sleep(0.1)
        assert response is not None and response.status_code == 200
        families = parse(response.text)
        assert "events_published" in families
        assert "db_pool_connections_in_use" in families  # the relay's own pool
    finally:
        relay.send_signal(signal.SIGTERM)
        output, _ = relay.communicate(timeout=30)
    assert relay.returncode == 0, output
    assert f"metrics on http://127.0.0.1:{port}/metrics" in output
