"""The users endpoints, happy paths and every error they document."""

import uuid

import pytest

from common.testing import assert_error
from tests.utils.users import USERS, create_user, user_payload


def test_create_returns_201_location_and_user(client, admin):
    response = client.post(
        USERS, json=user_payload(email="Ada@Example.com", name="Ada"), headers=admin
    )
    assert response.status_code == 201
    body = response.get_json()
    user = body["data"]
    assert response.headers["Location"].endswith(f"{USERS}/{user['id']}")
    assert user["email"] == "Ada@Example.com"
    assert user["name"] == "Ada"
    assert user["is_active"] is True
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]


def test_created_user_is_readable(client, admin):
    user = create_user(client, admin)
    response = client.get(f"{USERS}/{user['id']}", headers=admin)
    assert response.status_code == 200
    assert response.get_json()["data"] == user


def test_duplicate_email_is_409_whatever_the_case(client, admin):
    create_user(client, admin, email="grace@example.com")
    response = client.post(USERS, json=user_payload(email="GRACE@example.COM"), headers=admin)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "email_taken"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "No Email"}, "email"),
        ({"email": "not-an-email", "name": "X"}, "email"),
        # Outside what the spec's format: email admits (common.api.Email).
        ({"email": "jos\u00e9@example.com", "name": "X"}, "email"),
        ({"email": "a@localhost", "name": "X"}, "email"),
        ({"email": "a@example.com"}, "name"),
        ({"email": "a@example.com", "name": ""}, "name"),
        ({"email": "a@example.com", "name": "x" * 201}, "name"),
        ({"email": "a@example.com", "name": "X", "is_admin": True}, "is_admin"),
        ({"email": "a@example.com", "name": 5}, "name"),
        ({"email": None, "name": "X"}, "email"),
    ],
)
def test_invalid_create_is_422_with_field_details(client, admin, body, field):
    response = client.post(USERS, json=body, headers=admin)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["details"]


def test_create_rejects_non_object_body(client, admin):
    response = client.post(USERS, json=["a", "list"], headers=admin)
    assert response.status_code == 422


def test_list_is_paginated_in_meta(client, admin):
    for _ in range(3):
        create_user(client, admin)
    response = client.get(f"{USERS}?limit=2&offset=1", headers=admin)
    assert response.status_code == 200
    body = response.get_json()
    assert len(body["data"]) == 2
    assert body["meta"]["total"] == 3
    assert body["meta"]["limit"] == 2
    assert body["meta"]["offset"] == 1


def test_list_filters_by_email_case_insensitively(client, admin):
    wanted = create_user(client, admin, email="find.me@example.com")
    create_user(client, admin)
    response = client.get(f"{USERS}?email=FIND.ME@example.com", headers=admin)
    assert [u["id"] for u in response.get_json()["data"]] == [wanted["id"]]
    assert response.get_json()["meta"]["total"] == 1


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "offset=-1", "limit=abc", "bogus=1"])
def test_bad_list_query_is_422(client, admin, query):
    response = client.get(f"{USERS}?{query}", headers=admin)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_failed"


def test_user_patches_own_name_only_given_fields_change(client, admin, as_user):
    user = create_user(client, admin, name="Old")
    response = client.patch(f"{USERS}/{user['id']}", json={"name": "New"}, headers=as_user(user))
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert data["name"] == "New"
    assert data["email"] == user["email"]


def test_patch_with_empty_body_is_422(client, admin, as_user):
    user = create_user(client, admin)
    response = client.patch(f"{USERS}/{user['id']}", json={}, headers=as_user(user))
    assert response.status_code == 422


def test_patch_to_taken_email_is_409(client, admin, as_user):
    create_user(client, admin, email="taken@example.com")
    user = create_user(client, admin)
    response = client.patch(
        f"{USERS}/{user['id']}", json={"email": "TAKEN@example.com"}, headers=as_user(user)
    )
    assert response.status_code == 409


@pytest.mark.parametrize("field", [{"id": "00000000-0000-0000-0000-000000000000"}, {"roles": []}])
def test_user_cannot_mass_assign_protected_fields(client, admin, as_user, field):
    user = create_user(client, admin)
    response = client.patch(f"{USERS}/{user['id']}", json=field, headers=as_user(user))
    assert response.status_code == 422


def test_user_setting_an_admin_only_field_is_403_naming_it_and_nothing_changes(
    client, admin, as_user
):
    # The document lists is_active (for admins): a user sending it is refused, not told 422.
    user = create_user(client, admin)
    url = f"{USERS}/{user['id']}"
    response = client.patch(url, json={"name": "New", "is_active": False}, headers=as_user(user))
    body = assert_error(response, 403, "forbidden")
    assert "is_active" in body["error"]["message"]
    assert set(body["error"]["details"]) == {"is_active"}
    assert client.get(url, headers=admin).get_json()["data"] == user


def test_admin_can_deactivate_a_user(client, admin):
    user = create_user(client, admin)
    response = client.patch(f"{USERS}/{user['id']}", json={"is_active": False}, headers=admin)
    assert response.status_code == 200
    assert response.get_json()["data"]["is_active"] is False


def test_delete_is_204_without_body_and_user_is_gone(client, admin, as_user):
    user = create_user(client, admin)
    response = client.delete(f"{USERS}/{user['id']}", headers=as_user(user))
    assert response.status_code == 204
    assert response.data == b""
    assert client.get(f"{USERS}/{user['id']}", headers=admin).status_code == 404


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_unknown_user_is_404_envelope(client, admin, method):
    response = getattr(client, method)(f"{USERS}/{uuid.uuid4()}", json={"name": "x"}, headers=admin)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "user_not_found"


def test_malformed_id_is_404(client, admin):
    response = client.get(f"{USERS}/not-a-uuid", headers=admin)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
