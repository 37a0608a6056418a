"""common.http.ServiceClient against real local servers (pytest-httpserver; a bare listening
socket for a hung dependency).

The orders service's tests cover a dependency through the service (request id and token passed
on, failures as 503 with nothing stored); these pin the client's own rules.
"""

import socket
import threading
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from common.errors import DependencyUnavailable
from common.http import ServiceClient


@pytest.fixture()
def dependency(httpserver: HTTPServer) -> ServiceClient:
    return ServiceClient("users", httpserver.url_for("/"), read_timeout=0.5, retries=1, backoff=0)


def test_a_get_answered_503_is_retried(dependency, httpserver):
    httpserver.expect_ordered_request("/thing").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/thing").respond_with_json({"ok": True})
    assert dependency.get("/thing").json() == {"ok": True}


def test_a_post_is_never_replayed(dependency, httpserver):
    httpserver.expect_request("/things", method="POST").respond_with_data("busy", status=503)
    with pytest.raises(DependencyUnavailable) as raised:
        dependency.post("/things", json={})
    assert raised.value.code_text == "users_unavailable"
    assert len(httpserver.log) == 1


def test_a_4xx_is_the_callers_to_interpret(dependency, httpserver):
    httpserver.expect_request("/missing").respond_with_json({"error": "nope"}, status=404)
    assert dependency.get("/missing").status_code == 404


def test_a_refused_connection_is_dependency_unavailable():
    with pytest.raises(DependencyUnavailable):
        ServiceClient("users", "http://127.0.0.1:9", retries=0).get("/thing")


def test_proxy_variables_do_not_capture_calls_between_services(dependency, httpserver, monkeypatch):
    # A proxy that does not exist: a client that honoured it could not answer.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    httpserver.expect_request("/thing").respond_with_json({"ok": True})
    assert dependency.get("/thing").json() == {"ok": True}


# --- the deadline: a hung dependency costs at most the deadline, retries included ---


@pytest.fixture()
def hung_url():
    """A dependency that is hung, not dead: the kernel completes the TCP handshake (the socket
    listens) but no process ever accepts or reads, like a server stopped with SIGSTOP."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_hung_dependency_fails_within_the_deadline(hung_url):
    # Read timeout and retries would allow 3 x 2 s; the deadline cuts every attempt to what is left.
    client = ServiceClient("users", hung_url, read_timeout=2.0, retries=2, deadline=0.5)
    started = time.monotonic()
    with pytest.raises(DependencyUnavailable):
        client.get("/thing")
    elapsed = time.monotonic() - started
    # It waited for an answer (the deadline), then gave up; 1.5 s leaves a loaded machine room
    # and is still far below the 6 s of three full attempts.
    assert 0.4 <= elapsed < 1.5


def test_retries_stop_when_the_deadline_is_spent(httpserver):
    httpserver.expect_request("/thing").respond_with_data("busy", status=503)
    client = ServiceClient("users", httpserver.url_for("/"), deadline=0.5, retries=10, backoff=0.2)
    started = time.monotonic()
    with pytest.raises(DependencyUnavailable):
        client.get("/thing")
    assert time.monotonic() - started < 1.5
    # Backoff 0.2 s then 0.4 s: the third attempt would start past the 0.5 s budget, so two
    # attempts of the eleven allowed.
    assert len(httpserver.log) == 2


# --- the circuit breaker: N failures open it, it refuses at once, one trial closes it ---


def breaking_client(url: str, *, cooldown: float = 60.0) -> ServiceClient:
    """A client whose breaker opens after 3 failed calls; no retries, so a call is a request."""
    return ServiceClient("users", url, retries=0, breaker_failures=3, breaker_cooldown=cooldown)


def test_consecutive_failures_open_the_breaker_and_calls_then_fail_at_once(httpserver):
    httpserver.expect_request("/thing").respond_with_data("bug", status=500)
    client = breaking_client(httpserver.url_for("/"))
    for _ in range(3):
        with pytest.raises(DependencyUnavailable):
            client.get("/thing")
    assert client.breaker.state == "open"
    started = time.monotonic()
    with pytest.raises(DependencyUnavailable) as raised:
        client.get("/thing")
    assert time.monotonic() - started < 0.05
    assert raised.value.code_text == "users_unavailable"  # the same 503 a service maps today
    assert raised.value.headers["Retry-After"] == "60"
    assert len(httpserver.log) == 3  # the fourth call never reached the dependency


def test_a_success_resets_the_count_of_failures(httpserver):
    httpserver.expect_ordered_request("/thing").respond_with_data("bug", status=500)
    httpserver.expect_ordered_request("/thing").respond_with_data("bug", status=500)
    httpserver.expect_ordered_request("/thing").respond_with_json({"ok": True})
    httpserver.expect_ordered_request("/thing").respond_with_data("bug", status=500)
    client = breaking_client(httpserver.url_for("/"))
    outcomes = []
    for _ in range(4):
        try:
            outcomes.append(client.get("/thing").status_code)
        except DependencyUnavailable:
            outcomes.append(503)
    assert outcomes == [503, 503, 200, 503]
    assert client.breaker.state == "closed"


def test_4xx_answers_do_not_open_the_breaker(httpserver):
    httpserver.expect_request("/missing").respond_with_json({"error": "nope"}, status=404)
    client = breaking_client(httpserver.url_for("/"))
    for _ in range(5):
        assert client.get("/missing").status_code == 404
    assert client.breaker.state == "closed"


def test_a_hung_dependency_opens_the_breaker(hung_url):
    client = ServiceClient(
        "users", hung_url, deadline=0.2, retries=0, breaker_failures=2, breaker_cooldown=60
    )
    for _ in range(2):
        with pytest.raises(DependencyUnavailable):
            client.get("/thing")
    started = time.monotonic()
    with pytest.raises(DependencyUnavailable):
        client.get("/thing")
    assert time.monotonic() - started < 0.05


def test_after_the_cool_down_a_successful_trial_closes_the_breaker(httpserver):
    httpserver.expect_ordered_request("/thing").respond_with_data("bug", status=500)
    httpserver.expect_ordered_request("/thing").respond_with_data("bug", status=500)
    httpserver.expect_ordered_request("/thing").respond_with_data("bug", status=500)
    httpserver.expect_ordered_request("/thing").respond_with_json({"ok": True})
    client = breaking_client(httpserver.url_for("/"), cooldown=0.2)
    for _ in range(3):
        with pytest.raises(DependencyUnavailable):
            client.get("/thing")
    time.sleep(0.25)  # the cool-down, configured short
    assert client.get("/thing").json() == {"ok": True}
    assert client.breaker.state == "closed"


def test_a_failed_trial_opens_the_breaker_for_another_cool_down(httpserver):
    httpserver.expect_request("/thing").respond_with_data("bug", status=500)
    client = breaking_client(httpserver.url_for("/"), cooldown=0.2)
    for _ in range(3):
        with pytest.raises(DependencyUnavailable):
            client.get("/thing")
    time.sleep(0.25)
    with pytest.raises(DependencyUnavailable):
        client.get("/thing")  # the trial: one request, failed
    with pytest.raises(DependencyUnavailable):
        client.get("/thing")  # refused at once again
    assert len(httpserver.log) == 4
    assert client.breaker.state == "open"


def test_half_open_lets_exactly_one_trial_through(httpserver):
    released = threading.Event()

    def slow_ok(request):
        released.wait(5)
        return Response('{"ok": true}', content_type="application/json")

    client = breaking_client(httpserver.url_for("/"), cooldown=0.2)
    httpserver.expect_ordered_request("/thing").respond_with_data("bug", status=500)
    httpserver.expect_ordered_request("/thing").respond_with_data("bug", status=500)
    httpserver.expect_ordered_request("/thing").respond_with_data("bug", status=500)
    httpserver.expect_ordered_request("/thing").respond_with_handler(slow_ok)
    for _ in range(3):
        with pytest.raises(DependencyUnavailable):
            client.get("/thing")
    time.sleep(0.25)
    trial = threading.Thread(target=client.get, args=("/thing",))
    trial.start()
    try:
        wait_for_state(client, "half-open")
        with pytest.raises(DependencyUnavailable):
            client.get("/thing")  # a second caller while the trial is in flight
    finally:
        released.set()
        trial.join(5)
    assert client.breaker.state == "closed"
    assert len(httpserver.log) == 4


def wait_for_state(client: ServiceClient, state: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while client.breaker.state != state:
        assert time.monotonic() < deadline, f"breaker still {client.breaker.state}"
        time.sleep(0.01)


def test_the_settings_come_from_the_config(httpserver):
    config = {
        "HTTP_CONNECT_TIMEOUT": 0.1,
        "HTTP_READ_TIMEOUT": 0.2,
        "HTTP_RETRIES": 0,
        "HTTP_DEADLINE": 0.3,
        "HTTP_BREAKER_FAILURES": 7,
        "HTTP_BREAKER_COOLDOWN": 9.0,
    }
    client = ServiceClient.from_config("users", httpserver.url_for("/"), config)
    assert (client.timeout, client.deadline, client.retries) == ((0.1, 0.2), 0.3, 0)
    assert (client.breaker.failures, client.breaker.cooldown) == (7, 9.0)
