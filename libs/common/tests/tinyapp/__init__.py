"""A tiny service built with ``create_service_app``, used to test platform-common.

Widgets (unique name) and their parts (FK to a widget), plus ``/_test/...`` routes that
misbehave on purpose (raise, add then fail, touch no database, ...).
"""

from collections.abc import Mapping
from typing import Any

from flask import Flask

from common.app import create_service_app
from common.config import TestConfig

from . import routes
from .models import db


class TinyConfig(TestConfig):
    SERVICE_NAME = "tiny"


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the tiny service."""
    return create_service_app(
        __name__,
        config=TinyConfig,
        overrides=overrides,
        db=db,
        register_routes=routes.register,
        title="Tiny service",
        description="Test double for platform-common.",
    )


__all__ = ["create_app", "db"]
