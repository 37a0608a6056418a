"""The events users publishes: one per change, committed with it, never for a failed request."""

from datetime import datetime

from tests.utils.events import outbox
from tests.utils.users import USERS, create_user, user_payload

REGISTERED = "users.user.registered.v1"
UPDATED = "users.user.updated.v1"
DELETED = "users.user.deleted.v1"


def test_creating_a_user_publishes_registered_with_its_state(app, client, admin):
    response = client.post(USERS, json=user_payload(name="Ada"), headers=admin)
    user = response.get_json()["data"]
    (event,) = outbox(app)
    assert event["type"] == REGISTERED and event["subject"] == user["id"]
    assert event["source"] == "/services/users" and event["specversion"] == "1.0"
    assert event["requestid"] == response.headers["X-Request-ID"]
    assert event["data"] == {
        "id": user["id"],
        "email": user["email"],
        "name": "Ada",
        "is_active": True,
        "updated_at": event["data"]["updated_at"],
    }
    assert datetime.fromisoformat(event["data"]["updated_at"]) == datetime.fromisoformat(
        user["updated_at"]
    )


def test_a_refused_create_publishes_nothing(app, client, admin):
    create_user(client, admin, email="taken@example.com")
    response = client.post(USERS, json=user_payload(email="TAKEN@example.com"), headers=admin)
    assert response.status_code == 409
    assert len(outbox(app, REGISTERED)) == 1


def test_an_update_publishes_updated_with_the_new_state(app, client, admin):
    user = create_user(client, admin)
    response = client.patch(f"{USERS}/{user['id']}", json={"is_active": False}, headers=admin)
    assert response.status_code == 200
    (event,) = outbox(app, UPDATED)
    assert event["subject"] == user["id"]
    assert event["data"]["is_active"] is False and event["data"]["email"] == user["email"]
    assert event["data"]["updated_at"] > outbox(app, REGISTERED)[0]["data"]["updated_at"]


def test_a_refused_update_publishes_nothing(app, client, admin, as_user):
    user = create_user(client, admin)
    url = f"{USERS}/{user['id']}"
    assert client.patch(url, json={"is_active": False}, headers=as_user(user)).status_code == 403
    other = create_user(client, admin)
    response = client.patch(url, json={"email": other["email"]}, headers=admin)
    assert response.status_code == 409
    assert outbox(app, UPDATED) == []


def test_a_delete_publishes_deleted(app, client, admin, as_user):
    user = create_user(client, admin)
    assert client.delete(f"{USERS}/{user['id']}", headers=as_user(user)).status_code == 204
    (event,) = outbox(app, DELETED)
    assert event["subject"] == user["id"]
    assert set(event["data"]) == {"id", "deleted_at"} and event["data"]["id"] == user["id"]


def test_deleting_an_unknown_user_publishes_nothing(app, client, admin):
    response = client.delete(f"{USERS}/4a1c2f0e-8b7d-4e5a-9c3b-2d6f1e0a7b98", headers=admin)
    assert response.status_code == 404
    assert outbox(app, DELETED) == []
