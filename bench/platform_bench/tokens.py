"""Benchmark 5: logins through the gateway, TokenVerifier.verify per token with a warm JWKS
cache and what its parts cost, and the proof that no request fetched the JWKS during the load."""

import collections
import concurrent.futures
import json
import statistics
import timeit
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives import serialization

from platform_bench.servers import Stack
from platform_bench.settings import PASSWORD

# The servers whose workers report JWKSCache.fetches when they exit (bench/gunicorn_bench.py).
JWKS_CLIENTS = ("users", "orders", "fastapi")


def login_all(stack: Stack, emails: list[str]) -> list[str]:
    """Log every credentialed user in through the gateway; their access tokens."""

    def login(email: str) -> str:
        response = requests.post(
            stack.url("gateway", "/api/v1/auth/login"),
            json={"email": email, "password": PASSWORD},
            timeout=60,
        )
        if response.status_code != 200:
            raise SystemExit(f"login of {email} failed: {response.status_code} {response.text}")
        return str(response.json()["data"]["access_token"])

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        return list(pool.map(login, emails))


def per_token_us(fn: Callable[[str], Any], sample: list[str], repeats: int = 3) -> float:
    """Median over ``repeats`` of the time per token of ``fn`` over ``sample``, in µs."""
    times = timeit.repeat(lambda: [fn(t) for t in sample], number=1, repeat=repeats)
    return statistics.median(times) / len(sample) * 1e6


def token_microbench(
    stack: Stack, workdir: Path, subjects: list[uuid.UUID], n: int
) -> dict[str, Any]:
    """TokenVerifier.verify per token with a warm JWKS cache, and what its parts cost."""
    import common.auth
    from common.auth import JWKSCache, TokenVerifier, sign_access_token

    pem = (workdir / "auth-signing-key.pem").read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    tokens = [
        sign_access_token(
            key,
            subject=str(subjects[i % len(subjects)]),
            roles=["user"],
            issuer="platform-auth",
            audience="platform",
            ttl=3600,
        )
        for i in range(n)
    ]
    jwks = JWKSCache(stack.url("auth", "/api/v1/auth/jwks.json"))
    verifier = TokenVerifier(jwks, issuer="platform-auth", audience="platform")
    verifier.verify(tokens[0])  # the one fetch: the cache is warm from here on

    # Each token checked in full: with the verifier's memory on, every repeat after the first
    # would find the tokens remembered whenever they fit in it (--quick's 2,000 do).
    kept, common.auth.VERIFIED_TOKENS_KEPT = common.auth.VERIFIED_TOKENS_KEPT, 0
    try:
        verify_us = per_token_us(verifier.verify, tokens)
    finally:
        common.auth.VERIFIED_TOKENS_KEPT = kept
    again_us = per_token_us(verifier.verify, tokens[:100] * (n // 100))  # remembered ones
    parts = token_parts(tokens, jwks, key.public_key())
    return {
        "tokens": n,
        "verify_us": verify_us,
        "verify_again_us": again_us,
        "parts_us": parts,
        "jwks_fetches": jwks.fetches,
    }


def token_parts(tokens: list[str], jwks: Any, public: Any) -> dict[str, float]:
    """µs per token of the steps of a check: header, PyJWT's decode, the signature alone."""
    from common.auth import ALGORITHM

    some = tokens[: max(1, len(tokens) // 5)]  # the parts: a fifth of the tokens is plenty
    pyjwk = jwks.get(jwt.get_unverified_header(tokens[0])["kid"])

    def decode(token: str) -> Any:
        return jwt.decode(
            token,
            pyjwk,
            algorithms=[ALGORITHM],
            audience="platform",
            issuer="platform-auth",
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
        )

    def raw_verify(token: str) -> None:
        signing_input, _, signature = token.rpartition(".")
        public.verify(jwt.utils.base64url_decode(signature), signing_input.encode())

    return {
        "jwt.get_unverified_header": per_token_us(jwt.get_unverified_header, some),
        "jwt.decode (signature + claims)": per_token_us(decode, some),
        "Ed25519 signature check alone (cryptography)": per_token_us(raw_verify, some),
    }


def jwks_requests(auth_log: Path) -> int:
    """JWKS requests in the auth service's JSON access log so far."""
    if not auth_log.exists():
        return 0
    return sum(
        1
        for line in auth_log.read_text(errors="replace").splitlines()
        if '"path": "/api/v1/auth/jwks.json"' in line and '"request"' in line
    )


def jwks_result(stack: Stack, windows: list[int]) -> dict[str, Any]:
    """Requests to jwks.json during the measured load, and each worker's fetches at its exit.

    ``windows``: jwks_requests() before and after the GET rounds, then before and after the
    orders rounds. Warm-ups are excluded: a worker fetches once, at its first token, which may
    fall in a warm-up.
    """
    fetches: dict[str, list[int | None]] = collections.defaultdict(list)
    for name in JWKS_CLIENTS:
        for line in stack.procs[name].output().splitlines():
            if line.startswith("BENCH_JSON "):
                fetches[name].append(json.loads(line.removeprefix("BENCH_JSON "))["fetches"])
    fetch_ok = all(f in (0, 1) for fs in fetches.values() for f in fs) and all(
        fetches[n] for n in JWKS_CLIENTS
    )
    during = (windows[1] - windows[0]) + (windows[3] - windows[2])
    return {
        "during_load": during,
        "total_requests_to_jwks": windows[-1],
        "fetches_per_worker": dict(fetches),
        "fetches_text": "; ".join(f"{n} {fs}" for n, fs in fetches.items()),
        "ok": during == 0 and fetch_ok,
    }


def user_token(key: Any, user_id: uuid.UUID) -> str:
    """An access token for ``user_id`` as auth issues one (role ``user``, an hour), signed with
    ``key``: the benchmarks that run a service in process trust ``key`` instead of auth's JWKS."""
    from common.auth import sign_access_token

    return sign_access_token(
        key,
        subject=str(user_id),
        roles=["user"],
        issuer="platform-auth",
        audience="platform",
        ttl=3600,
    )


FIRST_USER = "SELECT id FROM users ORDER BY email LIMIT 1"


def first_user(database_url: str, query: str = FIRST_USER) -> Any:
    """The id ``query`` answers first (by default the seeded user every users GET asks for);
    None when it answers nothing."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(query)).scalar()
    finally:
        engine.dispose()
