"""Users' events, consumed through the inbox: a deleted account is gone, a deactivated one waits.

``event_bus`` (common.testing) runs auth's consumer on RabbitMQ with TEST_BROKER_URL, else on
kombu's filesystem transport; each delivered event goes through the inbox, as in production.
"""

import uuid

from auth_service.models import InboxMessage, RefreshToken
from common.testing import assert_error
from tests.utils.auth import REFRESH, login, register, rows, session_tokens

DELETED = "users.user.deleted.v1"
UPDATED = "users.user.updated.v1"


def deleted(bus, account):
    return bus.event(
        DELETED,
        {"id": account["id"], "deleted_at": "2026-01-02T00:00:00+00:00"},
        subject=account["id"],
    )


def updated(bus, account, *, is_active, at="2026-01-02T00:00:00+00:00"):
    data = {
        "id": account["id"],
        "email": account["email"],
        "name": account["name"],
        "is_active": is_active,
        "updated_at": at,
    }
    return bus.event(UPDATED, data, subject=account["id"])


def refresh(client, token):
    return client.post(REFRESH, json={"refresh_token": token})


def test_a_deleted_account_can_no_longer_log_in(client, httpserver, event_bus):
    account = register(client, httpserver)
    event_bus.deliver(deleted(event_bus, account))
    assert_error(login(client, account["email"]), 401, "invalid_credentials")


def test_a_deleted_accounts_refresh_tokens_are_revoked(app, client, httpserver, event_bus):
    account = register(client, httpserver)
    first = session_tokens(client, account["email"])
    second = session_tokens(client, account["email"])
    event_bus.deliver(deleted(event_bus, account))
    for pair in (first, second):
        assert_error(refresh(client, pair["refresh_token"]), 401, "invalid_refresh_token")
    assert rows(app, RefreshToken) == []


def test_a_deleted_accounts_email_registers_again(client, httpserver, event_bus):
    account = register(client, httpserver)
    event_bus.deliver(deleted(event_bus, account))
    again = register(client, httpserver, email=account["email"])
    assert again["id"] != account["id"]
    assert login(client, account["email"]).status_code == 200


def test_a_redelivered_deletion_is_handled_once(app, client, httpserver, event_bus):
    account = register(client, httpserver)
    event = deleted(event_bus, account)
    event_bus.deliver(event, event)
    assert len(rows(app, InboxMessage)) == 1
    # Delivered again after the email registered anew: the new account is another id, untouched.
    again = register(client, httpserver, email=account["email"])
    event_bus.deliver(event)
    assert len(rows(app, InboxMessage)) == 1
    assert login(client, again["email"]).status_code == 200


def test_a_deactivated_account_is_refused_login_and_refresh_with_403(client, httpserver, event_bus):
    account = register(client, httpserver)
    pair = session_tokens(client, account["email"])
    event_bus.deliver(updated(event_bus, account, is_active=False))
    assert_error(login(client, account["email"]), 403, "account_disabled")
    assert_error(refresh(client, pair["refresh_token"]), 403, "account_disabled")
    # A wrong password learns nothing about the account: the usual 401.
    assert_error(login(client, account["email"], "wrong password!!"), 401, "invalid_credentials")


def test_a_reactivated_account_logs_in_and_its_refresh_token_works_again(
    client, httpserver, event_bus
):
    account = register(client, httpserver)
    pair = session_tokens(client, account["email"])
    event_bus.deliver(
        updated(event_bus, account, is_active=False, at="2026-01-02T00:00:00+00:00"),
        updated(event_bus, account, is_active=True, at="2026-01-03T00:00:00+00:00"),
    )
    assert login(client, account["email"]).status_code == 200
    assert refresh(client, pair["refresh_token"]).status_code == 200


def test_an_older_update_does_not_undo_a_newer_one(client, httpserver, event_bus):
    account = register(client, httpserver)
    event_bus.deliver(
        updated(event_bus, account, is_active=False, at="2026-01-03T00:00:00+00:00"),
        updated(event_bus, account, is_active=True, at="2026-01-02T00:00:00+00:00"),
    )
    assert_error(login(client, account["email"]), 403, "account_disabled")


def test_a_redelivered_update_is_handled_once(app, client, httpserver, event_bus):
    account = register(client, httpserver)
    event = updated(event_bus, account, is_active=False)
    event_bus.deliver(event, event)
    assert len(rows(app, InboxMessage)) == 1
    assert_error(login(client, account["email"]), 403, "account_disabled")


def test_events_for_an_account_auth_does_not_know_change_nothing(client, httpserver, event_bus):
    account = register(client, httpserver)
    stranger = {**account, "id": str(uuid.uuid4())}
    event_bus.deliver(updated(event_bus, stranger, is_active=False), deleted(event_bus, stranger))
    assert login(client, account["email"]).status_code == 200
