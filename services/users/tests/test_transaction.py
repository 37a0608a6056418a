"""The transaction rule end to end: a commit that fails is an error, and nothing is stored."""

import pytest
import sqlalchemy as sa

from common.db import get_db
from tests.utils.events import outbox
from tests.utils.users import USERS, user_payload
from users_service.models import User


def stored_emails(app):
    with app.app_context():
        return set(get_db().session.scalars(sa.select(User.email)))


def test_failed_commit_is_error_and_stores_nothing(app, client, admin, failing_commits):
    response = client.post(USERS, json=user_payload(email="lost@example.com"), headers=admin)
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"
    assert "lost@example.com" not in stored_emails(app)
    assert outbox(app) == []  # nor its users.user.registered.v1 event


@pytest.fixture()
def deferred_rejection(app):
    """PostgreSQL: a constraint trigger checked only at COMMIT that refuses a marked name."""
    if get_db_dialect(app) != "postgresql":
        pytest.skip("deferred constraints need PostgreSQL (set TEST_DATABASE_URL)")
    ddl = [
        """CREATE FUNCTION reject_marked() RETURNS trigger AS $$
           BEGIN
             IF NEW.name = 'reject-at-commit' THEN
               RAISE EXCEPTION 'rejected at commit' USING ERRCODE = 'check_violation';
             END IF;
             RETURN NEW;
           END $$ LANGUAGE plpgsql""",
        """CREATE CONSTRAINT TRIGGER reject_marked AFTER INSERT ON users
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION reject_marked()""",
    ]
    with app.app_context(), get_db().engine.begin() as conn:
        for statement in ddl:
            conn.execute(sa.text(statement))
    yield
    with app.app_context(), get_db().engine.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER reject_marked ON users"))
        conn.execute(sa.text("DROP FUNCTION reject_marked()"))


def get_db_dialect(app):
    with app.app_context():
        return get_db().engine.dialect.name


def test_deferred_constraint_failing_at_commit_is_409_and_stores_nothing(
    app, client, admin, deferred_rejection
):
    payload = user_payload(email="late@example.com", name="reject-at-commit")
    response = client.post(USERS, json=payload, headers=admin)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "conflict"
    assert "late@example.com" not in stored_emails(app)
    assert outbox(app) == []  # the event was in the transaction that failed at COMMIT
    # The session that failed was closed: the next request works normally.
    next_one = client.post(USERS, json=user_payload(email="next@example.com"), headers=admin)
    assert next_one.status_code == 201
