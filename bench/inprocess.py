"""What the common stack costs per request, in CPU time, without an HTTP server or a load generator.

GET /api/v1/users/{id} through Flask's test client, in this one process, against the bench
database (seeded by bench/run): the users service (every mechanism of libs/common) and the bare
Flask peer, interleaved, CPU time (time.process_time) per request, median of rounds. Then a
cProfile pass over the users service charges that time to the common mechanisms. Unlike req/s on
a shared machine, these figures barely move with the machine's other load: use them to judge a
change to libs/common (before/after), and the wrk runs to judge the deployment.

    bench/.venv/bin/python bench/inprocess.py [--requests N] [--json]
    bench/.venv/bin/python bench/inprocess.py --instructions [--requests 100]

``--instructions`` counts instructions per request with valgrind's callgrind instead of CPU time:
slower, but the same figure whatever else the machine runs.

Needs the bench_users database of a previous bench/run (or BENCH_USERS_URL). The JWKS cache is
filled in process with a key generated here (no auth service), and the JSON access log goes to
a temporary file, as it goes to a file or pipe under gunicorn.
"""

import argparse
import cProfile
import functools
import io
import json
import logging
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
URL = os.environ.get("BENCH_USERS_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench_users")
# Config reads the environment when common.config is imported: set it first.
os.environ["DATABASE_URL"] = URL
os.environ.setdefault("AUTH_JWKS_URL", "http://127.0.0.1:9/unused")  # filled in process

import jwt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from platform_bench.tokens import first_user, user_token  # noqa: E402

import common.auth  # noqa: E402
from common.auth import public_jwk  # noqa: E402

sys.path.insert(0, str(BENCH / "peers"))

# Functions whose cumulative time is reported: (label, file suffix, function name).
MECHANISMS = [
    ("token check (common.auth.authenticate -> TokenVerifier.verify)", "common/auth.py", "verify"),
    ("JSON access log line (common.logs._log_request)", "common/logs.py", "_log_request"),
    ("request timer (common.logs._start_timer)", "common/logs.py", "_start_timer"),
    (
        "commit (common.transaction.finish_transaction)",
        "common/transaction.py",
        "finish_transaction",
    ),
    ("envelope (common.api.output_envelope)", "common/api.py", "output_envelope"),
    ("X-Request-ID header (common.request_id._set_header)", "common/request_id.py", "_set_header"),
    ("session proxy (common.db._current_session)", "common/db.py", "_current_session"),
    ("the query (Session.get)", "sqlalchemy/orm/session.py", "get"),
    ("UserSchema.dump (marshmallow, the service's)", "marshmallow/schema.py", "dump"),
    (
        "session removal (flask-sqlalchemy teardown)",
        "flask_sqlalchemy/extension.py",
        "_teardown_session",
    ),
]


def _users_app(key: Ed25519PrivateKey) -> Any:
    from users_service import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": URL})
    jwks = app.extensions["auth"].jwks
    jwks._keys = {public_jwk(key.public_key())["kid"]: jwt.PyJWK(public_jwk(key.public_key()))}
    jwks._fetched_at = time.monotonic()
    return app


def _quiet_logs(path: Path) -> None:
    """The JSON log lines go to a file, as under gunicorn (not to this terminal)."""
    stream = path.open("a")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)


def _cpu_per_request(call: Callable[[], Any], n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - start) / n * 1e6


def _sides() -> tuple[Any, Any, Any, Callable[[Any], Any]]:
    """The users app, its test client, the bare peer's test client, and the request to send."""
    import bare_flask

    key = Ed25519PrivateKey.generate()
    user_id = first_user(URL)
    path = f"/api/v1/users/{user_id}"
    headers = {"Authorization": f"Bearer {user_token(key, user_id)}"}
    users_app = _users_app(key)
    return (
        users_app,
        users_app.test_client(),
        bare_flask.create_app().test_client(),
        lambda client: client.get(path, headers=headers),
    )


def measure(requests: int, rounds: int) -> dict[str, Any]:
    """CPU µs per request of both apps, and the users service's time per mechanism."""
    users_app, users, bare, get = _sides()
    with tempfile.TemporaryDirectory() as tmp:
        _quiet_logs(Path(tmp) / "access.log")
        for client in (users, bare):
            response = get(client)
            assert response.status_code == 200, response.get_data(as_text=True)  # noqa: S101
            for _ in range(200):
                get(client)
        runs: dict[str, list[float]] = {"users": [], "users_token_memory_off": [], "bare_flask": []}
        kept = common.auth.VERIFIED_TOKENS_KEPT
        for _ in range(rounds):
            runs["users"].append(_cpu_per_request(lambda: get(users), requests))
            # The same service checking every token in full: the "before" of that optimisation.
            common.auth.VERIFIED_TOKENS_KEPT = 0
            users_app.extensions["auth"]._verified.clear()
            runs["users_token_memory_off"].append(_cpu_per_request(lambda: get(users), requests))
            common.auth.VERIFIED_TOKENS_KEPT = kept
            runs["bare_flask"].append(_cpu_per_request(lambda: get(bare), requests))
        profile = cProfile.Profile(time.process_time)  # CPU, like the rounds
        profile.enable()
        for _ in range(requests):
            get(users)
        profile.disable()
    stats = pstats.Stats(profile, stream=io.StringIO())
    total = max(v[3] for v in stats.stats.values())  # the top frame's cumulative time
    parts = {}
    for label, suffix, name in MECHANISMS:
        cumulative = sum(
            v[3]
            for (file, _, func), v in stats.stats.items()
            if file.endswith(suffix) and func == name
        )
        parts[label] = round(100 * cumulative / total, 1) if total else 0.0
    users_us = statistics.median(runs["users"])
    before_us = statistics.median(runs["users_token_memory_off"])
    bare_us = statistics.median(runs["bare_flask"])
    return {
        "requests_per_round": requests,
        "rounds": rounds,
        "users_us": users_us,
        "users_token_memory_off_us": before_us,
        "bare_flask_us": bare_us,
        "overhead_us": users_us - bare_us,
        "cpu_ratio": bare_us / users_us,
        "cpu_ratio_token_memory_off": bare_us / before_us,
        "runs_us": {k: [round(x, 1) for x in v] for k, v in runs.items()},
        "profile_pct_of_users_request": parts,
    }


# callgrind counts only inside this C function (--toggle-collect): the counted requests run in
# functools.reduce, so neither start-up nor warm-up is in the figure.
COUNTED_FUNCTION = "functools_reduce"


def count_side(side: str, requests: int) -> None:
    """Under callgrind: send ``requests`` GETs to one side, inside functools.reduce."""
    _, users, bare, get = _sides()
    client = users if side == "users" else bare
    with tempfile.TemporaryDirectory() as tmp:
        _quiet_logs(Path(tmp) / "access.log")
        for _ in range(50):
            get(client)
        functools.reduce(lambda _, __: get(client), range(requests), None)


def instructions(requests: int) -> dict[str, Any]:
    """Instructions per request of each side, counted by valgrind's callgrind.

    The count is the same on a quiet and on a busy machine, unlike CPU time on a shared VM:
    the figure for judging a small change to libs/common. Each side runs in its own process.
    """
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")

    def count(side: str) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "callgrind.out"
            command = [
                valgrind,
                "--tool=callgrind",
                f"--toggle-collect={COUNTED_FUNCTION}",
                f"--callgrind-out-file={out}",
                *(sys.executable, __file__, "--count-side", side, "--requests", str(requests)),
            ]
            # A fixed hash seed: string hashing decides dict probing, i.e. part of the count.
            env = {**os.environ, "PYTHONHASHSEED": "0"}
            subprocess.run(command, check=True, capture_output=True, env=env)  # noqa: S603
            totals = next(ln for ln in out.read_text().splitlines() if ln.startswith("totals:"))
        counted = int(totals.split()[1])
        if counted == 0:
            raise SystemExit(f"callgrind found no {COUNTED_FUNCTION} (a stripped Python?)")
        return counted / requests

    with ThreadPoolExecutor(2) as pool:  # instruction counts do not depend on the load
        users, bare = pool.map(count, ["users", "bare_flask"])
    return {
        "requests": requests,
        "users_instructions": round(users),
        "bare_flask_instructions": round(bare),
        "overhead_instructions": round(users - bare),
        "instruction_ratio": bare / users,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=int, help="requests per round (default 2000; 100 with --instructions)"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per request with valgrind instead (slow: ~1.5 min per 100)",
    )
    parser.add_argument(
        "--fail-below",
        type=float,
        metavar="RATIO",
        help="with --instructions: exit 1 when the ratio (bare Flask / users) is lower",
    )
    parser.add_argument("--count-side", choices=["users", "bare_flask"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count_side:
        count_side(args.count_side, args.requests)
        return 0
    if args.instructions:
        counted = instructions(args.requests or 100)
        if args.json:
            print(json.dumps(counted))
        else:
            per_request = "instructions per request"
            print(f"users service : {counted['users_instructions']:>12,} {per_request}")
            print(f"bare Flask    : {counted['bare_flask_instructions']:>12,} {per_request}")
            print(
                f"common stack  : {counted['overhead_instructions']:>12,}"
                f" ({counted['instruction_ratio']:.3f}x)"
            )
        if args.fail_below is not None and counted["instruction_ratio"] < args.fail_below:
            print(f"the common stack costs more than allowed: below {args.fail_below:.3f}x")
            return 1
        return 0
    result = measure(args.requests or 2000, args.rounds)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"users service        : {result['users_us']:8.1f} µs CPU per request")
    print(f"  token memory off   : {result['users_token_memory_off_us']:8.1f} µs")
    print(f"bare Flask           : {result['bare_flask_us']:8.1f} µs CPU per request")
    print(f"common stack         : {result['overhead_us']:8.1f} µs ({result['cpu_ratio']:.3f}x;")
    print(f"  token memory off   : {result['cpu_ratio_token_memory_off']:.3f}x)")
    print("users service, share of its request (cProfile, inclusive):")
    for label, pct in result["profile_pct_of_users_request"].items():
        print(f"  {pct:5.1f} %  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
