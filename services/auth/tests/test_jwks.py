"""The JWKS: a bare standard document that verifies the tokens the service issues."""

import jwt
import pytest

from common.auth import JWKSCache, TokenVerifier
from tests.utils.auth import JWKS, register, session_tokens


def test_jwks_is_a_bare_document_listing_the_signing_key(client, auth_private_key):
    response = client.get(JWKS)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = response.get_json()
    assert set(document) == {"keys"}  # no envelope
    (key,) = document["keys"]
    assert {key["kty"], key["crv"], key["alg"], key["use"]} == {"OKP", "Ed25519", "EdDSA", "sig"}
    assert jwt.PyJWKSet.from_dict(document).keys[0].key_id == key["kid"]


def test_issued_tokens_name_the_published_key(client, httpserver):
    account = register(client, httpserver)
    token = session_tokens(client, account["email"])["access_token"]

    kids = [key["kid"] for key in client.get(JWKS).get_json()["keys"]]

    assert jwt.get_unverified_header(token)["kid"] in kids


@pytest.fixture()
def verifier(app, client, httpserver):
    """common.auth's verifier, as another service builds it, fed the app's JWKS over HTTP."""
    httpserver.expect_request("/jwks.json").respond_with_json(client.get(JWKS).get_json())
    jwks = JWKSCache(httpserver.url_for("/jwks.json"))
    return TokenVerifier(
        jwks, issuer=app.config["AUTH_ISSUER"], audience=app.config["AUTH_AUDIENCE"]
    )


def test_issued_token_verifies_like_in_any_service(client, httpserver, verifier):
    account = register(client, httpserver)
    token = session_tokens(client, account["email"])["access_token"]

    principal = verifier.verify(token)

    assert principal.subject == account["id"]
    assert principal.roles == {"user"}
