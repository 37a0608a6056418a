"""Where an order's CPU goes: POST /api/v1/orders in process, without HTTP server or load generator.

The orders service through Flask's test client, against bench_orders of a previous bench/run
(BENCH_ORDERS_URL), for an account in its read model (``known_users``: no call to users), each
request with a new Idempotency-Key: CPU time (time.process_time) per request, median of rounds,
then a cProfile pass charging it to the parts of the request. ``--instructions`` counts
instructions per request with valgrind's callgrind instead (the same on a quiet and a busy
machine; see bench/inprocess.py). Run it before and after a change to the order path.

    bench/.venv/bin/python bench/orders_inprocess.py [--requests N] [--rounds R] [--json]
    bench/.venv/bin/python bench/orders_inprocess.py --instructions [--requests 100]
"""

import argparse
import cProfile
import functools
import io
import itertools
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
URL = os.environ.get(
    "BENCH_ORDERS_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench_orders"
)
os.environ["DATABASE_URL"] = URL  # read when common.config is imported
os.environ.setdefault("AUTH_JWKS_URL", "http://127.0.0.1:9/unused")  # filled in process
os.environ.setdefault("USERS_URL", "http://127.0.0.1:9")  # never called: the user is known

sys.path.insert(0, str(BENCH))
from inprocess import _quiet_logs  # noqa: E402
from platform_bench.tokens import first_user, user_token  # noqa: E402

# (label, file suffix, function): inclusive CPU share of each part of the request.
PARTS = [
    ("token check (common.auth: verify)", "common/auth.py", "verify"),
    ("Idempotency-Key claim (an autocommitted INSERT)", "common/idempotency.py", "_claim"),
    (
        "request fingerprint (canonical JSON + sha256)",
        "common/idempotency.py",
        "request_fingerprint",
    ),
    ("body parsing (marshmallow load)", "common/api.py", "parse_body"),
    ("read model check (known_users.require_can_order)", "orders_service/known_users.py",
     "require_can_order"),
    ("place_order (domain, flush and event included)", "orders_service/domain.py", "place_order"),
    ("  session.flush (INSERT order + items)", "sqlalchemy/orm/session.py", "flush"),
    ("  outbox event (common.events.publish: envelope, INSERT with NOTIFY)",
     "common/events/outbox.py", "publish"),
    ("  event data dump (EventType.dump, marshmallow)", "common/events/types.py", "dump"),
    ("response dump (OrderSchema, marshmallow)", "marshmallow/schema.py", "dump"),
    ("Idempotency-Key completion (UPDATE with the response)", "common/idempotency.py",
     "_complete"),
    ("commit (common.transaction.finish_transaction)", "common/transaction.py",
     "finish_transaction"),
    ("envelope (common.api.output_envelope)", "common/api.py", "output_envelope"),
    ("JSON access log line (common.logs._log_request)", "common/logs.py", "_log_request"),
]  # fmt: skip
BODY = {
    "items": [
        {"sku": "BENCH-1", "quantity": 2, "unit_price_cents": 1250},
        {"sku": "BENCH-2", "quantity": 1, "unit_price_cents": 990},
    ],
    "currency": "EUR",
}


def _client() -> Any:
    """The orders app's test client, and a POST for a known user with a new key per call."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from common.auth import public_jwk
    from orders_service import create_app

    user_id = first_user(URL, "SELECT id FROM known_users LIMIT 1")
    if user_id is None:
        raise SystemExit("bench_orders has no known user: run bench/run (--quick) first")
    key = Ed25519PrivateKey.generate()
    token = user_token(key, user_id)
    app = create_app({"SQLALCHEMY_DATABASE_URI": URL})
    jwks = app.extensions["auth"].jwks
    jwks._keys = {public_jwk(key.public_key())["kid"]: jwt.PyJWK(public_jwk(key.public_key()))}
    jwks._fetched_at = time.monotonic()
    client = app.test_client()
    run = uuid.uuid4().hex[:8]
    counter = itertools.count()

    def post() -> Any:
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"{run}-{next(counter)}"}
        response = client.post("/api/v1/orders", json=BODY, headers=headers)
        if response.status_code != 201:
            raise SystemExit(f"POST answered {response.status_code}: {response.get_data(True)}")
        return response

    return post


def measure(requests: int, rounds: int) -> dict[str, Any]:
    """CPU µs per order, and its share per part (cProfile, inclusive)."""
    post = _client()
    with tempfile.TemporaryDirectory() as tmp:
        _quiet_logs(Path(tmp) / "access.log")
        for _ in range(100):
            post()
        runs = []
        for _ in range(rounds):
            start = time.process_time()
            for _ in range(requests):
                post()
            runs.append((time.process_time() - start) / requests * 1e6)
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for _ in range(requests):
            post()
        profile.disable()
    stats = pstats.Stats(profile, stream=io.StringIO())
    total = max(v[3] for v in stats.stats.values())
    parts = {
        label: round(100 * sum(v[3] for (f, _, fn), v in stats.stats.items()
                               if f.endswith(suffix) and fn == name) / total, 1)
        for label, suffix, name in PARTS
    }  # fmt: skip
    return {"cpu_us": statistics.median(runs), "runs_us": [round(x) for x in runs], "parts": parts}


def count(requests: int) -> None:
    """Under callgrind: ``requests`` orders inside functools.reduce (the counted function)."""
    post = _client()
    with tempfile.TemporaryDirectory() as tmp:
        _quiet_logs(Path(tmp) / "access.log")
        for _ in range(50):
            post()
        functools.reduce(lambda _, __: post(), range(requests), None)


def instructions(requests: int) -> float:
    """Instructions per order, counted by callgrind (a fixed hash seed)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        command = [
            valgrind, "--tool=callgrind", "--toggle-collect=functools_reduce",
            f"--callgrind-out-file={out}", sys.executable, __file__, "--count", str(requests),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(command, check=True, capture_output=True, env=env)  # noqa: S603
        totals = next(ln for ln in out.read_text().splitlines() if ln.startswith("totals:"))
    return int(totals.split()[1]) / requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, help="per round (default 500; 100 counted)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--instructions", action="store_true", help="callgrind (~2 min)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count:
        count(args.count)
        return 0
    if args.instructions:
        n = instructions(args.requests or 100)
        print(
            json.dumps({"instructions": round(n)}) if args.json else f"{n:,.0f} instructions/order"
        )
        return 0
    result = measure(args.requests or 500, args.rounds)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"POST /api/v1/orders (known user): {result['cpu_us']:.0f} µs CPU per order"
          f" (rounds: {result['runs_us']})")  # fmt: skip
    for label, pct in result["parts"].items():
        print(f"  {pct:5.1f} %  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
