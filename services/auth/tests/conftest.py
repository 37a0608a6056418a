"""Fixtures: the shared ones from common.testing, bound to the auth service.

The auth app signs with a key of its own (``auth_private_key``), not with common.testing's
``signing_key``, and calls a users service played by a real local HTTP server
(pytest-httpserver's ``httpserver``: one server per session, its expectations cleared per test).
"""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auth_service import create_app
from tests.utils.keys import private_pem

pytest_plugins = ["common.testing"]

# Argon2 at the lowest cost, for test speed only: test_passwords checks the production cost.
FAST_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024, "ARGON2_PARALLELISM": 1}
ADMIN_EMAIL = "root@example.com"


@pytest.fixture(scope="session")
def app_factory():
    """common.testing builds the app under test with this."""
    return create_app


@pytest.fixture(scope="session")
def httpserver_listen_address():
    """The stand-in users service listens on IPv4 loopback, on a free port."""
    return ("127.0.0.1", 0)


@pytest.fixture(scope="session")
def auth_private_key():
    """The key the auth app under test signs with."""
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def app_config(app_config, make_httpserver, auth_private_key):
    """common.testing's settings plus the users stand-in, a fast hasher and a fixed key."""
    return {
        **app_config,
        **FAST_ARGON2,
        "AUTH_PRIVATE_KEY": private_pem(auth_private_key),
        "USERS_URL": make_httpserver.url_for("/"),
        # A slow users service must fail the request fast, without retries.
        "HTTP_READ_TIMEOUT": 0.3,
        "HTTP_RETRIES": 0,
        "AUTH_ADMIN_EMAILS": f"someone@example.com, {ADMIN_EMAIL}",
    }
