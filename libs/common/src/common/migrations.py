"""The Alembic environment every service's ``migrations/env.py`` runs (Flask-Migrate).

A service's env.py is two lines, so fixes to how migrations run land once, here. Logging is the
app's own JSON logging: no ``fileConfig`` that would disable the loggers the app configured.
"""

import logging
from typing import Any

import flask_migrate
import sqlalchemy as sa
from alembic import context
from flask import Flask, current_app

from common.db import get_db

log = logging.getLogger("alembic.env")
# Any constant: replicas starting together (compose scale, Kubernetes init containers) take
# turns instead of racing to create the same tables.
MIGRATION_LOCK_ID = 7_300_001


def _skip_empty_autogenerate(ctx: Any, revision: Any, directives: list[Any]) -> None:
    # `flask db migrate` with no model change must not write an empty revision.
    if (
        getattr(context.config.cmd_opts, "autogenerate", False)
        and directives[0].upgrade_ops.is_empty()
    ):
        directives[:] = []
        log.info("No changes in schema detected.")


def run_migrations() -> None:
    """Run the current Alembic command against the app's engine and metadata."""
    migrate = current_app.extensions["migrate"]
    engine = migrate.db.engine
    options = dict(migrate.configure_args)
    options.setdefault("process_revision_directives", _skip_empty_autogenerate)
    if context.is_offline_mode():
        context.configure(url=engine.url, target_metadata=migrate.db.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=migrate.db.metadata, **options)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
            context.run_migrations()


def upgrade_before_serving(app: Flask) -> None:
    """Apply ``app``'s migrations, then close every connection they opened.

    For a server process that forks its workers after this (gunicorn's ``preload_app``): a
    connection opened here must not be shared with the children, so their pools start empty.
    """
    with app.app_context():
        flask_migrate.upgrade()
        for engine in get_db().engines.values():
            engine.dispose()
