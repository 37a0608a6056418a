"""The orders' events users consumes, through the inbox: open_order_count on the profile.

``event_bus`` (common.testing) runs users' consumer on RabbitMQ with TEST_BROKER_URL, else on
kombu's filesystem transport; each delivered event goes through the inbox, as in production.
"""

import sqlalchemy as sa

from common.db import get_db
from tests.utils.events import order_cancelled, order_placed
from tests.utils.users import USERS, create_user
from users_service.models import InboxMessage

PLACED = "orders.order.placed.v1"
CANCELLED = "orders.order.cancelled.v1"


def profile(client, admin, user):
    return client.get(f"{USERS}/{user['id']}", headers=admin).get_json()["data"]


def test_a_new_user_has_no_open_order(client, admin):
    assert create_user(client, admin)["open_order_count"] == 0


def test_a_placed_order_counts_and_a_cancelled_one_uncounts(client, admin, event_bus):
    user = create_user(client, admin)
    event_bus.deliver(
        event_bus.event(PLACED, order_placed(user["id"], "00000000-0000-4000-8000-000000000001")),
        event_bus.event(PLACED, order_placed(user["id"], "00000000-0000-4000-8000-000000000002")),
    )
    assert profile(client, admin, user)["open_order_count"] == 2
    event_bus.deliver(event_bus.event(CANCELLED, order_cancelled(user["id"])))
    assert profile(client, admin, user)["open_order_count"] == 1


def test_counting_orders_leaves_updated_at_alone(client, admin, event_bus):
    user = create_user(client, admin)
    event_bus.deliver(event_bus.event(PLACED, order_placed(user["id"])))
    assert profile(client, admin, user)["updated_at"] == user["updated_at"]


def test_a_duplicate_event_is_counted_once(app, client, admin, event_bus):
    user = create_user(client, admin)
    placed = event_bus.event(PLACED, order_placed(user["id"]))
    event_bus.deliver(placed, placed)
    assert profile(client, admin, user)["open_order_count"] == 1
    with app.app_context():
        assert get_db().session.scalar(sa.select(sa.func.count(InboxMessage.id))) == 1


def test_a_cancellation_before_its_placement_never_counts_below_zero(client, admin, event_bus):
    user = create_user(client, admin)
    event_bus.deliver(event_bus.event(CANCELLED, order_cancelled(user["id"])))
    assert profile(client, admin, user)["open_order_count"] == 0


def test_an_order_of_an_unknown_user_changes_nothing(client, admin, event_bus):
    user = create_user(client, admin)
    event_bus.deliver(event_bus.event(PLACED, order_placed("7d3f5a1e-2b4c-4d6e-8f0a-1b2c3d4e5f60")))
    assert profile(client, admin, user)["open_order_count"] == 0


def test_open_order_count_is_a_required_integer_of_the_user(client):
    user = client.get("/apispec.json").get_json()["components"]["schemas"]["User"]
    assert user["properties"]["open_order_count"]["type"] == "integer"
    assert "open_order_count" in user["required"]
