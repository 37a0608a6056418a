"""common.auth.TokenVerifier remembers the tokens it accepted: never longer, never more.

A client sends one access token with every request until it expires; the verifier answers a
token seen before from memory, and only while it is unexpired and its key is still in the JWKS.
Fixtures from common.testing: ``jwks_url`` (a real HTTP server), ``signing_key``, ``tokens``.
"""

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common import auth
from common.auth import JWKSCache, TokenVerifier, public_jwk
from common.errors import Unauthorized
from common.testing import TokenFactory


@pytest.fixture()
def verifier(jwks_url: str) -> TokenVerifier:
    return TokenVerifier(JWKSCache(jwks_url), issuer="platform-auth", audience="platform")


@pytest.fixture()
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every full check (jwt.decode) the verifier runs."""
    calls: list[str] = []
    real = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(auth.jwt, "decode", counting)
    return calls


def test_a_token_seen_again_is_not_checked_again(verifier, tokens, decodes):
    token = tokens.issue("user-1", "user")
    first, second = verifier.verify(token), verifier.verify(token)
    assert first == second and first.subject == "user-1" and first.roles == {"user"}
    assert decodes == [token]
    assert verifier.jwks.fetches == 1


def test_a_remembered_token_is_refused_once_expired(verifier, tokens, decodes, monkeypatch):
    token = tokens.issue("user-1", ttl=60)
    verifier.verify(token)
    later = time.time() + 61
    monkeypatch.setattr(auth, "datetime", _Clock(later))
    monkeypatch.setattr(jwt.api_jwt, "datetime", _Clock(later))
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(token)
    assert len(decodes) == 2  # the full check ran, and said why


def test_a_remembered_token_is_refused_once_its_key_left_the_jwks(
    verifier, tokens, signing_key, httpserver
):
    token = tokens.issue("user-1")
    verifier.verify(token)
    # The auth service rotated to a new key; a token signed with it makes the verifier refetch.
    rotated = Ed25519PrivateKey.generate()
    httpserver.expect_request("/rotated.json").respond_with_json(
        {"keys": [public_jwk(rotated.public_key())]}
    )
    verifier.jwks.url = httpserver.url_for("/rotated.json")
    verifier.jwks._fetched_at = float("-inf")  # past JWKS_MIN_REFRESH
    assert verifier.verify(TokenFactory(rotated).issue("user-2")).subject == "user-2"
    with pytest.raises(Unauthorized, match="unknown key"):
        verifier.verify(token)


def test_refused_tokens_are_not_remembered(verifier, tokens, decodes):
    forged = tokens.issue("user-1")[:-4] + "AAAA"
    for _ in range(2):
        with pytest.raises(Unauthorized):
            verifier.verify(forged)
    assert decodes == [forged, forged]


def test_the_verifier_remembers_a_bounded_number_of_tokens(verifier, tokens, monkeypatch):
    monkeypatch.setattr(auth, "VERIFIED_TOKENS_KEPT", 3)
    issued = [tokens.issue(f"user-{i}") for i in range(5)]
    for token in issued:
        verifier.verify(token)
    assert list(verifier._verified) == issued[2:]  # the oldest were forgotten first


class _Clock:
    """Stands in for the datetime class: ``now()`` at a fixed POSIX time."""

    def __init__(self, timestamp: float) -> None:
        self.timestamp = timestamp

    def now(self, tz: Any = None) -> Any:
        from datetime import datetime

        return datetime.fromtimestamp(self.timestamp, tz=tz)


def test_without_any_key_the_jwks_is_fetched_again_after_a_second(httpserver, monkeypatch):
    # A real server that answers 503 first (auth restarting when this worker started), then the
    # keys: the next fetch comes after JWKS_RETRY_WITHOUT_KEYS, not after JWKS_MIN_REFRESH.
    key = Ed25519PrivateKey.generate()
    jwk = public_jwk(key.public_key())
    httpserver.expect_ordered_request("/jwks.json").respond_with_data("", status=503)
    httpserver.expect_ordered_request("/jwks.json").respond_with_json({"keys": [jwk]})
    monkeypatch.setattr(auth, "JWKS_RETRY_WITHOUT_KEYS", 0.2)
    jwks = JWKSCache(httpserver.url_for("/jwks.json"))

    with pytest.raises(auth.DependencyUnavailable):
        jwks.get(jwk["kid"])
    with pytest.raises(auth.DependencyUnavailable):
        jwks.get(jwk["kid"])  # within the pause: no second fetch
    assert jwks.fetches == 1

    time.sleep(0.25)
    assert jwks.get(jwk["kid"]) is not None
    assert jwks.fetches == 2
