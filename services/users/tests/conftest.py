"""Fixtures: the shared ones from common.testing, bound to the users service."""

import pytest

from users_service import create_app

pytest_plugins = ["common.testing"]


@pytest.fixture(scope="session")
def app_factory():
    """common.testing builds the app under test with this."""
    return create_app
