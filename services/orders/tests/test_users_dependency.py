"""Placing an order asks the users service first; its failures store nothing.

The users service is a real HTTP server (pytest-httpserver); the app's client has a 0.3 s read
timeout and one retry (conftest), so every failure here answers within about a second.
"""

import socket
import threading
import time

import pytest
from werkzeug import Response

from common.db import get_db
from tests.utils.orders import ORDERS, count_orders, order_payload
from tests.utils.users import error_body, user_body, user_path


def place(client, caller, **headers):
    return client.post(ORDERS, json=order_payload(), headers={**caller.headers, **headers})


def assert_users_unavailable(response):
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "users_unavailable"


def test_call_carries_the_request_id_and_the_callers_token(client, alice, users):
    response = place(client, alice, **{"X-Request-ID": "req-orders-1"})
    assert response.status_code == 201
    calls = users.calls(alice.id)
    assert calls
    for call in calls:  # one, or two if a slow machine made the first time out
        assert call.method == "GET"
        assert call.headers["X-Request-ID"] == "req-orders-1"
        assert call.headers["Authorization"] == alice.headers["Authorization"]


@pytest.mark.parametrize("answer", ["inactive", "missing"])
def test_inactive_or_unknown_account_is_403_and_stores_nothing(
    app, client, stranger, users, answer
):
    getattr(users, answer)(stranger.id)
    response = place(client, stranger)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "user_inactive"
    assert count_orders(app) == 0


@pytest.mark.parametrize("status", [500, 503, 401, 403])
def test_users_failing_or_refusing_is_503_and_stores_nothing(app, client, stranger, users, status):
    users.failing(stranger.id, status)
    assert_users_unavailable(place(client, stranger))
    assert count_orders(app) == 0


def test_unreadable_users_answer_is_503(app, client, stranger, users):
    users.server.expect_request(user_path(stranger.id)).respond_with_data("<html>", status=200)
    assert_users_unavailable(place(client, stranger))
    assert count_orders(app) == 0


@pytest.fixture()
def client_without_users(app, app_factory, app_config):
    """The service on the same database, its USERS_URL a port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    down = app_factory({**app_config, "USERS_URL": closed})
    yield down.test_client()
    with down.app_context():
        get_db().engine.dispose()


def test_users_down_is_503_and_stores_nothing(app, client_without_users, stranger):
    assert_users_unavailable(place(client_without_users, stranger))
    assert count_orders(app) == 0


def test_users_too_slow_is_503_quickly_and_stores_nothing(app, client, stranger, users):
    released = threading.Event()

    def hang(request):
        released.wait(5)  # far past HTTP_READ_TIMEOUT (0.3 s); released at the end of the test
        return Response("{}", content_type="application/json")

    users.server.expect_request(user_path(stranger.id)).respond_with_handler(hang)
    started = time.monotonic()
    try:
        response = place(client, stranger)
    finally:
        released.set()
    assert_users_unavailable(response)
    # Two attempts (one retry) of 0.3 s each, plus backoff: well under the 5 s the handler hangs.
    assert time.monotonic() - started < 2.5
    assert count_orders(app) == 0


def test_get_is_retried_once_on_503_then_succeeds(client, stranger, users):
    path = user_path(stranger.id)
    users.server.expect_ordered_request(path).respond_with_json(
        error_body("service_unavailable"), status=503
    )
    users.server.expect_ordered_request(path).respond_with_json(user_body(stranger.id))
    response = place(client, stranger)
    assert response.status_code == 201
    assert len(users.calls(stranger.id)) == 2
