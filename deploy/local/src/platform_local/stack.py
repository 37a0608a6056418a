"""`platform up`: every service under gunicorn, the gateway and the docs, managed by honcho.

Each service's integration events run as two more processes from the same code
(``flask events relay`` and ``flask events consume``, named ``<service>-relay`` and
``<service>-consumer``): a relay for a service with ``events.py``, a consumer for one whose
``handlers.py`` registers a handler (services.Service). They start once their service answers
(its migrations ran), and use RabbitMQ when ``BROKER_URL`` is set, otherwise kombu's filesystem
transport in one folder every process shares (``<data dir>/events``): no server to install.
"""

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
        "AUTH_ADMIN_EMAILS": os.environ.get("AUTH_ADMIN_EMAILS", "admin@example.com"),
        # <NAME>_DATABASE_URL points a service at PostgreSQL; otherwise its own SQLite file.
        "DATABASE_URL": os.environ.get(
            f"{service.name.upper()}_DATABASE_URL", f"sqlite:///{data_dir / service.name}.db"
        ),
        # Development key material lives with the data, not in the source tree.
        "AUTH_DEV_KEY_FILE": str(data_dir / "auth-signing-key.pem"),
    } | events_env(data_dir)
    for other in services:
        env[f"{other.name.upper()}_URL"] = f"http://127.0.0.1:{other.port}"
        if other.name == "auth":
            env["AUTH_JWKS_URL"] = f"http://127.0.0.1:{other.port}/api/v1/auth/jwks.json"
    return env


def build_manager(data_dir: Path, config_dir: Path) -> tuple[Manager, dict[str, str]]:
    """A honcho manager with every process, and the URL that says each one is ready."""
    services = discover(port_offset=PORT_OFFSET)
    ports = {s.name: s.port for s in services} | {
        "gateway": gateway.GATEWAY_PORT,
        "traefik api": gateway.TRAEFIK_API_PORT,
        "docs": gateway.DOCS_PORT,
    }
    check_ports(ports)
    manager = Manager(Printer(sys.stdout))
    base_env = dict(os.environ, PYTHONUNBUFFERED="1")
    ready: dict[str, str] = {}
    for service in services:
        # MIGRATE_ON_START: gunicorn applies the migrations before it binds its port (see
        # deploy/gunicorn.conf.py), so a service takes traffic only once they ran.
        env = base_env | service_env(service, services, data_dir) | {"MIGRATE_ON_START": "1"}
        manager.add_process(
            service.name, f"exec {_gunicorn(service.module)}", env=env, cwd=str(ROOT)
        )
        ready[service.name] = service.ready_url
        # They serve no HTTP: `up` waits for none of them.
        process_env = {k: v for k, v in env.items() if k != "MIGRATE_ON_START"}
        for name, command in events_processes(service).items():
            manager.add_process(name, command, env=process_env, cwd=str(ROOT))
    docs_env = base_env | {
        "HOST": "127.0.0.1",
        "PORT": str(gateway.DOCS_PORT),
        "TRUSTED_PROXIES": "1",
        "DOCS_TRAEFIK_API": f"http://127.0.0.1:{gateway.TRAEFIK_API_PORT}",
    }
    manager.add_process("docs", f"exec {_gunicorn('platform_docs')}", env=docs_env, cwd=str(ROOT))
    ready["docs"] = f"http://127.0.0.1:{gateway.DOCS_PORT}/health/live"
    traefik = Path(sys.executable).with_name("traefik")
    static = gateway.write_config(config_dir, services)
    manager.add_process("gateway", f"exec {traefik} --configFile={static}", env=base_env)
    ready["gateway"] = f"http://127.0.0.1:{gateway.TRAEFIK_API_PORT}/ping"
    return manager, ready


def wait_until_ready(
    manager: Manager, ready: dict[str, str], started: float, events: str = ""
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
            args=(manager, ready, started, events_mode(data)),
            daemon=True,
        ).start()
        manager.loop()
    return manager.returncode or 0
