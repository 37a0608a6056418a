"""pytest fixtures every service reuses: ``pytest_plugins = ["common.testing"]`` in conftest.

A service provides one fixture, ``app_factory`` (its ``create_app``). It then gets:

- ``database_url``: a database for this test session. With ``TEST_DATABASE_URL`` (a PostgreSQL
  server URL) a fresh, uniquely named database is created and dropped afterwards, so parallel
  runs never meet; without it, a SQLite file in a temporary folder.
- ``app``: the service on that database, its schema built by its own Alembic migrations.
- ``client``: a test client. Requests go through the real commit path: after each test every
  table is emptied, instead of wrapping tests in a transaction that would never commit.
- ``tokens``: mints access tokens the app accepts; its JWKS is served by a real local HTTP
  server (``jwks_url``), exactly as the auth service would serve it.
- ``app_config``: the settings the app is built with; a service extends it (e.g. the URL of a
  dependency) by overriding the fixture and calling the original through ``request``.
"""

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import URL, make_url

from common.auth import public_jwk, sign_access_token
from common.config import Config
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


class TokenFactory:
    """Mints access tokens signed like the auth service's, for one key."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.key = key

    def issue(self, subject: str, *roles: str, ttl: int = 300, **claims: Any) -> str:
        """An access token for ``subject`` with ``roles``; ``claims`` override any claim."""
        return sign_access_token(
            self.key,
            subject=subject,
            roles=roles,
            issuer=Config.AUTH_ISSUER,
            audience=Config.AUTH_AUDIENCE,
            ttl=ttl,
            extra=claims,
        )

    def headers(self, subject: str, *roles: str) -> dict[str, str]:
        """The Authorization header for a token of ``subject`` with ``roles``."""
        return {"Authorization": f"Bearer {self.issue(subject, *roles)}"}


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    """The private key the test "auth service" signs with."""
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def jwks_url(signing_key: Ed25519PrivateKey) -> Iterator[str]:
    """A real HTTP server publishing the test key as a JWKS document."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("/jwks.json").respond_with_json(
        {"keys": [public_jwk(signing_key.public_key())]}
    )
    server.start()
    yield server.url_for("/jwks.json")
    server.clear()
    server.stop()


@pytest.fixture(scope="session")
def tokens(signing_key: Ed25519PrivateKey) -> TokenFactory:
    """Mint access tokens the app under test accepts."""
    return TokenFactory(signing_key)


@pytest.fixture(scope="session")
def app_config(database_url: str, jwks_url: str) -> dict[str, Any]:
    """Settings the app under test is built with."""
    return {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "AUTH_JWKS_URL": jwks_url}


@pytest.fixture(scope="session")
def app(app_factory: AppFactory, app_config: dict[str, Any]) -> Iterator[Flask]:
    """The service under test, migrated to the latest revision."""
    app = app_factory(app_config)
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
