"""Failed logins are throttled per account and per client IP, and survive the 401 rollback."""

from datetime import timedelta

import sqlalchemy as sa

from auth_service.models import LoginFailure
from common.db import get_db, utcnow
from tests.utils.auth import login, register, rows

WRONG = "definitely not the password"


def fail(client, email, times, ip="127.0.0.1"):
    for _ in range(times):
        assert login(client, email, WRONG, ip=ip).status_code == 401


def assert_throttled(response, window):
    assert response.status_code == 429, response.get_json()
    assert response.get_json()["error"]["code"] == "too_many_requests"
    assert window - 5 <= int(response.headers["Retry-After"]) <= window


def test_failures_are_recorded_although_the_request_rolls_back(app, client):
    fail(client, "someone@example.com", 3)
    assert len(rows(app, LoginFailure)) == 3


def test_account_is_throttled_after_its_failures_even_with_the_right_password(
    app, client, httpserver
):
    account = register(client, httpserver)
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    # From different addresses: the per-account limit does not depend on the IP.
    for n in range(limit):
        fail(client, account["email"], 1, ip=f"10.0.0.{n}")

    assert_throttled(login(client, account["email"].upper()), app.config["LOGIN_FAILURE_WINDOW"])


def test_unknown_email_is_throttled_the_same_way(app, client):
    fail(client, "ghost@example.com", app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"])
    assert_throttled(login(client, "ghost@example.com"), app.config["LOGIN_FAILURE_WINDOW"])


def test_ip_is_throttled_across_accounts(app, client, httpserver, monkeypatch):
    # A small limit keeps the loop short: Retry-After counts from the first failure.
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_IP", 10)
    account = register(client, httpserver)
    for n in range(app.config["LOGIN_MAX_FAILURES_PER_IP"]):
        fail(client, f"target{n}@example.com", 1, ip="203.0.113.7")

    assert_throttled(
        login(client, account["email"], ip="203.0.113.7"), app.config["LOGIN_FAILURE_WINDOW"]
    )
    assert login(client, account["email"], ip="198.51.100.1").status_code == 200


def test_success_clears_the_account_failures(app, client, httpserver):
    account = register(client, httpserver)
    almost = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] - 1
    fail(client, account["email"], almost)
    assert login(client, account["email"]).status_code == 200

    fail(client, account["email"], almost)

    assert login(client, account["email"]).status_code == 200


def test_failures_older_than_the_window_do_not_count_and_are_dropped(app, client, httpserver):
    account = register(client, httpserver)
    window = timedelta(seconds=app.config["LOGIN_FAILURE_WINDOW"])
    old = utcnow() - window - timedelta(seconds=1)
    with app.app_context(), get_db().engine.begin() as conn:
        for _ in range(app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]):
            conn.execute(
                sa.insert(LoginFailure).values(
                    email=account["email"], ip="127.0.0.1", created_at=old
                )
            )

    assert login(client, account["email"]).status_code == 200
    fail(client, "other@example.com", 1)

    assert [failure.email for failure in rows(app, LoginFailure)] == ["other@example.com"]


def test_retry_after_counts_down_to_when_an_attempt_frees_up(app, client):
    window = app.config["LOGIN_FAILURE_WINDOW"]
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    fail(client, "late@example.com", limit)
    # Age the oldest failure: it leaves the window first, 60 seconds from now.
    with app.app_context(), get_db().engine.begin() as conn:
        oldest = conn.scalar(sa.select(sa.func.min(LoginFailure.created_at)))
        conn.execute(
            sa.update(LoginFailure)
            .where(LoginFailure.created_at == oldest)
            .values(created_at=utcnow() - timedelta(seconds=window - 60))
        )

    response = login(client, "late@example.com")

    assert response.status_code == 429
    assert 55 <= int(response.headers["Retry-After"]) <= 60
