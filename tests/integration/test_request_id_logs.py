"""One request id follows a request into the logs of every service it touched.

A caller's X-Request-ID is passed on to the services called on its behalf, and every log line
carries it (README, "The response envelope"): grep one id, see the whole story.
"""

import json

import pytest
from api_client import (
    AUTH,
    ORDERS,
    Account,
    ApiClient,
    data_of,
    new_request_id,
    order_body,
    unique_email,
    wait_until,
)
from platform_control import Control

pytestmark = pytest.mark.control("logs")

# Lines reach the log as the request ends; reading them back takes a moment more.
LOG_DEADLINE = 10.0


def logged_request_ids(log_text: str, service: str) -> set[str]:
    """The request ids of the service's JSON log lines (gunicorn's own lines are not JSON)."""
    ids = set()
    for line in log_text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("service") == service:
            ids.add(str(record.get("request_id")))
    return ids


def assert_logged(control: Control, service: str, request_id: str) -> None:
    """Wait until ``request_id`` shows in the service's log lines."""
    wait_until(
        lambda: request_id in logged_request_ids(control.logs(service), service),
        bool,
        within=LOG_DEADLINE,
        what=f"request id {request_id} in the logs of {service}",
    )


def test_placing_an_order_logs_its_id_in_orders(
    api: ApiClient, control: Control, user: Account
) -> None:
    request_id = new_request_id()

    response = api.post(
        ORDERS, json=order_body(), headers={**user.headers, "X-Request-ID": request_id}
    )

    data_of(response, 201)
    # Only orders: it knows the user from users' events and no longer asks users (issue 14).
    assert_logged(control, "orders", request_id)


def test_registering_logs_one_id_in_auth_and_users(api: ApiClient, control: Control) -> None:
    request_id = new_request_id()
    account = {"email": unique_email("logs"), "password": "logs-test-password", "name": "Logs"}

    response = api.post(f"{AUTH}/register", json=account, headers={"X-Request-ID": request_id})

    data_of(response, 201)
    assert_logged(control, "auth", request_id)
    assert_logged(control, "users", request_id)  # auth created the profile in users
