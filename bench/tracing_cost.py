"""What tracing costs per request: the users GET with tracing off, sampled at 0.1 and at 1.0.

The request of bench/inprocess.py (GET /api/v1/users/{id} through Flask's test client, against
the bench_users database of a previous bench/run), each setting in a process of its own, since
tracing is decided once per process from the OTEL_* variables:

- ``off``: no OTEL_* variable (the default of every service);
- ``0``, ``0.1`` and ``1.0``: ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at a local OTLP/HTTP
  receiver (a thread of this command answering 200),
  ``OTEL_TRACES_SAMPLER=parentbased_traceidratio`` with that ratio. At ``0`` every request is
  sampled out, at ``1.0`` every one is sampled: the two costs a ratio mixes.

How many of the 200 requests a ratio of 0.1 samples depends on their random trace ids
(seeded, so the same in every run, but not exactly 20 of them), and each one more or fewer
moves the ``0.1`` figure by a 200th of a sampled request's extra cost. The line
"0.1 expected" weighs the two costs instead, 0.9 x sampled out + 0.1 x sampled. The measured
``0.1`` also carries the whole of the export's one HTTP POST, where the mix weighs a tenth of
it (a service sends one every 5 s or 512 spans); bench/README.md gives both.

The batch processor is held back (long delay, large batches) and flushed at the end of the
measured requests, in the measured thread: the export (protobuf encoding, the HTTP POST) is
counted with the requests that produced the spans, instead of running uncounted in its thread.
Span ids come from ``random``, seeded, so the sampled requests are the same in every run.

``--traceparent``: every request carries a W3C ``traceparent``, as behind a gateway that traces
(Traefik, deploy/) or from another service: the decision is the caller's, its sampled flag set
for the setting's ratio of the requests (every tenth at 0.1), and the service, parent-based,
follows it. Its extract then parses the header, which costs more than finding none.

    bench/.venv/bin/python bench/tracing_cost.py                # instructions (valgrind), ~6 min
    bench/.venv/bin/python bench/tracing_cost.py --cpu          # CPU time per request instead
    bench/.venv/bin/python bench/tracing_cost.py --load         # then req/s under wrk (+2 min)
    bench/.venv/bin/python bench/tracing_cost.py --traceparent  # the requests carry one
"""

import argparse
import contextlib
import functools
import gc
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SETTINGS = ("off", "0", "0.1", "1.0")
LOAD_SETTINGS = ("off", "0.1", "1.0")  # --load: the deployed choices (0 samples nothing)
COUNTED_FUNCTION = "functools_reduce"  # as bench/inprocess.py: only the requests are counted


def _tracing(setting: str, endpoint: str) -> dict[str, str]:
    """The OTEL_* variables of a setting (none for ``off``)."""
    if setting == "off":
        return {}
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": setting,
    }


def _environment(setting: str, endpoint: str) -> dict[str, str]:
    """A measured process's environment: the setting's, the batch processor held back."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONHASHSEED"] = "0"
    if setting != "off":
        env |= _tracing(setting, endpoint) | {
            "OTEL_BSP_SCHEDULE_DELAY": "600000",
            "OTEL_BSP_MAX_QUEUE_SIZE": "65536",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "65536",
        }
    return env


def run_side(requests: int, cpu: bool, ratio: float | None) -> None:
    """In the measured process: warm up, then ``requests`` GETs and the flush (counted).

    :param ratio: each GET carries a ``traceparent``, sampled for this ratio of them (None:
        none does).
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import inprocess

    try:
        from common import tracing
    except ImportError:  # a libs/common from before tracing (PYTHONPATH), for before/after
        tracing = None  # type: ignore[assignment]
    flush = tracing.flush if tracing else lambda: None

    random.seed(0)
    _, users, _, get = inprocess._sides()
    parents = None if ratio is None else traceparents(ratio)

    def request() -> None:
        if parents is not None:  # a new trace, sampled or not by its caller
            users.environ_base["HTTP_TRACEPARENT"] = next(parents)
        get(users)

    with tempfile.TemporaryDirectory() as tmp:
        inprocess._quiet_logs(Path(tmp) / "access.log")
        for _ in range(50):
            request()
        flush()
        # A full collection traverses every object of the process, the app's modules
        # included: whether one falls among the measured requests moved a setting's count by
        # up to 10 % of a request (one more pass of gen 2). Frozen, the start-up heap is left
        # out of every pass; the requests' own allocations are still collected and counted.
        gc.collect()
        gc.freeze()

        def measured() -> None:
            for _ in range(requests):
                request()
            flush()

        started = time.process_time()
        functools.reduce(lambda _, __: measured(), range(1), None)
        spent = time.process_time() - started
    if cpu:
        print(json.dumps({"cpu_us": spent / requests * 1e6}))


def caller_ratio(setting: str) -> float:
    """The share of requests a caller samples under ``setting`` (``off``: those of ``0``)."""
    return 0.0 if setting == "off" else float(setting)


def traceparents(ratio: float) -> Iterator[str]:
    """A caller's W3C ``traceparent`` headers, each a new trace, sampled for ``ratio`` of them
    evenly (every tenth at 0.1): any run of them holds exactly that share."""
    # Its own generator: the service's ids still come from the seeded module's. Not secrets.
    caller = random.Random(1)  # noqa: S311
    for n in itertools.count():
        sampled = "01" if int((n + 1) * ratio) > int(n * ratio) else "00"
        yield f"00-{caller.getrandbits(128):032x}-{caller.getrandbits(64):016x}-{sampled}"


class _Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that takes everything and keeps nothing but a count; it also
    serves the JWKS of ``--load``'s servers."""

    # Keep-alive, as collectors answer (HTTP/1.0, the default here, closes the connection
    # after each POST: the exporter would connect anew every time).
    protocol_version = "HTTP/1.1"
    received = 0
    jwks = b"{}"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.jwks)))
        self.end_headers()
        self.wfile.write(self.jwks)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    """The OTLP receiver in a thread of this process, for the block; its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def measure(
    requests: int,
    cpu: bool,
    endpoint: str,
    settings: tuple[str, ...] = SETTINGS,
    traceparent: bool = False,
) -> dict[str, float]:
    """Per setting: instructions (or CPU µs) per request, each in its own process.

    :param traceparent: the requests carry one, sampled for the setting's ratio of them.
    """
    valgrind = shutil.which("valgrind")
    if not cpu and valgrind is None:
        raise SystemExit("needs valgrind (apt-get install valgrind), or use --cpu")
    side = [sys.executable, __file__, "--side", "--requests", str(requests)]

    def one(setting: str) -> float:
        env = _environment(setting, endpoint)
        command = side
        if traceparent:  # off too: the same requests, only the service's setting differs
            command = [*side, "--caller-ratio", str(caller_ratio(setting))]
        if cpu:
            done = subprocess.run(  # noqa: S603
                [*command, "--cpu"], env=env, check=True, capture_output=True, text=True
            )
            return float(json.loads(done.stdout.splitlines()[-1])["cpu_us"])
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "callgrind.out"
            command = [
                str(valgrind),
                "--tool=callgrind",
                f"--toggle-collect={COUNTED_FUNCTION}",
                f"--callgrind-out-file={out}",
                *command,
            ]
            subprocess.run(command, check=True, capture_output=True, env=env)  # noqa: S603
            totals = next(ln for ln in out.read_text().splitlines() if ln.startswith("totals:"))
        return int(totals.split()[1]) / requests

    if cpu:  # one after the other: CPU time is disturbed by a neighbour
        results = {setting: one(setting) for setting in settings}
    else:  # instruction counts do not depend on the load
        with ThreadPoolExecutor(2) as pool:
            results = dict(zip(settings, pool.map(one, settings), strict=True))
    if _Receiver.received == 0 and set(settings) - {"off", "0"}:  # 0 has nothing to export
        raise SystemExit("the OTLP receiver got nothing: the traced sides did not export")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--cpu", action="store_true", help="CPU time per request, not valgrind")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--only", choices=SETTINGS, action="append", help="measure these settings only"
    )
    parser.add_argument(
        "--load",
        action="store_true",
        help="then req/s under wrk, each setting a gunicorn server (bench/tracing_load.py)",
    )
    parser.add_argument(
        "--traceparent",
        action="store_true",
        help="the requests carry a traceparent, sampled for the setting's ratio (the caller's)",
    )
    parser.add_argument("--side", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--caller-ratio", type=float, help=argparse.SUPPRESS)  # --side's
    args = parser.parse_args()
    if args.traceparent and args.load:
        parser.error("--traceparent: not with --load (its wrk sends no traceparent)")
    if args.side:
        run_side(args.requests, args.cpu, args.caller_ratio)
        return 0
    settings = tuple(args.only or SETTINGS)
    with receiver() as endpoint:
        results = measure(args.requests, args.cpu, endpoint, settings, args.traceparent)
        load = _load(endpoint, settings) if args.load else None
    if args.json:
        print(json.dumps({"per_request": results, "load": load}))
        return 0
    print_per_request(results, ("CPU µs" if args.cpu else "instructions") + " per request")
    if load:
        header = ("tracing", "req/s", "vs off", "p99 ms", "CPU ms/req", "vs off")
        print("\n{:<12}{:>10}{:>10}{:>10}{:>12}{:>10}".format(*header))
        base = load.get("off")
        for setting, row in load.items():
            rps = f"{(row['rps'] / base['rps'] - 1) * 100:>+9.1f}%" if base else ""
            cpu = f"{(row['cpu_ms'] / base['cpu_ms'] - 1) * 100:>+9.1f}%" if base else ""
            print(
                f"{setting:<12}{row['rps']:>10.1f}{rps}{row['p99_ms']:>10.1f}"
                f"{row['cpu_ms']:>12.3f}{cpu}"
            )
    return 0


def print_per_request(results: dict[str, float], unit: str) -> None:
    """Each setting's figure next to off's, and the 0.1 the ``0`` and ``1.0`` figures mix."""
    off = results.get("off")
    print(f"{'tracing':<12}{unit:>30}{'vs off':>10}")
    for setting, value in results.items():
        versus = f"{(value / off - 1) * 100:>+9.1f}%" if off else ""
        print(f"{setting:<12}{value:>30,.1f}{versus}")
    if off and "0" in results and "1.0" in results:
        expected = 0.9 * results["0"] + 0.1 * results["1.0"]
        print(f"{'0.1 expected':<12}{expected:>30,.1f}{(expected / off - 1) * 100:>+9.1f}%")


def _load(endpoint: str, settings: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """bench/tracing_load.py's req/s per setting, exporting to ``endpoint`` as deployed."""
    import tracing_load

    key, jwks = tracing_load.signing_key()
    _Receiver.jwks = json.dumps(jwks).encode()
    environments = {s: _tracing(s, endpoint) for s in settings if s in LOAD_SETTINGS}
    return tracing_load.measure_load(environments, key, endpoint + "/jwks.json")


if __name__ == "__main__":
    sys.exit(main())
