"""Builders for accounts and sessions: create them through the API, as a client would."""

import itertools
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from werkzeug.test import TestResponse

from common.db import get_db
from tests.utils.users_service import expect_create

_counter = itertools.count()
PREFIX = "/api/v1/auth"
REGISTER = f"{PREFIX}/register"
LOGIN = f"{PREFIX}/login"
REFRESH = f"{PREFIX}/refresh"
LOGOUT = f"{PREFIX}/logout"
JWKS = f"{PREFIX}/jwks.json"
PASSWORD = "correct horse battery staple"


def registration(**overrides: Any) -> dict[str, Any]:
    """A valid POST /register body with a unique email."""
    n = next(_counter)
    return {
        "email": f"person{n}@example.com",
        "password": PASSWORD,
        "name": f"Person {n}",
        **overrides,
    }


def register(client: FlaskClient, httpserver: HTTPServer, **overrides: Any) -> dict[str, Any]:
    """Register an account (users creates its profile); return its data."""
    body = registration(**overrides)
    expect_create(httpserver, body["email"], body["name"])
    response = client.post(REGISTER, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["data"]


def login(
    client: FlaskClient, email: str, password: str = PASSWORD, ip: str = "127.0.0.1"
) -> TestResponse:
    """POST /login from the client address ``ip``; return the response."""
    return client.post(
        LOGIN, json={"email": email, "password": password}, environ_base={"REMOTE_ADDR": ip}
    )


def session_tokens(client: FlaskClient, email: str) -> dict[str, Any]:
    """Log in with the builders' password and return the token pair."""
    response = login(client, email)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


def rows(app: Flask, model: Any) -> list[Any]:
    """Every row of a model's table, as committed."""
    with app.app_context():
        return list(get_db().session.scalars(sa.select(model)))
