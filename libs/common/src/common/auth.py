"""Bearer-token checking every service uses, and the token format the auth service signs.

Access tokens are JWTs (``typ: at+jwt``, RFC 9068) signed with an asymmetric key named by
``kid``. Services verify them locally against the auth service's JWKS, fetched once and cached;
an unknown ``kid`` triggers at most one refetch per ``JWKS_MIN_REFRESH`` seconds, so a flood of
forged tokens never turns into a flood of JWKS requests. A client sends the same access token
with every request until it expires, so each verifier also remembers the tokens it accepted
(``VERIFIED_TOKENS_KEPT`` of them): a token seen again costs a dictionary lookup, not a signature
check, and is refused from the moment it expires or its signing key leaves the JWKS.
"""

import base64
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import Flask, current_app, g, request
from flask_restful import Resource

from common.errors import DependencyUnavailable, Forbidden, Unauthorized
from common.metrics import TOKEN_CHECKS

F = TypeVar("F", bound=Callable[..., Any])

ALGORITHM = "EdDSA"
# Only asymmetric algorithms: "none" and HMAC (HS256 keyed with a public key) never verify.
ALLOWED_ALGORITHMS = ("EdDSA", "RS256")
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (the JWT "typ" of access tokens, not a secret)
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "jti")
JWKS_MIN_REFRESH = 30.0
# Without any key every token check fails: a process that could not fetch the JWKS yet (auth
# restarting or overloaded when this worker started) tries again after this, not after
# JWKS_MIN_REFRESH. One request at a time fetches (the lock); the others answer 503 meanwhile.
# Measured under a rolling restart of 3 replicas per service at load: one 2 s read timeout then
# cost a worker 30 s of 503 auth_unavailable (205 of 17,258 requests).
JWKS_RETRY_WITHOUT_KEYS = 1.0
# Accepted tokens a verifier remembers (per process); the oldest is forgotten first. 0: none.
VERIFIED_TOKENS_KEPT = 2048


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """The JWK of an Ed25519 public key, its ``kid`` the RFC 7638 thumbprint."""
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(public_key))
    canonical = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, separators=(",", ":")
    )
    jwk.update(kid=_b64url(hashlib.sha256(canonical.encode()).digest()), use="sig", alg=ALGORITHM)
    return jwk


def sign_access_token(
    private_key: Ed25519PrivateKey,
    *,
    subject: str,
    roles: Iterable[str],
    issuer: str,
    audience: str,
    ttl: int,
    extra: dict[str, Any] | None = None,
) -> str:
    """Sign an access token; the auth service and test fixtures both mint through this."""
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
        "roles": sorted(roles),
        **(extra or {}),
    }
    kid = public_jwk(private_key.public_key())["kid"]
    headers = {"kid": kid, "typ": ACCESS_TOKEN_TYPE}
    return jwt.encode(claims, private_key, algorithm=ALGORITHM, headers=headers)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token speaks for."""

    subject: str
    roles: frozenset[str]
    token: str = field(repr=False)

    def has_role(self, *roles: str) -> bool:
        """True when the principal holds any of ``roles``."""
        return not self.roles.isdisjoint(roles)


class JWKSCache:
    """The auth service's public keys, fetched lazily and refreshed only on an unknown kid."""

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        self.url = url
        self.timeout = timeout
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()
        self.fetches = 0  # observable: tests and the benchmark prove it stays constant

    def _fetch(self) -> None:
        try:
            response = requests.get(self.url, timeout=self.timeout)
            response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(response.json()).keys
        except (requests.RequestException, ValueError, jwt.PyJWKSetError) as exc:
            raise DependencyUnavailable("auth", "Cannot fetch the token signing keys.") from exc
        finally:
            self._fetched_at = time.monotonic()
            self.fetches += 1
        self._keys = {key.key_id: key for key in keys if key.key_id}

    def get(self, kid: str) -> jwt.PyJWK | None:
        """Return the key for ``kid``, refetching at most once per JWKS_MIN_REFRESH seconds."""
        key = self._keys.get(kid)
        if key is not None:
            return key
        with self._lock:
            key = self._keys.get(kid)
            wait = JWKS_MIN_REFRESH if self._keys else JWKS_RETRY_WITHOUT_KEYS
            stale = time.monotonic() - self._fetched_at >= wait
            if key is None and stale:
                try:
                    self._fetch()
                except DependencyUnavailable:
                    if not self._keys:
                        raise
                    return None  # the keys we have still stand; this token is just unknown
                key = self._keys.get(kid)
            elif key is None and not self._keys:
                # The last fetch failed moments ago: answer 503 without hammering the auth service.
                raise DependencyUnavailable("auth", "Cannot fetch the token signing keys.")
        return key

    def holds(self, kid: str, key: jwt.PyJWK) -> bool:
        """True while ``key`` is the cached key of ``kid`` (no fetch: a dictionary lookup)."""
        return self._keys.get(kid) is key


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token that passed every check, and what its acceptance still depends on."""

    principal: Principal
    kid: str
    key: jwt.PyJWK
    expires_at: int


class TokenVerifier:
    """Verifies access tokens for one app: signature, algorithm, type, issuer, audience, expiry."""

    def __init__(
        self, jwks: JWKSCache, *, issuer: str, audience: str, service: str = "unknown"
    ) -> None:
        """:param service: the ``service`` label of its ``auth_token_checks_total`` counts."""
        self.jwks = jwks
        self.issuer = issuer
        self.audience = audience
        # Bound once: a labelled child's inc is ~0.3 us, a labels() lookup several times that.
        self._hits = TOKEN_CHECKS.labels(service, "hit")
        self._misses = TOKEN_CHECKS.labels(service, "miss")
        # Accepted tokens by their exact text (signature included): only a token byte for byte
        # equal to one that passed every check is answered from here.
        self._verified: dict[str, _Verified] = {}
        self._verified_lock = threading.Lock()

    def verify(self, token: str) -> Principal:
        """Return the principal of a valid access token or raise Unauthorized (401).

        A token this verifier accepted before is accepted again without a signature check while
        it is unexpired (PyJWT's clock and rule: valid while now < exp) and the JWKS still holds
        the key that verified it. Every other check depends on the token's text alone, so its
        answer cannot have changed; an expired or orphaned token goes through the full check.
        """
        verified = self._verified.get(token)
        if verified is not None:
            now = datetime.now(tz=UTC).timestamp()
            if now < verified.expires_at and self.jwks.holds(verified.kid, verified.key):
                self._hits.inc()
                return verified.principal
            with self._verified_lock:
                self._verified.pop(token, None)
        self._misses.inc()
        return self._verify(token)

    def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("The token is malformed.") from None
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise Unauthorized("The token's algorithm is not accepted.")
        if header.get("typ") != ACCESS_TOKEN_TYPE:
            raise Unauthorized("Only access tokens are accepted.")
        kid = str(header.get("kid", ""))
        key = self.jwks.get(kid)
        if key is None:
            raise Unauthorized("The token was signed by an unknown key.")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired.") from None
        except jwt.PyJWTError:
            raise Unauthorized("The token is invalid.") from None
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise Unauthorized("The token's roles claim is invalid.")
        principal = Principal(subject=str(claims["sub"]), roles=frozenset(roles), token=token)
        # int(): PyJWT's own reading of exp (its expiry check is int(exp) <= now).
        self._remember(token, _Verified(principal, kid, key, int(claims["exp"])))
        return principal

    def _remember(self, token: str, verified: _Verified) -> None:
        with self._verified_lock:
            while self._verified and len(self._verified) >= VERIFIED_TOKENS_KEPT:
                # Dictionaries keep insertion order: forget the oldest first. Every change to
                # the dictionary holds the lock, so this iteration sees no concurrent change.
                self._verified.pop(next(iter(self._verified)), None)
            if VERIFIED_TOKENS_KEPT > 0:
                self._verified[token] = verified


def _bearer_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        # RFC 6750 3.1: a request without credentials gets the challenge but no error code.
        raise Unauthorized(
            "A bearer token is required.", headers={"WWW-Authenticate": 'Bearer realm="platform"'}
        )
    return token.strip()


def authenticate() -> Principal:
    """Verify the request's bearer token; its principal is then ``current_principal()``."""
    principal: Principal = current_app.extensions["auth"].verify(_bearer_token())
    g.principal = principal
    return principal


def roles_required(*roles: str) -> Callable[[F], F]:
    """Allow the method only to principals holding one of ``roles`` (403 otherwise)."""

    def decorate(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_principal().has_role(*roles):
                raise Forbidden(f"Requires one of the roles: {', '.join(roles)}.")
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def current_principal() -> Principal:
    """The principal of the current request (set by ``authenticate``)."""
    principal: Principal | None = g.get("principal")
    if principal is None:
        raise Unauthorized("A bearer token is required.")
    return principal


class AuthResource(Resource):
    """A flask-restful Resource whose every method requires a valid access token."""

    def dispatch_request(self, *args: Any, **kwargs: Any) -> Any:
        """Authenticate, then dispatch to the method.

        Not ``method_decorators``: flask-restful applies those anew on every request, and
        building the wrapper cost more than checking a token it has seen before.
        """
        authenticate()
        return super().dispatch_request(*args, **kwargs)


def init_app(app: Flask) -> None:
    """Attach a verifier built from AUTH_JWKS_URL / AUTH_ISSUER / AUTH_AUDIENCE."""
    jwks = JWKSCache(app.config["AUTH_JWKS_URL"], timeout=app.config["HTTP_READ_TIMEOUT"])
    app.extensions["auth"] = TokenVerifier(
        jwks,
        issuer=app.config["AUTH_ISSUER"],
        audience=app.config["AUTH_AUDIENCE"],
        service=app.config["SERVICE_NAME"],
    )
