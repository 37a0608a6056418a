"""Attacks from the outside (OWASP API Top 10 where it applies), through the gateway only."""

import base64
import json
import uuid

import pytest
from api_client import (
    AUTH,
    ORDERS,
    USERS,
    Account,
    ApiClient,
    bearer,
    error_of,
    sign_up,
    unique_email,
)

# Failed logins an account may make before it is throttled (auth README, "Throttling").
ACCOUNT_FAILURE_LIMIT = 5


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def part(token: str, index: int) -> dict:
    segment = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def forged_tokens(user: Account) -> dict[str, str]:
    """Tokens an attacker can make from a real one, without the signing key."""
    header, claims = part(user.access_token, 0), part(user.access_token, 1)
    signature = user.access_token.split(".")[2]
    escalated = {**claims, "roles": ["admin"]}
    return {
        "alg_none": f"{b64({**header, 'alg': 'none'})}.{b64(escalated)}.",
        "hs256_header": f"{b64({**header, 'alg': 'HS256'})}.{b64(escalated)}.{signature}",
        "tampered_claims": f"{b64(header)}.{b64(escalated)}.{signature}",
        "unknown_kid": f"{b64({**header, 'kid': 'attacker'})}.{b64(claims)}.{signature}",
        "expired_claims": f"{b64(header)}.{b64({**claims, 'exp': 1})}.{signature}",
        "other_audience": f"{b64(header)}.{b64({**claims, 'aud': 'elsewhere'})}.{signature}",
        "refresh_token_as_access": user.refresh_token,
        "garbage": "not-a-token",
    }


@pytest.mark.parametrize(
    "attack",
    [
        "alg_none",
        "hs256_header",
        "tampered_claims",
        "unknown_kid",
        "expired_claims",
        "other_audience",
        "refresh_token_as_access",
        "garbage",
    ],
)
@pytest.mark.parametrize("path", [USERS, ORDERS])
def test_forged_token_is_401_through_the_gateway(
    api: ApiClient, user: Account, attack: str, path: str
) -> None:
    response = api.get(path, headers=bearer(forged_tokens(user)[attack]))

    assert error_of(response, 401)["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_gateway_sets_security_headers_and_hides_the_server(api: ApiClient) -> None:
    response = api.get(f"{USERS}/{uuid.uuid4()}")

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Server" not in response.headers  # neither gunicorn nor its version


def test_cors_answers_only_named_origins_without_credentials(api: ApiClient) -> None:
    allowed = api.get(USERS, headers={"Origin": "http://localhost:8080"})
    foreign = api.get(USERS, headers={"Origin": "https://evil.example"})

    assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:8080"
    assert allowed.headers.get("Access-Control-Allow-Credentials") != "true"
    assert "Access-Control-Allow-Origin" not in foreign.headers


def test_failed_logins_are_throttled_with_retry_after(api: ApiClient) -> None:
    victim = sign_up(api, "throttled")
    wrong = {"email": victim.email, "password": "not-the-password-at-all"}
    for _ in range(ACCOUNT_FAILURE_LIMIT):
        assert api.post(f"{AUTH}/login", json=wrong).status_code == 401

    throttled = api.post(f"{AUTH}/login", json=wrong)

    assert error_of(throttled, 429)["code"] == "too_many_requests"
    assert int(throttled.headers["Retry-After"]) > 0


def test_unknown_email_and_wrong_password_answer_alike(api: ApiClient, user: Account) -> None:
    unknown = api.post(
        f"{AUTH}/login", json={"email": unique_email("nobody"), "password": "x" * 16}
    )
    wrong = api.post(f"{AUTH}/login", json={"email": user.email, "password": "x" * 16})

    assert error_of(unknown, 401) == error_of(wrong, 401)


def test_role_cannot_be_set_at_registration(api: ApiClient) -> None:
    body = {
        "email": unique_email("escalate"),
        "password": "integration-test-password",
        "name": "Mallory",
        "roles": ["admin"],
    }
    response = api.post(f"{AUTH}/register", json=body)

    assert error_of(response, 422)["code"] == "validation_failed"


def test_huge_body_is_refused_at_the_limit(api: ApiClient, user: Account) -> None:
    body = json.dumps({"items": [{"sku": "A" * 1_100_000, "quantity": 1, "unit_price_cents": 1}]})
    response = api.post(
        ORDERS,
        data=body,
        headers={**bearer(user.access_token), "Content-Type": "application/json"},
    )

    assert error_of(response, 413)["code"] == "request_entity_too_large"


def test_gateway_answers_unknown_hosts_paths_without_leaking(api: ApiClient) -> None:
    response = api.get("/internal/admin")

    # The gateway's own 404 (its catch-all, deploy/gateway): no service was reached.
    assert error_of(response, 404)["code"] == "no_route"
    assert "Server" not in response.headers
