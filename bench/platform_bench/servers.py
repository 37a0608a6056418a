"""The servers under test: the three services and the two peers under gunicorn, and Traefik."""
# Fixed commands only (gunicorn, traefik) on loopback.
# ruff: noqa: S603

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from platform_bench.databases import pg_url
from platform_bench.machine import children, free_port, process_cpu_seconds
from platform_bench.settings import (
    BENCH,
    BIN,
    DATABASES,
    GUNICORN_CONF,
    ROOT,
    THREADS,
    WORKERS,
    base_env,
)

# Every port the stack takes; "docs" only for the gateway's configuration (nothing listens).
PORT_NAMES = ["auth", "users", "orders", "bare_flask", "fastapi", "gateway", "traefik_api", "docs"]


class Proc:
    """A server the benchmark started: its own session, its output in a log file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], logdir: Path) -> None:
        self.name = name
        self.log_path = logdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            cmd,
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def children(self) -> list[int]:
        """Direct children (gunicorn's workers)."""
        return children(self.pid)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (gunicorn's graceful stop), SIGKILL to its own process group after timeout."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def answered(url: str) -> bool:
    """True when ``url`` answers 200, or, for a probe of a service through the gateway, when the
    service itself answers (its envelope carries X-Request-ID; Traefik's own 404/502 does not)."""
    with contextlib.suppress(requests.RequestException):
        response = requests.get(url, timeout=2)
        if "__bench_probe__" in url:
            return "X-Request-ID" in response.headers
        return response.status_code == 200
    return False


def wait_ready(urls: dict[str, str], procs: list[Proc], timeout: float = 120.0) -> None:
    """Poll until every URL answers; fail early when a server exits."""
    pending = dict(urls)
    deadline = time.monotonic() + timeout
    while pending:
        for proc in procs:
            if proc.popen.poll() is not None:
                raise SystemExit(f"{proc.name} exited during start-up:\n{proc.output()[-3000:]}")
        for name, url in list(pending.items()):
            if answered(url):
                del pending[name]
        if time.monotonic() > deadline:
            raise SystemExit(f"not ready after {timeout:.0f} s: {', '.join(pending)}")
        time.sleep(0.2)


@dataclass
class Stack:
    """The servers under test and where they listen."""

    ports: dict[str, int]
    procs: dict[str, Proc] = field(default_factory=dict)

    def url(self, name: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}{path}"

    def cpu(self, names: tuple[str, ...]) -> float:
        """CPU seconds the named servers (all their processes) used so far."""
        return sum(process_cpu_seconds(self.procs[n].pid) for n in names)

    def stop(self) -> None:
        # Gateway first (no more traffic), then everything at once (graceful stops overlap).
        if "gateway" in self.procs:
            self.procs["gateway"].stop()
        threads = [threading.Thread(target=p.stop) for n, p in self.procs.items() if n != "gateway"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def server_env(
    stack: Stack, name: str, db: str, key_file: Path, token_memory: bool
) -> dict[str, str]:
    """One server's environment: its port and database, the settings every server shares."""
    return (
        base_env()
        | {
            "HOST": "127.0.0.1",
            "PORT": str(stack.ports[name]),
            "WEB_CONCURRENCY": str(WORKERS),
            "GUNICORN_THREADS": str(THREADS),
            "TRUSTED_PROXIES": "1",
            "DATABASE_URL": pg_url(db, "+psycopg"),
            "AUTH_JWKS_URL": stack.url("auth", "/api/v1/auth/jwks.json"),
            "AUTH_DEV_KEY_FILE": str(key_file),
            "USERS_URL": stack.url("users", ""),
            "ACCESS_TOKEN_TTL": "3600",  # tokens outlive the longest run
            "PGAPPNAME": f"bench-{name}",  # pg_stat_activity tells the servers apart
            "BENCH_NAME": name,
            "LOG_LEVEL": "INFO",  # one JSON access line per request, as deployed
        }
        | ({} if token_memory else {"BENCH_VERIFIED_TOKENS_KEPT": "0"})
    )


def start_stack(
    workdir: Path, logdir: Path, fastapi_threadpool: int, token_memory: bool = True
) -> Stack:
    """Auth, users, orders, the two peers and Traefik, on free loopback ports."""
    stack = Stack(ports={name: free_port() for name in PORT_NAMES})
    key_file = workdir / "auth-signing-key.pem"

    def start(name: str, app: list[str], db: str, extra: dict[str, str] | None = None) -> None:
        env = server_env(stack, name, db, key_file, token_memory) | (extra or {})
        gunicorn = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF)]
        stack.procs[name] = Proc(name, [*gunicorn, *app], env, logdir)

    # auth first: it writes the signing key the others never read, but it must exist once.
    for name in ("auth", "users", "orders"):
        start(name, [f"{name}_service:create_app()"], DATABASES[name])
    peers = ["--pythonpath", str(BENCH / "peers")]
    start("bare_flask", [*peers, "bare_flask:create_app()"], DATABASES["users"])
    uvicorn = ["-k", "uvicorn_worker.UvicornWorker", "fastapi_app:create_app()"]
    threadpool = {"FASTAPI_THREADPOOL": str(fastapi_threadpool)}
    start("fastapi", [*peers, *uvicorn], DATABASES["users"], threadpool)
    stack.procs["gateway"] = start_traefik(stack, workdir, logdir)
    wait_ready(
        {
            "auth": stack.url("auth", "/health/ready"),
            "users": stack.url("users", "/health/ready"),
            "orders": stack.url("orders", "/health/ready"),
            "bare_flask": stack.url("bare_flask", "/health"),
            "fastapi": stack.url("fastapi", "/health"),
            "gateway": stack.url("traefik_api", "/ping"),
            # Not the JWKS: every request to it must be a real fetch (benchmark 5 counts them).
            "gateway route": stack.url("gateway", "/api/v1/users/__bench_probe__"),
        },
        list(stack.procs.values()),
    )
    return stack


def start_traefik(stack: Stack, workdir: Path, logdir: Path) -> Proc:
    """The gateway `platform up` runs (same generated configuration), on the stack's ports."""
    from platform_local import gateway
    from platform_local.services import Service, discover

    saved = gateway.GATEWAY_PORT, gateway.TRAEFIK_API_PORT, gateway.DOCS_PORT
    gateway.GATEWAY_PORT = stack.ports["gateway"]
    gateway.TRAEFIK_API_PORT = stack.ports["traefik_api"]
    gateway.DOCS_PORT = stack.ports["docs"]  # nothing listens there; the docs route is unused
    services = [Service(s.name, stack.ports[s.name], s.folder) for s in discover()]
    folder = workdir / "traefik"
    folder.mkdir()
    try:
        static = gateway.write_config(folder, services)
    finally:  # `platform up` (benchmark 7) must see its own ports again
        gateway.GATEWAY_PORT, gateway.TRAEFIK_API_PORT, gateway.DOCS_PORT = saved
    return Proc("gateway", [str(BIN / "traefik"), f"--configFile={static}"], base_env(), logdir)
