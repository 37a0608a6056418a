"""pytest fixtures every service reuses: ``pytest_plugins = ["common.testing"]`` in conftest.

A service provides one fixture, ``app_factory`` (its ``create_app``). It then gets:

- ``database_url``: a database for this test session. With ``TEST_DATABASE_URL`` (a PostgreSQL
  server URL) a fresh, uniquely named database is created and dropped afterwards, so parallel
  runs never meet; without it, a SQLite file in a temporary folder.
- ``app``: the service on that database, its schema built by its own Alembic migrations.
- ``client``: a test client. Requests go through the real commit path: after each test every
  table is emptied, instead of wrapping tests in a transaction that would never commit.
"""

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy.engine import URL, make_url

from common.db import get_db

AppFactory = Callable[[dict[str, Any]], Flask]


@pytest.fixture(scope="session")
def app_factory() -> AppFactory:
    """Override in the service's conftest: return its ``create_app``."""
    raise pytest.UsageError("define an `app_factory` fixture returning the service's create_app")


def _admin_engine(server: URL) -> sa.Engine:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    return sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database that lives as long as the test session."""
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    server_url = make_url(server)
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(server_url)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def app(app_factory: AppFactory, database_url: str) -> Iterator[Flask]:
    """The service under test, migrated to the latest revision."""
    app = app_factory({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        get_db().engine.dispose()


def empty_tables(app: Flask) -> None:
    """Delete every row of the app's tables (children first); migrations' table stays."""
    with app.app_context():
        db = get_db()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture(autouse=True)
def _isolate_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used the app, leave its database empty for the next one."""
    yield
    if "app" in request.fixturenames:
        empty_tables(request.getfixturevalue("app"))


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    """A test client for the service."""
    return app.test_client()
