"""The benchmark itself (run it through bench/run, which prepares bench/.venv and wrk).

On loopback only: fresh PostgreSQL databases (bench_users, bench_orders, bench_auth) seeded with
10,000 users and 50,000 orders, the three services, the two peers and Traefik, each under
gunicorn with deploy/gunicorn.conf.py (2 workers x 4 threads, gthread; uvicorn workers for the
FastAPI peer), then wrk. Sides of a comparison run interleaved (A, B, C, D, then D, C, B, A, ...)
and every figure is the median of the rounds. wrk and the servers share the machine's cores, so
absolute numbers describe this box under this load; the ratios are what carries over.

Measures, in order:
  1-3. GET /api/v1/users/{id}: users service vs bare Flask, vs FastAPI, and through Traefik;
  4.   POST /api/v1/orders through the gateway (unique Idempotency-Key) at 16 and 64 connections;
  5.   common.auth.TokenVerifier.verify per token (warm JWKS cache), and JWKS fetch counts;
  6.   PostgreSQL connections per database (pg_stat_activity, every second) and the budget;
  7.   `platform up --data-dir <tmp>` until everything answers, median of runs.
Writes bench/results/<timestamp>.json and bench/results/latest.md, and prints the table.
"""
# The benchmark runs fixed commands (wrk, gunicorn, traefik, py-spy, platform) on loopback.
# ruff: noqa: S603, S607

import argparse
import collections
import concurrent.futures
import contextlib
import datetime as dt
import json
import os
import platform
import random
import re
import runpy
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import events
import jwt
import orders_paths
import psycopg
import requests
from cryptography.hazmat.primitives import serialization

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BIN = Path(sys.executable).parent
RESULTS = BENCH / "results"
LUA = BENCH / "lua"
GUNICORN_CONF = BENCH / "gunicorn_bench.py"

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
DATABASES = {"users": "bench_users", "orders": "bench_orders", "auth": "bench_auth"}

N_USERS = 10_000
N_ORDERS = 50_000
N_LOGINS = 16  # users with credentials; the orders load rotates their tokens
PASSWORD = "bench password 0123456789"  # noqa: S105 (a benchmark account on loopback)
WORKERS = 2
THREADS = 4
GET_CONNECTIONS = 16
ORDER_CONNECTIONS = (16, 64)
WRK_THREADS = 2
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LOADED = 2.5  # load average above which the report says the machine was busy
SEED = 20240601


@dataclass(frozen=True)
class Mode:
    """How long each part runs."""

    name: str
    rounds: int  # interleaved rounds of the GET comparison
    order_rounds: int
    duration: int  # seconds of one wrk run
    warmup: int  # seconds of warm-up per side (not measured)
    startup_runs: int
    tokens: int  # tokens in the verification micro-benchmark
    profile_seconds: int
    inprocess_requests: int  # per round of bench/inprocess.py
    settle: float  # seconds between two wrk runs: requests cut off by the end of one finish


FULL = Mode(
    "full",
    rounds=8,
    order_rounds=4,
    duration=6,
    warmup=3,
    startup_runs=3,
    tokens=10_000,
    profile_seconds=15,
    inprocess_requests=800,
    settle=1.0,
)
QUICK = Mode(
    "quick",
    rounds=3,
    order_rounds=3,
    duration=3,
    warmup=1,
    startup_runs=1,
    tokens=2_000,
    profile_seconds=6,
    inprocess_requests=300,
    settle=0.5,
)


def log(message: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    stamp = time.strftime("%H:%M:%S")
    print(f"[bench {stamp}] {message}", file=sys.stderr, flush=True)


# --- machine ---------------------------------------------------------------------------------


def machine_facts() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0].strip()
        if (wrk.stdout or wrk.stderr)
        else "?",
        "load_at_start": [round(x, 2) for x in os.getloadavg()],
        "shared": "wrk, PostgreSQL, Traefik and every server share these cores",
    }


def free_port() -> int:
    """A port nobody listens on right now (loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_taken(port: int) -> bool:
    """True when something listens on 127.0.0.1:port."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


# --- PostgreSQL --------------------------------------------------------------------------------


def pg_url(db: str, driver: str = "") -> str:
    """A URL for one database (``driver='+psycopg'`` for SQLAlchemy)."""
    return f"postgresql{driver}://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}"


def pg_admin() -> psycopg.Connection:
    """An autocommit connection to the maintenance database."""
    return psycopg.connect(pg_url("postgres"), autocommit=True, connect_timeout=5)


def recreate_databases() -> dict[str, Any]:
    """Drop and create the bench databases; return the server's facts."""
    with pg_admin() as conn:
        for db in DATABASES.values():
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{db}"')
        version = conn.execute("SHOW server_version").fetchone()[0]
        max_connections = int(conn.execute("SHOW max_connections").fetchone()[0])
        reserved = int(conn.execute("SHOW superuser_reserved_connections").fetchone()[0])
    return {
        "version": version,
        "max_connections": max_connections,
        "superuser_reserved_connections": reserved,
    }


def run_migrations(env_for: Callable[[str], dict[str, str]]) -> None:
    """`flask db upgrade` of each service against its bench database, in parallel."""
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", f"{name}_service", "db", "upgrade"],
            env=env_for(name),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for name in DATABASES
    }
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=180)
        if proc.returncode != 0:
            raise SystemExit(f"migrations of {name} failed:\n{out.decode(errors='replace')}")


@dataclass
class Seeded:
    """What the seeding created that the load needs."""

    user_ids: list[uuid.UUID]
    emails: list[str]
    orders: int


def seed(rng: random.Random) -> Seeded:
    """10,000 users, 50,000 orders (1-3 lines each), credentials for the first N_LOGINS users."""
    from argon2 import PasswordHasher, Type

    from auth_service.config import AuthConfig

    def new_uuid() -> uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    user_ids = [new_uuid() for _ in range(N_USERS)]
    emails = [f"user{i:05d}@bench.example" for i in range(N_USERS)]
    with psycopg.connect(pg_url(DATABASES["users"])) as conn:
        with conn.cursor().copy(
            "COPY users (id, email, name, is_active, created_at, updated_at) FROM STDIN"
        ) as copy:
            for i, (uid, email) in enumerate(zip(user_ids, emails, strict=True)):
                ts = start + dt.timedelta(seconds=i)
                copy.write_row((uid, email, f"Bench User {i}", True, ts, ts))
        conn.execute("ANALYZE users")
    with psycopg.connect(pg_url(DATABASES["orders"])) as conn:
        items = []
        with conn.cursor().copy(
            "COPY orders (id, user_id, status, currency, total_cents, created_at, updated_at)"
            " FROM STDIN"
        ) as copy:
            for i in range(N_ORDERS):
                oid = new_uuid()
                lines = [
                    (rng.randint(1, 5), rng.randint(100, 10_000)) for _ in range(rng.randint(1, 3))
                ]
                ts = start + dt.timedelta(seconds=i)
                copy.write_row(
                    (
                        oid,
                        rng.choice(user_ids),
                        "placed",
                        "EUR",
                        sum(q * p for q, p in lines),
                        ts,
                        ts,
                    )
                )
                items.extend(
                    (new_uuid(), oid, pos, f"SKU-{rng.randint(1, 500)}", q, p, q * p)
                    for pos, (q, p) in enumerate(lines, start=1)
                )
        with conn.cursor().copy(
            "COPY order_items (id, order_id, position, sku, quantity, unit_price_cents,"
            " line_total_cents) FROM STDIN"
        ) as copy:
            for row in items:
                copy.write_row(row)
        conn.execute("ANALYZE")
    hasher = PasswordHasher(
        time_cost=AuthConfig.ARGON2_TIME_COST,
        memory_cost=AuthConfig.ARGON2_MEMORY_COST,
        parallelism=AuthConfig.ARGON2_PARALLELISM,
        type=Type.ID,
    )
    password_hash = hasher.hash(PASSWORD)  # one hash (salt included) serves every account
    with psycopg.connect(pg_url(DATABASES["auth"])) as conn:
        with conn.cursor().copy(
            "COPY identities (id, email, password_hash, roles, created_at, updated_at) FROM STDIN"
        ) as copy:
            for uid, email in zip(user_ids[:N_LOGINS], emails[:N_LOGINS], strict=True):
                copy.write_row((uid, email, password_hash, '["user"]', start, start))
        conn.execute("ANALYZE")
    return Seeded(user_ids=user_ids, emails=emails, orders=N_ORDERS)


def count_orders() -> int:
    """Rows in bench_orders.orders."""
    with psycopg.connect(pg_url(DATABASES["orders"])) as conn:
        return int(conn.execute("SELECT count(*) FROM orders").fetchone()[0])


class ConnectionSampler(threading.Thread):
    """pg_stat_activity of the bench databases, grouped by database and application, each second."""

    def __init__(self) -> None:
        super().__init__(daemon=True, name="pg-sampler")
        self.phase = "setup"
        self.samples: list[dict[str, Any]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        with pg_admin() as conn:
            while not self._halt.is_set():
                rows = conn.execute(
                    "SELECT datname, application_name, count(*) FROM pg_stat_activity"
                    " WHERE datname LIKE 'bench\\_%' GROUP BY 1, 2"
                ).fetchall()
                self.samples.append(
                    {
                        "t": round(time.monotonic(), 2),
                        "phase": self.phase,
                        "counts": {f"{app or '?'}@{db}": n for db, app, n in rows},
                    }
                )
                self._halt.wait(1.0)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


# --- processes -------------------------------------------------------------------------------


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
        kids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.pid:
                    kids.append(int(stat.parent.name))
        return sorted(kids)

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


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and every live process below it."""
    total = 0.0
    for p in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


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


def base_env() -> dict[str, str]:
    """The harness's environment without anything that would point a service elsewhere."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("DATABASE_URL") and not k.startswith(("DB_", "PG"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def start_stack(
    workdir: Path, logdir: Path, fastapi_threadpool: int, token_memory: bool = True
) -> Stack:
    """Auth, users, orders, the two peers and Traefik, on free loopback ports."""
    names = ["auth", "users", "orders", "bare_flask", "fastapi", "gateway", "traefik_api", "docs"]
    stack = Stack(ports={name: free_port() for name in names})
    key_file = workdir / "auth-signing-key.pem"
    jwks_url = stack.url("auth", "/api/v1/auth/jwks.json")

    def env(name: str, db: str) -> dict[str, str]:
        return (
            base_env()
            | {
                "HOST": "127.0.0.1",
                "PORT": str(stack.ports[name]),
                "WEB_CONCURRENCY": str(WORKERS),
                "GUNICORN_THREADS": str(THREADS),
                "TRUSTED_PROXIES": "1",
                "DATABASE_URL": pg_url(db, "+psycopg"),
                "AUTH_JWKS_URL": jwks_url,
                "AUTH_DEV_KEY_FILE": str(key_file),
                "USERS_URL": stack.url("users", ""),
                "ACCESS_TOKEN_TTL": "3600",  # tokens outlive the longest run
                "PGAPPNAME": f"bench-{name}",  # pg_stat_activity tells the servers apart
                "BENCH_NAME": name,
                "LOG_LEVEL": "INFO",  # one JSON access line per request, as deployed
            }
            | ({} if token_memory else {"BENCH_VERIFIED_TOKENS_KEPT": "0"})
        )

    gunicorn = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF)]
    # auth first: it writes the signing key the others never read, but it must exist once.
    stack.procs["auth"] = Proc(
        "auth", [*gunicorn, "auth_service:create_app()"], env("auth", DATABASES["auth"]), logdir
    )
    for name in ("users", "orders"):
        stack.procs[name] = Proc(
            name, [*gunicorn, f"{name}_service:create_app()"], env(name, DATABASES[name]), logdir
        )
    peers = ["--pythonpath", str(BENCH / "peers")]
    stack.procs["bare_flask"] = Proc(
        "bare_flask",
        [*gunicorn, *peers, "bare_flask:create_app()"],
        env("bare_flask", DATABASES["users"]),
        logdir,
    )
    stack.procs["fastapi"] = Proc(
        "fastapi",
        [*gunicorn, *peers, "-k", "uvicorn_worker.UvicornWorker", "fastapi_app:create_app()"],
        env("fastapi", DATABASES["users"]) | {"FASTAPI_THREADPOOL": str(fastapi_threadpool)},
        logdir,
    )
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


# --- wrk ---------------------------------------------------------------------------------------


def wrk(
    url: str,
    *,
    connections: int,
    seconds: int,
    script: Path,
    headers: list[str] = (),
    script_args: list[str] = (),
) -> dict[str, Any]:
    """One wrk run; its summary (latencies in µs) plus requests per second."""
    cmd = [
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
    ]
    for header in headers:
        cmd += ["-H", header]
    cmd.append(url)
    if script_args:
        cmd += ["--", *script_args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
    result = json.loads(line.removeprefix("BENCH_JSON "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["socket_errors"] = sum(v for k, v in result["errors"].items() if k != "status")
    if proc.stderr.strip():
        result["stderr"] = proc.stderr.strip()[:2000]
    return result


# The servers whose CPU time each side is charged with.
CPU_OF = {
    "users": ("users",),
    "bare_flask": ("bare_flask",),
    "fastapi": ("fastapi",),
    "users_gateway": ("users", "gateway"),
    "orders": ("orders", "users", "gateway"),
}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of the rounds."""
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "cpu_ms": statistics.median(r["cpu_ms_per_request"] for r in runs),
        "p50_ms": statistics.median(r["latency_us"]["p50"] for r in runs) / 1000,
        "p99_ms": statistics.median(r["latency_us"]["p99"] for r in runs) / 1000,
        "requests": sum(r["requests"] for r in runs),
        "errors": sum(r["socket_errors"] + r["errors"]["status"] for r in runs),
        "non2xx": sum(
            (r["non2xx"] if r["non2xx"] is not None else r["errors"]["status"]) for r in runs
        ),
        "rounds_rps": [round(r["rps"], 1) for r in runs],
    }


def interleaved(
    sides: dict[str, tuple[Callable[[], dict[str, Any]], tuple[str, ...]]],
    rounds: int,
    sampler: ConnectionSampler,
    label: str,
    stack: Stack,
    settle: float,
) -> dict[str, list[dict[str, Any]]]:
    """Run every side once per round; odd rounds in reverse order (A B C, C B A, ...).

    A side is its wrk run and the servers whose CPU time it is charged with: CPU per request
    hardly depends on what else the machine runs, unlike requests per second.
    """
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    names = list(sides)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            sampler.phase = f"{label}:{name}"
            run, servers = sides[name]
            cpu_before = stack.cpu(servers)
            result = run()
            cpu = stack.cpu(servers) - cpu_before
            result["cpu_ms_per_request"] = 1000 * cpu / max(1, result["requests"])
            sampler.phase = f"settle:{name}"
            time.sleep(settle)  # requests cut off by the end of the run finish before the next
            runs[name].append(result)
            log(
                f"  round {r + 1}/{rounds} {name:<15} {result['rps']:8.1f} req/s"
                f"  p50 {result['latency_us']['p50'] / 1000:6.2f} ms"
                f"  p99 {result['latency_us']['p99'] / 1000:7.2f} ms"
                f"  server CPU {result['cpu_ms_per_request']:.2f} ms/req"
            )
    sampler.phase = "idle"
    return runs


def paired_ratio(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> float:
    """Median over rounds of a's throughput over b's in the same round."""
    return statistics.median(x["rps"] / y["rps"] for x, y in zip(a, b, strict=True))


def cpu_ratio(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> float:
    """b's server CPU per request over a's (> 1: a needs less CPU), median over rounds."""
    return statistics.median(
        y["cpu_ms_per_request"] / x["cpu_ms_per_request"] for x, y in zip(a, b, strict=True)
    )


# --- tokens ----------------------------------------------------------------------------------


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


def token_microbench(
    stack: Stack, workdir: Path, subjects: list[uuid.UUID], n: int
) -> dict[str, Any]:
    """TokenVerifier.verify per token with a warm JWKS cache, and what its parts cost."""
    import common.auth
    from common.auth import ALGORITHM, JWKSCache, TokenVerifier, sign_access_token

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

    def per_token_us(fn: Callable[[str], Any], sample: list[str], repeats: int = 3) -> float:
        times = timeit.repeat(lambda: [fn(t) for t in sample], number=1, repeat=repeats)
        return statistics.median(times) / len(sample) * 1e6

    # Each token checked in full: with the verifier's memory on, every repeat after the first
    # would find the tokens remembered whenever they fit in it (--quick's 2,000 do).
    kept, common.auth.VERIFIED_TOKENS_KEPT = common.auth.VERIFIED_TOKENS_KEPT, 0
    try:
        verify_us = per_token_us(verifier.verify, tokens)
    finally:
        common.auth.VERIFIED_TOKENS_KEPT = kept
    again_us = per_token_us(verifier.verify, tokens[:100] * (n // 100))  # remembered ones
    some = tokens[: max(1, n // 5)]  # the parts: a fifth of the tokens is plenty
    public = key.public_key()
    pyjwk = jwks.get(jwt.get_unverified_header(tokens[0])["kid"])
    parts = {
        "jwt.get_unverified_header": per_token_us(jwt.get_unverified_header, some),
        "jwt.decode (signature + claims)": per_token_us(
            lambda t: jwt.decode(
                t,
                pyjwk,
                algorithms=[ALGORITHM],
                audience="platform",
                issuer="platform-auth",
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
            ),
            some,
        ),
    }

    def raw_verify(token: str) -> None:
        signing_input, _, signature = token.rpartition(".")
        public.verify(jwt.utils.base64url_decode(signature), signing_input.encode())

    parts["Ed25519 signature check alone (cryptography)"] = per_token_us(raw_verify, some)
    return {
        "tokens": n,
        "verify_us": verify_us,
        "verify_again_us": again_us,
        "parts_us": parts,
        "jwks_fetches": jwks.fetches,
    }


# --- connections -----------------------------------------------------------------------------


def connection_report(sampler: ConnectionSampler, pg: dict[str, Any]) -> dict[str, Any]:
    """Per server and database: peak, first/second half of each load phase, the budget."""
    from common.config import Config

    options = Config.SQLALCHEMY_ENGINE_OPTIONS
    pool, overflow = int(options["pool_size"]), int(options["max_overflow"])
    shared = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    default_workers = int(shared["workers"]) if "WEB_CONCURRENCY" not in os.environ else 2
    from platform_local.services import discover

    services = [s.name for s in discover()]
    per_service = default_workers * (pool + overflow)
    total = per_service * len(services)
    budget = 0.8 * pg["max_connections"]
    limit = WORKERS * (pool + overflow)  # per server in this benchmark

    # Contiguous runs of samples with the same measured phase: one wrk run each.
    segments: list[tuple[str, list[dict[str, Any]]]] = []
    for sample in sampler.samples:
        if segments and segments[-1][0] == sample["phase"]:
            segments[-1][1].append(sample)
        else:
            segments.append((sample["phase"], [sample]))
    by_server: dict[str, dict[str, Any]] = {}
    for key in sorted({k for s in sampler.samples for k in s["counts"]}):
        series = [s["counts"].get(key, 0) for s in sampler.samples]
        # The peak of each measured run that loaded this server's database, in order.
        db = key.split("@", 1)[1]
        loads = {
            "bench_users": ("get:",),
            "bench_orders": ("orders:",),
            "bench_auth": ("orders:",),
        }.get(db, ())
        per_run = [
            max(x["counts"].get(key, 0) for x in samples)
            for phase, samples in segments
            if phase.startswith(loads)
        ]
        idle = series[-1]
        # A leak holds connections it never gives back: the idle pools at the end would exceed
        # workers x pool_size, and the peaks would climb from run to run instead of levelling:
        # every late run above every early one. (One late spike is not a leak: the FastAPI peer's
        # peaks wander between 10 and 16 from run to run.)
        third = max(1, len(per_run) // 3)
        climbing = bool(per_run) and min(per_run[-third:]) > max(per_run[:third]) + 2
        by_server[key] = {
            "peak": max(series),
            "idle_at_end": idle,
            "limit": limit,
            "idle_limit": WORKERS * pool,
            "peaks_per_run": per_run,
            "within_limit": max(series) <= limit and idle <= WORKERS * pool,
            "climbing": climbing,
        }
    per_db: dict[str, int] = collections.Counter()
    for s in sampler.samples:
        totals: dict[str, int] = collections.Counter()
        for key, n in s["counts"].items():
            totals[key.split("@", 1)[1]] += n
        for db, n in totals.items():
            per_db[db] = max(per_db[db], n)
    peak_all = max((sum(s["counts"].values()) for s in sampler.samples), default=0)
    return {
        "samples": len(sampler.samples),
        "by_server": by_server,
        "peak_per_database": dict(per_db),
        "peak_all_bench": peak_all,
        "budget": {
            "max_connections": pg["max_connections"],
            "superuser_reserved_connections": pg["superuser_reserved_connections"],
            "services": services,
            "workers_per_service": default_workers,
            "pool_size": pool,
            "max_overflow": overflow,
            "per_service": per_service,
            "total": total,
            "eighty_percent": budget,
            "ok": total <= budget,
        },
    }


# --- start-up ----------------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parent[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        kids = [p for p, pp in parent.items() if pp == current]
        found += kids
        frontier += kids
    return found


def startup_runs(runs: int, logdir: Path) -> dict[str, Any]:
    """`platform up --data-dir <tmp>` until the gateway and every service answer; median."""
    from platform_local import gateway
    from platform_local import services as catalog

    # The ports `platform up` binds. Where it supports PLATFORM_PORT_OFFSET, shift them all to a
    # free range, so that another `platform up` on the machine is no obstacle.
    current = getattr(catalog, "PORT_OFFSET", 0)
    base = {s.name: s.port for s in catalog.discover()} | {  # discover(): unshifted ports
        "traefik api": gateway.TRAEFIK_API_PORT - current,
        "docs": gateway.DOCS_PORT - current,
        "gateway": 8080,
    }
    candidates = [20000 + 100 * k for k in range(50)] if hasattr(catalog, "PORT_OFFSET") else [0]
    offset = next(
        (o for o in candidates if not any(port_taken(p + o) for p in base.values())), None
    )
    if offset is None:
        busy = [f"{name} :{port}" for name, port in base.items() if port_taken(port)]
        return {"skipped": f"ports in use (another `platform up`?): {', '.join(busy)}"}
    fixed = {name: port + offset for name, port in base.items() if name != "gateway"}
    prefixes = {s.name: s.prefix for s in catalog.discover()}
    times = []
    for i in range(runs):
        # Without the offset, the gateway alone moves: GATEWAY_PORT is a free port.
        gw = base["gateway"] + offset if offset else free_port()
        urls = {name: f"http://127.0.0.1:{fixed[name]}/health/ready" for name in prefixes}
        urls |= {
            "docs": f"http://127.0.0.1:{fixed['docs']}/health/live",
            "gateway": f"http://127.0.0.1:{fixed['traefik api']}/ping",
        }
        urls |= {
            f"gateway->{name}": f"http://127.0.0.1:{gw}{prefix}/__bench_probe__"
            for name, prefix in prefixes.items()
        }
        env = base_env() | {
            "GATEWAY_PORT": str(gw - offset),
            "PLATFORM_PORT_OFFSET": str(offset),
        }
        with tempfile.TemporaryDirectory(prefix="bench-platform-up-") as data:
            out = (logdir / f"platform-up-{i + 1}.log").open("wb")
            started = time.perf_counter()
            proc = subprocess.Popen(
                [str(BIN / "platform"), "up", "--data-dir", data],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            pending = dict(urls)
            try:
                while pending and time.perf_counter() - started < 120:
                    if proc.poll() is not None:
                        break
                    for name, url in list(pending.items()):
                        if answered(url):
                            del pending[name]
                    time.sleep(0.05)
                elapsed = time.perf_counter() - started
            finally:
                kids = descendants(proc.pid)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)  # what Ctrl-C does
                    try:
                        proc.wait(30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(5)
                for pid in kids:  # anything honcho left behind, by pid
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                out.close()
            if pending:
                return {
                    "failed": f"run {i + 1}: not ready: {', '.join(pending)}",
                    "log": str(logdir / f"platform-up-{i + 1}.log"),
                }
            times.append(elapsed)
            log(f"  platform up #{i + 1}: all healthy after {elapsed:.2f} s")
            deadline = time.monotonic() + 20
            while any(port_taken(p) for p in fixed.values()) and time.monotonic() < deadline:
                time.sleep(0.2)
    return {
        "runs_s": [round(t, 2) for t in times],
        "median_s": statistics.median(times),
        "what": "command to: every service /health/ready 200, docs /health/live 200, "
        "Traefik ping 200, and the gateway routing to every service",
    }


# --- profile -----------------------------------------------------------------------------------

# Who owns a CPU sample: walking its stack from the leaf up, the first frame matching one of
# these (frames are "function (package/file.py:line)" in py-spy's raw output). Library code
# (json, re, uuid, ...) is thereby charged to the platform layer that called it.
PROFILE_OWNERS = [
    (
        "token check: common.auth + PyJWT + cryptography",
        ("(jwt/", "(cryptography/", "TokenVerifier.", "_bearer_token (", "JWKSCache."),
    ),
    (
        "JSON access log: common.logs + logging + python-json-logger",
        ("(common/logs.py", "(logging/", "(pythonjsonlogger/"),
    ),
    (
        "envelope: common.envelope/api + Flask JSON",
        ("(common/envelope.py", "(common/api.py", "(flask/json/"),
    ),
    ("request id: common.request_id", ("(common/request_id.py",)),
    ("transaction: common.transaction (own code)", ("(common/transaction.py",)),
    ("session proxy: werkzeug LocalProxy + common.db", ("(werkzeug/local.py", "(common/db.py")),
    (
        "SQLAlchemy + flask-sqlalchemy",
        ("(sqlalchemy/", "sqlalchemy generated", "(flask_sqlalchemy/"),
    ),
    ("psycopg (driver)", ("(psycopg/",)),
    ("marshmallow (users' UserSchema.dump)", ("(marshmallow/",)),
    ("flask-restful", ("(flask_restful/",)),
    ("Flask + Werkzeug (routing, request/response)", ("(flask/", "(werkzeug/")),
    ("gunicorn (HTTP parsing, sockets)", ("(gunicorn/",)),
    ("the users service's own code", ("(users_service/",)),
    ("idempotency: common.idempotency (own code)", ("(common/idempotency.py",)),
    (
        "call to users: common.http + requests + urllib3",
        ("(common/http.py", "(requests/", "(urllib3/", "(http/client.py"),
    ),
    ("the orders service's own code", ("(orders_service/",)),
]
# Inclusive: a sample counts for each of these its stack passes through.
PROFILE_CALLS = [
    ("TokenVerifier.verify", "TokenVerifier.verify ("),
    ("commit: common.transaction.finish_transaction", "finish_transaction ("),
    ("pool pre-ping (SELECT 1 per checkout)", "do_ping"),
    ("Session.get (the query)", "Session.get ("),
    ("access log line: common.logs._log_request", "_log_request ("),
    ("envelope: common.api.output_envelope", "output_envelope ("),
    ("UserSchema.dump (marshmallow)", "Schema.dump ("),
    ("request id: get_request_id", "get_request_id ("),
    ("ProxyFix", "ProxyFix.__call__ ("),
    ("orders: Idempotency-Key claim (own transaction)", "_claim ("),
    ("orders: Idempotency-Key completion", "_complete ("),
    ("orders: the call to users (common.http)", "ServiceClient.request ("),
    ("orders: the INSERTs (flush)", "Session.flush ("),
    ("orders: body validation (marshmallow load)", "Schema.load ("),
]


def analyse_profile(raw: Path) -> dict[str, Any]:
    """Exclusive CPU share per platform layer, inclusive share of key calls, top leaf frames."""
    total = 0
    owners: dict[str, int] = collections.Counter()
    calls: dict[str, int] = collections.Counter()
    leaves: dict[str, int] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        owner = "other (threading, Python runtime)"
        for frame in reversed(frames):
            match = next(
                (label for label, keys in PROFILE_OWNERS if any(k in frame for k in keys)), None
            )
            if match:
                owner = match
                break
        owners[owner] += n
        for label, key in PROFILE_CALLS:
            if any(key in f for f in frames):
                calls[label] += n
        leaves[re.sub(r":\d+\)", ")", frames[-1])] += n

    def pct(n: int) -> float:
        return round(100 * n / total, 1) if total else 0.0

    return {
        "samples": total,
        "owner_pct": {label: pct(n) for label, n in owners.most_common()},
        "calls_pct": {label: pct(calls[label]) for label, _ in PROFILE_CALLS},
        "top_leaf_pct": {f: pct(n) for f, n in leaves.most_common(15)},
    }


def profile_server(
    stack: Stack, server: str, seconds: int, load: Callable[[], Any], outdir: Path
) -> dict[str, Any]:
    """py-spy on one worker of ``server`` while ``load`` (a wrk run) keeps it busy."""
    worker = stack.procs[server].children()[0]
    raw = outdir / f"profile-{server}.txt"
    # --gil: only the thread holding the GIL, i.e. the worker's Python CPU time, not its threads
    # waiting on PostgreSQL or for the GIL.
    spy = subprocess.Popen(
        [
            str(BIN / "py-spy"),
            "record",
            "--pid",
            str(worker),
            "--duration",
            str(seconds),
            "--rate",
            "250",
            "--format",
            "raw",
            "--gil",
            "--output",
            str(raw),
            "--nonblocking",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    time.sleep(0.5)
    load()
    out, _ = spy.communicate(timeout=60)
    if spy.returncode != 0 or not raw.exists():
        return {"failed": out.decode(errors="replace")[-1000:]}
    result = analyse_profile(raw)
    result["raw"] = str(raw)
    return result


# --- report ------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "✅ met" if ok else "❌ missed"


def render(r: dict[str, Any]) -> str:
    """The markdown report."""
    m = r["machine"]
    g = r["get"]["sides"]
    ratios = r["get"]["ratios"]
    cpu = r["get"]["cpu_ratios"]
    lines = [
        f"# Platform benchmark — {r['date']} ({r['mode']} mode)",
        "",
        f"Machine: **{m['cores']} cores** ({m['cpu']}), Linux {m['kernel']}, Python {m['python']},"
        f" PostgreSQL {r['postgres']['version']}, {m['wrk']}. Load average at start"
        f" {' / '.join(map(str, m['load_at_start']))}, at end"
        f" {' / '.join(map(str, m['load_at_end']))} (1/5/15 min; the figure at the end"
        " includes the benchmark's own servers and wrk).",
        "",
        *(
            [
                f"**The machine was busy: load average {m['load_at_start'][0]} at the start"
                f" (above 2.5 on {m['cores']} cores). Every number below is indicative only.**",
                "",
            ]
            if m["load_at_start"][0] > LOADED
            else []
        ),
        f"**The load generator (wrk, {WRK_THREADS} threads), PostgreSQL, Traefik and every server"
        " share these cores**: absolute numbers describe this box under this load; compare the"
        " **ratios**. Servers: gunicorn with deploy/gunicorn.conf.py, "
        f"{WORKERS} workers x {THREADS} threads (gthread); the FastAPI peer: {WORKERS} uvicorn"
        " workers, sync endpoint in a threadpool of"
        f" {r['settings']['fastapi_threadpool']} per worker. Same PostgreSQL database and engine"
        " options"
        f" (pool_size {r['connections']['budget']['pool_size']}, max_overflow"
        f" {r['connections']['budget']['max_overflow']}, pre-ping) on every side;"
        f" {N_USERS:,} users and {N_ORDERS:,} orders seeded. Sides interleaved"
        f" ({r['settings']['rounds']} rounds x {r['settings']['duration_s']} s each, order"
        " reversed every other round); figures are medians of the rounds, ratios the median of"
        " the per-round ratios. *Server CPU ms/req*: user + system CPU time of the server's"
        " processes (gunicorn master and workers; plus Traefik through the gateway) over the"
        " requests wrk completed; unlike req/s it hardly depends on the machine's other load."
        " *CPU per request* ratios are the other side's CPU/request over this side's"
        " (> 1: this side is cheaper).",
        "",
        f"## GET /api/v1/users/{{id}} (wrk -c{GET_CONNECTIONS})",
        "",
        "| side | req/s | p50 ms | p99 ms | server CPU ms/req | non-2xx + socket errors |"
        " req/s per round |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    titles = {
        "users": "users service, direct (the whole common stack)",
        "bare_flask": "bare Flask + flask-sqlalchemy (bench/peers/bare_flask.py)",
        "fastapi": "FastAPI + SQLAlchemy (bench/peers/fastapi_app.py)",
        "users_gateway": "users service through Traefik",
    }
    for name, s in g.items():
        lines.append(
            f"| {titles.get(name, name)} | {s['rps']:.0f} | {s['p50_ms']:.2f} |"
            f" {s['p99_ms']:.2f} | {s['cpu_ms']:.2f} | {s['errors']} |"
            f" {', '.join(map(str, s['rounds_rps']))} |"
        )
    o = r["orders"]
    lines += orders_paths.render(o, ORDER_CONNECTIONS)
    lines += events.render(r["events"]) if "events" in r else []
    t = r["token"]
    j = r["jwks"]
    c = r["connections"]
    b = c["budget"]
    su = r["startup"]
    order_conns = " and ".join(map(str, ORDER_CONNECTIONS))
    ed25519 = t["parts_us"]["Ed25519 signature check alone (cryptography)"]
    per_server = WORKERS * (b["pool_size"] + b["max_overflow"])
    startup_text = (
        f"{su['median_s']:.2f} s (runs: {', '.join(map(str, su['runs_s']))})"
        if "median_s" in su
        else su.get("skipped") or su.get("failed")
    )
    lines += [
        "",
        "## Goals",
        "",
        "| # | measure | result | goal | |",
        "|---|---|---|---|---|",
        f"| 1 | users service vs bare Flask (req/s) | **{ratios['users/bare_flask']:.3f}x**"
        f" (p50 {g['users']['p50_ms']:.2f} vs {g['bare_flask']['p50_ms']:.2f} ms, p99"
        f" {g['users']['p99_ms']:.2f} vs {g['bare_flask']['p99_ms']:.2f} ms; CPU per request"
        f" {cpu['users/bare_flask']:.3f}x) | ≥ 0.95x |"
        f" {verdict(ratios['users/bare_flask'] >= 0.95)} |",
        f"| 2 | users service vs FastAPI (req/s) | **{ratios['users/fastapi']:.3f}x**"
        f" (p50 {g['users']['p50_ms']:.2f} vs {g['fastapi']['p50_ms']:.2f} ms, p99"
        f" {g['users']['p99_ms']:.2f} vs {g['fastapi']['p99_ms']:.2f} ms; CPU per request"
        f" {cpu['users/fastapi']:.3f}x) | ≥ 1.0x |"
        f" {verdict(ratios['users/fastapi'] >= 1.0)} |",
        f"| 3 | through Traefik vs direct (req/s) | **{ratios['gateway/direct']:.3f}x**"
        f" (p50 {g['users_gateway']['p50_ms'] - g['users']['p50_ms']:+.2f} ms; CPU per request"
        f" {cpu['gateway/direct']:.3f}x) | ≥ 0.85x |"
        f" {verdict(ratios['gateway/direct'] >= 0.85)} |",
        f"| 4 | orders end to end: non-2xx + socket errors at {order_conns}"
        f" connections | {o['errors_total']} | 0 | {verdict(o['errors_total'] == 0)} |",
        f"| 5 | TokenVerifier.verify, warm JWKS cache | **{t['verify_us']:.1f} µs/token**"
        f" ({t['tokens']:,} tokens; Ed25519 alone {ed25519:.1f} µs)"
        f" | — | |",
        f"| 5 | JWKS fetched over the network during the load | {j['during_load']} requests to"
        f" jwks.json; JWKSCache.fetches per worker at exit: {j['fetches_text']} | 0; 1 per"
        f" worker | {verdict(j['ok'])} |",
        f"| 6 | PostgreSQL connections, peak per server during load | {c['peaks_text']} | ≤"
        f" {WORKERS} x ({b['pool_size']} + {b['max_overflow']}) = {per_server},"
        f" not growing | {verdict(c['ok'])} |",
        f"| 6 | default config, all services | {len(b['services'])} services x"
        f" {b['workers_per_service']} workers x ({b['pool_size']} + {b['max_overflow']}) ="
        f" **{b['total']}** of max_connections {b['max_connections']}"
        f" ({100 * b['total'] / b['max_connections']:.0f} %) | ≤ 80 % ="
        f" {b['eighty_percent']:.0f} | {verdict(b['ok'])} |",
        f"| 7 | `platform up --data-dir <tmp>` to all healthy (median) | {startup_text} | — | |",
        "",
        "## Token verification, per token (µs)",
        "",
        "| part | µs |",
        "|---|---:|",
        f"| TokenVerifier.verify, {t['tokens']:,} distinct tokens (every check) |"
        f" {t['verify_us']:.1f} |",
        f"| TokenVerifier.verify, a token it accepted before |"
        f" {t.get('verify_again_us', float('nan')):.1f} |",
    ]
    lines += [f"| {name} | {us:.1f} |" for name, us in t["parts_us"].items()]
    ip = r.get("inprocess")
    if ip:
        lines += [
            "",
            "## The common stack in process (bench/inprocess.py: no HTTP server, no wrk)",
            "",
            "CPU time per GET /api/v1/users/{id} through Flask's test client, sides interleaved,"
            f" {ip['rounds']} rounds of {ip['requests_per_round']:,} requests, median:",
            "",
            "| side | CPU µs/request | bare Flask's / this |",
            "|---|---:|---:|",
            f"| users service | {ip['users_us']:.0f} | {ip['cpu_ratio']:.3f}x |",
            f"| users service, token memory off (every token checked in full) |"
            f" {ip['users_token_memory_off_us']:.0f} | {ip['cpu_ratio_token_memory_off']:.3f}x |",
            f"| bare Flask + flask-sqlalchemy | {ip['bare_flask_us']:.0f} | 1x |",
            "",
            "Share of the users service's request (cProfile, CPU, inclusive):",
            "",
            "| mechanism | % |",
            "|---|---:|",
        ]
        lines += [f"| {k} | {v} |" for k, v in ip["profile_pct_of_users_request"].items()]
    lines += [
        "",
        "## PostgreSQL connections (pg_stat_activity, sampled every second)",
        "",
        "| server@database | peak (limit) | peak of each measured run, in order |"
        " idle at the end (limit) | climbing |",
        "|---|---:|---|---:|---|",
    ]
    for key, s in c["by_server"].items():
        lines.append(
            f"| {key} | {s['peak']} ({s['limit']}) |"
            f" {', '.join(map(str, s['peaks_per_run'])) or '—'} |"
            f" {s['idle_at_end']} ({s['idle_limit']}) | {'YES' if s['climbing'] else 'no'} |"
        )
    lines += [
        "",
        f"Peak of all bench databases together: {c['peak_all_bench']}"
        f" (of max_connections {b['max_connections']}).",
        "",
    ]
    for key, title in (
        ("profile", "users worker, GET /api/v1/users/{id}"),
        ("profile_orders", "orders worker, POST /api/v1/orders"),
    ):
        p = r.get(key)
        if not p:
            continue
        lines += [f"## Profile of one {title} under load (py-spy)", ""]
        if "failed" in p:
            lines += [f"py-spy failed: {p['failed']}", ""]
            continue
        lines += [
            f"{p['samples']} samples of the thread holding the GIL. Each sample is"
            " charged to the platform layer nearest its leaf frame:",
            "",
            "| layer | % of CPU |",
            "|---|---:|",
        ]
        lines += [f"| {k} | {v} |" for k, v in p["owner_pct"].items()]
        lines += ["", "| call (inclusive: everything below it) | % of CPU |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in p["calls_pct"].items() if v]
        lines.append("")
    return "\n".join(lines) + "\n"


# --- main --------------------------------------------------------------------------------------


def jwks_requests(auth_log: Path) -> int:
    """JWKS requests in the auth service's JSON access log so far."""
    if not auth_log.exists():
        return 0
    return sum(
        1
        for line in auth_log.read_text(errors="replace").splitlines()
        if '"path": "/api/v1/auth/jwks.json"' in line and '"request"' in line
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short runs (<= 2 min): develop and CI; the full run is for quiet machines",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also sample one users worker with py-spy under load"
    )
    parser.add_argument("--skip-startup", action="store_true", help="skip the `platform up` timing")
    parser.add_argument(
        "--fail-on-goals",
        action="store_true",
        help="exit 1 when a speed goal (1-3) is missed, not only when a check (4-6) fails",
    )
    parser.add_argument(
        "--token-memory-off",
        action="store_true",
        help="services verify every token in full (common.auth.VERIFIED_TOKENS_KEPT = 0):"
        " the 'before' of the token-memory optimisation",
    )
    parser.add_argument(
        "--fastapi-threadpool",
        type=int,
        default=THREADS,
        metavar="N",
        help=f"sync calls at once per FastAPI worker (default {THREADS}, as many as"
        " a gthread worker has threads; FastAPI's own default is 40)",
    )
    parser.add_argument(
        "--keep-logs",
        action="store_true",
        help="keep the servers' logs (printed path) even when everything passed",
    )
    args = parser.parse_args()
    mode = QUICK if args.quick else FULL
    # `kill` (SIGTERM) or a closed terminal stop the servers too, like Ctrl-C does.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda received, _frame: sys.exit(128 + received))
    begun = time.monotonic()
    when = dt.datetime.now(dt.UTC)
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"platform-bench-{stamp}-"))
    logdir = workdir / "logs"
    logdir.mkdir()
    report: dict[str, Any] = {
        "date": when.strftime("%Y-%m-%d %H:%M UTC"),
        "mode": mode.name,
        "machine": machine_facts(),
        "settings": {
            "rounds": mode.rounds,
            "order_rounds": mode.order_rounds,
            "duration_s": mode.duration,
            "warmup_s": mode.warmup,
            "get_connections": GET_CONNECTIONS,
            "order_connections": ORDER_CONNECTIONS,
            "workers": WORKERS,
            "threads": THREADS,
            "wrk_threads": WRK_THREADS,
            "fastapi_threadpool": args.fastapi_threadpool,
            "token_memory": not args.token_memory_off,
            "users": N_USERS,
            "orders": N_ORDERS,
        },
    }
    log(f"{mode.name} mode; load average {report['machine']['load_at_start']}; work dir {workdir}")
    if os.getloadavg()[0] > LOADED and mode is FULL:
        log(
            "WARNING: load average above 2.5: the machine is busy; ratios still hold better"
            " than absolute numbers"
        )

    log("PostgreSQL: recreating bench_users, bench_orders, bench_auth")
    try:
        report["postgres"] = recreate_databases()
    except psycopg.OperationalError as exc:
        raise SystemExit(
            f"bench: PostgreSQL does not answer as {PG_USER}@{PG_HOST}:{PG_PORT} ({exc})."
            " Start it (.ci/run shows how) or set BENCH_PG_HOST / BENCH_PG_PORT / BENCH_PG_USER."
        ) from None
    key_file = workdir / "auth-signing-key.pem"

    def migration_env(name: str) -> dict[str, str]:
        return base_env() | {
            "DATABASE_URL": pg_url(DATABASES[name], "+psycopg"),
            "AUTH_DEV_KEY_FILE": str(key_file),
            "FLASK_APP": f"{name}_service",
        }

    run_migrations(migration_env)
    t0 = time.monotonic()
    seeded = seed(random.Random(SEED))  # noqa: S311 (reproducible test data)
    log(f"seeded {N_USERS:,} users, {N_ORDERS:,} orders in {time.monotonic() - t0:.1f} s")

    log("in process (bench/inprocess.py): CPU per request of the common stack, no HTTP server")
    inproc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "inprocess.py"),
            "--json",
            "--requests",
            str(mode.inprocess_requests),
            "--rounds",
            str(min(mode.rounds, 5)),
        ],
        env=base_env() | {"BENCH_USERS_URL": pg_url(DATABASES["users"], "+psycopg")},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if inproc.returncode != 0:
        raise SystemExit(f"bench/inprocess.py failed:\n{inproc.stdout}\n{inproc.stderr}")
    report["inprocess"] = json.loads(inproc.stdout.strip().splitlines()[-1])

    sampler = ConnectionSampler()
    sampler.start()
    stack: Stack | None = None
    try:
        log("starting auth, users, orders, bare Flask, FastAPI (gunicorn) and Traefik")
        stack = start_stack(
            workdir, logdir, args.fastapi_threadpool, token_memory=not args.token_memory_off
        )
        tokens = login_all(stack, seeded.emails[:N_LOGINS])
        user0, token0 = seeded.user_ids[0], tokens[0]
        auth_log = stack.procs["auth"].log_path

        log(f"token verification micro-benchmark ({mode.tokens:,} tokens)")
        report["token"] = token_microbench(stack, workdir, seeded.user_ids[:N_LOGINS], mode.tokens)
        log(f"  verify: {report['token']['verify_us']:.1f} µs/token")

        # 1-3: the GET comparison.
        path = f"/api/v1/users/{user0}"
        headers = [f"Authorization: Bearer {token0}"]
        targets = {
            "users": stack.url("users", path),
            "bare_flask": stack.url("bare_flask", path),
            "fastapi": stack.url("fastapi", path),
            "users_gateway": stack.url("gateway", path),
        }
        for name, url in targets.items():
            response = requests.get(url, headers={"Authorization": f"Bearer {token0}"}, timeout=10)
            body = response.json()
            email = body.get("data", body).get("email")
            if response.status_code != 200 or email != seeded.emails[0]:
                raise SystemExit(f"{name}: unexpected answer {response.status_code} {body}")
        log(f"GET comparison: warm-up {mode.warmup} s per side")
        for name, url in targets.items():
            sampler.phase = f"warmup:{name}"
            wrk(
                url,
                connections=GET_CONNECTIONS,
                seconds=mode.warmup,
                script=LUA / "get.lua",
                headers=headers,
            )
        jwks_windows = [jwks_requests(auth_log)]
        log(f"GET comparison: {mode.rounds} interleaved rounds x {mode.duration} s")
        runs = interleaved(
            {
                name: (
                    lambda u=url: wrk(
                        u,
                        connections=GET_CONNECTIONS,
                        seconds=mode.duration,
                        script=LUA / "get.lua",
                        headers=headers,
                    ),
                    CPU_OF[name],
                )
                for name, url in targets.items()
            },
            mode.rounds,
            sampler,
            "get",
            stack,
            mode.settle,
        )
        report["get"] = {
            "sides": {name: summarise(rs) for name, rs in runs.items()},
            "ratios": {
                "users/bare_flask": paired_ratio(runs["users"], runs["bare_flask"]),
                "users/fastapi": paired_ratio(runs["users"], runs["fastapi"]),
                "gateway/direct": paired_ratio(runs["users_gateway"], runs["users"]),
            },
            "cpu_ratios": {
                "users/bare_flask": cpu_ratio(runs["users"], runs["bare_flask"]),
                "users/fastapi": cpu_ratio(runs["users"], runs["fastapi"]),
                "gateway/direct": cpu_ratio(runs["users_gateway"], runs["users"]),
            },
            "runs": runs,
        }
        jwks_windows.append(jwks_requests(auth_log))

        # 4: orders through the gateway.
        tokens_file = workdir / "tokens.txt"
        tokens_file.write_text("\n".join(tokens) + "\n")
        path_tokens = orders_paths.prepare(
            pg_url(DATABASES["orders"]), seeded.user_ids[:N_LOGINS], tokens, workdir
        )
        orders_url = stack.url("gateway", "/api/v1/orders")
        nonce = uuid.uuid4().hex[:12]
        sampler.phase = "warmup:orders"
        wrk(
            orders_url,
            connections=ORDER_CONNECTIONS[0],
            seconds=mode.warmup,
            script=LUA / "orders.lua",
            script_args=[str(tokens_file), f"{nonce}-warm"],
        )
        before = count_orders()
        jwks_windows.append(jwks_requests(auth_log))
        log(
            f"orders: {mode.order_rounds} interleaved rounds x {mode.duration} s at"
            f" {ORDER_CONNECTIONS} connections"
        )
        order_runs = interleaved(
            orders_paths.sides(
                lambda c, tokens, label: wrk(
                    orders_url,
                    connections=c,
                    seconds=mode.duration,
                    script=LUA / "orders.lua",
                    script_args=[str(tokens), f"{nonce}-{label}-{uuid.uuid4().hex[:6]}"],
                ),
                ORDER_CONNECTIONS,
                path_tokens,
                CPU_OF["orders"],
            ),
            mode.order_rounds,
            sampler,
            "orders",
            stack,
            mode.settle,
        )
        time.sleep(1)
        inserted = count_orders() - before
        sides = {}
        for name, rs in order_runs.items():
            sides[name] = summarise(rs) | {"socket_errors": sum(r["socket_errors"] for r in rs)}
        report["orders"] = {
            "sides": sides,
            "inserted": inserted,
            "completed": sum(s["requests"] for s in sides.values()),
            "errors_total": sum(s["non2xx"] + s["socket_errors"] for s in sides.values()),
            "ratios": {
                f"c{c}": {
                    "rps": paired_ratio(order_runs[f"model-c{c}"], order_runs[f"call-c{c}"]),
                    "cpu": cpu_ratio(order_runs[f"model-c{c}"], order_runs[f"call-c{c}"]),
                }
                for c in ORDER_CONNECTIONS
            },
            "known_users": orders_paths.check(pg_url(DATABASES["orders"]), N_LOGINS // 2),
            "runs": order_runs,
            "stderr": [r["stderr"] for rs in order_runs.values() for r in rs if "stderr" in r],
        }
        jwks_windows.append(jwks_requests(auth_log))

        if args.profile:
            seconds = mode.profile_seconds
            log(f"profiling a users and an orders worker with py-spy ({seconds} s under load each)")
            sampler.phase = "profile:users"
            report["profile"] = profile_server(
                stack,
                "users",
                seconds,
                lambda: wrk(
                    targets["users"],
                    connections=GET_CONNECTIONS,
                    seconds=seconds,
                    script=LUA / "get.lua",
                    headers=headers,
                ),
                RESULTS,
            )
            sampler.phase = "profile:orders"
            report["profile_orders"] = profile_server(
                stack,
                "orders",
                seconds,
                lambda: wrk(
                    orders_url,
                    connections=ORDER_CONNECTIONS[0],
                    seconds=seconds,
                    script=LUA / "orders.lua",
                    script_args=[str(tokens_file), f"{nonce}-profile"],
                ),
                RESULTS,
            )
            sampler.phase = "idle"
    except BaseException:
        log(f"FAILED; the servers' logs are in {logdir}")
        raise
    finally:
        time.sleep(1.5)  # one more sample of the idle pools
        sampler.stop()
        if stack is not None:
            log("stopping the stack")
            stack.stop()

    # 5: JWKS proof. 6: connections.
    fetches: dict[str, list[int | None]] = collections.defaultdict(list)
    for name in ("users", "orders", "fastapi"):
        for line in stack.procs[name].output().splitlines():
            if line.startswith("BENCH_JSON "):
                fetches[name].append(json.loads(line.removeprefix("BENCH_JSON "))["fetches"])
    fetch_ok = all(f in (0, 1) for fs in fetches.values() for f in fs) and all(
        fetches[n] for n in ("users", "orders", "fastapi")
    )
    # Requests to jwks.json while measured load ran (warm-ups excluded: a worker fetches once,
    # at its first token, which may fall in a warm-up).
    during = (jwks_windows[1] - jwks_windows[0]) + (jwks_windows[3] - jwks_windows[2])
    report["jwks"] = {
        "during_load": during,
        "total_requests_to_jwks": jwks_windows[-1],
        "fetches_per_worker": dict(fetches),
        "fetches_text": "; ".join(f"{n} {fs}" for n, fs in fetches.items()),
        "ok": during == 0 and fetch_ok,
    }
    connections = connection_report(sampler, report["postgres"])
    servers = {k: v for k, v in connections["by_server"].items() if k.startswith("bench-")}
    connections["peaks_text"] = ", ".join(
        f"{k.split('@')[0].removeprefix('bench-')} {v['peak']}" for k, v in servers.items()
    )
    connections["ok"] = all(v["within_limit"] and not v["climbing"] for v in servers.values())
    report["connections"] = connections

    # 8: integration events (bench/events.py), the stack down.
    log("events: relay throughput and commit-to-commit latency (bench/events.py)")
    report["events"] = events.run_json(sys.executable, quick=args.quick, env=base_env())

    # 7: start-up, on the quiet machine (the stack is down).
    if args.skip_startup:
        report["startup"] = {"skipped": "--skip-startup"}
    else:
        log(f"start-up: `platform up --data-dir <tmp>`, {mode.startup_runs} run(s)")
        report["startup"] = startup_runs(mode.startup_runs, logdir)

    report["machine"]["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["elapsed_s"] = round(time.monotonic() - begun, 1)
    ratios = report["get"]["ratios"]
    report["checks"] = {
        # What must hold on any machine, however loaded: the exit status follows these.
        "orders_without_errors": report["orders"]["errors_total"] == 0,
        "unknown_users_stayed_unknown": report["orders"]["known_users"]["ok"],
        "every_event_delivered_once": report.get("events", {}).get("ok", True),
        "jwks_not_fetched_during_load": report["jwks"]["ok"],
        "connections_within_pools": connections["ok"],
        "default_config_within_80_percent": connections["budget"]["ok"],
    }
    report["goals"] = {
        # Speed goals: only meaningful on a quiet machine; they fail the run with --fail-on-goals.
        "users_vs_bare_flask_0.95": ratios["users/bare_flask"] >= 0.95,
        "users_vs_fastapi_1.0": ratios["users/fastapi"] >= 1.0,
        "gateway_vs_direct_0.85": ratios["gateway/direct"] >= 0.85,
    }
    markdown = render(report)
    markdown += f"\nTotal time: {report['elapsed_s']:.0f} s.\n"
    (RESULTS / f"{stamp}.json").write_text(json.dumps(report, indent=2, default=str))
    (RESULTS / "latest.md").write_text(markdown)
    (RESULTS / f"{stamp}.md").write_text(markdown)
    print(markdown)
    if args.keep_logs:
        log(f"server logs kept in {logdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    log(f"results: {RESULTS / f'{stamp}.json'} and {RESULTS / 'latest.md'}")
    failed = [name for name, ok in report["checks"].items() if not ok]
    if args.fail_on_goals:
        failed += [name for name, ok in report["goals"].items() if not ok]
    if failed:
        log(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
