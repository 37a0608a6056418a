"""Refresh-token rotation and logout, one rule per test (auth README, "Tokens")."""

from typing import Any

import pytest
import requests
from api_client import AUTH, ORDERS, Account, ApiClient, bearer, data_of, error_of, login


@pytest.fixture
def tokens(api: ApiClient, user: Account) -> dict[str, Any]:
    """A fresh login: each test owns its refresh-token family."""
    return login(api, user.email, user.password)


def refresh(api: ApiClient, refresh_token: str) -> requests.Response:
    """Present a refresh token to /refresh."""
    return api.post(f"{AUTH}/refresh", json={"refresh_token": refresh_token})


def logout(api: ApiClient, refresh_token: str) -> requests.Response:
    """Present a refresh token to /logout."""
    return api.post(f"{AUTH}/logout", json={"refresh_token": refresh_token})


def test_refresh_answers_a_working_access_token_and_a_new_refresh_token(
    api: ApiClient, tokens: dict
) -> None:
    pair = data_of(refresh(api, tokens["refresh_token"]), 200)

    assert pair["refresh_token"] != tokens["refresh_token"]
    assert api.get(ORDERS, headers=bearer(pair["access_token"])).status_code == 200


def test_a_refresh_token_works_only_once(api: ApiClient, tokens: dict) -> None:
    refresh(api, tokens["refresh_token"])

    assert error_of(refresh(api, tokens["refresh_token"]), 401)["code"] == "invalid_refresh_token"


def test_presenting_a_used_refresh_token_revokes_its_successor(
    api: ApiClient, tokens: dict
) -> None:
    successor = data_of(refresh(api, tokens["refresh_token"]), 200)["refresh_token"]
    refresh(api, tokens["refresh_token"])  # a second holder of the used token: reuse

    assert error_of(refresh(api, successor), 401)["code"] == "invalid_refresh_token"


def test_logout_revokes_the_refresh_token(api: ApiClient, tokens: dict) -> None:
    response = logout(api, tokens["refresh_token"])

    assert (response.status_code, response.content) == (204, b"")
    assert error_of(refresh(api, tokens["refresh_token"]), 401)["code"] == "invalid_refresh_token"


def test_logout_leaves_the_accounts_other_logins_alone(
    api: ApiClient, user: Account, tokens: dict
) -> None:
    other_login = login(api, user.email, user.password)

    logout(api, tokens["refresh_token"])

    assert refresh(api, other_login["refresh_token"]).status_code == 200


def test_logout_of_an_unknown_token_answers_204(api: ApiClient) -> None:
    assert logout(api, "not-a-token-of-this-platform").status_code == 204
