"""Fixtures for platform-common's own tests: the tiny service in ``tinyapp/``.

``common.testing`` provides ``database_url`` (SQLite, or a fresh PostgreSQL database with
``TEST_DATABASE_URL``), ``app`` (migrated with ``tinyapp/migrations``) and ``client``. The
events tests get ``event_settings``: RabbitMQ with ``TEST_BROKER_URL`` (skipped without it), or
kombu's filesystem transport, with names of their own, deleted afterwards.
"""

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_sqlalchemy import SQLAlchemy

import tinyapp
from common.db import get_db
from common.events import EventSettings, Topology, settings

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


@pytest.fixture(scope="session")
def broker_url() -> str:
    """The RabbitMQ server of the events tests (``TEST_BROKER_URL``); skip without one."""
    url = os.environ.get("TEST_BROKER_URL")
    if not url:
        pytest.skip("needs RabbitMQ (set TEST_BROKER_URL)")
    return url


@pytest.fixture(params=["amqp", "filesystem"])
def transport(request: pytest.FixtureRequest) -> str:
    """Run an events test on RabbitMQ, then on the filesystem transport."""
    if request.param == "amqp":
        request.getfixturevalue("broker_url")
    return str(request.param)


@pytest.fixture()
def event_settings(
    app: Flask, tmp_path: Any, request: pytest.FixtureRequest
) -> Iterator[Callable[..., EventSettings]]:
    """Build events settings for this test: its own exchange, short delays; cleaned up after.

    ``event_settings(transport, consumer="tiny", **changes)``: ``transport`` is ``amqp`` (the
    test broker) or ``filesystem`` (a folder of this test).
    """
    exchange = f"test.{uuid.uuid4().hex[:12]}"
    used: list[tuple[str, Topology]] = []

    def make(transport: str, consumer: str = "tiny", **changes: Any) -> EventSettings:
        url = request.getfixturevalue("broker_url") if transport == "amqp" else None
        used.append((transport, Topology(exchange, consumer)))
        base = replace(
            settings(app),
            broker_url=url,
            folder=str(tmp_path / "events"),
            exchange=exchange,
            consumer_name=consumer,
            poll_seconds=0.05,
            backoff_max_seconds=0.2,
            confirm_timeout=2.0,
            max_attempts=3,
            retry_base_seconds=0.02,
            retry_max_seconds=0.05,
        )
        return replace(base, **changes)

    yield make
    amqp = [topology for transport, topology in used if transport == "amqp"]
    if amqp:
        _delete_topology(request.getfixturevalue("broker_url"), amqp)


def _delete_topology(url: str, topologies: list[Topology]) -> None:
    from kombu import Connection

    with Connection(url) as connection:
        channel = connection.channel()
        for topology in topologies:
            for queue in (topology.queue, topology.dead_queue):
                channel.queue_delete(queue)
            channel.exchange_delete(topology.dead_exchange)
        channel.exchange_delete(topologies[0].exchange)
