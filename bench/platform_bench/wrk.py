"""wrk runs: one run's summary, sides interleaved over rounds, medians and per-round ratios."""
# wrk, a fixed command on loopback.
# ruff: noqa: S603

import json
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from platform_bench.connections import ConnectionSampler
from platform_bench.machine import machine_cpu_seconds, postgres_cpu_seconds
from platform_bench.servers import Stack
from platform_bench.settings import WRK_THREADS, log

# A side of a comparison: its wrk run, and the servers whose CPU time it is charged with.
Side = tuple[Callable[[], dict[str, Any]], tuple[str, ...]]

# The servers whose CPU time each side is charged with.
CPU_OF = {
    "users": ("users",),
    "bare_flask": ("bare_flask",),
    "fastapi": ("fastapi",),
    "users_gateway": ("users", "gateway"),
    "orders": ("orders", "users", "gateway"),
}


def run(
    url: str,
    *,
    connections: int,
    seconds: int,
    script: Path,
    headers: Sequence[str] = (),
    script_args: Sequence[str] = (),
) -> dict[str, Any]:
    """One wrk run; its summary (latencies in µs, from bench/lua/summary.lua) plus req/s."""
    cmd = [
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
    ]
    for header in headers:
        cmd += ["-H", header]
    cmd.append(url)
    if script_args:
        cmd += ["--", *script_args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
    result = json.loads(line.removeprefix("BENCH_JSON "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["socket_errors"] = sum(v for k, v in result["errors"].items() if k != "status")
    if proc.stderr.strip():
        result["stderr"] = proc.stderr.strip()[:2000]
    return result


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of the rounds."""
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "cpu_ms": statistics.median(r["cpu_ms_per_request"] for r in runs),
        "postgres_cpu_ms": statistics.median(r["postgres_cpu_ms_per_request"] for r in runs),
        "machine_cpu_ms": statistics.median(r["machine_cpu_ms_per_request"] for r in runs),
        "p50_ms": statistics.median(r["latency_us"]["p50"] for r in runs) / 1000,
        "p99_ms": statistics.median(r["latency_us"]["p99"] for r in runs) / 1000,
        "requests": sum(r["requests"] for r in runs),
        "errors": sum(r["socket_errors"] + r["errors"]["status"] for r in runs),
        "non2xx": sum(
            (r["non2xx"] if r["non2xx"] is not None else r["errors"]["status"]) for r in runs
        ),
        "rounds_rps": [round(r["rps"], 1) for r in runs],
    }


def interleaved(
    sides: dict[str, Side],
    rounds: int,
    sampler: ConnectionSampler,
    label: str,
    stack: Stack,
    settle: float,
) -> dict[str, list[dict[str, Any]]]:
    """Run every side once per round; odd rounds in reverse order (A B C, C B A, ...).

    A side is its wrk run and the servers whose CPU time it is charged with: CPU per request
    hardly depends on what else the machine runs, unlike requests per second.
    """
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    names = list(sides)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            sampler.phase = f"{label}:{name}"
            run_side, servers = sides[name]
            start = _cpu_seconds(stack, servers)
            result = run_side()
            end, requests = _cpu_seconds(stack, servers), max(1, result["requests"])
            for kind in start:  # cpu_ms_per_request, postgres_cpu_ms_per_request, ...
                result[f"{kind}_ms_per_request"] = 1000 * (end[kind] - start[kind]) / requests
            sampler.phase = f"settle:{name}"
            time.sleep(settle)  # requests cut off by the end of the run finish before the next
            runs[name].append(result)
            log(
                f"  round {r + 1}/{rounds} {name:<15} {result['rps']:8.1f} req/s"
                f"  p50 {result['latency_us']['p50'] / 1000:6.2f} ms"
                f"  p99 {result['latency_us']['p99'] / 1000:7.2f} ms"
                f"  server CPU {result['cpu_ms_per_request']:.2f} ms/req"
                f"  PostgreSQL {result['postgres_cpu_ms_per_request']:.2f}"
                f"  machine {result['machine_cpu_ms_per_request']:.2f}"
            )
    sampler.phase = "idle"
    return runs


def _cpu_seconds(stack: Stack, servers: tuple[str, ...]) -> dict[str, float]:
    """CPU seconds used so far by the side's servers, by PostgreSQL and by the whole machine
    (wrk and everything else included: on N cores, N x 1000 / its ms per request bounds req/s)."""
    return {
        "cpu": stack.cpu(servers),
        "postgres_cpu": postgres_cpu_seconds(),
        "machine_cpu": machine_cpu_seconds(),
    }


def paired_ratio(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> float:
    """Median over rounds of a's throughput over b's in the same round."""
    return statistics.median(x["rps"] / y["rps"] for x, y in zip(a, b, strict=True))


def cpu_ratio(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> float:
    """b's server CPU per request over a's (> 1: a needs less CPU), median over rounds."""
    return statistics.median(
        y["cpu_ms_per_request"] / x["cpu_ms_per_request"] for x, y in zip(a, b, strict=True)
    )
