"""What the services tell each other through events, seen from the gateway (issue 14).

users publishes an account's registration, updates and deletion; auth and orders act on them,
and users counts the open orders orders publishes. A client sees the effect within the
consistency window the services' READMEs state (CONSISTENCY_SECONDS), never at once: each check
polls with a deadline counted from the request that caused it.

The last part stops users (hung: its processes paused; under compose also down: stopped) and
shows that orders keeps taking a known user's orders from its read model, answers fast for a
user it has not heard of, and recovers once users is back. It needs a control that can pause
(the compose driver, or the local one on the platform the suite started).
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from api_client import (
    AUTH,
    ORDERS,
    USERS,
    Account,
    ApiClient,
    data_of,
    describe,
    error_of,
    login,
    order_body,
    place_order,
    register,
    sign_up,
    wait_until,
    wait_until_served,
)
from platform_control import Control

# The window the services' READMEs promise between a change and every consumer acting on it.
CONSISTENCY_SECONDS = 5.0
# A known user's order while users is unreachable: orders asks nobody (it took 6.2 s to fail
# before the read model; a request on two busy cores takes well under a second).
KNOWN_USER_ORDER_SECONDS = 1.5
# An unknown user's order while users hangs: the call's deadline (orders' HTTP_DEADLINE, 1 s)
# plus the request's own time; a breaker that opened answers at once.
UNKNOWN_USER_503_SECONDS = 2.0
# After users is back: the breaker's cooldown (5 s), users' relay sending what it held, and
# under compose a stopped users' boot (migrations, workers): 4 to 20 s measured.
RECOVERY_SECONDS = 45.0
# Under compose, a started container is routed by the gateway again once its healthcheck passes.
BACK_THROUGH_GATEWAY_SECONDS = 120.0
OTHER_PASSWORD = "another-integration-password"


def refresh(api: ApiClient, refresh_token: str) -> requests.Response:
    """Present a refresh token to /refresh."""
    return api.post(f"{AUTH}/refresh", json={"refresh_token": refresh_token})


def attempt_login(api: ApiClient, account: Account) -> requests.Response:
    """Log in with the account's credentials; the raw response."""
    return api.post(f"{AUTH}/login", json={"email": account.email, "password": account.password})


def status_is(status: int) -> Any:
    """A predicate for wait_until: the response has ``status``."""
    return lambda response: response.status_code == status


def left(deadline: float) -> float:
    """Seconds until ``deadline`` (a time.monotonic() value), never below zero."""
    return max(0.0, deadline - time.monotonic())


def open_order_count(api: ApiClient, account: Account) -> int:
    """The count users shows on the account's profile."""
    return data_of(api.get(account.profile_path, headers=account.headers), 200)["open_order_count"]


def set_active(api: ApiClient, admin: Account, account: Account, active: bool) -> None:
    """Deactivate or reactivate an account as the admin."""
    response = api.patch(account.profile_path, json={"is_active": active}, headers=admin.headers)
    assert data_of(response, 200)["is_active"] is active


@pytest.fixture(scope="class")
def deleted(api: ApiClient) -> dict[str, Any]:
    """An account with an open order, then deleted by its owner; when the window ends."""
    account = sign_up(api, "deleted")
    order = place_order(api, account)
    response = api.delete(account.profile_path, headers=account.headers)
    assert response.status_code == 204, describe(response)
    deadline = time.monotonic() + CONSISTENCY_SECONDS
    return {"account": account, "order": order, "deadline": deadline}


class TestADeletedAccount:
    """``DELETE /users/<own id>``: within the window the account is gone everywhere."""

    def test_login_is_refused_with_401(self, api: ApiClient, deleted: dict[str, Any]) -> None:
        response = wait_until(
            lambda: attempt_login(api, deleted["account"]),
            status_is(401),
            within=left(deleted["deadline"]),
            what="login refused after the account's deletion",
        )

        assert error_of(response, 401)["code"] == "invalid_credentials"

    def test_the_refresh_token_is_refused_with_401(
        self, api: ApiClient, deleted: dict[str, Any]
    ) -> None:
        # Login refused means auth handled the deletion. A refresh is not polled for: one that
        # still worked would rotate the token, and presenting the old one again is a reuse.
        wait_until(
            lambda: attempt_login(api, deleted["account"]),
            status_is(401),
            within=left(deleted["deadline"]),
            what="login refused after the account's deletion",
        )

        response = refresh(api, deleted["account"].refresh_token)

        assert error_of(response, 401)["code"] == "invalid_refresh_token"

    def test_the_open_order_is_cancelled(
        self, api: ApiClient, admin: Account, deleted: dict[str, Any]
    ) -> None:
        path = f"{ORDERS}/{deleted['order']['id']}"

        order = wait_until(
            lambda: data_of(api.get(path, headers=admin.headers), 200),
            lambda order: order["status"] == "cancelled",
            within=left(deleted["deadline"]),
            what="the deleted account's open order cancelled",
        )

        assert order["user_id"] == deleted["account"].id

    def test_the_email_registers_again(self, api: ApiClient, deleted: dict[str, Any]) -> None:
        email = deleted["account"].email

        # Another password: a login with the old one still proves the old account is gone.
        response = wait_until(
            lambda: register(api, email, OTHER_PASSWORD),
            status_is(201),
            within=left(deleted["deadline"]),
            what="the deleted account's email registered again",
        )

        profile = data_of(response, 201)
        assert profile["id"] != deleted["account"].id
        assert login(api, email, OTHER_PASSWORD)["access_token"]

    def test_the_profile_is_gone(self, api: ApiClient, deleted: dict[str, Any]) -> None:
        account = deleted["account"]

        # Its access token is still valid until it expires; the profile behind it is not there.
        response = api.get(account.profile_path, headers=account.headers)

        assert error_of(response, 404)["code"] == "user_not_found"


@pytest.fixture(scope="class")
def deactivated(api: ApiClient, admin: Account) -> dict[str, Any]:
    """An account deactivated by the admin; when the window ends."""
    account = sign_up(api, "deactivated")
    set_active(api, admin, account, False)
    return {"account": account, "deadline": time.monotonic() + CONSISTENCY_SECONDS}


class TestADeactivatedAccount:
    """An admin's ``PATCH is_active: false``: the account is refused (until reactivated)."""

    def test_login_is_refused_with_403_account_disabled(
        self, api: ApiClient, deactivated: dict[str, Any]
    ) -> None:
        response = wait_until(
            lambda: attempt_login(api, deactivated["account"]),
            status_is(403),
            within=left(deactivated["deadline"]),
            what="login refused after the deactivation",
        )

        assert error_of(response, 403)["code"] == "account_disabled"

    def test_refresh_is_refused_with_403_account_disabled(
        self, api: ApiClient, deactivated: dict[str, Any]
    ) -> None:
        wait_until(  # not a refresh: one that still worked would rotate the token
            lambda: attempt_login(api, deactivated["account"]),
            status_is(403),
            within=left(deactivated["deadline"]),
            what="login refused after the deactivation",
        )

        response = refresh(api, deactivated["account"].refresh_token)

        assert error_of(response, 403)["code"] == "account_disabled"

    def test_an_order_is_refused_with_403_user_inactive(
        self, api: ApiClient, deactivated: dict[str, Any]
    ) -> None:
        account = deactivated["account"]

        response = wait_until(
            lambda: api.post(ORDERS, json=order_body(), headers=account.headers),
            status_is(403),
            within=left(deactivated["deadline"]),
            what="an order refused after the deactivation",
        )

        assert error_of(response, 403)["code"] == "user_inactive"


def test_a_reactivated_account_logs_in_and_refreshes_again(api: ApiClient, admin: Account) -> None:
    account = sign_up(api, "reactivated")
    set_active(api, admin, account, False)
    wait_until(
        lambda: attempt_login(api, account),
        status_is(403),
        within=CONSISTENCY_SECONDS,
        what="login refused after the deactivation",
    )

    set_active(api, admin, account, True)

    wait_until(
        lambda: attempt_login(api, account),
        status_is(200),
        within=CONSISTENCY_SECONDS,
        what="login accepted after the reactivation",
    )
    # Nothing was revoked by the deactivation: the token of the login before it works again.
    data_of(refresh(api, account.refresh_token), 200)


def test_the_profile_counts_open_orders_as_they_are_placed_and_cancelled(
    api: ApiClient,
) -> None:
    account = sign_up(api, "counted")
    assert open_order_count(api, account) == 0

    first, _ = place_order(api, account), place_order(api, account)
    wait_until(
        lambda: open_order_count(api, account),
        lambda count: count == 2,
        within=CONSISTENCY_SECONDS,
        what="two open orders counted",
    )
    data_of(api.post(f"{ORDERS}/{first['id']}/cancel", headers=account.headers), 200)

    wait_until(
        lambda: open_order_count(api, account),
        lambda count: count == 1,
        within=CONSISTENCY_SECONDS,
        what="the cancelled order no longer counted",
    )


# How users is taken away: its control methods, and what that looks like to orders.
FAULTS = {
    # Its processes paused: connections are accepted and never answered (issue 14's case).
    "hung": ("pause", "unpause"),
    # Its containers stopped: connections are refused at once (compose only: the no-Docker
    # platform stops as a whole when one of its processes exits).
    "down": ("stop", "start"),
}


@contextmanager
def users_away(
    control: Control, api: ApiClient, fault: str, *, unknown_label: str
) -> Iterator[Account]:
    """users hung or down for the block; yield an account orders has not heard of.

    The account registers while users' relay is held, so its registration event waits in
    users' outbox. Afterwards everything runs again and, under compose, the gateway routes
    users again, whatever happened in the block.
    """
    halt, resume = (getattr(control, name) for name in FAULTS[fault])
    halted: list[str] = []
    try:
        halt("users-relay")
        halted.append("users-relay")
        unknown = sign_up(api, unknown_label)
        halt("users")
        halted.append("users")
        yield unknown
    finally:
        if halted:
            resume(*reversed(halted))
        if hasattr(control, "is_healthy"):
            wait_until_served(api, control, "users", within=BACK_THROUGH_GATEWAY_SECONDS)


@pytest.mark.faults
@pytest.mark.parametrize("fault", ["hung", pytest.param("down", marks=pytest.mark.control("stop"))])
@pytest.mark.control("pause")
def test_orders_keeps_taking_known_users_orders_while_users_is_away(
    api: ApiClient, control: Control, fault: str
) -> None:
    known = sign_up(api, f"known-{fault}")
    # Known to orders from here on: from the registration event, or else from the answer of
    # the call orders made for this first order.
    place_order(api, known)
    # One key for every attempt of the unknown account: a refused attempt releases it.
    unknown_headers: dict[str, str] = {}

    with users_away(control, api, fault, unknown_label=f"unknown-{fault}") as unknown:
        unknown_headers = {**unknown.headers, "Idempotency-Key": f"itest-{unknown.id}"}
        started = time.perf_counter()
        response = api.post(ORDERS, json=order_body(), headers=known.headers)
        known_elapsed = time.perf_counter() - started

        started = time.perf_counter()
        refused = api.post(ORDERS, json=order_body(), headers=unknown_headers)
        unknown_elapsed = time.perf_counter() - started

        data_of(response, 201)
        assert known_elapsed < KNOWN_USER_ORDER_SECONDS
        assert error_of(refused, 503)["code"] == "users_unavailable"
        assert unknown_elapsed < UNKNOWN_USER_503_SECONDS

    # Back: users' relay sends the registration it held, the breaker closes again.
    wait_until(
        lambda: api.post(ORDERS, json=order_body(), headers=unknown_headers),
        status_is(201),
        within=RECOVERY_SECONDS,
        what="the unknown account's order once users is back",
    )
    # users' consumer kept counting (or catches up): the known user's two orders are open.
    wait_until(
        lambda: open_order_count(api, known),
        lambda count: count == 2,
        within=RECOVERY_SECONDS,
        what="the known account's two open orders counted",
    )
    assert data_of(api.get(f"{USERS}/{known.id}", headers=known.headers), 200)["is_active"]
