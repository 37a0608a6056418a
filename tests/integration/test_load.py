"""Many clients at once through the gateway: every answer expected, no duplicate order, flat pools.

64 clients (threads, each with a session of its own) share 8 accounts for ``LOAD_SECONDS``
(default 60) and do what clients do: list their orders, read their profile, place orders with an
``Idempotency-Key``, and log in (one login at a time). Every key is sent twice, the second time
0 to 1 s later by whichever client is free first: while the first is still running (409
``idempotency_request_in_flight``) or after it (the first response, replayed). Neither may ever
create a second order.

The load runs once, in a module fixture; each test then checks one property of what it saw. With
a control, the connections each service's database holds are sampled during the run: pools that
keep growing under a steady load leak connections. A one-line summary (throughput, latencies,
connections) is written to the terminal and recorded in the JUnit XML report (``--junitxml``).
"""

import heapq
import itertools
import math
import os
import random
import subprocess
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
import requests
from api_client import (
    AUTH,
    ORDERS,
    SERVICES,
    Account,
    ApiClient,
    answered_by_a_service,
    describe,
    in_parallel,
    order_body,
    sign_up,
)
from platform_control import PROBE_TIMEOUT, ComposeControl, Control, PlatformControlError

LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS") or 60)
pytestmark = [
    pytest.mark.load,
    pytest.mark.skipif(LOAD_SECONDS <= 0, reason="LOAD_SECONDS=0 skips the load"),
]

CLIENTS = 64
ACCOUNTS = 8
# How often a client picks each kind of request, when no login or second send is due.
MIX = {"list": 4, "profile": 3, "create": 2}
# Logins come one at a time, at most one every LOGIN_EVERY seconds. A login costs an Argon2 hash
# (64 MiB, three passes, four lanes): as a share of what 64 clients pick, or at a fixed rate,
# logins queue up in front of auth until they time out; on a busy two-CPU machine one login
# alone took 1 to 4 s, and four at once 8.5 s each.
LOGIN_EVERY = 1.0
# A key's second send follows its first by 0 to this many seconds.
RESEND_WITHIN = 1.0
IN_FLIGHT = "idempotency_request_in_flight"
# What each kind of request may answer; a 409 only with IN_FLIGHT (Outcome.expected).
EXPECTED_STATUSES = {
    "list": {200},
    "profile": {200},
    "create": {201, 409},
    "resend": {201, 409},
    "login": {200},
}
# After the deadline: the requests still running (15 s read timeout) and the keys still due.
FINISH_WITHIN = 45.0
# Connections sampled every few seconds; the pools may open a couple more late in the run.
SAMPLE_EVERY = 3.0
CONNECTION_SLACK = 2
# What one service may hold: compose runs 2 gunicorn workers (WEB_CONCURRENCY), each with a pool
# of DB_POOL_SIZE 5 + DB_MAX_OVERFLOW 5 (common.config); 2 more outside the pools (a migration,
# an operator's psql).
CONNECTION_BUDGET = 2 * (5 + 5) + 2


@dataclass(frozen=True)
class Outcome:
    """One request of the load: its kind, status (None: no answer) and error code."""

    kind: str
    status: int | None
    code: str | None
    seconds: float
    # False when the gateway answered itself (404: it had no route to the service).
    routed: bool = True
    # The request and response (or exception), kept only when the outcome was unexpected.
    detail: str = ""

    @property
    def expected(self) -> bool:
        """Whether the status is one the kind of request may answer."""
        if self.status not in EXPECTED_STATUSES[self.kind]:
            return False
        return self.status != 409 or self.code == IN_FLIGHT


@dataclass(frozen=True)
class KeySend:
    """One send of an idempotency key, and the order it answered (201 only)."""

    account: Account
    key: str
    status: int | None
    order_id: str | None
    replayed: bool


@dataclass(frozen=True)
class PendingKey:
    """A key sent once, to be sent again with the same body by the same account."""

    account: Account
    key: str
    body: dict[str, Any]


class Resends:
    """The keys due for their second send, soonest first, shared by every client."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, PendingKey]] = []
        self._lock = threading.Lock()
        self._order = itertools.count()  # ties on the due time never compare PendingKeys

    def schedule(self, due: float, pending: PendingKey) -> None:
        """Send ``pending`` again at ``due`` (a ``time.monotonic()`` value) or later."""
        with self._lock:
            heapq.heappush(self._heap, (due, next(self._order), pending))

    def take(self, *, due_by: float = math.inf) -> PendingKey | None:
        """The soonest key due by ``due_by``, or None."""
        with self._lock:
            if self._heap and self._heap[0][0] <= due_by:
                return heapq.heappop(self._heap)[2]
            return None


class LoginTurns:
    """One login at a time, at most one every ``every`` seconds, by the first client to ask.

    Logins so follow auth's pace instead of queueing up in front of it.
    """

    def __init__(self, every: float, start: float) -> None:
        self.every = every
        self._next = start
        self._busy = False
        self._lock = threading.Lock()

    @contextmanager
    def turn(self, now: float) -> Iterator[bool]:
        """Yield whether the caller logs in now; the turn ends with the block."""
        with self._lock:
            mine = not self._busy and now >= self._next
            if mine:
                self._busy, self._next = True, now + self.every
        try:
            yield mine
        finally:
            if mine:
                with self._lock:
                    self._busy = False


@dataclass
class Schedules:
    """What the clients share: the logins due, and the keys due for their second send."""

    logins: LoginTurns
    resends: Resends


@dataclass
class ClientLog:
    """What one client saw; each client writes its own, merged after the run."""

    outcomes: list[Outcome] = field(default_factory=list)
    sends: list[KeySend] = field(default_factory=list)


@dataclass
class LoadRun:
    """What the load saw, for the tests to check."""

    seconds: float
    outcomes: list[Outcome]
    sends_by_key: dict[str, list[KeySend]]
    # service -> (seconds since the start, connections) samples; empty without a control.
    connections: dict[str, list[tuple[float, int]]]
    summary: str

    def created_keys(self, account: Account) -> set[str]:
        """The account's keys that some send answered 201 for."""
        return {
            key
            for key, sends in self.sends_by_key.items()
            if sends[0].account is account and any(send.status == 201 for send in sends)
        }

    def created_orders(self) -> dict[str, Account]:
        """Every order id some send answered 201 with, and the account owning it."""
        return {
            send.order_id: send.account
            for sends in self.sends_by_key.values()
            for send in sends
            if send.order_id is not None
        }


class LoadClient:
    """One of the clients: a session of its own, a random choice of requests until the end."""

    def __init__(
        self, api: ApiClient, accounts: list[Account], shared: Schedules, seed: int
    ) -> None:
        self.api = api
        self.accounts = accounts
        self.logins = shared.logins
        self.resends = shared.resends
        self.random = random.Random(seed)
        self.log = ClientLog()

    def run(self, deadline: float) -> None:
        """Send requests until ``deadline``, then the keys still waiting for their second send."""
        kinds, weights = list(MIX), list(MIX.values())
        actions: dict[str, Callable[[Account], None]] = {
            "list": self.list_orders,
            "profile": self.read_profile,
            "create": self.create_order,
        }
        while (now := time.monotonic()) < deadline:
            with self.logins.turn(now) as my_turn:
                if my_turn:
                    self.log_in(self.random.choice(self.accounts))
                    continue
            if (pending := self.resends.take(due_by=now)) is not None:
                self.send_key(pending, "resend")
            else:
                kind = self.random.choices(kinds, weights)[0]
                actions[kind](self.random.choice(self.accounts))
        while (pending := self.resends.take()) is not None:
            self.send_key(pending, "resend")

    def list_orders(self, account: Account) -> None:
        self.timed("list", lambda: self.api.get(ORDERS, headers=account.headers))

    def read_profile(self, account: Account) -> None:
        self.timed("profile", lambda: self.api.get(account.profile_path, headers=account.headers))

    def log_in(self, account: Account) -> None:
        credentials = {"email": account.email, "password": account.password}
        response = self.timed("login", lambda: self.api.post(f"{AUTH}/login", json=credentials))
        if response is not None and response.status_code == 200:
            # A fresh token for every client: a long run outlives the first ones (15 min).
            account.access_token = response.json()["data"]["access_token"]

    def create_order(self, account: Account) -> None:
        body = order_body(
            sku=f"LOAD-{self.random.randrange(100)}", quantity=self.random.randint(1, 5)
        )
        pending = PendingKey(account, uuid.uuid4().hex, body)
        # Scheduled before the first send, so the second may overtake it.
        self.resends.schedule(time.monotonic() + self.random.uniform(0, RESEND_WITHIN), pending)
        self.send_key(pending, "create")

    def send_key(self, pending: PendingKey, kind: str) -> None:
        headers = {**pending.account.headers, "Idempotency-Key": pending.key}
        response = self.timed(
            kind, lambda: self.api.post(ORDERS, json=pending.body, headers=headers)
        )
        status = None if response is None else response.status_code
        order_id = response.json()["data"]["id"] if status == 201 else None
        replayed = status == 201 and response.headers.get("Idempotent-Replayed") == "true"
        self.log.sends.append(KeySend(pending.account, pending.key, status, order_id, replayed))

    def timed(self, kind: str, send: Callable[[], requests.Response]) -> requests.Response | None:
        """Send a request, log its outcome; return the response (None when none came)."""
        started = time.perf_counter()
        try:
            response = send()
        except requests.RequestException as exc:
            elapsed = time.perf_counter() - started
            self.log.outcomes.append(Outcome(kind, None, None, elapsed, detail=repr(exc)))
            return None
        elapsed = time.perf_counter() - started
        outcome = Outcome(
            kind,
            response.status_code,
            error_code(response),
            elapsed,
            routed=answered_by_a_service(response),
        )
        if not outcome.expected:
            outcome = replace(outcome, detail=describe(response))
        self.log.outcomes.append(outcome)
        return response


def error_code(response: requests.Response) -> str | None:
    """The code of an error envelope, or None (a success, or a body that is not an envelope)."""
    if response.status_code < 400:
        return None
    try:
        return response.json()["error"]["code"]
    except (ValueError, LookupError, TypeError):
        return None


class ConnectionSampler:
    """Counts each service's database connections every SAMPLE_EVERY seconds, in a thread."""

    def __init__(self, control: ComposeControl, started: float) -> None:
        self.control = control
        self.started = started
        # service -> (seconds since ``started``, connections)
        self.samples: dict[str, list[tuple[float, int]]] = {service: [] for service in SERVICES}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "ConnectionSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        # One round of samples may be running: three commands of PROBE_TIMEOUT at most.
        self._thread.join(timeout=3 * PROBE_TIMEOUT)

    def _sample(self) -> None:
        while not self._stop.is_set():
            for service in SERVICES:
                try:
                    count = self.control.database_connections(service)
                except (PlatformControlError, subprocess.TimeoutExpired):
                    continue  # a missed sample thins the series; the tests need enough of them
                self.samples[service].append((time.monotonic() - self.started, count))
            self._stop.wait(SAMPLE_EVERY)


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of non-empty ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def halves(samples: list[tuple[float, int]], seconds: float) -> tuple[list[int], list[int]]:
    """The counts sampled in the first half of the run, and those sampled after."""
    first = [count for at, count in samples if at < seconds / 2]
    second = [count for at, count in samples if at >= seconds / 2]
    return first, second


def summarize(run: LoadRun) -> str:
    """One line: requests, throughput, failures, latencies per kind, connections per database."""
    by_kind: dict[str, list[float]] = defaultdict(list)
    for outcome in run.outcomes:
        by_kind[outcome.kind].append(outcome.seconds * 1000)
    latencies = ", ".join(
        f"{kind} {len(ms)}x {percentile(ms, 0.5):.0f}/{percentile(ms, 0.99):.0f}"
        for kind in EXPECTED_STATUSES
        if (ms := by_kind[kind])
    )
    server_errors = sum(1 for o in run.outcomes if o.status is not None and o.status >= 500)
    unanswered = sum(1 for o in run.outcomes if o.status is None)
    unexpected = sum(1 for o in run.outcomes if not o.expected)
    sends = [send for sends in run.sends_by_key.values() for send in sends]
    replays = sum(1 for send in sends if send.replayed)
    in_flight = sum(1 for send in sends if send.status == 409)
    line = (
        f"load: {CLIENTS} clients, {ACCOUNTS} accounts, {run.seconds:.0f} s: "
        f"{len(run.outcomes)} requests, {len(run.outcomes) / run.seconds:.1f}/s; "
        f"5xx {server_errors}, unanswered {unanswered}, unexpected {unexpected}; "
        f"ms p50/p99: {latencies}; "
        f"keys {len(run.sends_by_key)}, orders {len(run.created_orders())}, "
        f"replayed {replays}, in flight {in_flight}"
    )
    if run.connections:
        counts = ", ".join(
            f"{service} {_max(first)}/{_max(second)}"
            for service, samples in run.connections.items()
            for first, second in [halves(samples, run.seconds)]
        )
        line += f"; db connections max 1st/2nd half: {counts}"
    return line


def _max(counts: list[int]) -> str:
    return str(max(counts)) if counts else "-"


@contextmanager
def closing_all(sessions: Iterable[ApiClient]) -> Iterator[None]:
    """Close every session when the block ends."""
    try:
        yield
    finally:
        for session in sessions:
            session.close()


def data_total(response: requests.Response) -> int:
    """The ``meta.total`` of a list answered 200."""
    assert response.status_code == 200, describe(response)
    return response.json()["meta"]["total"]


@pytest.fixture(scope="module")
def accounts(platform_url: str) -> list[Account]:
    """The accounts the clients share, signed up two at a time (each costs two Argon2 hashes)."""
    calls = [lambda api, i=i: sign_up(api, f"load{i}") for i in range(ACCOUNTS)]
    return in_parallel(platform_url, calls, threads=2)


@pytest.fixture(scope="module")
def load_run(
    platform_url: str,
    accounts: list[Account],
    platform_control: Control | None,
    record_testsuite_property: Callable[[str, object], None],
    pytestconfig: pytest.Config,
) -> LoadRun:
    """Run the load once for the module's tests; show its summary and record it in the report.

    The summary is a property of the run, not of one test: in a JUnit XML report it is a
    ``<property>`` of the test suite (``record_property``, per test, does not fit pytest's
    default xunit2 format and warns).
    """
    started = time.monotonic()
    deadline = started + LOAD_SECONDS
    shared = Schedules(logins=LoginTurns(LOGIN_EVERY, started), resends=Resends())
    sessions = [ApiClient(platform_url) for _ in range(CLIENTS)]
    clients = [LoadClient(api, accounts, shared, seed) for seed, api in enumerate(sessions)]
    crashes: list[BaseException] = []

    def run(client: LoadClient) -> None:
        try:
            client.run(deadline)
        except BaseException as exc:  # a bug of the client itself: raised below, not lost
            crashes.append(exc)

    threads = [threading.Thread(target=run, args=(client,), daemon=True) for client in clients]
    # Only a control that can count connections samples them (not the no-Docker one: SQLite).
    counts = isinstance(platform_control, ComposeControl)
    sampler = ConnectionSampler(platform_control, started) if counts else None
    with sampler or nullcontext(), closing_all(sessions):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(0.0, deadline + FINISH_WITHIN - time.monotonic()))
    seconds = time.monotonic() - started
    if any(thread.is_alive() for thread in threads):
        pytest.fail(f"clients still running {FINISH_WITHIN:.0f} s after the load's end")
    if crashes:
        raise crashes[0]

    sends_by_key: dict[str, list[KeySend]] = defaultdict(list)
    for client in clients:
        for send in client.log.sends:
            sends_by_key[send.key].append(send)
    outcomes = [outcome for client in clients for outcome in client.log.outcomes]
    connections = sampler.samples if sampler else {}
    result = LoadRun(seconds, outcomes, dict(sends_by_key), connections, summary="")
    result.summary = summarize(result)
    # On the terminal even without -s: CI logs keep the throughput and latencies of every run.
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_line(result.summary)
    record_testsuite_property("load_summary", result.summary)
    return result


def test_no_request_answers_a_server_error(load_run: LoadRun) -> None:
    failed = [o for o in load_run.outcomes if o.status is not None and o.status >= 500]

    assert not failed, f"{len(failed)} answers 5xx, e.g. {failed[0].detail}"


def test_every_request_is_answered_in_time(load_run: LoadRun) -> None:
    unanswered = [o for o in load_run.outcomes if o.status is None]

    assert not unanswered, f"{len(unanswered)} requests unanswered, e.g. {unanswered[0].detail}"


def test_the_gateway_routes_every_request_to_its_service(load_run: LoadRun) -> None:
    # The gateway drops a service whose healthcheck fails five times in a row, e.g. because the
    # probe waits behind the load for longer than its timeout.
    unrouted = [o for o in load_run.outcomes if not o.routed]
    kinds = Counter(o.kind for o in unrouted)

    assert not unrouted, f"answered by the gateway itself: {dict(kinds)}, e.g. {unrouted[0].detail}"


def test_every_answer_is_one_its_request_expects(load_run: LoadRun) -> None:
    unexpected = [o for o in load_run.outcomes if not o.expected]
    kinds = Counter((o.kind, o.status, o.code) for o in unexpected)

    assert not unexpected, f"unexpected answers {dict(kinds)}, e.g. {unexpected[0].detail}"


def test_every_idempotency_key_was_sent_twice(load_run: LoadRun) -> None:
    # Guards the two tests below: each key met a concurrent send or a replay.
    counts = Counter(len(sends) for sends in load_run.sends_by_key.values())

    assert load_run.sends_by_key
    assert set(counts) == {2}, f"keys by number of sends: {dict(counts)}"


def test_each_idempotency_key_answers_one_order(load_run: LoadRun) -> None:
    wrong = {
        key: [(send.status, send.order_id) for send in sends]
        for key, sends in load_run.sends_by_key.items()
        if len({send.order_id for send in sends if send.status == 201}) != 1
    }

    assert not wrong, f"{len(wrong)} keys without exactly one order id: {list(wrong.items())[:5]}"


def test_each_account_lists_one_order_per_key_that_created_one(
    load_run: LoadRun, accounts: list[Account], platform_url: str
) -> None:
    def listed(account: Account) -> Callable[[ApiClient], requests.Response]:
        return lambda api: api.get(ORDERS, params={"limit": 1}, headers=account.headers)

    responses = in_parallel(platform_url, [listed(account) for account in accounts])

    totals = [data_total(response) for response in responses]
    assert totals == [len(load_run.created_keys(account)) for account in accounts]


def test_every_created_order_is_readable_afterwards(load_run: LoadRun, platform_url: str) -> None:
    def read(order_id: str, owner: Account) -> Callable[[ApiClient], requests.Response]:
        return lambda api: api.get(f"{ORDERS}/{order_id}", headers=owner.headers)

    orders = load_run.created_orders()
    responses = in_parallel(platform_url, [read(i, owner) for i, owner in orders.items()])

    unreadable = [describe(r) for r in responses if r.status_code != 200]
    assert orders
    assert not unreadable, f"{len(unreadable)} orders unreadable, e.g. {unreadable[0]}"


@pytest.mark.control("database_connections")
def test_database_connections_stay_flat(load_run: LoadRun, control: ComposeControl) -> None:
    for service, samples in load_run.connections.items():
        first, second = halves(samples, load_run.seconds)
        assert first and second, f"{service}: too few samples ({samples})"
        assert max(second) <= max(first) + CONNECTION_SLACK, f"{service}: {samples}"


@pytest.mark.control("database_connections")
def test_database_connections_stay_within_the_pools_budget(
    load_run: LoadRun, control: ComposeControl
) -> None:
    peaks = {
        service: max(c for _, c in samples)
        for service, samples in load_run.connections.items()
        if samples
    }

    assert set(peaks) == set(SERVICES), f"samples: {load_run.connections}"
    assert all(peak <= CONNECTION_BUDGET for peak in peaks.values()), peaks
