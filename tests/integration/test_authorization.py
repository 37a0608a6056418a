"""Object-level authorization: another user's objects do not exist for you (404, not 403).

Answering 404 rather than 403 keeps ids from being probed (README, "Status codes"). After each
refused attempt, the owner's object is checked unchanged: a 404 that still acted would be worse.
"""

from typing import Any

import pytest
from api_client import (
    NAME,
    ORDERS,
    USERS,
    Account,
    ApiClient,
    data_of,
    error_of,
    place_order,
    sign_up,
)


@pytest.fixture(scope="module")
def owner(api: ApiClient) -> Account:
    """User A, who owns an order and a profile."""
    return sign_up(api, "owner")


@pytest.fixture(scope="module")
def stranger(api: ApiClient) -> Account:
    """User B, who tries to reach A's objects."""
    return sign_up(api, "stranger")


@pytest.fixture(scope="module")
def owners_order(api: ApiClient, owner: Account) -> dict[str, Any]:
    """An order of A's."""
    return place_order(api, owner)


@pytest.mark.parametrize(("method", "suffix"), [("GET", ""), ("POST", "/cancel")])
def test_another_users_order_is_not_found(
    api: ApiClient, owner: Account, stranger: Account, owners_order: dict, method: str, suffix: str
) -> None:
    path = f"{ORDERS}/{owners_order['id']}"

    response = api.request(method, path + suffix, headers=stranger.headers)

    assert error_of(response, 404)["code"] == "order_not_found"
    assert data_of(api.get(path, headers=owner.headers), 200)["status"] == "placed"


@pytest.mark.parametrize(
    ("method", "body"), [("GET", None), ("PATCH", {"name": "Mallory"}), ("DELETE", None)]
)
def test_another_users_profile_is_not_found(
    api: ApiClient, owner: Account, stranger: Account, method: str, body: dict | None
) -> None:
    response = api.request(method, owner.profile_path, json=body, headers=stranger.headers)

    assert error_of(response, 404)["code"] == "user_not_found"
    assert data_of(api.get(owner.profile_path, headers=owner.headers), 200)["name"] == NAME


def test_a_user_cannot_list_users(api: ApiClient, user: Account) -> None:
    response = api.get(USERS, headers=user.headers)

    assert error_of(response, 403)["code"] == "forbidden"


def test_an_admin_lists_users(api: ApiClient, admin: Account, owner: Account) -> None:
    response = api.get(USERS, params={"email": owner.email}, headers=admin.headers)

    assert [profile["id"] for profile in data_of(response, 200)] == [owner.id]
    meta = response.json()["meta"]
    assert (meta["total"], meta["limit"], meta["offset"]) == (1, 20, 0)
