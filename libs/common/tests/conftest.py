"""Fixtures for platform-common's own tests: the tiny service in ``tinyapp/``.

``common.testing`` provides ``database_url`` (SQLite, or a fresh PostgreSQL database with
``TEST_DATABASE_URL``), ``app`` (migrated with ``tinyapp/migrations``) and ``client``.
"""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_sqlalchemy import SQLAlchemy

import tinyapp
from common.db import get_db

pytest_plugins = ["common.testing"]


@pytest.fixture(scope="session")
def app_factory() -> Callable[[dict[str, Any]], Flask]:
    return tinyapp.create_app


@pytest.fixture(scope="session")
def tiny_db() -> SQLAlchemy:
    return tinyapp.db


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return sa.engine.make_url(database_url).get_backend_name() == "postgresql"


@pytest.fixture()
def postgres_only(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("needs PostgreSQL (set TEST_DATABASE_URL)")


@pytest.fixture(scope="session")
def count_rows(database_url: str) -> Iterator[Callable[..., int]]:
    """Count rows through a connection of its own: sees only what was committed."""
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)

    def count(table: str, **where: Any) -> int:
        sql = f"SELECT COUNT(*) FROM {table}"
        if where:
            sql += " WHERE " + " AND ".join(f"{k} = :{k}" for k in where)
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), where).scalar_one()

    yield count
    engine.dispose()


@pytest.fixture(scope="session")
def production_app(app: Flask, app_config: dict[str, Any]) -> Iterator[Flask]:
    """The tiny service configured as in production (same, already migrated, database)."""
    prod = tinyapp.create_app({**app_config, "TESTING": False, "PROPAGATE_EXCEPTIONS": False})
    yield prod
    with prod.app_context():
        get_db().engine.dispose()


@pytest.fixture(params=["testing", "production"])
def any_client(request: pytest.FixtureRequest, app: Flask) -> FlaskClient:
    """A client of the app built with TESTING=True, then of the production-like one."""
    if request.param == "testing":
        assert app.testing
        return app.test_client()
    prod = request.getfixturevalue("production_app")
    assert not prod.testing and prod.config["PROPAGATE_EXCEPTIONS"] is False
    return prod.test_client()
