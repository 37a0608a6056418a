"""Registration across two services: the profile in users, then the identity here."""

import time
import uuid

import jwt
import pytest

from auth_service.models import Identity
from common.testing import assert_error
from tests.conftest import ADMIN_EMAIL
from tests.utils.auth import PASSWORD, REGISTER, login, register, registration, rows
from tests.utils.users_service import (
    USERS,
    expect_create,
    expect_orphan,
    profile,
    requests_to_users,
)


def test_register_creates_the_profile_then_the_identity(app, client, httpserver):
    body = registration(email="Ada@Example.com", name="Ada")
    created = expect_create(httpserver, "Ada@Example.com", "Ada")

    response = client.post(REGISTER, json=body)

    assert response.status_code == 201
    assert response.headers["Location"] == f"/api/v1/users/{created['id']}"
    data = response.get_json()["data"]
    assert data == {
        "id": created["id"],
        "email": "Ada@Example.com",
        "name": "Ada",
        "roles": ["user"],
    }
    assert [str(identity.id) for identity in rows(app, Identity)] == [created["id"]]
    assert login(client, "ada@example.com").status_code == 200


def test_password_is_stored_only_as_an_argon2id_hash(app, client, httpserver):
    register(client, httpserver)
    (identity,) = rows(app, Identity)
    assert identity.password_hash.startswith("$argon2id$")
    assert PASSWORD not in identity.password_hash


def test_users_is_called_with_a_service_token_and_the_request_id(
    app, client, httpserver, auth_private_key
):
    body = registration()
    expect_create(httpserver, body["email"], body["name"])

    client.post(
        REGISTER,
        json=body,
        # The caller's own token, if any, is not what auth presents to users.
        headers={"X-Request-ID": "register-42", "Authorization": "Bearer not-for-users"},
    )

    (call,) = requests_to_users(httpserver)
    assert call.headers["X-Request-ID"] == "register-42"
    scheme, _, token = call.headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    claims = jwt.decode(
        token,
        auth_private_key.public_key(),
        algorithms=["EdDSA"],
        audience=app.config["AUTH_AUDIENCE"],
        issuer=app.config["AUTH_ISSUER"],
    )
    assert claims["sub"] == "service:auth"
    assert claims["roles"] == ["service"]
    assert claims["exp"] - claims["iat"] == 60


def test_taken_email_is_409_whatever_the_case_and_users_is_not_called(client, httpserver):
    register(client, httpserver, email="grace@example.com")
    httpserver.clear_log()

    response = client.post(REGISTER, json=registration(email="GRACE@example.COM"))

    assert_error(response, 409, "email_taken")
    assert requests_to_users(httpserver) == []


def test_orphan_profile_is_adopted(app, client, httpserver):
    orphan = profile("orphan@example.com", "First attempt")
    expect_orphan(httpserver, orphan)

    response = client.post(REGISTER, json=registration(email="orphan@example.com"))

    assert response.status_code == 201
    assert response.get_json()["data"]["id"] == orphan["id"]
    assert response.get_json()["data"]["name"] == "First attempt"
    assert [str(identity.id) for identity in rows(app, Identity)] == [orphan["id"]]
    assert login(client, "orphan@example.com").status_code == 200


def test_profile_that_already_has_credentials_is_not_adopted_twice(app, client, httpserver):
    account = register(client, httpserver, email="first@example.com")
    # As if the profile's email had since changed in users: it answers with the same profile.
    expect_orphan(httpserver, {**profile("second@example.com", "X"), "id": account["id"]})

    response = client.post(REGISTER, json=registration(email="second@example.com"))

    assert_error(response, 409, "email_taken")
    assert [identity.email for identity in rows(app, Identity)] == ["first@example.com"]


def test_users_failing_is_503_and_nothing_is_stored(app, client, httpserver):
    httpserver.expect_request(USERS, method="POST").respond_with_data("down", status=503)

    response = client.post(REGISTER, json=registration())

    assert_error(response, 503, "users_unavailable")
    assert rows(app, Identity) == []


def test_slow_users_is_503_fast_and_nothing_is_stored(app, client, httpserver):
    def too_slow(request):
        time.sleep(app.config["HTTP_READ_TIMEOUT"] * 3)

    httpserver.expect_request(USERS, method="POST").respond_with_handler(too_slow)

    started = time.monotonic()
    response = client.post(REGISTER, json=registration())

    assert_error(response, 503, "users_unavailable")
    assert time.monotonic() - started < 2 * app.config["HTTP_READ_TIMEOUT"] + 0.5
    assert rows(app, Identity) == []


def test_unreachable_users_is_503(app_factory, app_config):
    app = app_factory({**app_config, "USERS_URL": "http://127.0.0.1:9"})  # nothing listens

    response = app.test_client().post(REGISTER, json=registration())

    assert_error(response, 503, "users_unavailable")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (201, {"data": {"email": "no-id@example.com"}}),
        (201, {"data": {"id": "not-a-uuid", "email": "x@example.com", "name": "X"}}),
        (403, {"error": {"code": "forbidden"}}),
        (409, {"error": {"code": "conflict"}}),
        (201, ["not", "an", "object"]),
    ],
)
def test_answer_outside_the_users_contract_is_503(app, client, httpserver, status, body):
    httpserver.expect_request(USERS, method="POST").respond_with_json(body, status=status)

    assert_error(client.post(REGISTER, json=registration()), 503, "users_unavailable")
    assert rows(app, Identity) == []


def test_orphan_gone_before_the_lookup_is_503(app, client, httpserver):
    httpserver.expect_request(USERS, method="POST").respond_with_json(
        {"error": {"code": "email_taken"}}, status=409
    )
    httpserver.expect_request(USERS, method="GET").respond_with_json({"data": [], "meta": {}})

    response = client.post(REGISTER, json=registration())

    assert_error(response, 503, "users_unavailable")
    assert rows(app, Identity) == []


def test_failed_commit_leaves_an_orphan_that_a_retry_adopts(
    app, client, httpserver, failing_commits
):
    body = registration()
    created = expect_create(httpserver, body["email"], body["name"])

    assert client.post(REGISTER, json=body).status_code == 500
    assert rows(app, Identity) == []

    failing_commits.stop()
    expect_orphan(httpserver, created)  # users kept the profile it created
    retry = client.post(REGISTER, json=body)

    assert retry.status_code == 201
    assert retry.get_json()["data"]["id"] == created["id"]
    assert [str(identity.id) for identity in rows(app, Identity)] == [created["id"]]


def test_admin_email_registers_as_admin(client, httpserver):
    account = register(client, httpserver, email=ADMIN_EMAIL.upper())
    assert account["roles"] == ["admin", "user"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"password": "x" * 11}, "password"),
        ({"password": "x" * 129}, "password"),
        ({"password": None}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a" * 310 + "@example.com"}, "email"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"roles": ["admin"]}, "roles"),
    ],
)
def test_invalid_registration_is_422_and_users_is_not_called(client, httpserver, overrides, field):
    response = client.post(REGISTER, json=registration(**overrides))

    assert_error(response, 422, "validation_failed")
    assert field in response.get_json()["error"]["details"]
    assert requests_to_users(httpserver) == []


@pytest.mark.parametrize("missing", ["email", "password", "name"])
def test_missing_field_is_422(client, missing):
    body = registration()
    del body[missing]
    response = client.post(REGISTER, json=body)
    assert_error(response, 422, "validation_failed")
    assert missing in response.get_json()["error"]["details"]


@pytest.mark.parametrize("length", [12, 128])
def test_password_length_bounds_are_accepted(client, httpserver, length):
    account = register(client, httpserver, password="p" * length)
    assert login(client, account["email"], "p" * length).status_code == 200


def test_registration_returns_no_tokens_and_hides_the_password(client, httpserver):
    account = register(client, httpserver)
    assert set(account) == {"id", "email", "name", "roles"}
    uuid.UUID(account["id"])
