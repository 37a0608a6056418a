"""What tracing costs per request: the users GET with tracing off, sampled at 0.1 and at 1.0.

The request of bench/inprocess.py (GET /api/v1/users/{id} through Flask's test client, against
the bench_users database of a previous bench/run), each setting in a process of its own, since
tracing is decided once per process from the OTEL_* variables:

- ``off``: no OTEL_* variable (the default of every service);
- ``0.1`` and ``1.0``: ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at a local OTLP/HTTP receiver
  (a thread of this command answering 200), ``OTEL_TRACES_SAMPLER=parentbased_traceidratio``
  with that ratio.

The batch processor is held back (long delay, large batches) and flushed at the end of the
measured requests, in the measured thread: the export (protobuf encoding, the HTTP POST) is
counted with the requests that produced the spans, instead of running uncounted in its thread.
Span ids come from ``random``, seeded, so the sampled requests are the same in every run.

    bench/.venv/bin/python bench/tracing_cost.py                # instructions (valgrind), ~4 min
    bench/.venv/bin/python bench/tracing_cost.py --cpu          # CPU time per request instead
"""

import argparse
import functools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SETTINGS = ("off", "0.1", "1.0")
COUNTED_FUNCTION = "functools_reduce"  # as bench/inprocess.py: only the requests are counted


def _environment(setting: str, endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONHASHSEED"] = "0"
    if setting != "off":
        env |= {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": setting,
            "OTEL_BSP_SCHEDULE_DELAY": "600000",
            "OTEL_BSP_MAX_QUEUE_SIZE": "65536",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "65536",
        }
    return env


def run_side(requests: int, cpu: bool) -> None:
    """In the measured process: warm up, then ``requests`` GETs and the flush (counted)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import inprocess

    try:
        from common import tracing
    except ImportError:  # a libs/common from before tracing (PYTHONPATH), for before/after
        tracing = None  # type: ignore[assignment]
    flush = tracing.flush if tracing else lambda: None

    random.seed(0)
    _, users, _, get = inprocess._sides()
    with tempfile.TemporaryDirectory() as tmp:
        inprocess._quiet_logs(Path(tmp) / "access.log")
        for _ in range(50):
            get(users)
        flush()

        def measured() -> None:
            for _ in range(requests):
                get(users)
            flush()

        started = time.process_time()
        functools.reduce(lambda _, __: measured(), range(1), None)
        spent = time.process_time() - started
    if cpu:
        print(json.dumps({"cpu_us": spent / requests * 1e6}))


class _Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that takes everything and keeps nothing but a count."""

    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def measure(requests: int, cpu: bool, settings: tuple[str, ...] = SETTINGS) -> dict[str, float]:
    """Per setting: instructions (or CPU µs) per request, each in its own process."""
    valgrind = shutil.which("valgrind")
    if not cpu and valgrind is None:
        raise SystemExit("needs valgrind (apt-get install valgrind), or use --cpu")
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}"
    side = [sys.executable, __file__, "--side", "--requests", str(requests)]

    def one(setting: str) -> float:
        env = _environment(setting, endpoint)
        if cpu:
            done = subprocess.run(  # noqa: S603
                [*side, "--cpu"], env=env, check=True, capture_output=True, text=True
            )
            return float(json.loads(done.stdout.splitlines()[-1])["cpu_us"])
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "callgrind.out"
            command = [
                str(valgrind),
                "--tool=callgrind",
                f"--toggle-collect={COUNTED_FUNCTION}",
                f"--callgrind-out-file={out}",
                *side,
            ]
            subprocess.run(command, check=True, capture_output=True, env=env)  # noqa: S603
            totals = next(ln for ln in out.read_text().splitlines() if ln.startswith("totals:"))
        return int(totals.split()[1]) / requests

    try:
        if cpu:  # one after the other: CPU time is disturbed by a neighbour
            results = {setting: one(setting) for setting in settings}
        else:  # instruction counts do not depend on the load
            with ThreadPoolExecutor(2) as pool:
                results = dict(zip(settings, pool.map(one, settings), strict=True))
    finally:
        receiver.shutdown()
    if _Receiver.received == 0 and set(settings) - {"off"}:
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
    parser.add_argument("--side", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        run_side(args.requests, args.cpu)
        return 0
    results = measure(args.requests, args.cpu, tuple(args.only or SETTINGS))
    if args.json:
        print(json.dumps(results))
        return 0
    unit = "CPU µs" if args.cpu else "instructions"
    off = results.get("off")
    print(f"{'tracing':<12}{unit + ' per request':>28}{'vs off':>10}")
    for setting, value in results.items():
        versus = f"{(value / off - 1) * 100:>+9.1f}%" if off else ""
        print(f"{setting:<12}{value:>28,.1f}{versus}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
