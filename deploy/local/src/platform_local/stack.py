"""`platform up`: every service under gunicorn, the gateway and the docs, managed by honcho.

Each service's integration events run as two more processes from the same code
(``flask events relay`` and ``flask events consume``, named ``<service>-relay`` and
``<service>-consumer``): a relay for a service with ``events.py``, a consumer for one whose
``handlers.py`` registers a handler (services.Service). They start once their service answers
(its migrations ran), and use RabbitMQ when ``BROKER_URL`` is set, otherwise kombu's filesystem
transport in one folder every process shares (``<data dir>/events``): no server to install.

Telemetry (common.tracing, common.metrics): every process gets the caller's ``OTEL_*`` settings
and its own ``OTEL_SERVICE_NAME`` (``users``, ``users-relay``, ``users-consumer``, ``gateway``);
traces leave only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set. Each service serves ``/metrics``
on its port, each relay and consumer on ``METRICS_PORT`` (``metrics_port``), Traefik on its API
port; ``<data dir>/prometheus.yml`` is a Prometheus configuration scraping them all.
"""

import json
import os
import shlex
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from honcho.manager import Manager
from honcho.printer import Printer

from platform_local import gateway
from platform_local.services import PORT_OFFSET, ROOT, Service, discover
from platform_local.wait import answers

READY_TIMEOUT = 60.0
# What `up` prints once every readiness probe answered (READY), or when one never did.
READY = "platform ready in"
NOT_READY = "platform: not ready after"


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def check_ports(ports: dict[str, int]) -> None:
    """Stop with a clear message naming every port another program holds."""
    taken = [f"  {port} ({name})" for name, port in ports.items() if _port_taken(port)]
    if taken:
        raise SystemExit(
            "platform: these ports are already in use on 127.0.0.1:\n"
            + "\n".join(taken)
            + "\nStop what holds them (another `platform up`, `docker compose down`?) and retry,"
            + " or shift every port: PLATFORM_PORT_OFFSET=1000 platform up"
        )


def _gunicorn(module: str) -> str:
    python = shlex.quote(sys.executable)
    config = shlex.quote(str(ROOT / "deploy" / "gunicorn.conf.py"))
    return f'{python} -m gunicorn -c {config} "{module}:create_app()"'


def _flask(module: str, *args: str) -> str:
    python = shlex.quote(sys.executable)
    return f"{python} -m flask --app {module} {shlex.join(args)}"


def events_env(data_dir: Path) -> dict[str, str]:
    """Where the events travel: the broker of ``BROKER_URL``, or one folder shared by all.

    Every relay and consumer must see the same folder: a message is routed to the queues whose
    bindings are kept there, across processes.
    """
    if os.environ.get("BROKER_URL"):
        return {"BROKER_URL": os.environ["BROKER_URL"]}
    return {"EVENTS_FOLDER": os.environ.get("EVENTS_FOLDER") or str(data_dir / "events")}


def events_mode(data_dir: Path) -> str:
    """One line saying which transport ``platform up`` gives the events."""
    env = events_env(data_dir)
    if "BROKER_URL" in env:
        return "events: RabbitMQ (BROKER_URL)"
    return f"events: no broker, kombu's filesystem transport in {env['EVENTS_FOLDER']}"


# The relay's and the consumer's METRICS_PORT (they answer no HTTP otherwise): their service's
# port plus these, so users (8001) has its relay's metrics on 8101 and its consumer's on 8201.
METRICS_PORT_SHIFT = {"relay": 100, "consumer": 200}


def metrics_port(service: Service, kind: str) -> int:
    """Where ``<service>-<kind>`` (relay, consumer) serves its Prometheus metrics."""
    return service.port + METRICS_PORT_SHIFT[kind]


def events_processes(service: Service) -> dict[str, str]:
    """The service's events processes (name: shell command): a relay if it publishes, a
    consumer if it consumes, each started once the service answers (its migrations ran)."""
    wait = f"{shlex.quote(sys.executable)} -m platform_local.wait {service.ready_url}"
    wanted = {"relay": ("relay", service.publishes), "consumer": ("consume", service.consumes)}
    return {
        f"{service.name}-{kind}": f"{wait} && exec {_flask(service.module, 'events', command)}"
        for kind, (command, runs) in wanted.items()
        if runs
    }


def service_env(service: Service, services: list[Service], data_dir: Path) -> dict[str, str]:
    """The environment of one service: its port and database, where the others are, and where
    its events travel."""
    env = {
        "HOST": "127.0.0.1",
        "PORT": str(service.port),
        "FLASK_APP": service.module,
        "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "1"),
        "GUNICORN_THREADS": os.environ.get("GUNICORN_THREADS", "8"),
        "TRUSTED_PROXIES": "1",
        # <NAME>_DATABASE_URL points a service at PostgreSQL; otherwise its own SQLite file.
        "DATABASE_URL": os.environ.get(
            f"{service.name.upper()}_DATABASE_URL", f"sqlite:///{data_dir / service.name}.db"
        ),
    } | events_env(data_dir)
    # Its own settings ([tool.platform.env]); {data_dir} is the data folder, and the caller's
    # environment wins.
    for variable, value in service.env.items():
        env[variable] = os.environ.get(variable, value.replace("{data_dir}", str(data_dir)))
    for other in services:
        # <NAME>_URL, and the other URLs a service declares for all ([tool.platform] urls).
        env[f"{other.name.upper()}_URL"] = other.url
        env |= {variable: other.url + path for variable, path in other.urls.items()}
    return env


def scrape_targets(services: list[Service]) -> dict[str, list[str]]:
    """Every ``/metrics`` of the platform on loopback, by Prometheus job."""
    events = [
        f"127.0.0.1:{metrics_port(s, kind)}"
        for s in services
        for kind in ("relay", "consumer")
        if f"{s.name}-{kind}" in events_processes(s)
    ]
    return {
        "services": [f"127.0.0.1:{s.port}" for s in services],
        "events": events,
        "gateway": [f"127.0.0.1:{gateway.TRAEFIK_API_PORT}"],
    }


def write_prometheus_config(data_dir: Path, services: list[Service]) -> Path:
    """A Prometheus configuration scraping this platform (``prometheus --config.file=...``).

    JSON, which is YAML; the jobs are compose's (deploy/observability/prometheus.yml).
    """
    config = {
        "global": {"scrape_interval": "15s"},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": targets}]}
            for job, targets in scrape_targets(services).items()
            if targets
        ],
    }
    path = data_dir / "prometheus.yml"
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def telemetry_lines(data_dir: Path) -> list[str]:
    """What ``up`` says about traces and metrics, after the URLs."""
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    exporters = os.environ.get("OTEL_TRACES_EXPORTER", "")
    if endpoint:
        traces = f"traces: OTLP to {endpoint} (every process and the gateway)"
    elif "console" in exporters:
        traces = "traces: printed in this log (OTEL_TRACES_EXPORTER=console); gateway: none"
    else:
        traces = "traces: off (set OTEL_EXPORTER_OTLP_ENDPOINT, see --help)"
    config = data_dir / "prometheus.yml"
    return [traces, f"metrics: <port>/metrics; prometheus --config.file={config}"]


def build_manager(data_dir: Path, config_dir: Path) -> tuple[Manager, dict[str, str]]:
    """A honcho manager with every process, and the URL that says each one is ready."""
    services = discover(port_offset=PORT_OFFSET)
    ports = {s.name: s.port for s in services} | {
        "gateway": gateway.GATEWAY_PORT,
        "traefik api": gateway.TRAEFIK_API_PORT,
        "docs": gateway.DOCS_PORT,
    }
    ports |= {
        f"{name} metrics": metrics_port(s, name.rpartition("-")[2])
        for s in services
        for name in events_processes(s)
    }
    check_ports(ports)
    manager = Manager(Printer(sys.stdout))
    base_env = dict(os.environ, PYTHONUNBUFFERED="1")
    ready: dict[str, str] = {}
    for service in services:
        # MIGRATE_ON_START: gunicorn applies the migrations before it binds its port (see
        # deploy/gunicorn.conf.py), so a service takes traffic only once they ran.
        env = base_env | service_env(service, services, data_dir) | {"MIGRATE_ON_START": "1"}
        # Each process names itself in its spans (OTEL_SERVICE_NAME): users, users-relay, ...
        env["OTEL_SERVICE_NAME"] = service.name
        manager.add_process(
            service.name, f"exec {_gunicorn(service.module)}", env=env, cwd=str(ROOT)
        )
        ready[service.name] = service.ready_url
        # They serve no HTTP: `up` waits for none of them.
        process_env = {k: v for k, v in env.items() if k != "MIGRATE_ON_START"}
        for name, command in events_processes(service).items():
            kind = name.rpartition("-")[2]
            own = {"OTEL_SERVICE_NAME": name, "METRICS_PORT": str(metrics_port(service, kind))}
            manager.add_process(name, command, env=process_env | own, cwd=str(ROOT))
    docs_env = base_env | {
        "HOST": "127.0.0.1",
        "PORT": str(gateway.DOCS_PORT),
        "TRUSTED_PROXIES": "1",
        "DOCS_TRAEFIK_API": f"http://127.0.0.1:{gateway.TRAEFIK_API_PORT}",
        "OTEL_SERVICE_NAME": "docs",
        # Names gunicorn's own log lines (deploy/gunicorn.conf.py), as its app names its own.
        "SERVICE_NAME": "docs",
    }
    manager.add_process("docs", f"exec {_gunicorn('platform_docs')}", env=docs_env, cwd=str(ROOT))
    ready["docs"] = f"http://127.0.0.1:{gateway.DOCS_PORT}/health/live"
    traefik = Path(sys.executable).with_name("traefik")
    static = gateway.write_config(config_dir, services)
    # Traefik's OpenTelemetry SDK reads OTEL_SERVICE_NAME too (over its tracing.serviceName).
    gateway_env = base_env | {"OTEL_SERVICE_NAME": "gateway"}
    manager.add_process("gateway", f"exec {traefik} --configFile={static}", env=gateway_env)
    write_prometheus_config(data_dir, services)
    ready["gateway"] = f"http://127.0.0.1:{gateway.TRAEFIK_API_PORT}/ping"
    return manager, ready


def wait_until_ready(
    manager: Manager,
    ready: dict[str, str],
    started: float,
    events: str = "",
    telemetry: list[str] | None = None,
) -> None:
    """Poll every readiness URL; print where everything is, or stop the stack on timeout."""
    pending = dict(ready)
    while pending and time.monotonic() - started < READY_TIMEOUT:
        pending = {name: url for name, url in pending.items() if not answers(url)}
        time.sleep(0.1)
    if pending:
        print(f"{NOT_READY} {READY_TIMEOUT:.0f} s: {', '.join(pending)}", flush=True)
        manager.terminate()
        return
    base = f"http://127.0.0.1:{gateway.GATEWAY_PORT}"
    lines = [
        f"{READY} {time.monotonic() - started:.1f} s",
        f"  gateway            {base}",
        f"  aggregated Swagger {base}/apidocs/",
    ]
    services = discover(port_offset=PORT_OFFSET)
    lines += [f"  {s.name:<18} {base}{s.prefix}  (direct: :{s.port})" for s in services]
    lines += [f"  {events}"] if events else []
    lines += [f"  {line}" for line in telemetry or []]
    print("\n".join(lines) + "\n  Ctrl-C stops everything.", flush=True)


def up(data_dir: Path | None = None) -> int:
    """Run the platform in the foreground until Ctrl-C; return honcho's exit code."""
    started = time.monotonic()
    data = data_dir or ROOT / ".platform"
    data.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="platform-gateway-") as config_dir:
        manager, ready = build_manager(data, Path(config_dir))
        threading.Thread(
            target=wait_until_ready,
            args=(manager, ready, started, events_mode(data), telemetry_lines(data)),
            daemon=True,
        ).start()
        manager.loop()
    return manager.returncode or 0
