"""``/health/live`` and ``/health/ready``: the database decides readiness, quickly."""

import socket
import threading
import time

import pytest

from common.db import get_db
from common.testing import assert_error

# Nothing listens on port 1: the connection is refused at once.
CLOSED_PORT_URL = "postgresql+psycopg://postgres@127.0.0.1:1/nothing"


@pytest.fixture()
def app_on(app_factory):
    """Build the tiny service on a given database URL (not migrated); dispose it afterwards."""
    built = []

    def build(url, engine_options=None):
        overrides = {"SQLALCHEMY_DATABASE_URI": url}
        if engine_options is not None:
            overrides["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options
        built.append(app_factory(overrides))
        return built[-1]

    yield build
    for flask_app in built:
        with flask_app.app_context():
            get_db().engine.dispose()


@pytest.fixture()
def silent_server():
    """A TCP port that accepts connections (kernel backlog) and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield f"postgresql+psycopg://postgres@127.0.0.1:{server.getsockname()[1]}/nothing"
    server.close()


def get_within(client, path, seconds):
    """GET ``path``, failing (instead of hanging the suite) if no answer within ``seconds``."""
    answer = {}
    worker = threading.Thread(target=lambda: answer.update(r=client.get(path)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert "r" in answer, f"{path} still had no answer after {seconds}s"
    return answer["r"]


def assert_unavailable(response):
    body = assert_error(response, 503, "database_unavailable")
    assert "data" not in body


def test_live_is_200_envelope(client):
    response = client.get("/health/live")

    assert response.status_code == 200
    assert response.get_json() == {
        "data": {"status": "ok"},
        "meta": {"request_id": response.headers["X-Request-ID"]},
    }


def test_ready_is_200_envelope_when_the_database_answers(client):
    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.get_json()["data"] == {"status": "ok", "checks": {"database": "ok"}}


def test_live_is_200_even_when_the_database_is_down(app_on):
    response = app_on(CLOSED_PORT_URL).test_client().get("/health/live")

    assert response.status_code == 200


def test_serving_stays_200_when_the_database_is_down(app_on):
    # The gateway keeps routing here: the service's own 503 envelope beats the gateway's
    # plain-text "no available server".
    response = app_on(CLOSED_PORT_URL).test_client().get("/health/serving")

    assert response.status_code == 200


def test_ready_is_503_database_unavailable_when_postgresql_is_unreachable(app_on):
    down = app_on(
        CLOSED_PORT_URL,
        {"pool_pre_ping": True, "pool_timeout": 1, "connect_args": {"connect_timeout": 1}},
    )

    started = time.monotonic()
    response = down.test_client().get("/health/ready")

    assert time.monotonic() - started < 5
    assert_unavailable(response)


def test_ready_is_503_with_the_default_engine_options(app_on):
    started = time.monotonic()
    response = app_on(CLOSED_PORT_URL).test_client().get("/health/ready")

    assert time.monotonic() - started < 5
    assert_unavailable(response)


def test_ready_is_503_database_unavailable_when_sqlite_file_cannot_be_opened(app_on, tmp_path):
    unopenable = tmp_path / "missing-dir" / "db.sqlite"

    started = time.monotonic()
    response = app_on(f"sqlite:///{unopenable}").test_client().get("/health/ready")

    assert time.monotonic() - started < 5
    assert_unavailable(response)


def test_ready_stays_503_on_repeated_probes(app_on):
    client = app_on(CLOSED_PORT_URL).test_client()

    for _ in range(3):
        assert_unavailable(client.get("/health/ready"))


def test_ready_is_503_not_a_hang_when_the_database_never_answers(app_on, silent_server):
    # Default engine options (from Config): a connect timeout must bound the wait.
    client = app_on(silent_server).test_client()

    assert_unavailable(get_within(client, "/health/ready", 15))


def test_ready_is_503_shutting_down_while_the_server_drains(client, tmp_path, monkeypatch):
    # deploy/gunicorn.conf.py names the file and creates it on the first SIGTERM
    # (test_shutdown_gunicorn runs the real thing).
    marker = tmp_path / "draining"
    monkeypatch.setenv("SHUTDOWN_DRAIN_FILE", str(marker))
    assert client.get("/health/ready").status_code == 200
    assert client.get("/health/serving").status_code == 200

    marker.touch()
    response = client.get("/health/ready")

    body = assert_error(response, 503, "shutting_down")
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]
    assert_error(client.get("/health/serving"), 503, "shutting_down")  # the gateway's check
    assert client.get("/health/live").status_code == 200  # nothing to restart
