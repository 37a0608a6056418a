"""Key material: configured, generated for development, refused when missing or wrong."""

import stat
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask

from auth_service.keys import _development_key
from common.auth import public_jwk
from tests.conftest import FAST_ARGON2
from tests.utils.auth import JWKS
from tests.utils.keys import private_pem, public_pem


@pytest.fixture()
def make_app(app_factory, tmp_path):
    """Build an auth app on a throwaway database (and development key) with these settings."""

    def make(**settings):
        base = {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "AUTH_DEV_KEY_FILE": str(tmp_path / "dev-key.pem"),
            **FAST_ARGON2,
        }
        return app_factory({**base, **settings})

    return make


def kids(app):
    """The kids the app's JWKS publishes, in order."""
    return [key["kid"] for key in app.test_client().get(JWKS).get_json()["keys"]]


def kid_of(key):
    """The kid of a private key's public half, or of a public key."""
    return public_jwk(key.public_key() if isinstance(key, Ed25519PrivateKey) else key)["kid"]


def test_development_key_is_generated_once_and_reused(make_app, tmp_path):
    path = tmp_path / "keys" / "dev.pem"
    first = make_app(AUTH_DEV_KEY_FILE=str(path))
    second = make_app(AUTH_DEV_KEY_FILE=str(path))
    assert kids(first) == kids(second)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["dev.pem"]  # no temporary file left


def test_workers_starting_together_agree_on_one_development_key(tmp_path):
    # Racing the key file itself: gunicorn workers are processes that each build an app, and
    # what they share is this file (building Flask apps in threads would race flasgger instead).
    path = tmp_path / "shared.pem"
    start = threading.Barrier(6)
    keys = []

    def start_worker():
        start.wait()
        keys.append(public_jwk(_development_key(path).public_key())["kid"])

    workers = [threading.Thread(target=start_worker) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert len(keys) == 6
    assert len(set(keys)) == 1


def test_development_key_defaults_to_the_instance_folder(make_app, tmp_path, monkeypatch):
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(tmp_path))
    first = make_app(AUTH_DEV_KEY_FILE=None)
    assert (tmp_path / "auth-signing-key.pem").exists()
    assert kids(make_app(AUTH_DEV_KEY_FILE=None)) == kids(first)


def test_required_key_missing_refuses_to_start(make_app):
    with pytest.raises(RuntimeError, match="AUTH_REQUIRE_CONFIGURED_KEY"):
        make_app(AUTH_REQUIRE_CONFIGURED_KEY=True)


def test_key_file_is_used(make_app, tmp_path):
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "signing.pem"
    path.write_text(private_pem(key))
    app = make_app(AUTH_PRIVATE_KEY_FILE=str(path), AUTH_REQUIRE_CONFIGURED_KEY=True)
    assert kids(app) == [kid_of(key)]


def test_inline_key_may_carry_escaped_newlines(make_app):
    key = Ed25519PrivateKey.generate()
    escaped = private_pem(key).replace("\n", "\\n")
    assert kids(make_app(AUTH_PRIVATE_KEY=escaped)) == [kid_of(key)]


def test_inline_key_and_key_file_together_are_refused(make_app, tmp_path):
    pem = private_pem(Ed25519PrivateKey.generate())
    with pytest.raises(RuntimeError, match="not both"):
        make_app(AUTH_PRIVATE_KEY=pem, AUTH_PRIVATE_KEY_FILE=str(tmp_path / "k.pem"))


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        ("not a key", "not an unencrypted PEM private key"),
        (private_pem(generate_private_key(SECP256R1())), "must be Ed25519"),
    ],
)
def test_unusable_signing_key_is_refused(make_app, pem, message):
    with pytest.raises(RuntimeError, match=message):
        make_app(AUTH_PRIVATE_KEY=pem)


def test_extra_public_keys_are_published_after_the_current_one(make_app):
    current = Ed25519PrivateKey.generate()
    old, older = (Ed25519PrivateKey.generate().public_key() for _ in range(2))
    app = make_app(
        AUTH_PRIVATE_KEY=private_pem(current),
        # The current key listed again is published once.
        AUTH_EXTRA_PUBLIC_KEYS="".join(map(public_pem, (old, older, current.public_key()))),
    )
    assert kids(app) == [kid_of(current), kid_of(old), kid_of(older)]


def test_extra_public_keys_from_a_file_or_a_directory(make_app, tmp_path):
    current = Ed25519PrivateKey.generate()
    old = Ed25519PrivateKey.generate().public_key()
    (tmp_path / "old.pem").write_text(public_pem(old))
    for source in (tmp_path / "old.pem", tmp_path):
        app = make_app(
            AUTH_PRIVATE_KEY=private_pem(current), AUTH_EXTRA_PUBLIC_KEYS_FILE=str(source)
        )
        assert kids(app) == [kid_of(current), kid_of(old)]


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        ("garbage", "no PEM public key"),
        ("-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----", "unreadable PEM public key"),
        (
            public_pem(generate_private_key(SECP256R1()).public_key()),
            "must be Ed25519",
        ),
    ],
)
def test_unusable_extra_public_key_is_refused(make_app, pem, message):
    with pytest.raises(RuntimeError, match=message):
        make_app(AUTH_EXTRA_PUBLIC_KEYS=pem)
