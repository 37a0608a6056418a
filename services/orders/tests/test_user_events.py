"""users' events feed orders' read model of users (orders_service.handlers), through the
consumer's transaction with the inbox (common.events.inbox.handle_once), as the consumer runs it.

The users stand-in answers nothing (500) unless a test configures it: an order placed without
configuring it proves that orders decided without calling users.
"""

import uuid

from tests.utils.events import (
    DELETED,
    REGISTERED,
    UPDATED,
    at,
    handle,
    known_user,
    published,
    user_event,
    user_state,
)
from tests.utils.orders import ORDERS, create_order, order_payload, set_status

CANCELLED = "orders.order.cancelled.v1"


def place(client, caller):
    return client.post(ORDERS, json=order_payload(), headers=caller.headers)


def assert_refused(response):
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "user_inactive"


def test_a_registered_user_is_known_and_orders_without_calling_users(app, client, carol, users):
    held = known_user(app, carol.id)
    assert (held.is_active, held.deleted, held.updated_at.isoformat()) == (
        True,
        False,
        "2026-01-01T00:00:10+00:00",
    )
    assert place(client, carol).status_code == 201
    assert users.calls(carol.id) == []


def test_a_deactivated_user_is_refused_without_calling_users(app, client, carol, users):
    handle(app, user_state(UPDATED, carol.id, active=False, seconds=20))
    assert_refused(place(client, carol))
    assert users.calls(carol.id) == []


def test_a_reactivated_user_orders_again(app, client, carol):
    handle(app, user_state(UPDATED, carol.id, active=False, seconds=20))
    handle(app, user_state(UPDATED, carol.id, active=True, seconds=30))
    assert place(client, carol).status_code == 201


def test_an_update_older_than_the_state_held_is_ignored(app, client, carol):
    handle(app, user_state(UPDATED, carol.id, active=False, seconds=20))
    # Delivered late: users deactivated the account after this one was sent.
    assert handle(app, user_state(UPDATED, carol.id, active=True, seconds=15))
    assert known_user(app, carol.id).is_active is False
    assert_refused(place(client, carol))


def test_a_late_registered_event_does_not_undo_an_update(app, client):
    user_id = uuid.uuid4()
    handle(app, user_state(UPDATED, user_id, active=False, seconds=20))
    handle(app, user_state(REGISTERED, user_id, active=True, seconds=10))
    assert known_user(app, user_id).is_active is False


def test_deletion_cancels_open_orders_and_publishes_each(app, client, carol):
    open_orders = {create_order(client, carol.headers)["id"] for _ in range(2)}
    fulfilled = create_order(client, carol.headers)["id"]
    set_status(app, fulfilled, "fulfilled")
    handle(app, user_event(DELETED, carol.id, deleted_at=at(40)))
    for order_id in open_orders:
        order = client.get(f"{ORDERS}/{order_id}", headers=carol.headers).get_json()["data"]
        assert order["status"] == "cancelled"
    events = published(app, CANCELLED)
    assert {event["subject"] for event in events} == open_orders
    assert {event["data"]["reason"] for event in events} == {"user_deleted"}
    assert {event["data"]["user_id"] for event in events} == {str(carol.id)}
    fulfilled_now = client.get(f"{ORDERS}/{fulfilled}", headers=carol.headers)
    assert fulfilled_now.get_json()["data"]["status"] == "fulfilled"


def test_a_deleted_user_is_refused_without_calling_users(app, client, carol, users):
    handle(app, user_event(DELETED, carol.id, deleted_at=at(40)))
    assert_refused(place(client, carol))
    assert users.calls(carol.id) == []


def test_no_event_revives_a_deleted_user(app, client, carol):
    handle(app, user_event(DELETED, carol.id, deleted_at=at(40)))
    handle(app, user_state(UPDATED, carol.id, active=True, seconds=50))
    held = known_user(app, carol.id)
    assert (held.deleted, held.is_active) == (True, False)


def test_deleting_a_user_orders_never_heard_of_refuses_them(app, client, stranger, users):
    handle(app, user_event(DELETED, stranger.id, deleted_at=at(40)))
    assert_refused(place(client, stranger))
    assert users.calls(stranger.id) == []


def test_a_duplicate_deletion_is_handled_once(app, client, carol):
    create_order(client, carol.headers)
    deleted = user_event(DELETED, carol.id, deleted_at=at(40))
    assert handle(app, deleted) is True
    assert handle(app, deleted) is False  # redelivered: the inbox has it
    assert len(published(app, CANCELLED)) == 1


# --- a user orders has not heard of: asked synchronously, and what users said is kept ---


def test_an_unknown_user_is_asked_once_then_known(app, client, stranger, users):
    users.active(stranger.id)
    assert place(client, stranger).status_code == 201
    assert place(client, stranger).status_code == 201
    assert len(users.asking_requests(stranger.id)) == 1
    assert known_user(app, stranger.id).updated_at.isoformat() == "2026-01-01T00:00:00+00:00"


def test_an_answer_without_updated_at_is_not_kept(app, client, stranger, users):
    users.active(stranger.id, updated_at=None)
    assert place(client, stranger).status_code == 201
    assert known_user(app, stranger.id) is None


def test_an_event_newer_than_users_answer_wins(app, client, stranger, users):
    users.active(stranger.id)  # users' answer: active, as of EPOCH
    assert place(client, stranger).status_code == 201
    handle(app, user_state(UPDATED, stranger.id, active=False, seconds=5))
    assert_refused(place(client, stranger))


def test_an_event_older_than_users_answer_is_ignored(app, client, stranger, users):
    users.active(stranger.id, updated_at=at(60))
    assert place(client, stranger).status_code == 201
    handle(app, user_state(UPDATED, stranger.id, active=False, seconds=5))
    assert place(client, stranger).status_code == 201


# --- the same through the broker, as the consumer process runs it ---


def test_a_deletion_delivered_through_the_broker_cancels_open_orders(app, client, carol, event_bus):
    order = create_order(client, carol.headers)
    deleted = {"id": str(carol.id), "deleted_at": at(40)}
    event_bus.deliver(event_bus.event(DELETED, deleted, subject=str(carol.id)))
    got = client.get(f"{ORDERS}/{order['id']}", headers=carol.headers).get_json()["data"]
    assert got["status"] == "cancelled"
    assert [event["data"]["reason"] for event in published(app, CANCELLED)] == ["user_deleted"]
    assert_refused(place(client, carol))
