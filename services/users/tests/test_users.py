"""The users endpoints, happy paths and every error they document."""

import uuid

import pytest

from tests.utils.users import USERS, create_user, user_payload


def test_create_returns_201_location_and_user(client):
    response = client.post(USERS, json=user_payload(email="Ada@Example.com", name="Ada"))
    assert response.status_code == 201
    body = response.get_json()
    user = body["data"]
    assert response.headers["Location"].endswith(f"{USERS}/{user['id']}")
    assert user["email"] == "Ada@Example.com"
    assert user["name"] == "Ada"
    assert user["is_active"] is True
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]


def test_created_user_is_readable(client):
    user = create_user(client)
    response = client.get(f"{USERS}/{user['id']}")
    assert response.status_code == 200
    assert response.get_json()["data"] == user


def test_duplicate_email_is_409_whatever_the_case(client):
    create_user(client, email="grace@example.com")
    response = client.post(USERS, json=user_payload(email="GRACE@example.COM"))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "email_taken"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "No Email"}, "email"),
        ({"email": "not-an-email", "name": "X"}, "email"),
        ({"email": "a@example.com"}, "name"),
        ({"email": "a@example.com", "name": ""}, "name"),
        ({"email": "a@example.com", "name": "x" * 201}, "name"),
        ({"email": "a@example.com", "name": "X", "is_admin": True}, "is_admin"),
        ({"email": "a@example.com", "name": 5}, "name"),
        ({"email": None, "name": "X"}, "email"),
    ],
)
def test_invalid_create_is_422_with_field_details(client, body, field):
    response = client.post(USERS, json=body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["details"]


def test_create_rejects_non_object_body(client):
    response = client.post(USERS, json=["a", "list"])
    assert response.status_code == 422


def test_list_is_paginated_in_meta(client):
    for _ in range(3):
        create_user(client)
    response = client.get(f"{USERS}?limit=2&offset=1")
    assert response.status_code == 200
    body = response.get_json()
    assert len(body["data"]) == 2
    assert body["meta"]["total"] == 3
    assert body["meta"]["limit"] == 2
    assert body["meta"]["offset"] == 1


def test_list_filters_by_email_case_insensitively(client):
    wanted = create_user(client, email="find.me@example.com")
    create_user(client)
    response = client.get(f"{USERS}?email=FIND.ME@example.com")
    assert [u["id"] for u in response.get_json()["data"]] == [wanted["id"]]
    assert response.get_json()["meta"]["total"] == 1


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "offset=-1", "limit=abc", "bogus=1"])
def test_bad_list_query_is_422(client, query):
    response = client.get(f"{USERS}?{query}")
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_failed"


def test_patch_changes_only_given_fields(client):
    user = create_user(client, name="Old")
    response = client.patch(f"{USERS}/{user['id']}", json={"name": "New"})
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert data["name"] == "New"
    assert data["email"] == user["email"]


def test_patch_with_empty_body_is_422(client):
    user = create_user(client)
    response = client.patch(f"{USERS}/{user['id']}", json={})
    assert response.status_code == 422


def test_patch_to_taken_email_is_409(client):
    create_user(client, email="taken@example.com")
    user = create_user(client)
    response = client.patch(f"{USERS}/{user['id']}", json={"email": "TAKEN@example.com"})
    assert response.status_code == 409


def test_patch_cannot_set_read_only_fields(client):
    user = create_user(client)
    response = client.patch(f"{USERS}/{user['id']}", json={"id": str(uuid.uuid4())})
    assert response.status_code == 422


def test_delete_is_204_without_body_and_user_is_gone(client):
    user = create_user(client)
    response = client.delete(f"{USERS}/{user['id']}")
    assert response.status_code == 204
    assert response.data == b""
    assert client.get(f"{USERS}/{user['id']}").status_code == 404


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_unknown_user_is_404_envelope(client, method):
    response = getattr(client, method)(f"{USERS}/{uuid.uuid4()}", json={"name": "x"})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "user_not_found"


def test_malformed_id_is_404(client):
    response = client.get(f"{USERS}/not-a-uuid")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
