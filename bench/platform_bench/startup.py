"""Benchmark 7: `platform up --data-dir <tmp>` (the no-Docker stack) until everything answers."""
# `platform up`, a fixed command of bench/.venv.
# ruff: noqa: S603

import contextlib
import os
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from platform_bench.machine import descendants, free_port, port_taken
from platform_bench.servers import answered
from platform_bench.settings import BIN, ROOT, base_env, log

WHAT = (
    "command to: every service /health/ready 200, docs /health/live 200, "
    "Traefik ping 200, and the gateway routing to every service"
)


def startup_runs(runs: int, logdir: Path) -> dict[str, Any]:
    """`platform up --data-dir <tmp>` until the gateway and every service answer; median."""
    from platform_local import services as catalog

    base = platform_ports()
    offset = free_offset(base, shiftable=hasattr(catalog, "PORT_OFFSET"))
    if offset is None:
        busy = [f"{name} :{port}" for name, port in base.items() if port_taken(port)]
        return {"skipped": f"ports in use (another `platform up`?): {', '.join(busy)}"}
    fixed = {name: port + offset for name, port in base.items() if name != "gateway"}
    prefixes = {s.name: s.prefix for s in catalog.discover()}
    times = []
    for i in range(runs):
        # Without the offset, the gateway alone moves: GATEWAY_PORT is a free port.
        gw = base["gateway"] + offset if offset else free_port()
        urls = {name: f"http://127.0.0.1:{fixed[name]}/health/ready" for name in prefixes}
        urls |= {
            "docs": f"http://127.0.0.1:{fixed['docs']}/health/live",
            "gateway": f"http://127.0.0.1:{fixed['traefik api']}/ping",
        }
        urls |= {
            f"gateway->{name}": f"http://127.0.0.1:{gw}{prefix}/__bench_probe__"
            for name, prefix in prefixes.items()
        }
        env = base_env() | {
            "GATEWAY_PORT": str(gw - offset),
            "PLATFORM_PORT_OFFSET": str(offset),
        }
        log_path = logdir / f"platform-up-{i + 1}.log"
        elapsed, pending = time_platform_up(urls, env, log_path)
        if pending:
            return {
                "failed": f"run {i + 1}: not ready: {', '.join(pending)}",
                "log": str(log_path),
            }
        times.append(elapsed)
        log(f"  platform up #{i + 1}: all healthy after {elapsed:.2f} s")
        deadline = time.monotonic() + 20
        while any(port_taken(p) for p in fixed.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
    return {
        "runs_s": [round(t, 2) for t in times],
        "median_s": statistics.median(times),
        "what": WHAT,
    }


def platform_ports() -> dict[str, int]:
    """The ports `platform up` binds, unshifted (gateway 8080)."""
    from platform_local import gateway
    from platform_local import services as catalog

    current = getattr(catalog, "PORT_OFFSET", 0)
    return {s.name: s.port for s in catalog.discover()} | {  # discover(): unshifted ports
        "traefik api": gateway.TRAEFIK_API_PORT - current,
        "docs": gateway.DOCS_PORT - current,
        "gateway": 8080,
    }


def free_offset(base: dict[str, int], shiftable: bool) -> int | None:
    """Where `platform up` supports PLATFORM_PORT_OFFSET, an offset that shifts all its ports
    to a free range, so that another `platform up` on the machine is no obstacle; else 0 when
    its own ports are free. None when nothing fits."""
    candidates = [20000 + 100 * k for k in range(50)] if shiftable else [0]
    return next((o for o in candidates if not any(port_taken(p + o) for p in base.values())), None)


def time_platform_up(
    urls: dict[str, str], env: dict[str, str], log_path: Path
) -> tuple[float, dict[str, str]]:
    """One `platform up` in a fresh data directory: the seconds until every URL answered (or it
    exited, or 120 s passed), and the URLs that did not answer. Stops it as Ctrl-C does."""
    with tempfile.TemporaryDirectory(prefix="bench-platform-up-") as data:
        out = log_path.open("wb")
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(BIN / "platform"), "up", "--data-dir", data],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        pending = dict(urls)
        try:
            while pending and time.perf_counter() - started < 120:
                if proc.poll() is not None:
                    break
                for name, url in list(pending.items()):
                    if answered(url):
                        del pending[name]
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
        finally:
            stop_platform_up(proc)
            out.close()
    return elapsed, pending


def stop_platform_up(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT (what Ctrl-C does), then SIGKILL to anything honcho left behind, by pid."""
    kids = descendants(proc.pid)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    for pid in kids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
