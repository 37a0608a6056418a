"""--profile: py-spy samples one worker under load; the CPU is charged to the platform's layers."""
# py-spy, a fixed command of bench/.venv.
# ruff: noqa: S603

import collections
import re
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from platform_bench.comparisons import Load, OrdersTarget, get_run, order_run, user_path
from platform_bench.servers import Stack
from platform_bench.settings import BIN, ORDER_CONNECTIONS, RESULTS, log

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
OTHER = "other (threading, Python runtime)"
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
    ("orders: Idempotency-Key claim (autocommitted INSERT)", "_claim ("),
    ("orders: Idempotency-Key completion", "_complete ("),
    ("orders: the call to users (common.http)", "ServiceClient.request ("),
    ("orders: the INSERTs (flush)", "Session.flush ("),
    ("orders: body validation (marshmallow load)", "Schema.load ("),
]


def owner_of(frames: list[str]) -> str:
    """The layer of the frame nearest the leaf that matches one of PROFILE_OWNERS."""
    for frame in reversed(frames):
        match = next(
            (label for label, keys in PROFILE_OWNERS if any(k in frame for k in keys)), None
        )
        if match:
            return match
    return OTHER


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
        owners[owner_of(frames)] += n
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


def profile_workers(
    load: Load, user: uuid.UUID, token: str, orders: OrdersTarget
) -> dict[str, Any]:
    """A users worker under the GET load, then an orders worker under the orders load; raw
    stacks in bench/results/profile-*.txt."""
    seconds = load.mode.profile_seconds
    log(f"profiling a users and an orders worker with py-spy ({seconds} s under load each)")
    get_load = get_run(load.stack.url("users", user_path(user)), token, seconds)

    def orders_load() -> dict[str, Any]:
        tag = f"{orders.nonce}-profile"
        return order_run(orders.url, orders.tokens_file, tag, ORDER_CONNECTIONS[0], seconds)

    load.sampler.phase = "profile:users"
    users = profile_server(load.stack, "users", seconds, get_load, RESULTS)
    load.sampler.phase = "profile:orders"
    result = {
        "profile": users,
        "profile_orders": profile_server(load.stack, "orders", seconds, orders_load, RESULTS),
    }
    load.sampler.phase = "idle"
    return result
