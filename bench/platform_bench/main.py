"""The command line and the order of a run: databases, the in-process figures, the stack under
load (benchmarks 1-5), then with the stack down the connections (6), events (8) and start-up
(7); the results written, the exit status from the checks (and the goals with --fail-on-goals)."""
# bench/inprocess.py, a fixed command of bench/.venv.
# ruff: noqa: S603

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import events
import psycopg

import platform_bench
from platform_bench import databases
from platform_bench.comparisons import Load, get_comparison, orders_comparison
from platform_bench.connections import ConnectionSampler, connections_result
from platform_bench.machine import load_average, machine_facts
from platform_bench.profiling import profile_workers
from platform_bench.report import render
from platform_bench.servers import Stack, start_stack
from platform_bench.settings import (
    BENCH,
    DATABASES,
    FULL,
    GET_CONNECTIONS,
    LOADED,
    N_LOGINS,
    N_ORDERS,
    N_USERS,
    ORDER_CONNECTIONS,
    PG_HOST,
    PG_PORT,
    PG_USER,
    QUICK,
    RESULTS,
    ROOT,
    SEED,
    THREADS,
    WORKERS,
    WRK_THREADS,
    Mode,
    base_env,
    log,
)
from platform_bench.startup import startup_runs
from platform_bench.tokens import jwks_result, login_all, token_microbench


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """bench/run's options (bench/README.md, Options)."""
    description = (platform_bench.__doc__ or "").split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="bench/run", description=description)
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
    return parser.parse_args(argv)


def new_report(when: dt.datetime, mode: Mode, args: argparse.Namespace) -> dict[str, Any]:
    """The result's head: when, the machine, the settings of this run."""
    return {
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


def prepare_databases(report: dict[str, Any], workdir: Path) -> databases.Seeded:
    """Fresh bench databases, the services' migrations, the seeded rows."""
    log("PostgreSQL: recreating bench_users, bench_orders, bench_auth")
    try:
        report["postgres"] = databases.recreate_databases()
    except psycopg.OperationalError as exc:
        raise SystemExit(
            f"bench: PostgreSQL does not answer as {PG_USER}@{PG_HOST}:{PG_PORT} ({exc})."
            " Start it (.ci/run shows how) or set BENCH_PG_HOST / BENCH_PG_PORT / BENCH_PG_USER."
        ) from None
    key_file = workdir / "auth-signing-key.pem"
    databases.run_migrations(lambda name: databases.migration_env(name, key_file))
    t0 = time.monotonic()
    seeded = databases.seed(random.Random(SEED))  # noqa: S311 (reproducible test data)
    log(f"seeded {N_USERS:,} users, {N_ORDERS:,} orders in {time.monotonic() - t0:.1f} s")
    return seeded


def run_inprocess(mode: Mode) -> dict[str, Any]:
    """bench/inprocess.py --json against bench_users: the common stack's CPU, no HTTP server."""
    log("in process (bench/inprocess.py): CPU per request of the common stack, no HTTP server")
    users_url = databases.pg_url(DATABASES["users"], "+psycopg")
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
        env=base_env() | {"BENCH_USERS_URL": users_url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if inproc.returncode != 0:
        raise SystemExit(f"bench/inprocess.py failed:\n{inproc.stdout}\n{inproc.stderr}")
    return dict(json.loads(inproc.stdout.strip().splitlines()[-1]))


def measure_under_load(
    report: dict[str, Any],
    args: argparse.Namespace,
    mode: Mode,
    workdir: Path,
    seeded: databases.Seeded,
) -> Load:
    """Benchmarks 1-5 (and --profile) with the whole stack up; it stops, also on failure."""
    logdir = workdir / "logs"
    sampler = ConnectionSampler()
    sampler.start()
    stack: Stack | None = None
    try:
        log("starting auth, users, orders, bare Flask, FastAPI (gunicorn) and Traefik")
        stack = start_stack(
            workdir, logdir, args.fastapi_threadpool, token_memory=not args.token_memory_off
        )
        load = Load(stack, mode, sampler)
        tokens = login_all(stack, seeded.emails[:N_LOGINS])
        log(f"token verification micro-benchmark ({mode.tokens:,} tokens)")
        logins = seeded.user_ids[:N_LOGINS]
        report["token"] = token_microbench(stack, workdir, logins, mode.tokens)
        log(f"  verify: {report['token']['verify_us']:.1f} µs/token")
        user, email, token = seeded.user_ids[0], seeded.emails[0], tokens[0]
        report["get"] = get_comparison(load, user, email, token)
        report["orders"], orders_target = orders_comparison(load, workdir, seeded.user_ids, tokens)
        if args.profile:
            report |= profile_workers(load, user, token, orders_target)
    except BaseException:
        log(f"FAILED; the servers' logs are in {logdir}")
        raise
    finally:
        time.sleep(1.5)  # one more sample of the idle pools
        sampler.stop()
        if stack is not None:
            log("stopping the stack")
            stack.stop()
    return load


def checks_and_goals(report: dict[str, Any]) -> None:
    """What must hold on any machine (the exit status follows these) and the speed goals (only
    meaningful on a quiet machine: they fail the run with --fail-on-goals)."""
    ratios = report["get"]["ratios"]
    report["checks"] = {
        "orders_without_errors": report["orders"]["errors_total"] == 0,
        "unknown_users_stayed_unknown": report["orders"]["known_users"]["ok"],
        "every_event_delivered_once": report.get("events", {}).get("ok", True),
        "jwks_not_fetched_during_load": report["jwks"]["ok"],
        "connections_within_pools": report["connections"]["ok"],
        "default_config_within_80_percent": report["connections"]["budget"]["ok"],
    }
    report["goals"] = {
        "users_vs_bare_flask_0.95": ratios["users/bare_flask"] >= 0.95,
        "users_vs_fastapi_1.0": ratios["users/fastapi"] >= 1.0,
        "gateway_vs_direct_0.85": ratios["gateway/direct"] >= 0.85,
    }


def write_results(report: dict[str, Any], stamp: str) -> None:
    """bench/results/<stamp>.json and .md, latest.md, and the report on stdout."""
    markdown = render(report)
    (RESULTS / f"{stamp}.json").write_text(json.dumps(report, indent=2, default=str))
    (RESULTS / "latest.md").write_text(markdown)
    (RESULTS / f"{stamp}.md").write_text(markdown)
    print(markdown)


def main(argv: list[str] | None = None) -> int:
    """One run of the benchmark; 1 when a check (or, with --fail-on-goals, a goal) failed."""
    args = parse_args(argv)
    mode = QUICK if args.quick else FULL
    # `kill` (SIGTERM) or a closed terminal stop the servers too, like Ctrl-C does.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda received, _frame: sys.exit(128 + received))
    begun = time.monotonic()
    when = dt.datetime.now(dt.UTC)
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"platform-bench-{stamp}-"))
    (workdir / "logs").mkdir()
    report = new_report(when, mode, args)
    log(f"{mode.name} mode; load average {report['machine']['load_at_start']}; work dir {workdir}")
    if os.getloadavg()[0] > LOADED and mode is FULL:
        log(
            "WARNING: load average above 2.5: the machine is busy; ratios still hold better"
            " than absolute numbers"
        )
    seeded = prepare_databases(report, workdir)
    report["inprocess"] = run_inprocess(mode)
    load = measure_under_load(report, args, mode, workdir, seeded)
    report["jwks"] = jwks_result(load.stack, load.jwks_windows)  # 5: the JWKS proof
    report["connections"] = connections_result(load.sampler, report["postgres"])  # 6
    # 8: integration events (bench/events.py), the stack down.
    log("events: relay throughput and commit-to-commit latency (bench/events.py)")
    report["events"] = events.run_json(sys.executable, quick=args.quick, env=base_env())
    # 7: start-up, on the quiet machine (the stack is down).
    if args.skip_startup:
        report["startup"] = {"skipped": "--skip-startup"}
    else:
        log(f"start-up: `platform up --data-dir <tmp>`, {mode.startup_runs} run(s)")
        report["startup"] = startup_runs(mode.startup_runs, workdir / "logs")
    report["machine"]["load_at_end"] = load_average()
    report["elapsed_s"] = round(time.monotonic() - begun, 1)
    checks_and_goals(report)
    write_results(report, stamp)
    return finish(report, args, workdir, stamp)


def finish(report: dict[str, Any], args: argparse.Namespace, workdir: Path, stamp: str) -> int:
    """Keep or remove the servers' logs; the exit status."""
    if args.keep_logs:
        log(f"server logs kept in {workdir / 'logs'}")
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
