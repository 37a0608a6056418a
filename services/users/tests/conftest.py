"""Fixtures: the shared ones from common.testing, bound to the users service."""

import uuid

import pytest

from users_service import create_app

pytest_plugins = ["common.testing"]


@pytest.fixture(scope="session")
def app_factory():
    """common.testing builds the app under test with this."""
    return create_app


@pytest.fixture()
def admin(tokens):
    """Authorization headers of an admin."""
    return tokens.headers(str(uuid.uuid4()), "admin")


@pytest.fixture()
def as_user(tokens):
    """Authorization headers for a given user id, with the plain `user` role."""
    return lambda user: tokens.headers(str(user["id"]), "user")
