"""The database session every view uses, and the per-service SQLAlchemy extension.

``session`` is a werkzeug ``LocalProxy``: importing it is free, and each access resolves to the
SQLAlchemy session of the app handling the current request. Views and domain code never commit;
``common.transaction`` commits once per request.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Session
from werkzeug.local import LocalProxy

# Deterministic constraint names, so Alembic migrations can drop and alter them by name on
# every backend (SQLite batch mode needs them).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite drops the zone otherwise)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    """The current time, timezone-aware, for column defaults."""
    return datetime.now(UTC)


def create_db() -> SQLAlchemy:
    """Return a new extension with its own metadata; each service owns exactly one."""
    return SQLAlchemy(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        # The request's commit runs after its response body is built: nothing reads the objects
        # afterwards, so expiring them all on commit would be work for nothing.
        session_options={"expire_on_commit": False},
    )


def get_db() -> SQLAlchemy:
    """Return the SQLAlchemy extension registered on the current app."""
    extension: SQLAlchemy = current_app.extensions["sqlalchemy"]
    return extension


def _current_session() -> Session:
    # Calling the scoped_session returns the session of the current app context, creating it
    # on first use; flask-sqlalchemy removes it in teardown_appcontext.
    return get_db().session()


session: Session = LocalProxy(_current_session)  # type: ignore[assignment]


@contextmanager
def savepoint() -> Iterator[Session]:
    """Run a block in a SAVEPOINT: its failure rolls back the block, not the whole request.

    The rare case where a view must try something and carry on (e.g. insert-or-fetch under a
    unique constraint). The request's transaction still commits once, at the end.
    """
    with session.begin_nested():
        yield session
