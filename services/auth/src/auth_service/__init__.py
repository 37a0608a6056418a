"""The auth service: credentials, access and refresh tokens, and the JWKS services verify with."""

from collections.abc import Mapping
from typing import Any

from flask import Flask

from auth_service import cli, keys, passwords, profiles, routes
from auth_service.config import AuthConfig
from auth_service.handlers import handlers
from auth_service.models import db
from common.app import create_service_app


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the auth service; ``config`` overrides the environment (tests use it)."""
    app = create_service_app(
        __name__,
        config=AuthConfig,
        overrides=config,
        db=db,
        register_routes=routes.register,
        title="Auth service",
        description=(
            "Registration, login, refresh-token rotation and the JWKS. "
            "Paths are served under /api/v1/auth."
        ),
        handlers=handlers,
    )
    keys.init_app(app)
    passwords.init_app(app)
    profiles.init_app(app)
    cli.init_app(app)
    return app
