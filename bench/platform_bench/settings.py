"""What every part of the benchmark shares: paths, sizes, server settings, the two modes, log."""

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
ROOT = BENCH.parent
BIN = Path(sys.executable).parent  # bench/.venv/bin: gunicorn, traefik, py-spy, platform
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
    """Progress on stderr (the report goes to stdout)."""
    stamp = time.strftime("%H:%M:%S")
    print(f"[bench {stamp}] {message}", file=sys.stderr, flush=True)


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
