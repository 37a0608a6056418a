"""One transaction per request: committed before a success leaves, rolled back otherwise."""

import uuid
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from common.testing import assert_error
from helpers import checked_out, sessions_in_registry


def test_successful_post_is_committed_before_the_response(client, count_rows):
    response = client.post("/widgets", json={"name": "kept"})

    assert response.status_code == 201
    # A connection of its own sees only committed rows.
    assert count_rows("widgets", name="kept") == 1


def test_successful_delete_is_committed(client, count_rows):
    widget_id = client.post("/widgets", json={"name": "doomed"}).get_json()["data"]["id"]

    assert client.delete(f"/widgets/{widget_id}").status_code == 204
    assert count_rows("widgets") == 0


def test_handler_that_raises_after_adding_a_row_stores_nothing(client, count_rows):
    response = client.post("/_test/add-then-raise", json={"name": "ghost"})

    assert response.status_code == 500
    assert count_rows("widgets") == 0


def test_handler_that_answers_4xx_after_adding_a_row_stores_nothing(client, count_rows):
    response = client.post("/_test/add-then-conflict", json={"name": "ghost"})

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "conflict"
    assert count_rows("widgets") == 0


def test_validation_failure_after_earlier_work_stores_nothing(client, count_rows):
    widget_id = client.post("/widgets", json={"name": "w"}).get_json()["data"]["id"]

    response = client.post(f"/widgets/{widget_id}/parts", json={"name": ""})

    assert response.status_code == 422
    assert count_rows("parts") == 0


def test_failure_at_commit_is_500_envelope_and_stores_nothing(client, failing_commits, count_rows):
    response = client.post("/widgets", json={"name": "unsaved"})

    body = assert_error(response, 500, "internal_error")
    assert "data" not in body
    assert "Location" not in response.headers
    assert count_rows("widgets") == 0


def test_deferred_constraint_violated_at_commit_is_409_and_stores_nothing(
    postgres_only, client, tiny_db, count_rows
):
    flushed = []
    listener = lambda session, context: flushed.append(True)  # noqa: E731
    sa.event.listen(tiny_db.session, "after_flush_postexec", listener)
    try:
        response = client.post("/parts", json={"widget_id": str(uuid.uuid4()), "name": "orphan"})
    finally:
        sa.event.remove(tiny_db.session, "after_flush_postexec", listener)

    assert flushed, "the INSERT must pass at flush: the FK is only checked at COMMIT"
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"]["code"] == "conflict"
    assert "data" not in body
    assert "parts" not in response.get_data(as_text=True)
    assert count_rows("parts") == 0


def test_parts_fk_is_deferrable_initially_deferred_on_postgresql(postgres_only, count_rows):
    # Guards the test above: the migration made the FK deferred, so the failure is at COMMIT.
    assert (
        count_rows(
            "pg_constraint",
            conname="fk_parts_widget_id_widgets",
            condeferrable=True,
            condeferred=True,
        )
        == 1
    )


def test_session_is_removed_after_a_successful_request(app, client):
    assert client.post("/widgets", json={"name": "ok"}).status_code == 201

    assert sessions_in_registry(app) == 0
    assert checked_out(app) == 0


def test_session_is_removed_when_the_handler_raised(app, client):
    assert client.post("/_test/add-then-raise", json={"name": "x"}).status_code == 500

    assert sessions_in_registry(app) == 0
    assert checked_out(app) == 0


def test_session_is_removed_when_the_handler_answered_4xx(app, client):
    assert client.post("/_test/add-then-conflict", json={"name": "x"}).status_code == 409

    assert sessions_in_registry(app) == 0
    assert checked_out(app) == 0


def test_session_is_removed_when_commit_raised(app, client, failing_commits):
    assert client.post("/widgets", json={"name": "x"}).status_code == 500

    assert sessions_in_registry(app) == 0
    assert checked_out(app) == 0


def test_session_is_removed_when_the_deferred_constraint_failed_at_commit(
    postgres_only, app, client
):
    response = client.post("/parts", json={"widget_id": str(uuid.uuid4()), "name": "orphan"})

    assert response.status_code == 409
    assert sessions_in_registry(app) == 0
    assert checked_out(app) == 0


def test_app_keeps_working_after_a_failed_commit(client, failing_commits, count_rows):
    client.post("/widgets", json={"name": "first"})
    failing_commits.stop()

    assert client.post("/widgets", json={"name": "second"}).status_code == 201
    assert count_rows("widgets") == 1


def test_savepoint_rolls_back_only_its_block(client, count_rows):
    response = client.post("/_test/savepoint", json={"name": "outer"})

    assert response.status_code == 201
    assert count_rows("widgets") == 1
    assert count_rows("widgets", name="outer") == 1
    assert count_rows("widgets", name="outer-inner") == 0


@pytest.mark.parametrize("path", ["/_test/ping", "/health/live", "/nowhere", "/_test/boom"])
def test_request_that_never_touches_the_database_creates_no_session(
    app, client, tiny_db, monkeypatch, path
):
    created = []
    factory = tiny_db.session.registry.createfunc

    def counting_factory():
        created.append(True)
        return factory()

    monkeypatch.setattr(tiny_db.session.registry, "createfunc", counting_factory)

    client.get(path)
    assert created == []
    assert checked_out(app) == 0

    # The counter does see a request that uses the database.
    assert client.get("/widgets").status_code == 200
    assert created == [True]


@contextmanager
def connection_cut_before_commit(db, database_url):
    """Terminate the session's server connection from another one just before each commit.

    Yields the pids the server confirmed it terminated. The session's COMMIT then meets a
    closed connection, as it would after a database restart or a failover mid-request.
    """
    killer = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    terminated = []

    def cut(session):
        pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with killer.connect() as conn:
            # The second argument waits (ms) until the backend has exited, so COMMIT cannot win.
            done = conn.execute(
                sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}
            ).scalar_one()
        if done:
            terminated.append(pid)

    sa.event.listen(db.session, "before_commit", cut)
    try:
        yield terminated
    finally:
        sa.event.remove(db.session, "before_commit", cut)
        killer.dispose()


def test_connection_lost_at_commit_is_503_envelope_and_stores_nothing(
    postgres_only, client, tiny_db, database_url, count_rows
):
    with connection_cut_before_commit(tiny_db, database_url) as terminated:
        response = client.post("/widgets", json={"name": "cut-off"})

    assert len(terminated) == 1, "the hook must have cut the session's connection"
    body = assert_error(response, 503, "database_unavailable")
    assert "data" not in body
    assert "Location" not in response.headers
    assert count_rows("widgets") == 0


def test_session_is_removed_when_the_connection_was_lost_at_commit(
    postgres_only, app, client, tiny_db, database_url
):
    with connection_cut_before_commit(tiny_db, database_url):
        assert client.post("/widgets", json={"name": "x"}).status_code == 503

    assert sessions_in_registry(app) == 0
    assert checked_out(app) == 0


def test_app_keeps_working_after_the_connection_was_lost_at_commit(
    postgres_only, client, tiny_db, database_url, count_rows
):
    with connection_cut_before_commit(tiny_db, database_url):
        client.post("/widgets", json={"name": "first"})

    # The pool discarded the dead connection: the next request gets a working one.
    assert client.post("/widgets", json={"name": "second"}).status_code == 201
    assert count_rows("widgets", name="second") == 1
    assert count_rows("widgets") == 1
