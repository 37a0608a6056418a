"""Answers from the edge, not from a service's code: still the envelope, with a request id.

Paths no service is routed at, a request line or a header over gunicorn's limits, a chunked
body over the services' limit (README, "Request limits"). Every answer must be the JSON
envelope with its real status and ``X-Request-ID`` equal to ``meta.request_id``.
"""

from collections.abc import Iterator

import pytest
import requests
from api_client import (
    AUTH,
    PASSWORD,
    USERS,
    ApiClient,
    error_of,
    login,
    new_request_id,
    register,
    unique_email,
)

MAX_CONTENT_LENGTH = 1024 * 1024  # the services' default: 1 MiB
# gunicorn's limit_request_line is 4094 bytes and limit_request_field_size 8190
# (deploy/gunicorn.conf.py); Traefik lets both through (its limit is 1 MiB of headers).
LONG_PATH = f"{USERS}/{'a' * 5 * 1024}"
LONG_HEADER = "a" * 10 * 1024
# Rounds of (oversize chunked body, small body) in the 502 test.
OVERSIZE_ROUNDS = 30


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/favicon.ico"),
        ("GET", "/api/v2/users"),
        ("POST", "/api/v2/users"),
        ("DELETE", "/no/such/thing"),
        # The docs' own probes are not public: the catch-all answers them too.
        ("GET", "/health/ready"),
    ],
)
def test_a_path_no_service_is_routed_at_is_the_gateways_404(
    api: ApiClient, method: str, path: str
) -> None:
    response = api.request(method, path)

    assert error_of(response, 404)["code"] == "no_route"


@pytest.mark.parametrize("path", ["/metrics", f"{USERS}/metrics"])
def test_the_services_metrics_are_not_served_through_the_gateway(api: ApiClient, path: str) -> None:
    # Each service serves Prometheus metrics at /metrics on its own port, for the scraper
    # inside; the gateway routes only /api/v1/<service> prefixes, which a service's /metrics
    # is not under (users answers its own 404 for /api/v1/users/metrics).
    response = api.get(path)

    error = error_of(response, 404)
    assert path != "/metrics" or error["code"] == "no_route"
    assert "http_server_request_duration_seconds" not in response.text


def test_the_gateways_404_keeps_the_callers_request_id(api: ApiClient) -> None:
    request_id = new_request_id()

    response = api.get("/favicon.ico", headers={"X-Request-ID": request_id})

    error_of(response, 404)
    assert response.headers["X-Request-ID"] == request_id


def test_request_line_over_gunicorns_limit_is_a_414_envelope(api: ApiClient) -> None:
    request_id = new_request_id()

    response = api.get(LONG_PATH, headers={"X-Request-ID": request_id})

    assert error_of(response, 414)["code"] == "request_uri_too_long"
    assert response.headers["X-Request-ID"] == request_id


def test_header_over_gunicorns_limit_is_a_431_envelope(api: ApiClient) -> None:
    request_id = new_request_id()

    response = api.get(USERS, headers={"X-Padding": LONG_HEADER, "X-Request-ID": request_id})

    assert error_of(response, 431)["code"] == "request_header_fields_too_large"
    assert response.headers["X-Request-ID"] == request_id


def chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """``body`` in pieces: requests sends a generator with ``Transfer-Encoding: chunked``."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def registration(email: str, size: int) -> bytes:
    """A valid registration padded with spaces to ``size`` bytes: JSON however it is cut."""
    document = f'{{"email": "{email}", "password": "{PASSWORD}", "name": "Edge"}}'
    return document.encode() + b" " * (size - len(document))


def register_chunked(api: ApiClient, body: bytes) -> requests.Response:
    """POST a registration without Content-Length."""
    headers = {"Content-Type": "application/json"}
    return api.post(f"{AUTH}/register", data=chunks(body), headers=headers)


def test_chunked_body_over_the_limit_is_413_and_registers_nobody(api: ApiClient) -> None:
    email = unique_email("chunked")

    # Its first MiB alone is a valid registration: a body cut there used to be registered.
    response = register_chunked(api, registration(email, MAX_CONTENT_LENGTH + 1))

    assert error_of(response, 413)["code"] == "request_entity_too_large"
    refused = api.post(f"{AUTH}/login", json={"email": email, "password": PASSWORD})
    assert error_of(refused, 401)["code"] == "invalid_credentials"
    assert register(api, email).status_code == 201  # neither account nor profile was kept


def test_chunked_body_of_exactly_the_limit_is_accepted(api: ApiClient) -> None:
    email = unique_email("chunked-exact")

    response = register_chunked(api, registration(email, MAX_CONTENT_LENGTH))

    assert response.status_code == 201, response.text[:300]
    login(api, email)


def test_oversize_chunked_bodies_never_make_the_gateway_answer_502(api: ApiClient) -> None:
    # A 413 that left the rest of a chunked body unread made gunicorn close the connection,
    # and the gateway answered 502 to the next request it sent there (about 1 in 10 after
    # 3 MiB bodies): common.errors now reads such a body to its end (up to 16 MiB).
    oversize = b"{}" + b" " * (3 * MAX_CONTENT_LENGTH)
    statuses = []
    for _ in range(OVERSIZE_ROUNDS):
        statuses.append(register_chunked(api, oversize).status_code)
        statuses.append(api.post(f"{AUTH}/login", json={}).status_code)

    assert 502 not in statuses, statuses
