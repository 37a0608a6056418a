"""Fixtures: the shared ones from common.testing, bound to the orders service, plus users.

The users service is a real local HTTP server (pytest-httpserver, one per session); each test
says what it answers through ``users`` and the handlers are cleared after it.
"""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask
from pytest_httpserver import HTTPServer

from orders_service import create_app
from orders_service.users_client import EXTENSION
from tests.utils.events import REGISTERED, handle, user_state
from tests.utils.users import UsersStub

if TYPE_CHECKING:
    # Imported for types only: importing the plugin here would defeat pytest's assert rewriting.
    from common.testing import TokenFactory

pytest_plugins = ["common.testing"]


@pytest.fixture(scope="session")
def app_factory() -> Callable[..., Flask]:
    """common.testing builds the app under test with this."""
    return create_app


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """The users stub on IPv4 loopback, any free port (``localhost`` may resolve to IPv6)."""
    return ("127.0.0.1", 0)


@pytest.fixture(scope="session")
def app_config(app_config: dict[str, Any], make_httpserver: HTTPServer) -> dict[str, Any]:
    """The shared settings, plus the users stub and short timeouts so failures are quick."""
    return {
        **app_config,
        "USERS_URL": make_httpserver.url_for("/").rstrip("/"),
        "HTTP_READ_TIMEOUT": 0.3,
        "HTTP_RETRIES": 1,
    }


@pytest.fixture()
def users(app: Flask, httpserver: HTTPServer) -> Iterator[UsersStub]:
    """What the users service answers in this test; nothing (500) unless configured."""
    yield UsersStub(httpserver)
    httpserver.clear()
    # The app lives for the session: failures a test provoked must not open the next one's
    # circuit breaker.
    app.extensions[EXTENSION].breaker.reset()


@dataclass(frozen=True)
class Caller:
    """A user of the API: their id and the headers carrying their access token."""

    id: uuid.UUID
    headers: dict[str, str]


def _caller(tokens: "TokenFactory", *roles: str) -> Caller:
    user_id = uuid.uuid4()
    return Caller(user_id, tokens.headers(str(user_id), *roles))


@pytest.fixture()
def alice(tokens: "TokenFactory", users: UsersStub) -> Caller:
    """A user whose account is active."""
    caller = _caller(tokens, "user")
    users.active(caller.id)
    return caller


@pytest.fixture()
def bob(tokens: "TokenFactory", users: UsersStub) -> Caller:
    """Another user whose account is active."""
    caller = _caller(tokens, "user")
    users.active(caller.id)
    return caller


@pytest.fixture()
def admin(tokens: "TokenFactory", users: UsersStub) -> Caller:
    """A principal with the admin role (an active account too)."""
    caller = _caller(tokens, "admin")
    users.active(caller.id)
    return caller


@pytest.fixture()
def stranger(tokens: "TokenFactory") -> Caller:
    """A user the users stub has not been told about: configure it in the test."""
    return _caller(tokens, "user")


@pytest.fixture()
def carol(app: Flask, tokens: "TokenFactory") -> Caller:
    """A user orders heard of through users.user.registered.v1 (active, at EPOCH + 10 s), so
    orders never asks users about her."""
    caller = _caller(tokens, "user")
    assert handle(app, user_state(REGISTERED, caller.id, seconds=10))
    return caller
