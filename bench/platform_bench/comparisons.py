"""Benchmarks 1-4 under wrk: GET /api/v1/users/{id} on the users service, bare Flask, FastAPI
and through Traefik; POST /api/v1/orders through the gateway on both of its paths."""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orders_paths
import requests

from platform_bench import wrk
from platform_bench.connections import ConnectionSampler
from platform_bench.databases import count_orders, pg_url
from platform_bench.servers import Stack
from platform_bench.settings import (
    DATABASES,
    GET_CONNECTIONS,
    LUA,
    N_LOGINS,
    ORDER_CONNECTIONS,
    Mode,
    log,
)
from platform_bench.tokens import jwks_requests

# The GET comparison's sides: the server each one's URL points at.
GET_TARGETS = {
    "users": "users",
    "bare_flask": "bare_flask",
    "fastapi": "fastapi",
    "users_gateway": "gateway",
}
# Ratio name: (numerator side, denominator side) of the GET comparison.
GET_RATIOS = {
    "users/bare_flask": ("users", "bare_flask"),
    "users/fastapi": ("users", "fastapi"),
    "gateway/direct": ("users_gateway", "users"),
}


@dataclass
class Load:
    """What every measured phase needs, and the JWKS request counts taken between phases
    (tokens.jwks_result reads them: before and after the GET rounds, then the orders rounds)."""

    stack: Stack
    mode: Mode
    sampler: ConnectionSampler
    jwks_windows: list[int] = field(default_factory=list)

    def mark_jwks(self) -> None:
        self.jwks_windows.append(jwks_requests(self.stack.procs["auth"].log_path))

    def rounds(self, sides: dict[str, wrk.Side], rounds: int, label: str) -> dict[str, Any]:
        """The sides interleaved over ``rounds`` (wrk.interleaved)."""
        return wrk.interleaved(sides, rounds, self.sampler, label, self.stack, self.mode.settle)


def user_path(user: uuid.UUID) -> str:
    """The GET every side of benchmarks 1-3 answers."""
    return f"/api/v1/users/{user}"


def get_run(url: str, token: str, seconds: int) -> Callable[[], dict[str, Any]]:
    """A wrk run of GET ``url`` with the bearer token, ``seconds`` long."""
    headers = [f"Authorization: Bearer {token}"]
    script = LUA / "get.lua"
    return lambda: wrk.run(
        url, connections=GET_CONNECTIONS, seconds=seconds, script=script, headers=headers
    )


def order_run(url: str, tokens: Path, tag: str, connections: int, seconds: int) -> dict[str, Any]:
    """A wrk run of POST ``url`` rotating the tokens of a file, a new Idempotency-Key per
    request (``tag`` keeps the keys of every run apart)."""
    script = LUA / "orders.lua"
    args = [str(tokens), tag]
    return wrk.run(url, connections=connections, seconds=seconds, script=script, script_args=args)


def check_get_answers(targets: dict[str, str], token: str, email: str) -> None:
    """Every side answers the user's own record before any load (the same contract)."""
    for name, url in targets.items():
        response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        body = response.json()
        answer = body.get("data", body).get("email")
        if response.status_code != 200 or answer != email:
            raise SystemExit(f"{name}: unexpected answer {response.status_code} {body}")


def get_comparison(load: Load, user: uuid.UUID, email: str, token: str) -> dict[str, Any]:
    """Benchmarks 1-3: the same GET on every side, warmed up, then interleaved rounds."""
    mode, path = load.mode, user_path(user)
    targets = {name: load.stack.url(server, path) for name, server in GET_TARGETS.items()}
    check_get_answers(targets, token, email)
    log(f"GET comparison: warm-up {mode.warmup} s per side")
    for name, url in targets.items():
        load.sampler.phase = f"warmup:{name}"
        get_run(url, token, mode.warmup)()
    load.mark_jwks()
    log(f"GET comparison: {mode.rounds} interleaved rounds x {mode.duration} s")
    sides = {
        name: (get_run(url, token, mode.duration), wrk.CPU_OF[name])
        for name, url in targets.items()
    }
    runs = load.rounds(sides, mode.rounds, "get")
    result = {
        "sides": {name: wrk.summarise(rs) for name, rs in runs.items()},
        "ratios": {k: wrk.paired_ratio(runs[a], runs[b]) for k, (a, b) in GET_RATIOS.items()},
        "cpu_ratios": {k: wrk.cpu_ratio(runs[a], runs[b]) for k, (a, b) in GET_RATIOS.items()},
        "runs": runs,
    }
    load.mark_jwks()
    return result


@dataclass
class OrdersTarget:
    """Where benchmark 4's load goes: the URL, every credentialed token, the runs' key tag."""

    url: str
    tokens_file: Path
    nonce: str


def orders_comparison(
    load: Load, workdir: Path, user_ids: list[uuid.UUID], tokens: list[str]
) -> tuple[dict[str, Any], OrdersTarget]:
    """Benchmark 4: both paths of an order (orders_paths.py) at each connection count."""
    mode = load.mode
    target = OrdersTarget(
        load.stack.url("gateway", "/api/v1/orders"), workdir / "tokens.txt", uuid.uuid4().hex[:12]
    )
    target.tokens_file.write_text("\n".join(tokens) + "\n")
    orders_db = pg_url(DATABASES["orders"])
    path_tokens = orders_paths.prepare(orders_db, user_ids[:N_LOGINS], tokens, workdir)
    load.sampler.phase = "warmup:orders"
    warm = f"{target.nonce}-warm"
    order_run(target.url, target.tokens_file, warm, ORDER_CONNECTIONS[0], mode.warmup)
    before = count_orders()
    load.mark_jwks()
    log(
        f"orders: {mode.order_rounds} interleaved rounds x {mode.duration} s at"
        f" {ORDER_CONNECTIONS} connections"
    )

    def run(c: int, tokens: Path, label: str) -> dict[str, Any]:
        tag = f"{target.nonce}-{label}-{uuid.uuid4().hex[:6]}"
        return order_run(target.url, tokens, tag, c, mode.duration)

    sides = orders_paths.sides(run, ORDER_CONNECTIONS, path_tokens, wrk.CPU_OF["orders"])
    runs = load.rounds(sides, mode.order_rounds, "orders")
    time.sleep(1)
    result = orders_summary(runs, count_orders() - before, orders_db)
    load.mark_jwks()
    return result, target


def orders_summary(
    runs: dict[str, list[dict[str, Any]]], inserted: int, orders_db: str
) -> dict[str, Any]:
    """Medians per side, the read model's ratios over the users call, errors, the check."""
    sides = {
        name: wrk.summarise(rs) | {"socket_errors": sum(r["socket_errors"] for r in rs)}
        for name, rs in runs.items()
    }
    return {
        "sides": sides,
        "inserted": inserted,
        "completed": sum(s["requests"] for s in sides.values()),
        "errors_total": sum(s["non2xx"] + s["socket_errors"] for s in sides.values()),
        "ratios": {
            f"c{c}": {
                "rps": wrk.paired_ratio(runs[f"model-c{c}"], runs[f"call-c{c}"]),
                "cpu": wrk.cpu_ratio(runs[f"model-c{c}"], runs[f"call-c{c}"]),
            }
            for c in ORDER_CONNECTIONS
        },
        "known_users": orders_paths.check(orders_db, N_LOGINS // 2),
        "runs": runs,
        "stderr": [r["stderr"] for rs in runs.values() for r in rs if "stderr" in r],
    }
