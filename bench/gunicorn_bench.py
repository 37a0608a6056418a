"""gunicorn settings of every benchmarked server: deploy/gunicorn.conf.py unchanged, plus a hook.

Every side of a comparison runs with exactly the settings production uses (workers, threads,
timeouts, no gunicorn access log). The exit hook only observes: when a worker exits it writes
one line with how many times its ``JWKSCache`` fetched the key set, the benchmark's proof that
no request fetched the JWKS over the network (one fetch per worker process, at its first token).
The other hook changes nothing unless ``bench/run --token-memory-off`` asks for it.
"""

import json
import os
import runpy
import sys
from pathlib import Path
from typing import Any

_SHARED = Path(__file__).resolve().parents[1] / "deploy" / "gunicorn.conf.py"
# gunicorn reads the settings it knows from this module's globals and ignores the rest.
globals().update(
    {
        name: value
        for name, value in runpy.run_path(str(_SHARED)).items()
        if not name.startswith("_")
    }
)

# Not a server setting: gunicorn's control socket defaults to one path per user
# (~/.gunicorn/gunicorn.ctl), which every gunicorn on the machine would fight over.
control_socket_disable = True


def post_worker_init(worker: Any) -> None:
    """``bench/run --token-memory-off``: the token check without its memory (a "before" run)."""
    kept = os.environ.get("BENCH_VERIFIED_TOKENS_KEPT")
    if kept is not None:
        import common.auth

        common.auth.VERIFIED_TOKENS_KEPT = int(kept)


def worker_exit(server: Any, worker: Any) -> None:
    """Report the worker's JWKS fetch count (in the worker process, as it exits).

    Flask apps only: uvicorn workers never get here (the FastAPI peer reports from its lifespan).
    """
    extensions = getattr(getattr(worker, "wsgi", None), "extensions", None)
    verifier = extensions.get("auth") if isinstance(extensions, dict) else None
    line = {
        "bench": "jwks",
        "service": os.environ.get("BENCH_NAME", "?"),
        "pid": os.getpid(),
        "fetches": None if verifier is None else verifier.jwks.fetches,
    }
    sys.stderr.write("BENCH_JSON " + json.dumps(line) + "\n")
    sys.stderr.flush()
