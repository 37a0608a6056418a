"""Forged, stale and misdirected tokens get 401; JWKS is fetched once, not per request."""

import base64
import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.auth import ACCESS_TOKEN_TYPE, public_jwk
from tests.utils.users import USERS

SUBJECT = str(uuid.uuid4())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict, claims: dict) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def valid_claims(**overrides):
    now = int(time.time())
    claims = {
        "iss": "platform-auth",
        "aud": "platform",
        "sub": SUBJECT,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "roles": ["admin"],
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def signed(key, claims, **header):
    headers = {"kid": public_jwk(key.public_key())["kid"], "typ": ACCESS_TOKEN_TYPE, **header}
    return jwt.encode(claims, key, algorithm="EdDSA", headers=headers)


def alg_none(key):
    kid = public_jwk(key.public_key())["kid"]
    return unsigned({"alg": "none", "typ": ACCESS_TOKEN_TYPE, "kid": kid}, valid_claims()) + "."


def hs256_with_public_key(key):
    """The classic confusion attack: HMAC keyed with the (public) verification key."""
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = public_jwk(key.public_key())["kid"]
    body = unsigned({"alg": "HS256", "typ": ACCESS_TOKEN_TYPE, "kid": kid}, valid_claims())
    signature = hmac.new(public_pem, body.encode(), hashlib.sha256).digest()
    return f"{body}.{b64(signature)}"


def tampered(key):
    token = signed(key, valid_claims(roles=["user"]))
    header, _, signature = token.split(".")
    forged_claims = b64(json.dumps(valid_claims(roles=["admin", "root"])).encode())
    return f"{header}.{forged_claims}.{signature}"


ATTACKS = {
    "alg_none": alg_none,
    "hs256_signed_with_public_key": hs256_with_public_key,
    "expired": lambda key: signed(
        key, valid_claims(iat=int(time.time()) - 600, exp=int(time.time()) - 60)
    ),
    "missing_exp": lambda key: signed(key, valid_claims(exp=None)),
    "missing_sub": lambda key: signed(key, valid_claims(sub=None)),
    "wrong_audience": lambda key: signed(key, valid_claims(aud="another-platform")),
    "wrong_issuer": lambda key: signed(key, valid_claims(iss="https://evil.example")),
    "unknown_kid": lambda key: signed(key, valid_claims(), kid="no-such-key"),
    "signed_by_another_key": lambda key: signed(Ed25519PrivateKey.generate(), valid_claims()),
    "tampered_signature": tampered,
    "not_an_access_token_type": lambda key: signed(key, valid_claims(), typ="JWT"),
    "refresh_token_as_access_token": lambda key: "sX3kq0c3Q2w8bW9yZS1yYW5kb20tYnl0ZXMtaGVyZQ",
    "garbage": lambda key: "a.b.c",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_token_is_401(client, signing_key, attack):
    token = ATTACKS[attack](signing_key)
    response = client.get(USERS, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, attack
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_control_a_valid_admin_token_is_accepted(client, signing_key):
    token = signed(signing_key, valid_claims())
    assert client.get(USERS, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_jwks_is_not_fetched_per_request(app, client, tokens):
    headers = tokens.headers(SUBJECT, "admin")
    client.get(USERS, headers=headers)  # warms the cache if no earlier test did
    jwks = app.extensions["auth"].jwks
    before = jwks.fetches
    for _ in range(20):
        assert client.get(USERS, headers=headers).status_code == 200
    assert jwks.fetches == before


def test_unknown_kids_refetch_at_most_once_per_interval(app, client, signing_key):
    jwks = app.extensions["auth"].jwks
    jwks._fetched_at = float("-inf")  # as if the last fetch were long ago
    before = jwks.fetches
    for i in range(10):
        token = signed(signing_key, valid_claims(), kid=f"rotated-{i}")
        assert client.get(USERS, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert jwks.fetches == before + 1
