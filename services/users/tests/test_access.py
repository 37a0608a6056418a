"""Who may do what: tokens are required, users reach only themselves, admins reach everyone."""

import pytest

from tests.utils.users import USERS, create_user, user_payload


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", USERS),
        ("post", USERS),
        ("get", f"{USERS}/{{id}}"),
        ("patch", f"{USERS}/{{id}}"),
        ("delete", f"{USERS}/{{id}}"),
    ],
)
def test_every_endpoint_requires_a_token(client, admin, method, path):
    user = create_user(client, admin)
    response = getattr(client, method)(path.format(id=user["id"]), json={"name": "x"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_invalid_token_is_401(client):
    response = client.get(USERS, headers={"Authorization": "Bearer not.a.jwt"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_user_reads_themself(client, admin, as_user):
    user = create_user(client, admin)
    response = client.get(f"{USERS}/{user['id']}", headers=as_user(user))
    assert response.status_code == 200
    assert response.get_json()["data"]["id"] == user["id"]


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_another_users_profile_is_404(client, admin, as_user, method):
    alice = create_user(client, admin)
    bob = create_user(client, admin)
    response = getattr(client, method)(
        f"{USERS}/{alice['id']}", json={"name": "Mallory"}, headers=as_user(bob)
    )
    assert response.status_code == 404
    assert client.get(f"{USERS}/{alice['id']}", headers=admin).get_json()["data"] == alice


def test_plain_user_cannot_list_users(client, admin, as_user):
    user = create_user(client, admin)
    response = client.get(USERS, headers=as_user(user))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_plain_user_cannot_create_users(client, admin, as_user):
    user = create_user(client, admin)
    response = client.post(USERS, json=user_payload(), headers=as_user(user))
    assert response.status_code == 403


def test_service_role_creates_and_finds_by_email(client, tokens):
    service = tokens.headers("service:auth", "service")
    created = client.post(USERS, json=user_payload(email="svc@example.com"), headers=service)
    assert created.status_code == 201
    found = client.get(f"{USERS}?email=svc@example.com", headers=service).get_json()["data"]
    assert [u["id"] for u in found] == [created.get_json()["data"]["id"]]
