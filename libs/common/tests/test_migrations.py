"""common.migrations.upgrade_before_serving: what gunicorn's master runs before forking workers."""

import sqlalchemy as sa

import tinyapp
from common.db import get_db
from common.migrations import upgrade_before_serving


def test_upgrades_a_fresh_database_and_keeps_no_connection(app_config, tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    app = tinyapp.create_app({**app_config, "SQLALCHEMY_DATABASE_URI": url})

    upgrade_before_serving(app)

    with app.app_context():
        tables = set(get_db().metadata.tables)
        pool = get_db().engine.pool
        # Nothing a forked worker could inherit: every connection the upgrade used is closed.
        assert (pool.checkedin(), pool.checkedout()) == (0, 0)
    found = sa.inspect(sa.create_engine(url)).get_table_names()
    assert tables and tables | {"alembic_version"} == set(found)
