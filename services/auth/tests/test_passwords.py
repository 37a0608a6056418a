"""Password hashing: production cost, the unknown-account path, and rehash on login."""

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher, Type, extract_parameters

from auth_service.config import AuthConfig
from auth_service.models import Identity
from auth_service.passwords import (
    OWASP_MIN_MEMORY_COST,
    OWASP_MIN_PARALLELISM,
    OWASP_MIN_TIME_COST,
    Passwords,
    get_passwords,
    meets_owasp_minimum,
)
from common.db import get_db
from tests.conftest import FAST_ARGON2
from tests.utils.auth import PASSWORD, login, register, rows


def test_default_config_meets_the_owasp_minimum():
    assert AuthConfig.ARGON2_MEMORY_COST >= OWASP_MIN_MEMORY_COST
    assert AuthConfig.ARGON2_TIME_COST >= OWASP_MIN_TIME_COST
    assert AuthConfig.ARGON2_PARALLELISM >= OWASP_MIN_PARALLELISM


def test_app_with_default_cost_hashes_with_argon2id_at_that_cost(app_factory, tmp_path):
    app = app_factory(
        {"SQLALCHEMY_DATABASE_URI": "sqlite://", "AUTH_DEV_KEY_FILE": str(tmp_path / "k.pem")}
    )
    with app.app_context():
        params = extract_parameters(get_passwords().hash(PASSWORD))
    assert not app.testing
    assert params.type is Type.ID
    assert (params.time_cost, params.memory_cost, params.parallelism) == (
        AuthConfig.ARGON2_TIME_COST,
        AuthConfig.ARGON2_MEMORY_COST,
        AuthConfig.ARGON2_PARALLELISM,
    )


def test_cost_below_the_minimum_is_refused_outside_tests(app_factory, tmp_path):
    settings = {
        "SQLALCHEMY_DATABASE_URI": "sqlite://",
        "AUTH_DEV_KEY_FILE": str(tmp_path / "k.pem"),
    }
    with pytest.raises(RuntimeError, match="OWASP"):
        app_factory({**settings, **FAST_ARGON2})


def test_argon2i_is_not_enough():
    assert not meets_owasp_minimum(PasswordHasher(type=Type.I))
    assert meets_owasp_minimum(PasswordHasher())


class CountingHasher(PasswordHasher):
    """A hasher that counts the verifications it runs."""

    verifications = 0

    def verify(self, hash, password):
        self.verifications += 1
        return super().verify(hash, password)


def test_unknown_account_costs_one_verification_and_never_matches():
    passwords = Passwords(CountingHasher(time_cost=1, memory_cost=1024, parallelism=1))
    assert passwords.verify(None, PASSWORD) is False
    assert passwords.hasher.verifications == 1


def test_verify_matches_only_the_right_password():
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    stored = passwords.hash(PASSWORD)
    assert passwords.verify(stored, PASSWORD) is True
    assert passwords.verify(stored, PASSWORD + "!") is False


def test_login_upgrades_a_hash_made_with_older_parameters(app, client, httpserver):
    account = register(client, httpserver)
    weaker = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash(PASSWORD)
    with app.app_context(), get_db().engine.begin() as conn:
        conn.execute(sa.update(Identity).values(password_hash=weaker))

    assert login(client, account["email"]).status_code == 200

    (identity,) = rows(app, Identity)
    assert (
        extract_parameters(identity.password_hash).memory_cost == FAST_ARGON2["ARGON2_MEMORY_COST"]
    )
    assert login(client, account["email"]).status_code == 200
