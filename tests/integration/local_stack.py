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

from platform_local.stack import NOT_READY, READY

# Shift every port of the stack (gateway 8080 -> 28080, ...) so a platform the developer is
# running on the default ports is left alone; INTEGRATION_PORT_OFFSET picks another shift, for
# two runs side by side.
PORT_OFFSET = int(os.environ.get("INTEGRATION_PORT_OFFSET", "20000"))
READY_WITHIN = 120.0


@dataclass(frozen=True)
class LocalStack:
    """A running `platform up`: its gateway, its process (every other one is below it), its log."""

    url: str
    pid: int
    log_path: str


@contextmanager
def local_platform() -> Iterator[LocalStack]:
    """Run `platform up` on fresh SQLite databases; yield where it runs; stop it after."""
    with tempfile.TemporaryDirectory(prefix="platform-it-") as data_dir:
        env = dict(os.environ, PLATFORM_PORT_OFFSET=str(PORT_OFFSET))
        env.pop("GATEWAY_PORT", None)
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
            yield LocalStack(f"http://127.0.0.1:{8080 + PORT_OFFSET}", stack.pid, log.name)
        finally:
            stack.send_signal(signal.SIGINT)  # honcho stops every process on Ctrl-C
            try:
                stack.wait(timeout=30)
            except subprocess.TimeoutExpired:
                stack.kill()
            log.close()


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
