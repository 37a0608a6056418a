"""``common.db``: the session proxy follows the current app; each extension owns its metadata."""

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Mapped, mapped_column

from common.app import create_service_app
from common.config import TestConfig
from common.db import create_db, get_db, session
from tinyapp.models import Widget

other_db = create_db()


class Gadget(other_db.Model):
    __tablename__ = "gadgets"

    id: Mapped[int] = mapped_column(primary_key=True)


@pytest.fixture()
def other_app(tmp_path):
    """A second service in the same process, with its own extension and SQLite file."""
    other = create_service_app(
        __name__,
        config=TestConfig,
        overrides={
            "SERVICE_NAME": "other",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'other.db'}",
        },
        db=other_db,
        register_routes=lambda api: None,
        title="Other service",
    )
    with other.app_context():
        other_db.create_all()
    yield other
    with other.app_context():
        other_db.engine.dispose()


def test_session_proxy_resolves_to_the_current_app_session(app, tiny_db):
    with app.app_context():
        assert session._get_current_object() is tiny_db.session()
        assert get_db() is tiny_db


def test_session_proxy_is_one_session_per_app_context(app):
    with app.app_context():
        first = session._get_current_object()
        assert session._get_current_object() is first
    with app.app_context():
        assert session._get_current_object() is not first


def test_session_proxy_follows_the_app_of_the_context(app, other_app, tiny_db):
    with app.app_context():
        assert session._get_current_object() is tiny_db.session()
        assert session.get_bind() is tiny_db.engine
        tiny_engine = tiny_db.engine
    with other_app.app_context():
        assert session._get_current_object() is other_db.session()
        assert session.get_bind() is other_db.engine
        assert session.get_bind() is not tiny_engine
        session.add(Gadget(id=1))
        session.commit()
        assert session.scalar(sa.select(sa.func.count()).select_from(Gadget)) == 1


def test_session_proxy_inside_a_request_is_that_requests_session(app, tiny_db):
    with app.test_request_context("/widgets"):
        assert session._get_current_object() is tiny_db.session()


def test_session_proxy_outside_an_app_context_raises():
    with pytest.raises(RuntimeError, match="application context"):
        session.execute(sa.text("SELECT 1"))


def test_two_db_extensions_keep_separate_metadata(tiny_db):
    assert tiny_db is not other_db
    assert tiny_db.metadata is not other_db.metadata
    assert {"widgets", "parts"} <= set(tiny_db.metadata.tables)
    assert "gadgets" not in tiny_db.metadata.tables
    assert set(other_db.metadata.tables) == {"gadgets"}
    assert Widget.metadata is tiny_db.metadata
    assert Gadget.metadata is other_db.metadata


def test_two_apps_each_create_only_their_own_tables(other_app):
    with other_app.app_context():
        assert set(sa.inspect(other_db.engine).get_table_names()) == {"gadgets"}


def test_metadata_uses_the_naming_convention(tiny_db):
    widgets = tiny_db.metadata.tables["widgets"]
    parts = tiny_db.metadata.tables["parts"]

    assert widgets.primary_key.name == "pk_widgets"
    assert {c.name for c in widgets.constraints if isinstance(c, sa.UniqueConstraint)} == {
        "uq_widgets_name"
    }
    assert {fk.name for fk in parts.foreign_key_constraints} == {"fk_parts_widget_id_widgets"}


def test_flask_app_without_the_extension_is_refused():
    bare = Flask(__name__)
    with bare.app_context(), pytest.raises(KeyError):
        get_db()


def _drop_every_connection(database_url):
    """Close, from the server side, every other connection to the database: a restart."""
    killer = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with killer.connect() as conn:
        dropped = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    killer.dispose()
    return dropped


def test_a_connection_the_database_dropped_is_replaced_at_checkout(
    postgres_only, app, client, database_url
):
    assert client.get("/widgets").status_code == 200  # the pool now holds a connection
    assert _drop_every_connection(database_url) >= 1

    # The ping at checkout (pool_pre_ping) finds the connection dead: the request gets a fresh
    # one, no error.
    assert client.get("/widgets").status_code == 200
