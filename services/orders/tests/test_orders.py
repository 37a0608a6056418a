"""The orders endpoints, happy paths and every error they document."""

import uuid

import pytest

from tests.utils.orders import ORDERS, count_orders, create_order, set_status


def test_create_returns_201_location_and_computed_totals(client, alice):
    body = {
        "items": [
            {"sku": "BOOK-42", "quantity": 3, "unit_price_cents": 1999},
            {"sku": "pen_blue.v2", "quantity": 1000, "unit_price_cents": 10_000_000},
            {"sku": "FREEBIE", "quantity": 1, "unit_price_cents": 0},
        ],
        "currency": "USD",
    }
    response = client.post(ORDERS, json=body, headers=alice.headers)
    assert response.status_code == 201
    order = response.get_json()["data"]
    assert response.headers["Location"].endswith(f"{ORDERS}/{order['id']}")
    assert order["user_id"] == str(alice.id)
    assert order["status"] == "placed"
    assert order["currency"] == "USD"
    assert [item["line_total_cents"] for item in order["items"]] == [5997, 10_000_000_000, 0]
    assert [item["sku"] for item in order["items"]] == ["BOOK-42", "pen_blue.v2", "FREEBIE"]
    assert order["total_cents"] == 10_000_005_997
    assert "Idempotent-Replayed" not in response.headers


def test_currency_defaults_to_eur(client, alice):
    assert create_order(client, alice.headers)["currency"] == "EUR"


def test_created_order_is_readable(client, alice):
    order = create_order(client, alice.headers)
    response = client.get(f"{ORDERS}/{order['id']}", headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json()["data"] == order


def test_hundred_items_are_accepted(client, alice):
    items = [{"sku": f"S{n}", "quantity": 1, "unit_price_cents": 1} for n in range(100)]
    order = create_order(client, alice.headers, items=items)
    assert order["total_cents"] == 100
    assert [item["sku"] for item in order["items"]] == [f"S{n}" for n in range(100)]


def item(**overrides):
    return {"sku": "A-1", "quantity": 1, "unit_price_cents": 100, **overrides}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "items"),
        ({"items": []}, "items"),
        ({"items": [item()] * 101}, "items"),
        ({"items": "A-1"}, "items"),
        ({"items": [item(sku="")]}, "items"),
        ({"items": [item(sku="x" * 65)]}, "items"),
        ({"items": [item(sku="has space")]}, "items"),
        ({"items": [item(sku="A-1\n")]}, "items"),
        ({"items": [item(quantity=0)]}, "items"),
        ({"items": [item(quantity=1001)]}, "items"),
        ({"items": [item(quantity=1.5)]}, "items"),
        ({"items": [item(quantity="2")]}, "items"),
        ({"items": [item(quantity=True)]}, "items"),
        ({"items": [item(unit_price_cents=-1)]}, "items"),
        ({"items": [item(unit_price_cents=10_000_001)]}, "items"),
        ({"items": [item(line_total_cents=100)]}, "items"),
        ({"items": [{"sku": "A-1", "quantity": 1}]}, "items"),
        ({"items": [item()], "currency": "eur"}, "currency"),
        ({"items": [item()], "currency": "EURO"}, "currency"),
        ({"items": [item()], "currency": "EUR\n"}, "currency"),
        ({"items": [item()], "total_cents": 1}, "total_cents"),
        ({"items": [item()], "user_id": str(uuid.uuid4())}, "user_id"),
        ({"items": [item()], "status": "fulfilled"}, "status"),
    ],
)
def test_invalid_create_is_422_with_field_details_and_stores_nothing(
    app, client, alice, body, field
):
    response = client.post(ORDERS, json=body, headers=alice.headers)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["details"]
    assert count_orders(app) == 0


def test_create_rejects_non_object_body(client, alice):
    response = client.post(ORDERS, json=["a", "list"], headers=alice.headers)
    assert response.status_code == 422


def test_list_shows_own_orders_newest_first_paginated(client, alice, bob):
    ids = [create_order(client, alice.headers)["id"] for _ in range(3)]
    create_order(client, bob.headers)
    response = client.get(f"{ORDERS}?limit=2&offset=0", headers=alice.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert [order["id"] for order in body["data"]] == ids[::-1][:2]
    assert body["meta"]["total"] == 3
    assert body["meta"]["limit"] == 2
    assert body["meta"]["offset"] == 0
    rest = client.get(f"{ORDERS}?limit=2&offset=2", headers=alice.headers).get_json()
    assert [order["id"] for order in rest["data"]] == [ids[0]]


def test_list_items_carry_their_lines(client, alice):
    order = create_order(client, alice.headers)
    listed = client.get(ORDERS, headers=alice.headers).get_json()["data"]
    assert listed == [order]


def test_list_filters_by_status(client, alice):
    kept = create_order(client, alice.headers)
    cancelled = create_order(client, alice.headers)
    client.post(f"{ORDERS}/{cancelled['id']}/cancel", headers=alice.headers)
    response = client.get(f"{ORDERS}?status=cancelled", headers=alice.headers)
    assert [order["id"] for order in response.get_json()["data"]] == [cancelled["id"]]
    response = client.get(f"{ORDERS}?status=placed", headers=alice.headers)
    assert [order["id"] for order in response.get_json()["data"]] == [kept["id"]]


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "offset=-1", "limit=abc", "bogus=1", "status=lost"]
)
def test_bad_list_query_is_422(client, alice, query):
    response = client.get(f"{ORDERS}?{query}", headers=alice.headers)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_failed"


def test_cancel_placed_order(client, alice):
    order = create_order(client, alice.headers)
    response = client.post(f"{ORDERS}/{order['id']}/cancel", headers=alice.headers)
    assert response.status_code == 200
    cancelled = response.get_json()["data"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["updated_at"] > order["updated_at"]
    assert cancelled["items"] == order["items"]
    stored = client.get(f"{ORDERS}/{order['id']}", headers=alice.headers).get_json()["data"]
    assert stored == cancelled


def test_cancelling_twice_is_409_invalid_state(client, alice):
    order = create_order(client, alice.headers)
    client.post(f"{ORDERS}/{order['id']}/cancel", headers=alice.headers)
    response = client.post(f"{ORDERS}/{order['id']}/cancel", headers=alice.headers)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "invalid_state"


def test_fulfilled_order_cannot_be_cancelled(app, client, alice):
    order = create_order(client, alice.headers)
    set_status(app, order["id"], "fulfilled")
    response = client.post(f"{ORDERS}/{order['id']}/cancel", headers=alice.headers)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "invalid_state"
    stored = client.get(f"{ORDERS}/{order['id']}", headers=alice.headers).get_json()["data"]
    assert stored["status"] == "fulfilled"


@pytest.mark.parametrize("action", ["get", "cancel"])
def test_unknown_order_is_404_envelope(client, alice, action):
    url = f"{ORDERS}/{uuid.uuid4()}"
    response = (
        client.get(url, headers=alice.headers)
        if action == "get"
        else (client.post(f"{url}/cancel", headers=alice.headers))
    )
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "order_not_found"


def test_malformed_id_is_404(client, alice):
    response = client.get(f"{ORDERS}/not-a-uuid", headers=alice.headers)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
