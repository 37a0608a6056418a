"""The benchmark itself (run it through bench/run, which prepares bench/.venv and wrk).

On loopback only: fresh PostgreSQL databases (bench_users, bench_orders, bench_auth) seeded with
10,000 users and 50,000 orders, the three services, the two peers and Traefik, each under
gunicorn with deploy/gunicorn.conf.py (2 workers x 4 threads, gthread; uvicorn workers for the
FastAPI peer), then wrk. Sides of a comparison run interleaved (A, B, C, D, then D, C, B, A, ...)
and every figure is the median of the rounds. wrk and the servers share the machine's cores, so
absolute numbers describe this box under this load; the ratios are what carries over.

Measures, in order:
  1-3. GET /api/v1/users/{id}: users service vs bare Flask, vs FastAPI, and through Traefik;
  4.   POST /api/v1/orders through the gateway (unique Idempotency-Key) at 16 and 64 connections;
  5.   common.auth.TokenVerifier.verify per token (warm JWKS cache), and JWKS fetch counts;
  6.   PostgreSQL connections per database (pg_stat_activity, every second) and the budget;
  8.   integration events (bench/events.py, a process of its own), the stack down;
  7.   `platform up --data-dir <tmp>` until everything answers, median of runs.
Writes bench/results/<timestamp>.json and bench/results/latest.md, and prints the report.

Modules, in the order a run uses them: settings (constants, modes, log), machine (facts, /proc,
ports), databases (recreate, migrate, seed), servers (gunicorn, Traefik, the stack), wrk (one
run, interleaved rounds, ratios), tokens (benchmark 5), comparisons (benchmarks 1-4), profiling
(py-spy), connections (benchmark 6), startup (benchmark 7), report (the Markdown, from
report.md.j2), main (the command line and the order of a run).
"""
