"""One user's whole journey through the gateway, from registration to logout.

A single scenario on purpose: each step starts from the state the previous one left, the way a
client lives it. The token steps are pinned one by one in test_tokens.py.
"""

import uuid

from api_client import (
    AUTH,
    ORDERS,
    PASSWORD,
    ApiClient,
    bearer,
    data_of,
    error_of,
    order_body,
    register,
    unique_email,
)


def test_a_user_registers_orders_cancels_refreshes_and_logs_out(api: ApiClient) -> None:
    # Register, then log in.
    email = unique_email("journey")
    profile = data_of(register(api, email, name="Journey"), 201)
    assert profile["email"] == email
    assert profile["roles"] == ["user"]
    tokens = data_of(api.post(f"{AUTH}/login", json={"email": email, "password": PASSWORD}), 200)
    headers = bearer(tokens["access_token"])

    # Place an order with an Idempotency-Key.
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = order_body(sku="BOOK-42", quantity=2, unit_price_cents=1999)
    created = api.post(ORDERS, json=body, headers={**headers, **key})
    order = data_of(created, 201)
    assert created.headers["Location"].endswith(f"{ORDERS}/{order['id']}")
    assert order["status"] == "placed"
    assert order["total_cents"] == 2 * 1999

    # The same key and body again: the first answer, replayed; no second order.
    replayed = api.post(ORDERS, json=body, headers={**headers, **key})
    assert data_of(replayed, 201)["id"] == order["id"]
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert api.get(ORDERS, headers=headers).json()["meta"]["total"] == 1

    # The same key with another body is refused.
    other_body = order_body(sku="BOOK-42", quantity=3, unit_price_cents=1999)
    reused = api.post(ORDERS, json=other_body, headers={**headers, **key})
    assert error_of(reused, 422)["code"] == "idempotency_key_reused"

    # List, with pagination in meta.
    listed = api.get(ORDERS, params={"limit": 5, "offset": 0}, headers=headers)
    assert [item["id"] for item in data_of(listed, 200)] == [order["id"]]
    meta = listed.json()["meta"]
    assert (meta["total"], meta["limit"], meta["offset"]) == (1, 5, 0)

    # Get it, cancel it, and cancelling again is a state conflict.
    assert data_of(api.get(f"{ORDERS}/{order['id']}", headers=headers), 200) == order
    cancelled = api.post(f"{ORDERS}/{order['id']}/cancel", headers=headers)
    assert data_of(cancelled, 200)["status"] == "cancelled"
    again = api.post(f"{ORDERS}/{order['id']}/cancel", headers=headers)
    assert error_of(again, 409)["code"] == "invalid_state"

    # Refresh: new tokens, and the refresh token just used is refused from now on.
    refreshed = data_of(api.post(f"{AUTH}/refresh", json=_refresh(tokens)), 200)
    assert refreshed["access_token"] != tokens["access_token"]
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    reuse = api.post(f"{AUTH}/refresh", json=_refresh(tokens))
    assert error_of(reuse, 401)["code"] == "invalid_refresh_token"

    # Log out; the newest refresh token is refused. (Presenting the used token above already
    # revoked its family, by design: test_tokens.py shows logout revoking on its own.)
    logout = api.post(f"{AUTH}/logout", json=_refresh(refreshed))
    assert (logout.status_code, logout.content) == (204, b"")
    after_logout = api.post(f"{AUTH}/refresh", json=_refresh(refreshed))
    assert error_of(after_logout, 401)["code"] == "invalid_refresh_token"


def _refresh(tokens: dict) -> dict[str, str]:
    """The body of /refresh and /logout: the pair's refresh token."""
    return {"refresh_token": tokens["refresh_token"]}
