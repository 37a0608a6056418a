"""The orders service: orders placed by active users, safe to retry with Idempotency-Key."""

from collections.abc import Mapping
from typing import Any

from flask import Flask

from common.app import create_service_app
from orders_service import routes, users_client
from orders_service.config import OrdersConfig
from orders_service.handlers import handlers
from orders_service.models import db


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the orders service; ``config`` overrides the environment (tests use it)."""
    app = create_service_app(
        __name__,
        config=OrdersConfig,
        overrides=config,
        db=db,
        register_routes=routes.register,
        # users' account events, into the read model orders checks before an order.
        handlers=handlers,
        title="Orders service",
        description=(
            "Orders placed by users. Paths are served under /api/v1/orders; every one needs a "
            "bearer access token."
        ),
    )
    users_client.init_app(app)
    return app
