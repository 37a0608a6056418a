"""Who may do what: a token on every endpoint, own orders only, everything for an admin."""

import uuid

import pytest

from tests.utils.orders import ORDERS, count_keys, count_orders, create_order, order_payload

SOME_ID = uuid.uuid4()
ENDPOINTS = [
    ("get", ORDERS),
    ("post", ORDERS),
    ("get", f"{ORDERS}/{SOME_ID}"),
    ("post", f"{ORDERS}/{SOME_ID}/cancel"),
]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_no_token_is_401_with_bearer_challenge(app, client, method, url):
    headers = {"Idempotency-Key": "anonymous"}
    response = getattr(client, method)(url, json=order_payload(), headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert count_orders(app) == count_keys(app) == 0


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_invalid_token_is_401(client, tokens, method, url):
    headers = {"Authorization": f"Bearer {tokens.issue(str(uuid.uuid4()), ttl=-60)}"}
    response = getattr(client, method)(url, json=order_payload(), headers=headers)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_another_users_order_is_404_to_read_and_to_cancel(client, alice, bob):
    order = create_order(client, alice.headers)
    read = client.get(f"{ORDERS}/{order['id']}", headers=bob.headers)
    assert read.status_code == 404
    assert read.get_json()["error"]["code"] == "order_not_found"
    cancel = client.post(f"{ORDERS}/{order['id']}/cancel", headers=bob.headers)
    assert cancel.status_code == 404
    mine = client.get(f"{ORDERS}/{order['id']}", headers=alice.headers).get_json()["data"]
    assert mine["status"] == "placed"


def test_another_users_orders_are_not_listed(client, alice, bob):
    create_order(client, alice.headers)
    body = client.get(ORDERS, headers=bob.headers).get_json()
    assert body["data"] == []
    assert body["meta"]["total"] == 0


@pytest.mark.parametrize("whose", ["own", "other"])
def test_non_admin_filtering_by_user_is_403(client, alice, bob, whose):
    user_id = alice.id if whose == "own" else bob.id
    response = client.get(f"{ORDERS}?user_id={user_id}", headers=alice.headers)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_admin_lists_every_order_and_filters_by_user(client, alice, bob, admin):
    mine = create_order(client, alice.headers)
    theirs = create_order(client, bob.headers)
    everything = client.get(ORDERS, headers=admin.headers).get_json()
    assert [order["id"] for order in everything["data"]] == [theirs["id"], mine["id"]]
    assert everything["meta"]["total"] == 2
    filtered = client.get(f"{ORDERS}?user_id={alice.id}", headers=admin.headers).get_json()
    assert [order["id"] for order in filtered["data"]] == [mine["id"]]
    assert filtered["meta"]["total"] == 1


def test_admin_reads_and_cancels_any_order(client, alice, admin):
    order = create_order(client, alice.headers)
    assert client.get(f"{ORDERS}/{order['id']}", headers=admin.headers).status_code == 200
    response = client.post(f"{ORDERS}/{order['id']}/cancel", headers=admin.headers)
    assert response.status_code == 200
    assert response.get_json()["data"]["status"] == "cancelled"


def test_admin_places_orders_for_themselves(client, admin):
    assert create_order(client, admin.headers)["user_id"] == str(admin.id)


def test_token_whose_subject_is_not_a_user_id_is_403(client, tokens):
    headers = tokens.headers("billing-service", "service")
    response = client.get(ORDERS, headers=headers)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "not_a_user"
