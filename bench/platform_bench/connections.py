"""Benchmark 6: PostgreSQL connections per server and database, sampled each second, and the
connection budget of the default configuration against the server's max_connections."""

import collections
import os
import runpy
import threading
import time
from typing import Any

from platform_bench.databases import pg_admin
from platform_bench.settings import ROOT, WORKERS

# The measured phases (ConnectionSampler.phase prefixes) that load each bench database.
LOADED_BY = {
    "bench_users": ("get:",),
    "bench_orders": ("orders:",),
    "bench_auth": ("orders:",),
}


class ConnectionSampler(threading.Thread):
    """pg_stat_activity of the bench databases, grouped by database and application, each second."""

    def __init__(self) -> None:
        super().__init__(daemon=True, name="pg-sampler")
        self.phase = "setup"
        self.samples: list[dict[str, Any]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        with pg_admin() as conn:
            while not self._halt.is_set():
                rows = conn.execute(
                    "SELECT datname, application_name, count(*) FROM pg_stat_activity"
                    " WHERE datname LIKE 'bench\\_%' GROUP BY 1, 2"
                ).fetchall()
                self.samples.append(
                    {
                        "t": round(time.monotonic(), 2),
                        "phase": self.phase,
                        "counts": {f"{app or '?'}@{db}": n for db, app, n in rows},
                    }
                )
                self._halt.wait(1.0)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def connections_result(sampler: ConnectionSampler, pg: dict[str, Any]) -> dict[str, Any]:
    """The report's connections: per server and database, the budget, and the check."""
    result = connection_report(sampler, pg)
    servers = {k: v for k, v in result["by_server"].items() if k.startswith("bench-")}
    result["peaks_text"] = ", ".join(
        f"{k.split('@')[0].removeprefix('bench-')} {v['peak']}" for k, v in servers.items()
    )
    result["ok"] = all(v["within_limit"] and not v["climbing"] for v in servers.values())
    return result


def connection_report(sampler: ConnectionSampler, pg: dict[str, Any]) -> dict[str, Any]:
    """Per server and database: peak, the peak of each measured run, idle pools, the budget."""
    budget = connection_budget(pg)
    samples = sampler.samples
    return {
        "samples": len(samples),
        "by_server": by_server(samples, budget["pool_size"], budget["max_overflow"]),
        "peak_per_database": peak_per_database(samples),
        "peak_all_bench": max((sum(s["counts"].values()) for s in samples), default=0),
        "budget": budget,
    }


def connection_budget(pg: dict[str, Any]) -> dict[str, Any]:
    """What the default configuration (every service, deploy/gunicorn.conf.py's workers, the
    common engine options) may open, against 80 % of the server's max_connections."""
    from common.config import Config
    from platform_local.services import discover

    options = Config.SQLALCHEMY_ENGINE_OPTIONS
    pool, overflow = int(options["pool_size"]), int(options["max_overflow"])
    shared = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    default_workers = int(shared["workers"]) if "WEB_CONCURRENCY" not in os.environ else 2
    services = [s.name for s in discover()]
    per_service = default_workers * (pool + overflow)
    total = per_service * len(services)
    eighty_percent = 0.8 * pg["max_connections"]
    return {
        "max_connections": pg["max_connections"],
        "superuser_reserved_connections": pg["superuser_reserved_connections"],
        "services": services,
        "workers_per_service": default_workers,
        "pool_size": pool,
        "max_overflow": overflow,
        "per_service": per_service,
        "total": total,
        "eighty_percent": eighty_percent,
        "ok": total <= eighty_percent,
    }


def measured_runs(samples: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Contiguous runs of samples with the same phase: one wrk run each."""
    segments: list[tuple[str, list[dict[str, Any]]]] = []
    for sample in samples:
        if segments and segments[-1][0] == sample["phase"]:
            segments[-1][1].append(sample)
        else:
            segments.append((sample["phase"], [sample]))
    return segments


def by_server(samples: list[dict[str, Any]], pool: int, overflow: int) -> dict[str, Any]:
    """Per server@database: its peak, the peak of each run that loaded it, idle at the end."""
    segments = measured_runs(samples)
    limit = WORKERS * (pool + overflow)  # per server in this benchmark
    result: dict[str, dict[str, Any]] = {}
    for key in sorted({k for s in samples for k in s["counts"]}):
        series = [s["counts"].get(key, 0) for s in samples]
        loads = LOADED_BY.get(key.split("@", 1)[1], ())
        per_run = [
            max(x["counts"].get(key, 0) for x in run)
            for phase, run in segments
            if phase.startswith(loads)
        ]
        idle = series[-1]
        result[key] = {
            "peak": max(series),
            "idle_at_end": idle,
            "limit": limit,
            "idle_limit": WORKERS * pool,
            "peaks_per_run": per_run,
            "within_limit": max(series) <= limit and idle <= WORKERS * pool,
            "climbing": climbing(per_run),
        }
    return result


def climbing(per_run: list[int]) -> bool:
    """Peaks that climb from run to run instead of levelling: every late run above every early
    one. A leak holds connections it never gives back, so the idle pools at the end would exceed
    workers x pool_size too; one late spike is not a leak (the FastAPI peer's peaks wander
    between 10 and 16 from run to run)."""
    third = max(1, len(per_run) // 3)
    return bool(per_run) and min(per_run[-third:]) > max(per_run[:third]) + 2


def peak_per_database(samples: list[dict[str, Any]]) -> dict[str, int]:
    """The most connections each database had at once, every server together."""
    per_db: dict[str, int] = collections.Counter()
    for s in samples:
        totals: dict[str, int] = collections.Counter()
        for key, n in s["counts"].items():
            totals[key.split("@", 1)[1]] += n
        for db, n in totals.items():
            per_db[db] = max(per_db[db], n)
    return dict(per_db)
