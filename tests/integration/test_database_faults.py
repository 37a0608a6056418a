"""What the platform does when a service's database goes down, then comes back (needs control).

Each service owns its database: losing users' database makes users answer 503
``database_unavailable`` fast and report itself not ready, while orders and auth, which do not
read it on these paths, keep answering. Once the database is back, users serves again by itself:
its pool checks every connection before use (``pool_pre_ping``, ``common.config``) and replaces
the dead ones.

Every test leaves the database running and its service ready and routed by the gateway again,
even when it fails, so the tests after it find the platform whole.
"""

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from api_client import (
    ORDERS,
    Account,
    ApiClient,
    data_of,
    error_of,
    login,
    wait_until,
    wait_until_served,
)
from platform_control import ComposeControl, PlatformControlError

# Databases are containers to stop under compose; the no-Docker platform's are SQLite files.
pytestmark = [
    pytest.mark.faults,
    pytest.mark.control("stop", "start", "is_ready", "is_healthy", "database_connections"),
]

# A request that needs the database fails within one connection attempt: the pool's
# connect_timeout is 3 s (common.config), and a stopped container's name does not even resolve.
DATABASE_DOWN_ANSWER_SECONDS = 5.0
# PostgreSQL's start on its existing volume, or users' first readiness check after it: 2 to 10 s
# measured on a busy two-CPU machine.
RECOVERY_SECONDS = 60.0
# The gateway routes a container again only once its healthcheck passes (see test_faults).
BACK_THROUGH_GATEWAY_SECONDS = 120.0
# Concurrent requests, enough for the gateway to spread them over every worker of the service
# (compose runs two, each with a pool of its own).
BURST = 8


def database_of(service: str) -> str:
    """The compose service of a service's own database (services/<name>/compose.yaml)."""
    return f"{service}-db"


@contextmanager
def database_stopped(control: ComposeControl, api: ApiClient, service: str) -> Iterator[None]:
    """Stop ``service``'s database for the block; then start it and wait for ``service``.

    Whatever happens in the block, the service is ready and routed by the gateway again after it.
    """
    control.stop(database_of(service))
    try:
        yield
    finally:
        control.start(database_of(service))
        wait_until(
            lambda: control.is_ready(service),
            bool,
            within=RECOVERY_SECONDS,
            what=f"{service} ready again",
        )
        # Docker marks the service unhealthy after a long outage, and the gateway then drops it.
        wait_until_served(api, control, service, within=BACK_THROUGH_GATEWAY_SECONDS)


def database_answers(control: ComposeControl, service: str) -> bool:
    """Whether ``service``'s database accepts connections now."""
    try:
        control.database_connections(service)
    except PlatformControlError:
        return False
    return True


def profile_burst(platform_url: str, account: Account) -> list[int]:
    """The statuses of ``BURST`` concurrent reads of the account's profile.

    Each read has a session, hence a connection to the gateway, of its own.
    """

    def read(_: int) -> int:
        with ApiClient(platform_url) as client:
            return client.get(account.profile_path, headers=account.headers).status_code

    with ThreadPoolExecutor(max_workers=BURST) as pool:
        return list(pool.map(read, range(BURST)))


@pytest.fixture(scope="class")
def users_database_down(control: ComposeControl, api: ApiClient, user: Account) -> Iterator[None]:
    """users' database stopped for the tests of a class (``user`` is registered before).

    The tests read users within seconds of the stop: after five failed healthchecks (25 s)
    Docker marks users unhealthy and the gateway stops routing to it.
    """
    with database_stopped(control, api, "users"):
        yield


@pytest.mark.usefixtures("users_database_down")
class TestWhileTheUsersDatabaseIsDown:
    """users fails fast and says it is not ready; the services with their own databases go on."""

    def test_a_users_request_answers_503_database_unavailable_within_5_seconds(
        self, api: ApiClient, user: Account
    ) -> None:
        started = time.perf_counter()
        response = api.get(user.profile_path, headers=user.headers)
        elapsed = time.perf_counter() - started

        assert error_of(response, 503)["code"] == "database_unavailable"
        assert elapsed < DATABASE_DOWN_ANSWER_SECONDS

    def test_users_reports_itself_not_ready(self, control: ComposeControl) -> None:
        assert control.is_ready("users") is False

    def test_orders_keeps_listing_orders(self, api: ApiClient, user: Account) -> None:
        data_of(api.get(ORDERS, headers=user.headers), 200)

    def test_auth_keeps_logging_in(self, api: ApiClient, user: Account) -> None:
        assert login(api, user.email, user.password)["access_token"]


def test_users_serves_again_by_itself_once_its_database_is_back(
    api: ApiClient, control: ComposeControl, platform_url: str, user: Account
) -> None:
    # Every worker's pool holds connections now; the restart below leaves them dead.
    assert profile_burst(platform_url, user) == [200] * BURST
    with database_stopped(control, api, "users"):
        control.start(database_of("users"))
        wait_until(
            lambda: database_answers(control, "users"),
            bool,
            within=RECOVERY_SECONDS,
            what="users' database accepting connections",
        )

        # users was neither restarted nor asked anything meanwhile: each pool still holds its
        # dead connections, and must check them before use instead of failing a request.
        assert profile_burst(platform_url, user) == [200] * BURST
