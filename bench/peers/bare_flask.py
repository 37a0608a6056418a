"""Peer of benchmark 1: GET /api/v1/users/{id} with none of the platform.

Plain Flask + flask-sqlalchemy doing the same query on the same model, table and database as the
users service, with the same engine (pool) options, and nothing else: no token check, envelope,
session proxy, per-request transaction, request id or access log. What the users service does
beyond this is what ``libs/common`` (and the service's own marshmallow schema) costs.

Served by gunicorn with the same settings as the services::

    DATABASE_URL=postgresql+psycopg://... gunicorn -c bench/gunicorn_bench.py \
        --chdir bench/peers "bare_flask:create_app()"
"""

import os
import uuid

from flask import Flask, abort, jsonify

from common.config import Config  # only the engine options, so the pools are identical
from users_service.models import User, db  # the same mapped model and table


def create_app() -> Flask:
    """The bare app: one route, one query."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = Config.SQLALCHEMY_ENGINE_OPTIONS
    db.init_app(app)

    @app.get("/api/v1/users/<uuid:user_id>")
    def get_user(user_id: uuid.UUID):  # type: ignore[no-untyped-def]
        user = db.session.get(User, user_id)
        if user is None:
            abort(404)
        return jsonify(
            id=str(user.id),
            email=user.email,
            name=user.name,
            is_active=user.is_active,
            created_at=user.created_at.isoformat(),
            updated_at=user.updated_at.isoformat(),
        )

    @app.get("/health")
    def health():  # type: ignore[no-untyped-def]
        return {"status": "ok"}

    return app
