"""With users hung (its processes stopped, not dead), orders keeps taking orders from users it
knows, and fails fast for users it would have to ask (common.http's deadline and breaker).

The service here runs with the production HTTP settings (conftest's short test timeouts are
removed): a 2 s read timeout and two retries, which held a request for 6.2 s before the deadline.
"""

import socket
import time

import pytest

from common.db import get_db
from tests.utils.orders import ORDERS, count_orders, order_payload


@pytest.fixture()
def hung_users_url():
    """users, hung: the kernel completes the TCP handshake (the socket listens) but no process
    ever accepts or reads, as with users' processes stopped by SIGSTOP."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture()
def hung(app, app_factory, app_config, hung_users_url):
    """A client of the service on the same database, users hung, production HTTP settings
    (deadline 1 s) but a breaker that opens after 2 failures, to keep the test short."""
    config = {name: value for name, value in app_config.items() if not name.startswith("HTTP_")}
    service = app_factory({**config, "USERS_URL": hung_users_url, "HTTP_BREAKER_FAILURES": 2})
    assert service.config["HTTP_READ_TIMEOUT"] == 2.0 and service.config["HTTP_RETRIES"] == 2
    yield service.test_client()
    with service.app_context():
        get_db().engine.dispose()


def timed_order(client, caller):
    started = time.monotonic()
    response = client.post(ORDERS, json=order_payload(), headers=caller.headers)
    return response, time.monotonic() - started


def test_a_known_user_orders_while_users_is_hung(app, hung, carol):
    response, elapsed = timed_order(hung, carol)
    assert response.status_code == 201
    # Asking users would have taken the whole 1 s deadline: the read model answered instead.
    assert elapsed < 1.0


def test_an_unknown_user_gets_503_within_the_deadline(app, hung, stranger):
    response, elapsed = timed_order(hung, stranger)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "users_unavailable"
    # The deadline is 1 s; 3 s leaves a loaded machine 2 s of slack and is still half of the
    # 6.2 s the same settings took before (three attempts of a 2 s read timeout).
    assert elapsed < 3.0
    assert count_orders(app) == 0


def test_once_the_breaker_opens_users_is_not_waited_for(app, hung, stranger):
    for _ in range(2):
        assert timed_order(hung, stranger)[0].status_code == 503
    response, elapsed = timed_order(hung, stranger)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "users_unavailable"
    assert int(response.headers["Retry-After"]) >= 1
    # No call at all: well under the 1 s a call to the hung users would take.
    assert elapsed < 0.5
