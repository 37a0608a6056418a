"""Fixtures of the black-box suite: the gateway, the platform's control, and accounts.

``PLATFORM_URL`` is the gateway's base URL; without it the suite starts the no-Docker platform
itself (`platform up`, from deploy/local) and stops it at the end. ``PLATFORM_CONTROL=compose``
enables the tests that stop services or read their logs; on the platform the suite started,
``LocalControl`` does what it can there (pause, logs). A test marked
``@pytest.mark.control("stop", ...)`` is skipped when there is no control or the control lacks
one of those methods.
"""

import os
from collections.abc import Iterator

import pytest
import requests
from api_client import (
    AUTH,
    Account,
    ApiClient,
    data_of,
    error_of,
    login,
    register,
    sign_up,
    token_claims,
)
from local_stack import LocalStack, local_platform
from otlp_receiver import OtlpReceiver
from platform_control import (
    ComposeControl,
    Control,
    LocalControl,
    control_from_env,
    driver_class,
)

# The bootstrap admin: auth grants `admin` to emails in AUTH_ADMIN_EMAILS at registration.
DEFAULT_ADMIN_EMAIL = "admin@example.com"
DEFAULT_ADMIN_PASSWORD = "integration-admin-password"
ADMIN_ROLE = "admin"


def pytest_configure(config: pytest.Config) -> None:
    """Declare the suite's markers."""
    config.addinivalue_line(
        "markers", "faults: stops, starts or restarts services (needs PLATFORM_CONTROL)"
    )
    config.addinivalue_line(
        "markers",
        "load: many concurrent clients for LOAD_SECONDS (default 60; 0 skips) through the gateway",
    )
    config.addinivalue_line(
        "markers",
        "control(*methods): the platform control's methods the test uses; skipped without a "
        "control that has them all",
    )


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalStack | None]:
    """The no-Docker platform this run started, or None when PLATFORM_URL names one."""
    if os.environ.get("PLATFORM_URL"):
        yield None
        return
    with local_platform() as stack:
        yield stack


@pytest.fixture(scope="session")
def platform_url(local_stack: LocalStack | None) -> str:
    """The gateway's base URL: PLATFORM_URL, or a no-Docker platform started for this run."""
    if local_stack is not None:
        return local_stack.url
    return os.environ["PLATFORM_URL"].rstrip("/")


@pytest.fixture(scope="session")
def otlp_receiver(local_stack: LocalStack | None) -> Iterator[OtlpReceiver | None]:
    """Where the platform's traces arrive: the receiver of the platform this run started, or
    one on PLATFORM_OTLP_RECEIVER (host:port) for a platform exporting there; else None."""
    if local_stack is not None:
        yield local_stack.receiver
        return
    bind = os.environ.get("PLATFORM_OTLP_RECEIVER")
    if not bind:
        yield None
        return
    host, _, port = bind.rpartition(":")
    receiver = OtlpReceiver(host or "127.0.0.1", int(port)).start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture(scope="session")
def api(platform_url: str) -> Iterator[ApiClient]:
    """One HTTP session to the gateway for the whole run (connections are reused)."""
    with ApiClient(platform_url) as client:
        try:
            client.get(f"{AUTH}/jwks.json")
        except requests.ConnectionError as exc:
            pytest.fail(f"the gateway at {platform_url} does not answer: {exc}", pytrace=False)
        yield client


@pytest.fixture(scope="session")
def platform_control(local_stack: LocalStack | None) -> Control | None:
    """The driver PLATFORM_CONTROL names, the local one for a platform this run started, or None."""
    named = control_from_env(os.environ)
    if named is None and local_stack is not None:
        return LocalControl(local_stack.pid, local_stack.log_path)
    return named


@pytest.fixture(scope="session")
def control(platform_control: Control | None) -> Control:
    """The platform's control; skips the test when PLATFORM_CONTROL is unset."""
    if platform_control is None:
        pytest.skip("PLATFORM_CONTROL is unset: set it to 'compose' to stop services and read logs")
    return platform_control


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a test marked ``control(...)`` unless the run's control has those methods.

    Here rather than in a fixture: a class-scoped fixture that stops a service would otherwise
    run (and fail) before a function-scoped check could skip.
    """
    # Every mark counts: the module's, the class's, the function's and a parameter's.
    wanted = [method for marker in item.iter_markers("control") for method in marker.args]
    if not wanted:
        return
    driver = driver_class(os.environ)
    if driver is None:
        pytest.skip("PLATFORM_CONTROL is unset: set it to 'compose' to stop services and read logs")
    missing = [method for method in dict.fromkeys(wanted) if not hasattr(driver, method)]
    if missing:
        pytest.skip(f"{driver.__name__} cannot {', '.join(missing)} on this platform")


@pytest.fixture(scope="session")
def user(api: ApiClient) -> Account:
    """An account of this run, registered and logged in once.

    Tests may add to it (orders, logins) but never change its profile or credentials.
    """
    return sign_up(api, "user")


@pytest.fixture(scope="session")
def admin(api: ApiClient, platform_control: Control | None) -> Account:
    """The admin account, registered on the first run and reused by later ones.

    The platform grants ``admin`` at registration when AUTH_ADMIN_EMAILS lists the email. When
    the account exists without the role (registered before that was set), the control grants
    it with auth's own command; without a control the admin tests are skipped.
    """
    email = os.environ.get("PLATFORM_ADMIN_EMAIL", DEFAULT_ADMIN_EMAIL)
    password = os.environ.get("PLATFORM_ADMIN_PASSWORD", DEFAULT_ADMIN_PASSWORD)
    response = register(api, email, password, name="Integration Admin")
    if response.status_code != 201:
        assert error_of(response, 409)["code"] == "email_taken"
    tokens = _admin_login(api, email, password)
    if ADMIN_ROLE not in token_claims(tokens["access_token"])["roles"]:
        if not isinstance(platform_control, ComposeControl):
            pytest.skip(
                f"{email} lacks the admin role: register it with AUTH_ADMIN_EMAILS={email} set "
                "on auth, or set PLATFORM_CONTROL so the suite grants it"
            )
        platform_control.grant_role(email, ADMIN_ROLE)
        tokens = login(api, email, password)
    subject = token_claims(tokens["access_token"])["sub"]
    return Account(subject, email, password, tokens["access_token"], tokens["refresh_token"])


def _admin_login(api: ApiClient, email: str, password: str) -> dict:
    """Log the admin in; a refusal means the account exists with another password."""
    response = api.post(f"{AUTH}/login", json={"email": email, "password": password})
    if response.status_code == 401:
        pytest.fail(
            f"cannot log in as {email}: it exists with another password; "
            "set PLATFORM_ADMIN_PASSWORD to it",
            pytrace=False,
        )
    return data_of(response, 200)
