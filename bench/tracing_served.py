"""Instructions per users GET as a gunicorn worker serves it: tracing off, sampled at 0.1, at 1.0.

The settings are those of bench/tracing_cost.py: ``off`` (no OTEL_* variable), and an OTLP
endpoint with ``parentbased_traceidratio`` at ``0`` (every request sampled out), ``0.1`` and
``1.0`` (every request sampled).

bench/tracing_cost.py counts the request in process (Flask's test client, no HTTP server) and
flushes the export itself at the end. This counts what a deployed server spends: a users server
as deployed (gunicorn with deploy/gunicorn.conf.py, one worker of 4 threads, its JSON access line
per request, the SDK's default batching: an export every 5 s from the worker's own export thread
to this command's OTLP receiver) runs under callgrind, and every instruction of its worker, all
its threads, is counted from the fork to the exit.

Per setting two such servers run, one serving W GETs (``--warmup``) and one W + N, one after the
other on one keep-alive connection: what the second spent more, divided by N, is the cost of a
request. Start-up, the first W requests (the JWKS fetch, the pool filling, lazy imports) and the
stop are the same in both and cancel out; the export of the N requests' spans (their encoding,
their share of the POSTs, during the run or in the flush at exit) is in the difference.
(``callgrind_control`` cannot zero a forked worker's counters: it reaches only the process
valgrind started.)

Callgrind slows the worker about 50 times, and the SDK's export thread wakes by the clock (every
5 s, or at 512 spans): at that speed it would send one POST for some 30 requests, where a server
at 200 req/s sends one for 1,000. A POST costs about 3,700,000 instructions (``requests`` and
``http.client``; a quarter of it is requests reading the proxy variables of the environment),
more than a request: this would charge every sampled setting several points that no deployment
pays. So the servers here wait 50 x 5 s (``OTEL_BSP_SCHEDULE_DELAY``) and send when 512 spans
are queued, as a loaded server does; each run also sends one last POST at its exit, which
cancels out.

    bench/.venv/bin/python bench/tracing_served.py              # ~25 min
    bench/.venv/bin/python bench/tracing_served.py --requests 300 --only off --only 0.1
    bench/.venv/bin/python bench/tracing_served.py --traceparent   # as tracing_cost.py's
"""

import argparse
import http.client
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import tracing_cost  # noqa: E402
import tracing_load  # noqa: E402
from platform_bench.servers import Proc, wait_ready  # noqa: E402

SETTINGS = ("off", "0", "0.1", "1.0")
# The SDK's 5 s between exports, at callgrind's pace (the docstring says why).
CALLGRIND_SPEED_BATCHING = {"OTEL_BSP_SCHEDULE_DELAY": str(50 * 5000)}


def _gets(url: str, token: str, n: int, parents: Iterator[str] | None) -> None:
    """``n`` GETs of ``url`` on one keep-alive connection, each with the next of ``parents``
    (if given) as its ``traceparent``; each must answer 200."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        for _ in range(n):
            if parents is not None:
                headers["traceparent"] = next(parents)
            connection.request("GET", parts.path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise SystemExit(f"GET {parts.path}: {response.status} {body[:200]!r}")
    finally:
        connection.close()


def _worker(proc: Proc) -> int:
    """The one worker's pid (gunicorn forks it once the master is ready)."""
    workers = proc.children()
    if len(workers) != 1:
        raise SystemExit(f"{proc.name}: expected one worker, found {workers}")
    return workers[0]


def worker_instructions(
    setting: str, requests: int, endpoint: str, token: str, path: str, traceparent: bool
) -> int:
    """Instructions of one setting's worker, from its fork to its exit, having served
    ``requests`` GETs of ``path`` (with ``traceparent``: sampled for the setting's ratio)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind"
        valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p"]
        proc, url = tracing_load._start(
            f"{setting}-{requests}",
            tracing_cost._tracing(setting, endpoint) | CALLGRIND_SPEED_BATCHING,
            endpoint + "/jwks.json",
            Path(tmp),
            command_prefix=valgrind,
            # One worker. Under callgrind start-up is slow (no heartbeat kill meanwhile) and so
            # is the exit, where the worker writes its counts (no kill after 10 s).
            extra_env={
                "WEB_CONCURRENCY": "1",
                "GUNICORN_TIMEOUT": "900",
                "GUNICORN_GRACEFUL_TIMEOUT": "600",
            },
        )
        try:
            wait_ready({setting: url + "/health/ready"}, [proc], timeout=900)
            worker = _worker(proc)
            ratio = tracing_cost.caller_ratio(setting)
            parents = tracing_cost.traceparents(ratio) if traceparent else None
            _gets(url + path, token, requests, parents)
        finally:
            proc.stop(timeout=900)  # the worker's file is written as it exits
        dump = out.with_name(f"callgrind.{worker}")
        totals = [ln for ln in dump.read_text().splitlines() if ln.startswith("totals:")]
        if not totals:
            raise SystemExit(f"{dump.name}: no totals (the worker did not finish writing)")
    return int(totals[0].split()[1])


def measure(
    setting: str, base: int, requests: int, endpoint: str, token: str, path: str, traceparent: bool
) -> float:
    """Instructions per request of one setting: two servers, one serving ``base`` GETs and
    one ``base + requests``; what the second spent more, divided by ``requests``.

    Start-up, the first ``base`` requests (the JWKS fetched, the pool filled, lazy imports)
    and the stop cancel out; the export of the ``requests`` spans stays in the difference.
    """
    with ThreadPoolExecutor(2) as pool:
        few, many = pool.map(
            lambda n: worker_instructions(setting, n, endpoint, token, path, traceparent),
            (base, base + requests),
        )
    return (many - few) / requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--only", choices=SETTINGS, action="append")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--traceparent",
        action="store_true",
        help="the GETs carry a traceparent, sampled for the setting's ratio (the caller's)",
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind (apt-get install valgrind)")
    results: dict[str, float] = {}
    key, jwks = tracing_load.signing_key()  # every server trusts it: the receiver serves it
    tracing_cost._Receiver.jwks = json.dumps(jwks).encode()
    token, path = tracing_load._token_and_path(key)
    with tracing_cost.receiver() as endpoint:
        for setting in args.only or SETTINGS:
            started = time.monotonic()
            results[setting] = measure(
                setting, args.warmup, args.requests, endpoint, token, path, args.traceparent
            )
            print(f"[{setting}: {time.monotonic() - started:.0f} s]", file=sys.stderr)
        posts = tracing_cost._Receiver.received
    if args.json:
        print(json.dumps({"per_request": results, "posts": posts}))
        return 0
    tracing_cost.print_per_request(results, "instructions per served GET")
    print(f"(the OTLP receiver got {posts} POSTs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
