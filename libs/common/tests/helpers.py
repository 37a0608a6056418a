"""Helpers the tests share (not fixtures)."""

from flask import Flask

from common.db import get_db


def checked_out(app: Flask) -> int:
    """Connections of the app's pool currently lent out."""
    with app.app_context():
        return get_db().engine.pool.checkedout()


def sessions_in_registry(app: Flask) -> int:
    """Sessions the app's scoped_session still holds, for any app context."""
    with app.app_context():
        return len(get_db().session.registry.registry)
