"""Many replicas, no failed request: the compose platform under steady load while replicas and
dependencies stop, die and come back (issue 16; run by .ci/run after the integration suite).

    python tests/resilience/replicas.py --url http://127.0.0.1:8080 [--clients 32] [scenario ...]

The platform must run under ``docker compose`` with several replicas per service, e.g.
``docker compose up -d --wait --scale users=3 --scale orders=3 --scale auth=3``; the compose
project is the caller's (``COMPOSE_PROJECT_NAME``, ``PLATFORM_COMPOSE_ARGS`` as for the
integration suite). Scenarios, each under the same load, each printing one summary line:

- ``rolling``: every replica of every service stopped (SIGTERM: drain, then graceful exit) and
  started again, one at a time: no request of any kind may fail;
- ``kill``: one replica of users and one of orders killed (SIGKILL) mid-load, then started again:
  no idempotent request may fail; a failed non-idempotent one is reported; orders are checked;
- ``dependencies``: the broker restarted, then users' database stopped and started: only the
  documented 503s while it is down, everything back by itself, no event lost.

The load: ``--clients`` threads, each with its own account, sending reads (its profile, its
orders), order creations with a new ``Idempotency-Key`` each (retried with the same key on a
503/502/504, a 409 ``idempotency_request_in_flight`` or a lost connection, as a client should;
reads sent again on a 502/504 or a lost connection, counted in each summary line), and now and
then a login, each client pausing 0.1-0.4 s between requests. After the
scenarios every order a client was told about is read back and each account's orders are
counted: exactly one per key, none lost, none twice.
"""

import argparse
import itertools
import os
import random
import shlex
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from api_client import (  # noqa: E402 (the integration suite's client, found above)
    AUTH,
    ORDERS,
    Account,
    ApiClient,
    order_body,
    sign_up,
)

SERVICES = ("users", "orders", "auth")
DOCKER = shutil.which("docker") or "docker"
# What a client retries with the same Idempotency-Key (the platform's retryable answers).
RETRYABLE = {502, 503, 504}
# 409 idempotency_request_in_flight: the first attempt is still being handled (its connection
# was lost, not its work); the same key again later gets its answer.
IN_FLIGHT = "409 idempotency_request_in_flight"
# Longer than the claim's lock (common.idempotency: 30 s for orders): a claim whose request
# died with its replica answers 409 until then, and is taken over after.
KEYED_RETRY_SECONDS = 45.0
# A read the gateway answered 502/504 (in flight on a replica killed under it: a clean-clone run
# saw one 504) is sent again by the client for up to this long, each time counted in the summary
# line. A 503 is not: the services' own (database_unavailable, shutting_down) are judged as is.
GATEWAY_ERRORS = {502, 504}
READ_RETRY_SECONDS = 10.0
# While users' database is down, users answers these (README, status table); nothing else.
DOCUMENTED_OUTAGE = {(503, "database_unavailable"), (503, "users_unavailable")}


@dataclass
class Outcome:
    """One request as the client saw it."""

    kind: str  # read, order, login
    idempotent: bool
    ok: bool
    reason: str  # "" when ok; else "<status> <code>" or the exception's class
    ended: float


@dataclass
class Client:
    """A load client: its account, its session, the orders it was told were created."""

    account: Account
    api: ApiClient
    orders: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> order id
    given_up: list[str] = field(default_factory=list)  # keys whose creation never succeeded


def _reason(response: requests.Response) -> str:
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = response.headers.get("Content-Type", "?")
    return f"{response.status_code} {code}"


class Load:
    """``clients`` threads sending a steady mix of requests until stopped."""

    def __init__(self, clients: list[Client], seed: int) -> None:
        self.clients = clients
        self.outcomes: list[Outcome] = []
        self.reads_retried = 0  # reads the client sent again after a 502/503/504 or lost connection
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._seed = seed

    @contextmanager
    def running(self) -> Iterator["Load"]:
        """Run the load for the duration of the block; its outcomes are kept."""
        self.outcomes, self.reads_retried, self._stop = [], 0, threading.Event()
        threads = [
            threading.Thread(target=self._loop, args=(c, random.Random(self._seed + i)))
            for i, c in enumerate(self.clients)
        ]
        for thread in threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in threads:
                thread.join()

    def _record(self, kind: str, idempotent: bool, reason: str) -> None:
        outcome = Outcome(kind, idempotent, not reason, reason, time.monotonic())
        with self._lock:
            self.outcomes.append(outcome)

    def _loop(self, client: Client, rng: random.Random) -> None:
        while not self._stop.is_set():
            pick = rng.random()
            if pick < 0.6:
                self._read(client, rng)
            elif pick < 0.99:
                self._order(client)
            else:
                self._login(client)  # Argon2: a login costs the CPU of dozens of reads
            # A steady load below what 2 cores serve (about 100 requests/s from 32 clients):
            # what the scenarios judge is a stop, not an overload's queues and timeouts.
            time.sleep(rng.uniform(0.1, 0.4))

    def _send(self, kind: str, idempotent: bool, call: Callable[[], requests.Response]) -> None:
        try:
            response = call()
        except requests.RequestException as exc:
            self._record(kind, idempotent, type(exc).__name__)
            return
        self._record(kind, idempotent, "" if response.status_code < 400 else _reason(response))

    def _read(self, client: Client, rng: random.Random) -> None:
        path = client.account.profile_path if rng.random() < 0.5 else f"{ORDERS}?limit=5"
        deadline = time.monotonic() + READ_RETRY_SECONDS
        while True:
            try:
                response = client.api.get(path, headers=client.account.headers)
                reason = "" if response.status_code < 400 else _reason(response)
                retry = response.status_code in GATEWAY_ERRORS
            except requests.RequestException as exc:
                reason, retry = type(exc).__name__, True
            if not reason or not retry or time.monotonic() > deadline:
                self._record("read", True, reason)
                return
            # A GET is safe to send again, as a client does: counted, and shown in the summary.
            with self._lock:
                self.reads_retried += 1
            time.sleep(0.2)

    def _order(self, client: Client) -> None:
        key = uuid.uuid4().hex
        headers = {**client.account.headers, "Idempotency-Key": key}
        deadline = time.monotonic() + KEYED_RETRY_SECONDS
        while True:
            try:
                response = client.api.post(ORDERS, json=order_body(), headers=headers)
                reason = "" if response.status_code == 201 else _reason(response)
                retry = response.status_code in RETRYABLE or reason == IN_FLIGHT
            except requests.RequestException as exc:
                response, reason, retry = None, type(exc).__name__, True
            if not reason:
                client.orders[key] = response.json()["data"]["id"]
                self._record("order", True, "")
                return
            if not retry or time.monotonic() > deadline:
                client.given_up.append(key)
                self._record("order", True, reason)
                return
            time.sleep(0.2)  # the same key again: the platform answers it once

    def _login(self, client: Client) -> None:
        body = {"email": client.account.email, "password": client.account.password}
        self._send("login", False, lambda: client.api.post(f"{AUTH}/login", json=body))

    def summary(self, name: str, allowed: Callable[[Outcome], bool] = lambda o: False) -> str:
        """One line: requests, failures by kind, the longest stall between two successes."""
        failed = [o for o in self.outcomes if not o.ok]
        by_kind = Counter(f"{o.kind} {o.reason}" for o in failed)
        successes = sorted(o.ended for o in self.outcomes if o.ok)
        stall = max((b - a for a, b in itertools.pairwise(successes)), default=0.0)
        unexpected = sum(1 for o in failed if not allowed(o))
        failures = ", ".join(f"{k}: {n}" for k, n in sorted(by_kind.items())) or "none"
        return (
            f"{name}: {len(self.outcomes)} requests, failures: {failures}"
            f" ({unexpected} unexpected), reads sent again by their client: {self.reads_retried},"
            f" longest stall {stall:.2f} s"
        )


class Compose:
    """The caller's compose project, through ``docker compose`` and ``docker``."""

    def __init__(self, args: list[str]) -> None:
        self._compose = [DOCKER, "compose", *args]

    def run(self, *args: str) -> str:
        done = subprocess.run(  # noqa: S603 (docker, fixed words and the caller's arguments)
            [*self._compose, *args], cwd=ROOT, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"docker compose {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def containers(self, service: str) -> list[str]:
        """The ids of the service's running containers."""
        return self.run("ps", "-q", service).split()

    @staticmethod
    def docker(*args: str) -> str:
        done = subprocess.run(  # noqa: S603 (fixed words and container ids)
            [DOCKER, *args], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout.strip()

    def wait_healthy(self, container: str, within: float = 120.0) -> None:
        """Until Docker reports the container healthy (the gateway routes it then)."""
        deadline = time.monotonic() + within
        while self.docker("inspect", "-f", "{{.State.Health.Status}}", container) != "healthy":
            if time.monotonic() > deadline:
                raise RuntimeError(f"container {container[:12]} not healthy within {within} s")
            time.sleep(0.5)


def rolling(load: Load, compose: Compose) -> tuple[str, int]:
    """Every replica of every service stopped and started again, one at a time."""
    with load.running():
        time.sleep(3)
        for service in SERVICES:
            for container in compose.containers(service):
                compose.docker("stop", container)  # SIGTERM; compose's stop_grace_period
                compose.docker("start", container)
                compose.wait_healthy(container)
        time.sleep(3)
    line = load.summary("rolling restart")
    return line, sum(1 for o in load.outcomes if not o.ok)


def kill(load: Load, compose: Compose) -> tuple[str, int]:
    """One replica of users and one of orders killed mid-load, then started again."""
    with load.running():
        time.sleep(3)
        victims = [compose.containers(service)[0] for service in ("users", "orders")]
        for victim in victims:
            compose.docker("kill", victim)
        time.sleep(8)
        for victim in victims:
            compose.docker("start", victim)
        for victim in victims:
            compose.wait_healthy(victim)
        time.sleep(3)
    line = load.summary("kill -9 one users and one orders replica", lambda o: not o.idempotent)
    return line, sum(1 for o in load.outcomes if not o.ok and o.idempotent)


def dependencies(load: Load, compose: Compose) -> tuple[str, int]:
    """The broker restarted, then users' database stopped and started; all back by itself."""

    def documented(outcome: Outcome) -> bool:
        status, _, code = outcome.reason.partition(" ")
        return status.isdigit() and (int(status), code) in DOCUMENTED_OUTAGE

    with load.running():
        time.sleep(3)
        compose.run("restart", "rabbitmq")
        time.sleep(3)
        compose.run("stop", "users-db")
        time.sleep(5)
        compose.run("start", "users-db")
        for container in compose.containers("users-db"):
            compose.wait_healthy(container)
        recovered_by = time.monotonic() + 30
        time.sleep(3)
    late = [o for o in load.outcomes if not o.ok and o.ended > recovered_by]
    line = load.summary("broker restart, users-db stop/start", documented)
    if late:
        line += f"; {len(late)} failures more than 30 s after the database was back"
    return line, sum(1 for o in load.outcomes if not o.ok and not documented(o)) + len(late)


def check_orders(clients: list[Client]) -> tuple[str, int]:
    """Every order a client was told about is there, once per key; none beyond them."""
    problems = 0
    told = sum(len(c.orders) for c in clients)
    given_up = sum(len(c.given_up) for c in clients)
    for client in clients:
        headers = client.account.headers
        for order_id in client.orders.values():
            if client.api.get(f"{ORDERS}/{order_id}", headers=headers).status_code != 200:
                problems += 1
        page = client.api.get(f"{ORDERS}?limit=1", headers=headers).json()
        total = page["meta"]["total"]
        # A key given up on may or may not have committed; every key succeeded is one order.
        if not len(client.orders) <= total <= len(client.orders) + len(client.given_up):
            problems += 1
    line = (
        f"orders: {told} created and read back, {given_up} given up by their clients,"
        f" {problems} problems (missing, or an account's total not one per key)"
    )
    return line, problems


def events_caught_up(clients: list[Client], within: float = 60.0) -> tuple[str, int]:
    """users' open_order_count of every account equals its orders: no event lost."""
    deadline, behind = time.monotonic() + within, clients
    while behind and time.monotonic() < deadline:
        behind = [c for c in behind if _open_orders(c) != _open_order_count(c)]
        if behind:
            time.sleep(1)
    return f"events: {len(clients) - len(behind)}/{len(clients)} profiles caught up", len(behind)


def _open_orders(client: Client) -> int:
    response = client.api.get(f"{ORDERS}?limit=1&status=placed", headers=client.account.headers)
    return int(response.json()["meta"]["total"])


def _open_order_count(client: Client) -> int:
    response = client.api.get(client.account.profile_path, headers=client.account.headers)
    return int(response.json()["data"]["open_order_count"])


SCENARIOS = {"rolling": rolling, "kill": kill, "dependencies": dependencies}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", help=f"of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--url", default=os.environ.get("PLATFORM_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    compose = Compose(shlex.split(os.environ.get("PLATFORM_COMPOSE_ARGS", "")))
    for service in SERVICES:
        print(f"{service}: {len(compose.containers(service))} replicas", flush=True)
    clients = []
    for i in range(args.clients):
        api = ApiClient(args.url)
        clients.append(Client(sign_up(api, f"replicas{i}"), api))
    load, failures = Load(clients, args.seed), 0
    for name in args.scenarios or SCENARIOS:
        line, failed = SCENARIOS[name](load, compose)
        print(line, flush=True)
        failures += failed
    for line, failed in (check_orders(clients), events_caught_up(clients)):
        print(line, flush=True)
        failures += failed
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
