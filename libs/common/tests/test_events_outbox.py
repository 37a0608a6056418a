"""common.events' outbox, envelope and retention: no broker needed (PostgreSQL or SQLite)."""

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Response
from marshmallow import Schema, fields

from common.db import get_db, utcnow
from common.events import EventType, event_types, publish, purge_expired, settings
from common.transaction import finish_transaction
from tinyapp.events import WIDGET_NAMED
from tinyapp.models import IdempotencyKey, InboxMessage, OutboxEvent, Part, Widget

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _request(app, status=200, **headers):
    """Run a request's body, then the real end of a request: commit, or roll back on status."""

    class Ctx:
        def __enter__(self):
            self.ctx = app.test_request_context(headers=headers)
            self.ctx.push()
            return get_db().session()

        def __exit__(self, *exc):
            self.response = finish_transaction(Response(status=status))
            self.ctx.pop()

    return Ctx()


def test_the_event_row_commits_with_the_change(app, count_rows):
    with _request(app) as session:
        session.add(Widget(name="w1"))
        publish(WIDGET_NAMED, subject="w1", data={"name": "w1"})
    assert count_rows("widgets") == 1
    assert count_rows("outbox_events", type="tiny.widget.named.v1") == 1


def test_a_rolled_back_request_leaves_no_event(app, count_rows):
    with _request(app, status=409) as session:
        session.add(Widget(name="w1"))
        publish(WIDGET_NAMED, subject="w1", data={"name": "w1"})
    assert count_rows("widgets") == 0
    assert count_rows("outbox_events") == 0


def test_a_failed_commit_leaves_no_event(app, count_rows, postgres_only):
    # The parts FK is checked at COMMIT on PostgreSQL: the commit itself fails.
    request = _request(app)
    with request as session:
        session.add(Part(widget_id=uuid.uuid4(), name="dangling"))
        publish(WIDGET_NAMED, subject="p", data={"name": "p"})
    assert request.response.status_code == 409
    assert count_rows("parts") == 0
    assert count_rows("outbox_events") == 0


def test_the_envelope_is_a_cloudevent_with_request_id_and_traceparent(app):
    with _request(app, **{"X-Request-ID": "req-42", "traceparent": TRACEPARENT}):
        event_id = publish(WIDGET_NAMED, subject="w1", data={"name": "w1", "extra": "dropped"})
    with app.app_context():
        row = get_db().session.get(OutboxEvent, event_id)
        envelope = row.envelope
    assert envelope == {
        "specversion": "1.0",
        "id": str(event_id),
        "source": "/services/tiny",
        "type": "tiny.widget.named.v1",
        "time": envelope["time"],
        "subject": "w1",
        "datacontenttype": "application/json",
        "data": {"name": "w1"},
        "requestid": "req-42",
        "traceparent": TRACEPARENT,
    }
    assert envelope["time"].endswith("Z")
    assert row.published_at is None and row.attempts == 0


def test_a_malformed_traceparent_is_not_carried(app):
    with _request(app, traceparent="not-a-trace"):
        event_id = publish(WIDGET_NAMED, subject=None, data={"name": "w1"})
    with app.app_context():
        envelope = get_db().session.get(OutboxEvent, event_id).envelope
    assert "traceparent" not in envelope and "subject" not in envelope


def test_data_the_schema_refuses_fails_the_publishing_request(app, count_rows):
    with pytest.raises(ValueError, match="invalid data"), _request(app):
        publish(WIDGET_NAMED, subject="w", data={"name": ""})
    assert count_rows("outbox_events") == 0


class _Schema(Schema):
    id = fields.UUID(required=True)


@pytest.mark.parametrize(
    "name", ["users.deleted", "Users.user.deleted.v1", "users.user.v0", "x.v1"]
)
def test_event_type_names_are_versioned(name):
    with pytest.raises(ValueError, match="not <service>"):
        EventType(name, _Schema)


def test_an_event_type_is_declared_once():
    assert event_types()["tiny.widget.named.v1"] is WIDGET_NAMED
    with pytest.raises(ValueError, match="declared twice"):
        EventType("tiny.widget.named.v1", _Schema)


def test_purge_deletes_old_published_rows_inbox_rows_and_completed_keys(app, count_rows):
    old, now = utcnow() - timedelta(days=30), utcnow()
    with app.app_context():
        session = get_db().session()
        for published_at in (old, now, None):
            session.add(
                OutboxEvent(
                    id=uuid.uuid4(),
                    type="t",
                    envelope={},
                    created_at=old,
                    published_at=published_at,
                )
            )
        session.add(InboxMessage(id="old", type="t", source="s", received_at=old))
        session.add(InboxMessage(id="new", type="t", source="s", received_at=now))
        for key, state, created_at in (
            ("a", "completed", old),
            ("b", "in_flight", old),
            ("c", "completed", now),
        ):
            session.add(
                IdempotencyKey(
                    scope="u",
                    key=key,
                    fingerprint="f",
                    state=state,
                    claim_id=uuid.uuid4(),
                    locked_until=now,
                    created_at=created_at,
                )
            )
        session.commit()
        purged = purge_expired(settings(app))
    assert purged == {"outbox": 1, "inbox": 1, "idempotency_keys": 1}
    assert count_rows("outbox_events") == 2
    assert count_rows("inbox_messages") == 1
    with app.app_context():
        keys = get_db().session.scalars(sa.select(IdempotencyKey.key).order_by("key")).all()
    assert keys == ["b", "c"]
