"""Talking to the platform through its gateway: a session, the envelope, accounts, polling.

Only HTTP: nothing here imports a service or ``common``, so the suite tests what a client sees.
"""

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urljoin

import requests

if TYPE_CHECKING:
    from platform_control import ComposeControl

T = TypeVar("T")

# Every service owns one prefix behind the gateway (README, "Paths").
SERVICES = {
    "users": "/api/v1/users",
    "orders": "/api/v1/orders",
    "auth": "/api/v1/auth",
}
AUTH = SERVICES["auth"]
USERS = SERVICES["users"]
ORDERS = SERVICES["orders"]

# (connect, read) seconds: a request that hangs fails the test instead of hanging the suite.
# Connect just over 3 s, TCP's first retransmission, as requests' documentation advises.
DEFAULT_TIMEOUT = (3.05, 15)
# Passwords must be 12 to 128 characters (auth README).
PASSWORD = "integration-test-password"
NAME = "Itest"


class ApiClient(requests.Session):
    """A ``requests.Session`` bound to the gateway: paths are relative, every request times out."""

    def __init__(self, base_url: str, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout

    def request(
        self, method: str, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Send ``method`` to ``url`` (relative to the gateway) with the default timeout."""
        kwargs.setdefault("timeout", self.timeout)
        return super().request(
            method, urljoin(self.base_url, _text(url).lstrip("/")), *args, **kwargs
        )


def _text(value: str | bytes) -> str:
    """A URL as text (requests accepts bytes too)."""
    return value.decode() if isinstance(value, bytes) else value


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a bearer token."""
    return {"Authorization": f"Bearer {token}"}


def describe(response: requests.Response) -> str:
    """One line naming a response, for assertion messages: the request, status and body."""
    request = response.request
    return f"{request.method} {request.url} -> {response.status_code} {response.text[:500]!r}"


def data_of(response: requests.Response, status: int) -> Any:
    """Assert ``status`` and the success envelope; return its ``data``."""
    assert response.status_code == status, describe(response)
    body = response.json()
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"], describe(response)
    return body["data"]


def error_of(response: requests.Response, status: int) -> dict[str, Any]:
    """Assert ``status`` and the error envelope; return its ``error`` object."""
    assert response.status_code == status, describe(response)
    assert response.headers.get("Content-Type", "").startswith("application/json"), describe(
        response
    )
    body = response.json()
    assert set(body) == {"error", "meta"}, describe(response)
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"], describe(response)
    return body["error"]


# What the gateway answers itself, in the envelope like a service (deploy/gateway): a path no
# service is routed at (under compose also a stopped service's), a service that did not answer.
GATEWAY_CODES = {"no_route", "bad_gateway", "gateway_timeout"}


def answered_by_a_service(response: requests.Response) -> bool:
    """True when a service answered, not the gateway on its behalf (no route, no answer)."""
    if "X-Request-ID" not in response.headers:  # Traefik's plain text, outside any middleware
        return False
    if response.status_code not in (404, 502, 504):
        return True
    try:
        return response.json()["error"]["code"] not in GATEWAY_CODES
    except (ValueError, KeyError, TypeError):
        return True


def new_request_id() -> str:
    """A request id the services accept as given (letters, digits, ``-``; at most 128)."""
    return f"itest-{uuid.uuid4().hex}"


def unique_email(label: str) -> str:
    """An address no earlier run used, so tests never meet each other's accounts."""
    return f"itest-{label}-{uuid.uuid4().hex[:12]}@example.com"


def token_claims(access_token: str) -> dict[str, Any]:
    """The claims of an access token (a JWT: read here, not verified; the services verify)."""
    payload = access_token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


@dataclass
class Account:
    """A registered account and the tokens of its latest login."""

    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header of this account's access token."""
        return bearer(self.access_token)

    @property
    def profile_path(self) -> str:
        """This account's profile in the users service (the account id is the profile id)."""
        return f"{USERS}/{self.id}"


def register(
    api: ApiClient, email: str, password: str = PASSWORD, name: str = NAME
) -> requests.Response:
    """Register an account; return the raw response (201, or 409 ``email_taken``)."""
    return api.post(f"{AUTH}/register", json={"email": email, "password": password, "name": name})


def login(api: ApiClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """Log in and return the token pair (asserting 200)."""
    response = api.post(f"{AUTH}/login", json={"email": email, "password": password})
    return data_of(response, 200)


def sign_up(api: ApiClient, label: str) -> Account:
    """Register a new account with a unique email and log it in."""
    email = unique_email(label)
    profile = data_of(register(api, email), 201)
    tokens = login(api, email)
    return Account(profile["id"], email, PASSWORD, tokens["access_token"], tokens["refresh_token"])


def order_body(sku: str = "BOOK-1", quantity: int = 1, unit_price_cents: int = 1250) -> dict:
    """The body of a one-line order."""
    return {"items": [{"sku": sku, "quantity": quantity, "unit_price_cents": unit_price_cents}]}


def place_order(api: ApiClient, account: Account, **headers: str) -> dict[str, Any]:
    """Place a one-line order for ``account`` (asserting 201); return the order."""
    response = api.post(ORDERS, json=order_body(), headers={**account.headers, **headers})
    return data_of(response, 201)


def wait_until(
    probe: Callable[[], T], accept: Callable[[T], bool], *, within: float, what: str
) -> T:
    """Call ``probe`` until ``accept`` takes its result, for at most ``within`` seconds.

    Returns the accepted result; fails naming ``what`` was awaited and the last result seen.
    """
    deadline = time.monotonic() + within
    while True:
        try:
            result: Any = probe()
        except requests.ConnectionError as exc:  # a container going down or coming up
            result = exc
        if not isinstance(result, Exception) and accept(result):
            return result
        if time.monotonic() >= deadline:
            last = describe(result) if isinstance(result, requests.Response) else repr(result)
            raise AssertionError(f"{what}: not within {within} s; last: {last[:500]}")
        time.sleep(0.2)


def wait_until_served(
    api: ApiClient, control: "ComposeControl", service: str, *, within: float
) -> None:
    """Wait until the gateway routes ``service`` again, for good (after a start or restart).

    First until Docker reports the container healthy: until then the gateway may still route a
    request through the container's old route, and drops that route right after. Then until a
    request through the gateway reaches it: any path under its prefix will do, its own 404
    envelope proves it answers.
    """
    deadline = time.monotonic() + within
    wait_until(lambda: control.is_healthy(service), bool, within=within, what=f"{service} healthy")
    wait_until(
        lambda: api.get(f"{SERVICES[service]}/itest-probe"),
        answered_by_a_service,
        within=max(0.0, deadline - time.monotonic()),
        what=f"the gateway routing to {service}",
    )


def in_parallel(
    base_url: str, calls: Iterable[Callable[[ApiClient], T]], *, threads: int = 8
) -> list[T]:
    """Run ``calls`` on ``threads`` threads, each with a session of its own; return the results.

    A ``requests.Session`` is not thread-safe: each thread gets its own, closed at the end.
    Results come in the order of ``calls``; the first exception a call raised is raised here.
    """
    local = threading.local()
    clients: list[ApiClient] = []

    def run(call: Callable[[ApiClient], T]) -> T:
        if not hasattr(local, "client"):
            local.client = ApiClient(base_url)
            clients.append(local.client)
        return call(local.client)

    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(run, calls))
    finally:
        for client in clients:
            client.close()
