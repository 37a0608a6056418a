"""gunicorn settings shared by every service, in containers and on a laptop (env overrides)."""

import glob
import logging
import os
import shutil
import signal
import tempfile
import threading

# Prometheus' multiprocess mode (common.metrics): each worker keeps its values in files of
# PROMETHEUS_MULTIPROC_DIR and /metrics adds up the folder, whichever worker answers. The
# variable is read once, when prometheus_client is first imported, so it is set here, before
# the app (and, with preload_app, the master's copy of it) is loaded. A folder given (compose,
# Kubernetes: on an emptyDir, the root filesystem being read-only) is this server's alone and
# emptied at start: a previous run's counts are not this one's. Without one, a new temporary
# folder, removed when the server stops. The relay and the consumer need none (common.metrics).
_METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
_METRICS_TEMP_DIR = "PLATFORM_METRICS_TEMP_DIR"  # set when this file made the folder
if not os.environ.get(_METRICS_DIR):
    os.environ[_METRICS_DIR] = os.environ[_METRICS_TEMP_DIR] = tempfile.mkdtemp(
        prefix="prometheus-"
    )
elif os.environ.get(_METRICS_TEMP_DIR) != os.environ[_METRICS_DIR]:
    # (Also on a SIGHUP reload, which reads this file again: counts restart from 0 with the new
    # workers, which Prometheus reads as a counter reset.)
    os.makedirs(os.environ[_METRICS_DIR], exist_ok=True)
    for stale in glob.glob(os.path.join(os.environ[_METRICS_DIR], "*.db")):
        os.remove(stale)

from gunicorn import glogging  # noqa: E402 (after the metrics folder is chosen)

from common.logs import json_formatter  # noqa: E402

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads let a worker overlap requests waiting on the database or another service.
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# How long a stopping worker may finish its in-flight requests (then it is killed). Kubernetes'
# terminationGracePeriodSeconds and compose's stop_grace_period exceed drain + this (below).
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "10"))
keepalive = 5
# Request limits, gunicorn's defaults written down on purpose. Over them gunicorn answers 414
# (request line: method, URL with its query, version) or 431 (a header line, or too many
# headers) in its own text/html, which the gateway's `envelope` middleware turns into the JSON
# envelope. Traefik's maxHeaderBytes (1 MiB) must stay above what these let through, 100 x
# 8 KiB, or Go refuses first with a plain-text 431 no middleware sees (README, "Request limits").
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# The app writes its own JSON access line (with the request id); gunicorn's would repeat it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")


class JsonLogger(glogging.Logger):
    """gunicorn's own lines (its error log; its access log if turned on) as the services' JSON.

    A subclass rather than ``logconfig_dict``: with that setting gunicorn treats its access log
    as on and builds an access record for every request, the line the app already writes.
    """

    def setup(self, cfg):  # type: ignore[no-untyped-def]
        super().setup(cfg)
        # SERVICE_NAME when the environment sets one, else the app's package by the platform's
        # naming: "users_service:create_app()" -> "users".
        app_package = cfg.proc_name.partition(":")[0]
        service = os.environ.get("SERVICE_NAME") or app_package.removesuffix("_service")
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                # Stream and file handlers; a syslog handler keeps gunicorn's syslog prefix.
                if isinstance(handler, logging.StreamHandler):
                    handler.setFormatter(json_formatter(service))


logger_class = JsonLogger
# No runtime control socket: nothing here uses it, and a read-only container has no home for it.
control_socket_disable = True

# MIGRATE_ON_START=1 (compose, `platform up`): the master loads the app, applies its migrations
# and only then opens the socket and forks the workers, so no request meets an old schema. Loading
# the app once in the master (preload) instead of once in a `flask db upgrade` process and again
# in every worker cut `platform up` from about 6 s to about 3.5 s on 2 cores.
if os.environ.get("MIGRATE_ON_START") == "1":
    preload_app = True

    def on_starting(server):  # type: ignore[no-untyped-def]
        """gunicorn hook: runs after the preload, before the socket is bound."""
        from common.migrations import upgrade_before_serving

        upgrade_before_serving(server.app.wsgi())


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """gunicorn hook (master): a worker exited; its in-flight and pool gauges go with it.

    Its counters and histograms stay in the folder: the requests it served remain counted.
    """
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


# Drain before stopping. gunicorn's SIGTERM closes the listeners at once, then lets the workers
# finish their in-flight requests (graceful_timeout); a load balancer that still sends work here
# meanwhile gets refused or reset connections. With SHUTDOWN_DRAIN_SECONDS above 0 (compose,
# Kubernetes; 0, off, by default: laptops, `platform up`, tests), the first SIGTERM to the master
# only starts a drain: /health/ready answers 503 `shutting_down` in every worker (common.health
# reads the file named by SHUTDOWN_DRAIN_FILE) while they keep serving normally, so the gateway's
# health check takes this replica out; after the drain the master sends itself SIGTERM again and
# gunicorn's own graceful stop runs. A second SIGTERM during the drain stops at once (gracefully);
# SIGINT and SIGQUIT stay immediate. gunicorn has no setting for this (up to 27): the hook below
# wraps the arbiter's handle_term, which its main loop calls for each SIGTERM it dequeues.
_DRAIN_SECONDS = float(os.environ.get("SHUTDOWN_DRAIN_SECONDS") or 0)
_DRAIN_FILE = "SHUTDOWN_DRAIN_FILE"  # common.health.DRAIN_FILE


def when_ready(server):  # type: ignore[no-untyped-def]
    """gunicorn hook (master, listening, before the first workers fork): drain on SIGTERM."""
    if _DRAIN_SECONDS <= 0:
        os.environ.pop(_DRAIN_FILE, None)  # not a value inherited from elsewhere
        return
    # Per master (a USR2 re-exec has its own); set before the workers fork, who inherit it. A
    # file a previous run left (a restarted container: same PID 1, same /tmp) is removed.
    marker = os.path.join(tempfile.gettempdir(), f"gunicorn-draining-{server.pid}")
    if os.path.exists(marker):
        os.remove(marker)
    os.environ[_DRAIN_FILE] = marker
    stop = server.handle_term  # raises StopIteration: the main loop then stops gracefully
    timer: threading.Timer | None = None

    def handle_term() -> None:
        nonlocal timer
        if timer is not None:  # the drain's end, or a second SIGTERM: stop now
            timer.cancel()
            stop()
        with open(marker, "w"):
            pass
        server.log.info(
            "Draining for %g s (/health/ready answers 503), then stopping;"
            " a second SIGTERM stops now",
            _DRAIN_SECONDS,
        )
        timer = threading.Timer(_DRAIN_SECONDS, os.kill, (server.pid, signal.SIGTERM))
        timer.daemon = True
        timer.start()

    server.handle_term = handle_term


def on_exit(server):  # type: ignore[no-untyped-def]
    """gunicorn hook (master, last): remove the drain file, and the metrics folder if this file
    made it."""
    marker = os.environ.get(_DRAIN_FILE)
    if marker and os.path.exists(marker):
        os.remove(marker)
    made = os.environ.get(_METRICS_TEMP_DIR)
    if made and made == os.environ.get(_METRICS_DIR):
        shutil.rmtree(made, ignore_errors=True)
