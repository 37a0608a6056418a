"""The users service: profiles with a unique, case-insensitive email."""

from collections.abc import Mapping
from typing import Any

from flask import Flask

from common.app import create_service_app
from users_service import routes
from users_service.config import UsersConfig
from users_service.handlers import handlers
from users_service.models import db


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the users service; ``config`` overrides the environment (tests use it)."""
    return create_service_app(
        __name__,
        config=UsersConfig,
        overrides=config,
        db=db,
        register_routes=routes.register,
        title="Users service",
        description="User profiles. Paths are served under /api/v1/users.",
        handlers=handlers,
    )
