"""Graceful shutdown under a real gunicorn with deploy/gunicorn.conf.py: the drain on SIGTERM.

With SHUTDOWN_DRAIN_SECONDS, the first SIGTERM makes /health/ready answer 503 `shutting_down`
in every worker while they go on serving; after the drain gunicorn's own graceful stop runs
(listeners closed, in-flight requests finished within graceful_timeout) and the master exits 0.
A worker replaced while the server runs (max_requests, a reload) loses no request either.
"""

import collections
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from metrics_support import parse, value

TESTS = Path(__file__).resolve().parent
CONF = TESTS.parents[2] / "deploy" / "gunicorn.conf.py"
GRACEFUL_TIMEOUT = 10  # deploy/gunicorn.conf.py's default


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """The tiny service with its slow route (shutdown_support) under gunicorn: 2 workers."""

    def __init__(self, database_url: str, tmp: Path, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        app = f"shutdown_support:create_app({{'SQLALCHEMY_DATABASE_URI': {database_url!r}}})"
        self.process = subprocess.Popen(  # noqa: S603 (our interpreter, our arguments)
            [sys.executable, "-m", "gunicorn", "-c", str(CONF), app],
            env={
                **os.environ,
                "PYTHONPATH": str(TESTS),
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                "WEB_CONCURRENCY": "2",
                "GUNICORN_THREADS": "2",
                "TMPDIR": str(tmp),  # the drain file's folder (and the metrics one)
                **env,
            },
            cwd=TESTS.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # Read all along: a full pipe would block the workers' access log lines, and requests.
        self.lines: list[str] = []
        assert self.process.stdout is not None
        self.reader = threading.Thread(target=self.lines.extend, args=(self.process.stdout,))
        self.reader.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if requests.get(f"{self.base}/health/live", timeout=1).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or its workers still load
                time.sleep(0.1)
        pytest.fail(f"gunicorn never answered:\n{self.output()}")

    def get(self, path: str, timeout: float = 10) -> requests.Response:
        # A connection per request: nothing rides on a kept-alive one.
        return requests.get(self.base + path, headers={"Connection": "close"}, timeout=timeout)

    def probe(self, path: str, timeout: float = 5) -> int | str:
        """The status of GET ``path``, or how it failed: "refused" or "no answer" in time."""
        try:
            return self.get(path, timeout=timeout).status_code
        except requests.ConnectionError as exc:
            return "refused" if "refused" in str(exc).lower() else "no answer"
        except requests.Timeout:
            return "no answer"

    def logged(self, text: str) -> int:
        """How many lines of its output so far contain ``text``."""
        return sum(text in line for line in list(self.lines))

    def in_flight(self) -> float:
        """Requests being answered now, the scrape itself included."""
        families = parse(self.get("/metrics").text)
        return value(families, "http_server_requests_in_flight", service="tiny")

    def wait_exit(self, timeout: float) -> float:
        """Wait for the master to exit; return when (time.monotonic())."""
        self.process.wait(timeout=timeout)
        return time.monotonic()

    def output(self) -> str:
        """Stop the server (SIGQUIT) if still up; return all it wrote."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
        self.process.wait(timeout=30)
        self.reader.join(timeout=30)
        return "".join(self.lines)


@pytest.fixture()
def start(database_url, app, tmp_path):
    """Start servers with settings of their own; each is stopped (if still up) at the end."""
    servers: list[Server] = []

    def build(**env: str) -> Server:
        servers.append(Server(database_url, tmp_path, env))
        return servers[-1]

    yield build
    for server in servers:
        server.output()


def wait_until(condition, timeout: float, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(step)


def test_sigterm_drains_then_stops_gracefully(start, tmp_path):
    drain, slow_seconds = 4.0, 6.0
    server = start(SHUTDOWN_DRAIN_SECONDS=str(drain))
    with ThreadPoolExecutor(1) as pool:
        # Still in flight when the drain ends and gunicorn's graceful stop begins.
        slow: Future[requests.Response] = pool.submit(
            server.get, f"/_test/slow?seconds={slow_seconds}", 30
        )
        wait_until(lambda: server.in_flight() >= 2, timeout=10)  # the slow one and the scrape
        sigterm = time.monotonic()
        server.process.send_signal(signal.SIGTERM)

        # The drain: readiness says 503 shutting_down at once, in every worker ...
        wait_until(lambda: server.probe("/health/ready") == 503, timeout=2)
        ready = server.get("/health/ready")
        assert ready.json()["error"]["code"] == "shutting_down"
        assert len(list(tmp_path.glob("gunicorn-draining-*"))) == 1
        # ... while every other request is served as usual, on new connections.
        during = []
        while time.monotonic() - sigterm < drain - 1.5:  # a margin for a busy machine
            during += [server.probe("/_test/ping"), server.probe("/health/live")]
            during.append(server.probe("/health/ready"))
        assert set(during) == {200, 503}, during
        assert during.count(503) == len(during) // 3  # readiness alone

        # After the drain: no new request is served; the slow one, in flight, completes. (Until
        # the worker busy with it exits, the kernel still completes connections on the listening
        # socket it shares, which nobody accepts and its exit resets: the drain is there so that
        # none arrive by then. Once every worker is gone, connections are refused.)
        wait_until(lambda: server.logged("Handling signal: term") == 2, timeout=drain + 5)
        assert time.monotonic() - sigterm > drain
        wait_until(lambda: server.logged("Worker exiting") == 1, timeout=5)  # the idle one
        time.sleep(0.5)  # the busy one stopped accepting at the same time
        after = [server.probe("/_test/ping", timeout=0.5) for _ in range(3)]
        assert all(status in ("refused", "no answer") for status in after), after
        response = slow.result(timeout=30)
        answered = time.monotonic() - sigterm
        assert response.status_code == 200
        assert answered > drain  # it was in flight when the listeners closed

    exited = server.wait_exit(timeout=drain + GRACEFUL_TIMEOUT + 5) - sigterm
    output = server.output()
    assert server.process.returncode == 0, output
    assert drain < exited < drain + GRACEFUL_TIMEOUT, output
    assert "Draining for 4 s" in output
    # Nothing listens any more, and the drain file is gone with the master.
    assert server.probe("/_test/ping") == "refused"
    assert not list(tmp_path.glob("gunicorn-draining-*"))
    print(f"slow request answered after {answered:.2f} s, master exited 0 after {exited:.2f} s")


def test_a_second_sigterm_during_the_drain_stops_at_once(start):
    drain = 30.0
    server = start(SHUTDOWN_DRAIN_SECONDS=str(drain))
    server.process.send_signal(signal.SIGTERM)
    wait_until(lambda: server.probe("/health/ready") == 503, timeout=2)
    assert server.probe("/_test/ping") == 200
    second = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    exited = server.wait_exit(timeout=10) - second
    output = server.output()
    assert server.process.returncode == 0, output
    assert exited < drain / 3, output  # about a second; the bound allows for a busy machine
    assert server.probe("/_test/ping") == "refused"


def test_without_a_drain_sigterm_stops_at_once(start, tmp_path):
    # A drain file named by the environment is no concern of a server that does not drain.
    stale = tmp_path / "stale-marker"
    stale.touch()
    server = start(SHUTDOWN_DRAIN_SECONDS="0", SHUTDOWN_DRAIN_FILE=str(stale))
    assert server.probe("/health/ready") == 200
    sigterm = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    exited = server.wait_exit(timeout=10) - sigterm
    output = server.output()
    assert server.process.returncode == 0, output
    assert exited < GRACEFUL_TIMEOUT, output  # about a second
    assert "Draining" not in output


def test_workers_replaced_under_load_lose_no_request(start):
    # A worker is replaced after 5 requests (max_requests: it stops accepting and finishes what
    # it holds, as on SIGTERM), and a SIGHUP reload replaces them all, while 4 clients keep
    # requesting on kept-alive connections, as a proxy does. Preloaded as under compose
    # (MIGRATE_ON_START): a new worker is a fork, not an import that a busy machine makes slow.
    server = start(GUNICORN_CMD_ARGS="--max-requests 5", MIGRATE_ON_START="1")
    stop, statuses = threading.Event(), collections.Counter()

    def client() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    url = f"{server.base}/_test/slow?seconds=0.02"
                    statuses[session.get(url, timeout=30).status_code] += 1
                except requests.RequestException as exc:
                    statuses[type(exc).__name__] += 1

    with ThreadPoolExecutor(4) as pool:
        for _ in range(4):
            pool.submit(client)
        # Two workers recycled (max_requests), then the reload's two.
        wait_until(lambda: server.logged("Booting worker") >= 2 + 2, timeout=60)
        server.process.send_signal(signal.SIGHUP)
        wait_until(lambda: server.logged("Booting worker") >= 2 + 2 + 2, timeout=60)
        time.sleep(1)  # and requests to the new workers
        stop.set()
    server.output()
    assert set(statuses) == {200}, statuses
