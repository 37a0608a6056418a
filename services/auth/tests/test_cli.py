"""The grant-role command: the way to make the first admin without an HTTP endpoint."""

import jwt
import pytest

from tests.utils.auth import REFRESH, register, session_tokens


def roles_in(token):
    return jwt.decode(token, options={"verify_signature": False})["roles"]


def grant(app, *args):
    return app.test_cli_runner().invoke(args=["grant-role", *args])


def test_grant_role_shows_in_the_next_tokens(app, client, httpserver):
    account = register(client, httpserver, email="boss@example.com")
    before = session_tokens(client, account["email"])

    result = grant(app, "BOSS@example.com", "admin")

    assert result.exit_code == 0, result.output
    assert "boss@example.com: admin, user" in result.output
    assert roles_in(before["access_token"]) == ["user"]
    refreshed = client.post(REFRESH, json={"refresh_token": before["refresh_token"]})
    assert roles_in(refreshed.get_json()["data"]["access_token"]) == ["admin", "user"]
    assert roles_in(session_tokens(client, account["email"])["access_token"]) == ["admin", "user"]


def test_granting_twice_keeps_one_role(app, client, httpserver):
    account = register(client, httpserver)
    grant(app, account["email"], "admin")
    assert grant(app, account["email"], "admin").output.strip().endswith(": admin, user")


def test_unknown_email_fails(app):
    result = grant(app, "nobody@example.com", "admin")
    assert result.exit_code == 1
    assert "No account with this email" in result.output


@pytest.mark.parametrize("role", ["service", "Admin", "no spaces", ""])
def test_reserved_or_malformed_role_fails(app, client, httpserver, role):
    account = register(client, httpserver)
    result = grant(app, account["email"], role)
    assert result.exit_code == 1
    assert "Not a role that can be granted" in result.output


def test_events_relay_says_auth_publishes_nothing(app):
    # auth only consumes: it maps no outbox table, and its relay has nothing to run for.
    result = app.test_cli_runner().invoke(args=["events", "relay"])
    assert result.exit_code == 0, result.output
    assert "auth has no outbox table: nothing to relay." in result.output
