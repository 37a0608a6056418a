"""``common.testing``: a migrated app on a session database, emptied between tests.

The two ``test_isolation_*`` tests run in file order: the second sees nothing of the first.
"""

import os

import sqlalchemy as sa


def test_isolation_1_writes_rows(client, count_rows):
    widget_id = client.post("/widgets", json={"name": "left-over"}).get_json()["data"]["id"]
    assert client.post(f"/widgets/{widget_id}/parts", json={"name": "p"}).status_code == 201

    assert count_rows("widgets") == 1
    assert count_rows("parts") == 1


def test_isolation_2_sees_no_rows_of_the_previous_test(client, count_rows):
    assert count_rows("widgets") == 0
    assert count_rows("parts") == 0
    assert client.get("/widgets").get_json()["meta"]["total"] == 0


def test_app_is_migrated_to_the_latest_revision(count_rows):
    assert count_rows("alembic_version", version_num="0001") == 1


def test_app_is_built_for_testing_on_the_session_database(app, database_url):
    assert app.testing
    assert app.config["SQLALCHEMY_DATABASE_URI"] == database_url


def test_database_url_is_a_fresh_database_or_a_sqlite_file(database_url):
    url = sa.engine.make_url(database_url)
    server = os.environ.get("TEST_DATABASE_URL")
    if server:
        assert url.get_backend_name() == "postgresql"
        assert url.database.startswith("test_")
        assert url.database != sa.engine.make_url(server).database
    else:
        assert url.get_backend_name() == "sqlite"
        assert url.database.endswith("test.db")
