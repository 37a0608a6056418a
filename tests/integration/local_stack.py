"""The no-Docker platform (`platform up`), started for a run that names no PLATFORM_URL."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from otlp_receiver import OtlpReceiver

from platform_local.stack import NOT_READY, READY

# Shift every port of the stack (gateway 8080 -> 28080, ...) so a platform the developer is
# running on the default ports is left alone; INTEGRATION_PORT_OFFSET picks another shift, for
# two runs side by side.
PORT_OFFSET = int(os.environ.get("INTEGRATION_PORT_OFFSET", "20000"))
READY_WITHIN = 120.0
# Traces: every process and the gateway export to a receiver this run starts (test_tracing), but
# only requests that arrive with a sampled `traceparent` are traced (ratio 0 otherwise, the
# gateway's sampler included: platform_local.gateway.sample_rate), so the rest of the suite
# pays a sampler's decision per request, not a span's export. Spans leave within 0.2 s.
TRACING_ENV = {
    "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
    "OTEL_TRACES_SAMPLER_ARG": "0",
    "OTEL_BSP_SCHEDULE_DELAY": "200",
}


@dataclass(frozen=True)
class LocalStack:
    """A running `platform up`: its gateway, its process (every other one is below it), its log,
    and the receiver its traces go to."""

    url: str
    pid: int
    log_path: str
    receiver: OtlpReceiver


@contextmanager
def local_platform() -> Iterator[LocalStack]:
    """Run `platform up` on fresh SQLite databases; yield where it runs; stop it after."""
    with tempfile.TemporaryDirectory(prefix="platform-it-") as data_dir:
        receiver = OtlpReceiver().start()  # first: the processes export from their start
        env = dict(os.environ, PLATFORM_PORT_OFFSET=str(PORT_OFFSET))
        env.pop("GATEWAY_PORT", None)
        env |= TRACING_ENV | {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
        for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER"):
            env.pop(name, None)
        # Kept open for the whole run: the stack writes to it until it stops.
        log = open(os.path.join(data_dir, "platform.log"), "w")  # noqa: SIM115
        stack = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
            [sys.executable, "-m", "platform_local.cli", "up", "--data-dir", data_dir],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_ready(stack, log.name)
            url = f"http://127.0.0.1:{8080 + PORT_OFFSET}"
            yield LocalStack(url, stack.pid, log.name, receiver)
        finally:
            stack.send_signal(signal.SIGINT)  # honcho stops every process on Ctrl-C
            try:
                stack.wait(timeout=30)
            except subprocess.TimeoutExpired:
                stack.kill()
            log.close()
            receiver.stop()


def _wait_until_ready(stack: subprocess.Popen, log_path: str) -> None:
    """Wait for `platform up` to say every process is ready, as its readiness probes saw it.

    Its own probes are the ones to trust: the gateway and the docs service answer before the
    services behind them do, so a request through the gateway would only prove Traefik is up
    (and an early request would leave the docs service caching a spec as missing).
    """
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        with open(log_path) as log:
            printed = log.read()
        if READY in printed:
            return
        if stack.poll() is not None or NOT_READY in printed:
            raise RuntimeError(f"`platform up` failed to start; see its log:\n{_tail(log_path)}")
        time.sleep(0.2)
    raise RuntimeError(f"`platform up` not ready in {READY_WITHIN:.0f} s:\n{_tail(log_path)}")


def _tail(path: str, lines: int = 40) -> str:
    with open(path) as log:
        return "".join(log.readlines()[-lines:])
