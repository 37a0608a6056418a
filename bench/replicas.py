"""Benchmark 9: the compose platform with 1 and 3 replicas per service, and how long a killed
replica's share of the requests takes to move to the others.

    bench/.venv/bin/python bench/replicas.py [--url http://127.0.0.1:8080] [--seconds 10]

Runs against the caller's compose platform (``COMPOSE_PROJECT_NAME`` and
``PLATFORM_COMPOSE_ARGS`` as for tests/resilience/replicas.py), which it scales: users, orders
and auth at 1 and at 3 replicas, in the order 1 3 3 1 ... (one round is one of each), each
scale measured with wrk for ``GET /api/v1/users/{id}`` and keyed ``POST /api/v1/orders``
through the gateway. Next to req/s and latency: the platform's CPU time per request, every
container of the project together (services, relays, consumers, databases, broker, gateway),
from the containers' cgroups. On a 2-core machine more replicas add no cores: what they change
is how well the cores are used (one replica is 2 workers of 4 threads, each process one GIL,
waiting on its database between requests) and what the extra processes cost; the figures
show both, not a speed-up a bigger machine would give. Then, at 3 replicas, a paced load of
``--clients`` threads (each pausing 0.1 s between requests) while one replica of users (reads),
then one of orders (keyed creations), is killed (SIGKILL): how many requests the dead replica
held up (failed, or slower than 0.5 s) and when the last of them ended -- when its share of the
requests had moved to the others. The platform is left at 1 replica per service.
"""

import argparse
import os
import shlex
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests" / "resilience"))
sys.path.insert(0, str(BENCH.parent / "tests" / "integration"))

from api_client import ORDERS, ApiClient, order_body, sign_up  # noqa: E402
from platform_bench import wrk  # noqa: E402
from replicas import Compose  # noqa: E402 (the resilience test's docker compose wrapper)

SCALED = ("users", "orders", "auth")
CGROUP = Path("/sys/fs/cgroup")
# A request the dead replica held up: failed, or slower than this (the gateway's dial timeout,
# 1 s, is what a request sent to a killed container's address waits before its retry).
DELAYED_SECONDS = 0.5
PAUSE = 0.1  # between a kill-measure client's requests: about 60 requests/s from 8 clients


def cpu_seconds(compose: Compose) -> float:
    """CPU time of every running container of the project so far (cgroup v2 or v1)."""
    total = 0.0
    for container in compose.run("ps", "-q", "--no-trunc").split():
        v2 = CGROUP / "system.slice" / f"docker-{container}.scope" / "cpu.stat"
        v1 = CGROUP / "cpuacct" / "docker" / container / "cpuacct.usage"
        if v2.exists():
            usage = next(ln for ln in v2.read_text().splitlines() if ln.startswith("usage_usec"))
            total += int(usage.split()[1]) / 1e6
        elif v1.exists():
            total += int(v1.read_text()) / 1e9
    return total


def scale(compose: Compose, replicas: int) -> None:
    """Every scaled service at ``replicas``, healthy, and routed by the gateway."""
    counts = [f"{service}={replicas}" for service in SCALED]
    scale_args = [arg for count in counts for arg in ("--scale", count)]
    compose.run("up", "-d", "--wait", "--wait-timeout", "300", "--no-recreate", *scale_args)
    time.sleep(4)  # the gateway's health check (every 1 s) and its provider's 2 s throttle


@dataclass
class Sent:
    started: float
    seconds: float
    ok: bool


Send = Callable[[requests.Session], requests.Response]


def paced_load(send: Send, clients: int, stop: threading.Event) -> list[Sent]:
    """``clients`` threads calling ``send``, each pausing ``PAUSE`` between calls, until ``stop``.

    Below what the platform serves, so a request waits only when it meets the dead replica.
    """
    sent: list[Sent] = []
    lock = threading.Lock()

    def loop() -> None:
        session = requests.Session()
        while not stop.is_set():
            started = time.monotonic()
            try:
                ok = send(session).status_code < 400
            except requests.RequestException:
                ok = False
            with lock:
                sent.append(Sent(started, time.monotonic() - started, ok))
            time.sleep(PAUSE)

    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join()
    return sent


def kill_one(compose: Compose, service: str, send: Send, clients: int) -> str:
    """Kill a replica of ``service`` under load; when its share of requests had moved."""
    stop = threading.Event()
    result: list[list[Sent]] = []
    loader = threading.Thread(target=lambda: result.append(paced_load(send, clients, stop)))
    loader.start()
    time.sleep(3)
    victim = compose.containers(service)[0]
    killed = time.monotonic()
    compose.docker("kill", victim)
    time.sleep(10)
    stop.set()
    loader.join()
    compose.docker("start", victim)
    compose.wait_healthy(victim)
    sent = result[0]
    before = [s.seconds for s in sent if s.started < killed - 0.5 and s.ok]
    held = [
        s
        for s in sent
        if s.started + s.seconds > killed and (not s.ok or s.seconds > DELAYED_SECONDS)
    ]
    moved = max((s.started + s.seconds - killed for s in held), default=0.0)
    return (
        f"{service}: {len(sent)} requests, {len(held)} held up by the dead replica"
        f" ({sum(not s.ok for s in held)} failed), the last ended {moved:.2f} s after the"
        f" kill; median before {1000 * statistics.median(before):.1f} ms"
    )


def compare(compose: Compose, runs: dict[str, Callable[[], dict]], rounds: int) -> list[str]:
    """Each wrk run at 1 and 3 replicas, in the order 1 3 3 1 ...; the table's lines."""
    results: dict[tuple[str, int], list[dict]] = {}
    for replicas in ([1, 3, 3, 1] * rounds)[: 2 * rounds]:
        scale(compose, replicas)
        for name, run in runs.items():
            cpu = cpu_seconds(compose)
            result = run()
            result["cpu_ms_per_request"] = 1000 * (cpu_seconds(compose) - cpu) / result["requests"]
            results.setdefault((name, replicas), []).append(result)
            print(
                f"  {replicas} replica(s) {name:<15} {result['rps']:7.1f} req/s"
                f"  p99 {result['latency_us']['p99'] / 1000:7.1f} ms"
                f"  {result['cpu_ms_per_request']:.2f} ms CPU/request",
                flush=True,
            )
    lines = [
        "| request | replicas | req/s | p50 ms | p99 ms | platform CPU ms/request | non-2xx |"
        " 3 vs 1 req/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in runs:
        one, three = results[(name, 1)], results[(name, 3)]
        for replicas, side in ((1, one), (3, three)):
            s = wrk.summarise(side)
            ratio = f"{wrk.paired_ratio(three, one):.2f}x" if replicas == 3 else ""
            lines.append(
                f"| {name} | {replicas} | {s['rps']:.0f} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f}"
                f" | {s['cpu_ms']:.2f} | {s['non2xx']} | {ratio} |"
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("PLATFORM_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--seconds", type=int, default=10, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="0: only the kill measure")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--clients", type=int, default=8, help="for the kill measure")
    args = parser.parse_args()
    compose = Compose(shlex.split(os.environ.get("PLATFORM_COMPOSE_ARGS", "")))
    scale(compose, 1)
    api = ApiClient(args.url)
    accounts = [sign_up(api, f"bench-replicas{i}") for i in range(16)]
    tokens = BENCH / "results" / "replicas-tokens.txt"
    tokens.parent.mkdir(exist_ok=True)
    tokens.write_text("\n".join(a.access_token for a in accounts) + "\n")
    reader = accounts[0]
    runs = {
        "users GET": lambda: wrk.run(
            args.url + reader.profile_path,
            connections=args.connections,
            seconds=args.seconds,
            script=BENCH / "lua" / "get.lua",
            headers=[f"Authorization: Bearer {reader.access_token}"],
        ),
        "order creation": lambda: wrk.run(
            args.url + ORDERS,
            connections=args.connections,
            seconds=args.seconds,
            script=BENCH / "lua" / "orders.lua",
            script_args=[str(tokens), uuid.uuid4().hex],
        ),
    }
    if args.rounds:
        print(f"\n{args.connections} connections, {args.seconds} s per run, {args.rounds} rounds:")
        print("\n".join(compare(compose, runs, args.rounds)))

    def read(session: requests.Session) -> requests.Response:
        return session.get(args.url + reader.profile_path, headers=reader.headers, timeout=30)

    def create(session: requests.Session) -> requests.Response:
        headers = {**reader.headers, "Idempotency-Key": uuid.uuid4().hex}
        return session.post(args.url + ORDERS, json=order_body(), headers=headers, timeout=30)

    scale(compose, 3)
    print(f"\nkill -9 of one of 3 replicas under a paced load of {args.clients} clients:")
    print(kill_one(compose, "users", read, args.clients), flush=True)
    print(kill_one(compose, "orders", create, args.clients), flush=True)
    scale(compose, 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
