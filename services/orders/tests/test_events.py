"""orders.order.placed/cancelled.v1 are written in the request's transaction: an event exists
exactly when its change committed (common.events' outbox), with the data the contract names."""

from tests.utils.events import published
from tests.utils.orders import ORDERS, create_order, order_payload, set_status

PLACED = "orders.order.placed.v1"
CANCELLED = "orders.order.cancelled.v1"


def cancel(client, caller, order_id):
    return client.post(f"{ORDERS}/{order_id}/cancel", headers=caller.headers)


def test_placing_an_order_publishes_placed_with_it(app, client, alice):
    order = create_order(client, alice.headers, currency="USD")
    [event] = published(app)
    assert event["type"] == PLACED
    assert event["subject"] == order["id"]
    assert event["data"] == {
        "id": order["id"],
        "user_id": str(alice.id),
        "total_cents": order["total_cents"],
        "currency": "USD",
        "placed_at": order["created_at"],
    }


def test_the_event_carries_the_request_id(app, client, alice):
    response = client.post(
        ORDERS, json=order_payload(), headers={**alice.headers, "X-Request-ID": "req-placed-1"}
    )
    assert response.status_code == 201
    assert published(app, PLACED)[0]["requestid"] == "req-placed-1"


def test_a_refused_order_publishes_nothing(app, client, stranger, users):
    users.inactive(stranger.id)
    response = client.post(ORDERS, json=order_payload(), headers=stranger.headers)
    assert response.status_code == 403
    assert published(app) == []


def test_an_invalid_order_publishes_nothing(app, client, alice):
    response = client.post(ORDERS, json=order_payload(currency="euro"), headers=alice.headers)
    assert response.status_code == 422
    assert published(app) == []


def test_users_unavailable_publishes_nothing(app, client, stranger, users):
    users.failing(stranger.id)
    assert client.post(ORDERS, json=order_payload(), headers=stranger.headers).status_code == 503
    assert published(app) == []


def test_cancelling_publishes_cancelled_by_the_user(app, client, alice):
    order = create_order(client, alice.headers)
    cancelled = cancel(client, alice, order["id"]).get_json()["data"]
    [event] = published(app, CANCELLED)
    assert event["subject"] == order["id"]
    assert event["data"] == {
        "id": order["id"],
        "user_id": str(alice.id),
        "reason": "cancelled_by_user",
        "cancelled_at": cancelled["updated_at"],
    }


def test_an_admin_cancelling_publishes_cancelled_by_an_admin(app, client, alice, admin):
    order = create_order(client, alice.headers)
    assert cancel(client, admin, order["id"]).status_code == 200
    [event] = published(app, CANCELLED)
    assert event["data"]["reason"] == "cancelled_by_admin"
    assert event["data"]["user_id"] == str(alice.id)


def test_a_refused_cancellation_publishes_nothing(app, client, alice):
    order = create_order(client, alice.headers)
    set_status(app, order["id"], "fulfilled")
    assert cancel(client, alice, order["id"]).status_code == 409
    assert published(app, CANCELLED) == []


def test_a_second_cancellation_publishes_nothing_more(app, client, alice):
    order = create_order(client, alice.headers)
    assert cancel(client, alice, order["id"]).status_code == 200
    assert cancel(client, alice, order["id"]).status_code == 409
    assert len(published(app, CANCELLED)) == 1
