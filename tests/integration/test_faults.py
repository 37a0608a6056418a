"""What the platform does when a service goes down or restarts (needs PLATFORM_CONTROL).

Every test leaves the services it touched running and routed by the gateway again, even when
it fails, so the tests after it find the platform whole.
"""

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from api_client import (
    ORDERS,
    SERVICES,
    Account,
    ApiClient,
    data_of,
    error_of,
    login,
    order_body,
    place_order,
    sign_up,
    wait_until,
    wait_until_served,
)
from platform_control import ComposeControl

# Containers to stop and restart: compose's. The no-Docker platform can only pause a service
# (test_events.py does that there).
pytestmark = [pytest.mark.faults, pytest.mark.control("stop", "start", "restart", "is_healthy")]

# orders gives up on users fast: a deadline of 1 s per call (orders README).
FAIL_FAST_SECONDS = 1.0
# orders keeps no failure state, so this is users' own boot (migrations, then two workers
# importing the app): 4 to 20 s measured on a busy two-CPU machine.
RECOVERY_SECONDS = 30.0
# The gateway routes a container again only once its healthcheck passes (every 5 s, after a
# 10 s start period) and Traefik has noticed: slower than orders calling users directly, and
# up to 70 s measured for all three services restarted at once on a busy two-CPU machine.
BACK_THROUGH_GATEWAY_SECONDS = 120.0


@contextmanager
def stopped(control: ComposeControl, api: ApiClient, service: str) -> Iterator[None]:
    """Stop ``service`` for the block; start it again and wait for the gateway, whatever happens.

    ``service`` is a compose service; one the gateway routes (in SERVICES) is waited for.
    """
    control.stop(service)
    try:
        yield
    finally:
        control.start(service)
        if service in SERVICES:
            wait_until_served(api, control, service, within=BACK_THROUGH_GATEWAY_SECONDS)


@contextmanager
def unknown_to_orders(control: ComposeControl, api: ApiClient) -> Iterator[Account]:
    """An account orders has not heard of during the block: its registration is held in users.

    orders takes a known user's orders from its read model without asking users (issue 14), so
    only an account whose registration event has not reached it yet makes orders call users:
    users' relay is stopped while it registers, and started (sending the event) after the block.
    """
    with stopped(control, api, "users-relay"):
        yield sign_up(api, "unknown")


def order_count(api: ApiClient, account: Account) -> int:
    """How many orders the account has (the list's meta.total)."""
    response = api.get(ORDERS, params={"limit": 1}, headers=account.headers)
    data_of(response, 200)
    return response.json()["meta"]["total"]


@pytest.fixture(scope="class")
def users_down(control: ComposeControl, api: ApiClient) -> Iterator[Account]:
    """users stopped for the tests of a class; an account orders has not heard of."""
    with unknown_to_orders(control, api) as unknown, stopped(control, api, "users"):
        yield unknown


class TestWhileUsersIsDown:
    """An account orders does not know yet needs users; with users stopped, orders refuses
    fast and stores nothing (a known account's orders: test_events.py)."""

    def test_placing_an_order_answers_503_users_unavailable_within_a_second(
        self, api: ApiClient, users_down: Account
    ) -> None:
        started = time.perf_counter()
        response = api.post(ORDERS, json=order_body(), headers=users_down.headers)
        elapsed = time.perf_counter() - started

        assert error_of(response, 503)["code"] == "users_unavailable"
        assert elapsed < FAIL_FAST_SECONDS

    def test_a_refused_order_is_not_stored(self, api: ApiClient, users_down: Account) -> None:
        before = order_count(api, users_down)

        api.post(ORDERS, json=order_body(), headers=users_down.headers)

        assert order_count(api, users_down) == before


def test_orders_works_again_once_users_is_back_without_a_restart(
    api: ApiClient, control: ComposeControl
) -> None:
    with unknown_to_orders(control, api) as unknown, stopped(control, api, "users"):
        # One key for every attempt: a failed attempt releases it, so retrying is safe.
        headers = {**unknown.headers, "Idempotency-Key": uuid.uuid4().hex}
        control.start("users")

        # users' relay is still stopped: this order is placed through the call to users.
        wait_until(
            lambda: api.post(ORDERS, json=order_body(), headers=headers),
            lambda response: response.status_code == 201,
            within=RECOVERY_SECONDS,
            what="an order placed after users started",
        )


@pytest.fixture(scope="class")
def order_before_restart(control: ComposeControl, api: ApiClient, user: Account) -> dict[str, Any]:
    """An order placed, then every service restarted.

    ``user``'s profile and account exist already. Restarting the services together means one
    wait for the gateway instead of one per service.
    """
    order = place_order(api, user)
    control.restart(*SERVICES)
    for service in SERVICES:
        wait_until_served(api, control, service, within=BACK_THROUGH_GATEWAY_SECONDS)
    return order


@pytest.mark.usefixtures("order_before_restart")
class TestAfterEveryServiceRestarted:
    """Each service keeps its data across a restart of its container."""

    def test_a_profile_survives_a_restart_of_users(self, api: ApiClient, user: Account) -> None:
        profile = data_of(api.get(user.profile_path, headers=user.headers), 200)

        assert (profile["id"], profile["email"]) == (user.id, user.email)

    def test_an_order_survives_a_restart_of_orders(
        self, api: ApiClient, user: Account, order_before_restart: dict
    ) -> None:
        path = f"{ORDERS}/{order_before_restart['id']}"

        assert data_of(api.get(path, headers=user.headers), 200) == order_before_restart

    def test_an_account_survives_a_restart_of_auth(self, api: ApiClient, user: Account) -> None:
        assert login(api, user.email, user.password)["access_token"]
