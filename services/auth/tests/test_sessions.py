"""Login, refresh-token rotation with reuse detection, and logout."""

import hashlib
import threading
from datetime import timedelta

import jwt
import pytest
import sqlalchemy as sa

from auth_service.models import RefreshToken
from common.db import get_db, utcnow
from tests.utils.auth import LOGIN, LOGOUT, REFRESH, login, register, rows, session_tokens


def refresh(client, token):
    return client.post(REFRESH, json={"refresh_token": token})


def assert_refused(response):
    assert response.status_code == 401, response.get_json()
    assert response.get_json()["error"]["code"] == "invalid_refresh_token"


def test_login_returns_a_token_pair_that_is_never_cached(app, client, httpserver, auth_private_key):
    account = register(client, httpserver)

    response = login(client, account["email"].upper())

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    pair = response.get_json()["data"]
    assert set(pair) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert pair["token_type"] == "Bearer"
    assert pair["expires_in"] == app.config["ACCESS_TOKEN_TTL"] == 900
    claims = jwt.decode(
        pair["access_token"],
        auth_private_key.public_key(),
        algorithms=["EdDSA"],
        audience=app.config["AUTH_AUDIENCE"],
        issuer=app.config["AUTH_ISSUER"],
    )
    assert claims["sub"] == account["id"]
    assert claims["roles"] == ["user"]
    assert claims["exp"] - claims["iat"] == 900
    assert jwt.get_unverified_header(pair["access_token"])["typ"] == "at+jwt"


def test_unknown_email_and_wrong_password_answer_the_same(client, httpserver):
    account = register(client, httpserver)

    wrong_password = login(client, account["email"], "not the password at all")
    unknown_email = login(client, "nobody@example.com")

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.get_json()["error"] == unknown_email.get_json()["error"]
    assert wrong_password.get_json()["error"]["code"] == "invalid_credentials"
    assert wrong_password.headers["WWW-Authenticate"] == unknown_email.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@example.com"},
        {"password": "x"},
        {"email": "a@example.com", "password": ""},
        # lower() makes each U+0130 two characters, past the column's 320: a 500 on PostgreSQL.
        {"email": "\u0130" * 300 + "@example.com", "password": "x"},
    ],
)
def test_invalid_login_body_is_422(client, body):
    response = client.post(LOGIN, json=body)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_failed"


def test_refresh_rotates_and_the_old_token_is_refused(client, httpserver):
    account = register(client, httpserver)
    first = session_tokens(client, account["email"])

    response = refresh(client, first["refresh_token"])

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    second = response.get_json()["data"]
    assert second["refresh_token"] != first["refresh_token"]
    assert (
        jwt.decode(second["access_token"], options={"verify_signature": False})["sub"]
        == account["id"]
    )
    assert_refused(refresh(client, first["refresh_token"]))


def test_reusing_a_rotated_token_revokes_the_whole_family(client, httpserver):
    account = register(client, httpserver)
    first = session_tokens(client, account["email"])
    second = refresh(client, first["refresh_token"]).get_json()["data"]

    assert_refused(refresh(client, first["refresh_token"]))  # a stolen copy is replayed

    assert_refused(refresh(client, second["refresh_token"]))  # so the newest is dead too


def test_reuse_revokes_only_that_family(client, httpserver):
    account = register(client, httpserver)
    laptop = session_tokens(client, account["email"])
    phone = session_tokens(client, account["email"])
    refresh(client, laptop["refresh_token"])

    assert_refused(refresh(client, laptop["refresh_token"]))

    assert refresh(client, phone["refresh_token"]).status_code == 200


def test_logout_revokes_the_session(client, httpserver):
    account = register(client, httpserver)
    first = session_tokens(client, account["email"])
    second = refresh(client, first["refresh_token"]).get_json()["data"]

    response = client.post(LOGOUT, json={"refresh_token": second["refresh_token"]})

    assert response.status_code == 204
    assert response.data == b""
    assert_refused(refresh(client, second["refresh_token"]))


@pytest.mark.parametrize("token", ["never-issued", "x" * 256])
def test_logout_of_an_unknown_token_is_204(client, token):
    assert client.post(LOGOUT, json={"refresh_token": token}).status_code == 204


def test_logout_twice_is_204(client, httpserver):
    account = register(client, httpserver)
    token = session_tokens(client, account["email"])["refresh_token"]
    for _ in range(2):
        assert client.post(LOGOUT, json={"refresh_token": token}).status_code == 204


def test_unknown_refresh_token_is_refused(client):
    assert_refused(refresh(client, "never-issued"))


@pytest.mark.parametrize("body", [{}, {"refresh_token": ""}, {"refresh_token": "x" * 257}])
def test_invalid_refresh_body_is_422(client, body):
    response = client.post(REFRESH, json=body)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_failed"


def test_expired_refresh_token_is_refused(app, client, httpserver):
    account = register(client, httpserver)
    token = session_tokens(client, account["email"])["refresh_token"]
    with app.app_context(), get_db().engine.begin() as conn:
        conn.execute(sa.update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1)))

    assert_refused(refresh(client, token))


def test_refresh_tokens_are_stored_only_as_sha256(app, client, httpserver):
    account = register(client, httpserver)
    token = session_tokens(client, account["email"])["refresh_token"]

    (row,) = rows(app, RefreshToken)

    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(vars(row))
    assert timedelta(days=13, hours=23) < row.expires_at - row.created_at <= timedelta(days=14)


def test_concurrent_refreshes_of_one_token_let_exactly_one_win(app, client, httpserver):
    account = register(client, httpserver)
    token = session_tokens(client, account["email"])["refresh_token"]
    start = threading.Barrier(4)
    statuses = []

    def exchange():
        start.wait()
        statuses.append(refresh(app.test_client(), token).status_code)

    threads = [threading.Thread(target=exchange) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200, 401, 401, 401]
    # Whatever the interleaving, the token was presented again: its family is revoked.
    assert all(row.revoked_at is not None for row in rows(app, RefreshToken))
