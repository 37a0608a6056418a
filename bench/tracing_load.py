"""Req/s of the users GET under load with tracing off, sampled at 0.1 and at 1.0, side by side.

``bench/tracing_cost.py --load`` runs this after its instruction counts. Three users servers as
deployed (gunicorn with deploy/gunicorn.conf.py: 2 workers x 4 threads; bench_users of a
previous bench/run), one per setting, each with the OTEL_* variables of its setting and the
SDK's default batching (an export every 5 s from the workers' export threads, to the command's
OTLP receiver). Every server checks the same token, signed here; the receiver also serves its
JWKS. wrk loads one server at a time, in rounds of alternating order (A B C, then C B A, ...);
each figure is the median of the rounds, next to each server's CPU time per request (all its
processes), which moves far less with the machine's other load than req/s.
"""

import statistics
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from platform_bench import wrk  # noqa: E402
from platform_bench.databases import pg_url  # noqa: E402
from platform_bench.machine import free_port, process_cpu_seconds  # noqa: E402
from platform_bench.servers import Proc, wait_ready  # noqa: E402
from platform_bench.settings import (  # noqa: E402
    DATABASES,
    GUNICORN_CONF,
    THREADS,
    WORKERS,
    base_env,
)
from platform_bench.tokens import first_user, user_token  # noqa: E402

from common.auth import public_jwk  # noqa: E402

CONNECTIONS = 32


def signing_key() -> tuple[Ed25519PrivateKey, dict[str, Any]]:
    """A fresh signing key and the JWKS document that publishes it."""
    key = Ed25519PrivateKey.generate()
    return key, {"keys": [public_jwk(key.public_key())]}


def _token_and_path(key: Ed25519PrivateKey) -> tuple[str, str]:
    user_id = first_user(pg_url(DATABASES["users"], "+psycopg"))
    return user_token(key, user_id), f"/api/v1/users/{user_id}"


def _start(
    setting: str,
    tracing_env: dict[str, str],
    jwks_url: str,
    logdir: Path,
    command_prefix: Sequence[str] = (),
    extra_env: Mapping[str, str] | None = None,
) -> tuple[Proc, str]:
    """A users server with the setting's OTEL_* variables (and no other); it and its URL.

    :param command_prefix: what runs gunicorn (tracing_served.py: valgrind).
    :param extra_env: over the deployed settings (tracing_served.py: one worker).
    """
    port = free_port()
    untraced = {k: v for k, v in base_env().items() if not k.startswith("OTEL_")}
    env = (
        untraced
        | tracing_env
        | {
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WEB_CONCURRENCY": str(WORKERS),
            "GUNICORN_THREADS": str(THREADS),
            "DATABASE_URL": pg_url(DATABASES["users"], "+psycopg"),
            "AUTH_JWKS_URL": jwks_url,
            "LOG_LEVEL": "INFO",  # one JSON access line per request, as deployed
            "PGAPPNAME": f"bench-tracing-{setting}",
        }
        | dict(extra_env or {})
    )
    gunicorn = [*command_prefix, sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF)]
    proc = Proc(f"users-tracing-{setting}", [*gunicorn, "users_service:create_app()"], env, logdir)
    return proc, f"http://127.0.0.1:{port}"


def measure_load(
    environments: dict[str, dict[str, str]],
    key: Ed25519PrivateKey,
    jwks_url: str,
    rounds: int = 3,
    seconds: int = 8,
) -> dict[str, dict[str, float]]:
    """Per setting: req/s, p99 (ms) and server CPU per request (ms), medians of the rounds.

    :param environments: each setting's OTEL_* variables (none: off).
    """
    token, path = _token_and_path(key)
    headers = [f"Authorization: Bearer {token}"]
    with tempfile.TemporaryDirectory() as tmp:
        started = {s: _start(s, env, jwks_url, Path(tmp)) for s, env in environments.items()}
        servers = {setting: proc for setting, (proc, _) in started.items()}
        urls = {setting: url for setting, (_, url) in started.items()}
        try:
            wait_ready(
                {s: url + "/health/ready" for s, url in urls.items()}, list(servers.values())
            )

            def run(setting: str, duration: int) -> dict[str, Any]:
                url, script = urls[setting] + path, BENCH / "lua" / "get.lua"
                return wrk.run(
                    url, connections=CONNECTIONS, seconds=duration, script=script, headers=headers
                )

            for setting in servers:  # warm-up: JWKS fetched, pools and caches filled
                run(setting, 2)
            results: dict[str, list[dict[str, Any]]] = {s: [] for s in servers}
            for r in range(rounds):
                for setting in list(servers) if r % 2 == 0 else reversed(list(servers)):
                    cpu = process_cpu_seconds(servers[setting].pid)  # gunicorn and its workers
                    result = run(setting, seconds)
                    spent = process_cpu_seconds(servers[setting].pid) - cpu
                    result["cpu_ms"] = 1000 * spent / max(1, result["requests"])
                    results[setting].append(result)
        finally:
            for proc in servers.values():
                proc.stop()
    return {
        setting: {
            "rps": statistics.median(r["rps"] for r in runs),
            "p99_ms": statistics.median(r["latency_us"]["p99"] for r in runs) / 1000,
            "cpu_ms": statistics.median(r["cpu_ms"] for r in runs),
            "errors": sum(r["socket_errors"] + r["errors"]["status"] for r in runs),
        }
        for setting, runs in results.items()
    }
