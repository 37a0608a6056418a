"""Stopping, starting, probing and reading the logs of the platform's services.

The fault tests stop and start services and their databases; the load test counts the
connections each database has open.

The driver is chosen by ``PLATFORM_CONTROL``: ``compose`` drives ``docker compose`` (extra
arguments in ``PLATFORM_COMPOSE_ARGS``, split like a shell would); unset means no control, and
the tests that need it are skipped, unless the suite started the no-Docker platform itself: then
``LocalControl`` drives that one. Another deployment (Kubernetes, ...) adds a class with the
same methods. A driver has the methods its platform can do; a test names the ones it needs
(``@pytest.mark.control("pause", ...)``) and is skipped with a driver that lacks one.

The module is not called ``platform``: pytest puts this folder on ``sys.path``, where that name
would shadow the standard library's ``platform`` module.
"""

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

# docker compose finds docker-compose.yml here whatever the current directory is; relative
# paths in PLATFORM_COMPOSE_ARGS are relative to it too.
REPO_ROOT = Path(__file__).resolve().parents[2]
# Stopping a service waits for its graceful shutdown (compose's default: 10 s, then SIGKILL).
COMMAND_TIMEOUT = 120
# A probe or a sample answers in about a second; one that hangs must not hang the test.
PROBE_TIMEOUT = 30
# The readiness probe of the service image (deploy/docker/service.Dockerfile, HEALTHCHECK): exits
# 0 when the service's /health/ready answers 200, i.e. when its database answers.
READINESS_PROBE = ("python", "/etc/platform/healthcheck.py")


class PlatformControlError(RuntimeError):
    """A control command failed; the message carries its output."""


class ComposeControl:
    """The platform run by ``docker compose`` from the repository root."""

    def __init__(self, compose_args: list[str]) -> None:
        docker = shutil.which("docker")
        if docker is None:
            raise PlatformControlError("PLATFORM_CONTROL=compose, but `docker` is not on PATH")
        self._command = [docker, "compose", *compose_args]

    def stop(self, *services: str) -> None:
        """Stop the services' containers (their data volumes stay)."""
        self._run("stop", *services)

    def start(self, *services: str) -> None:
        """Start the stopped containers again."""
        self._run("start", *services)

    def restart(self, *services: str) -> None:
        """Stop and start the services' containers."""
        self._run("restart", *services)

    def pause(self, *services: str) -> None:
        """Freeze every process of the services' containers: hung, not down.

        Their ports still accept connections (the kernel completes the handshake) and nothing
        answers, which is what a dependency stuck in a deadlock or a long GC pause looks like.
        """
        self._run("pause", *services)

    def unpause(self, *services: str) -> None:
        """Let the paused containers run again."""
        self._run("unpause", *services)

    def logs(self, service: str, *, since_seconds: int = 300) -> str:
        """The service's recent log lines, without compose's ``name |`` prefix."""
        return self._run("logs", "--no-log-prefix", "--since", f"{since_seconds}s", service)

    def grant_role(self, email: str, role: str) -> None:
        """Give an account a role with the auth service's own command (README, "roles")."""
        self._run("exec", "-T", "auth", "flask", "--app", "auth_service", "grant-role", email, role)

    def is_healthy(self, service: str) -> bool:
        """Whether Docker reports the service's container healthy: the gateway routes it then.

        After a (re)start a container is "starting" until its first passing check, and Traefik
        drops its route meanwhile, even when a request sent just before still reached it.
        """
        states = self._run("ps", "--format", "{{.Health}}", service).split()
        return bool(states) and all(state == "healthy" for state in states)  # every replica

    def is_ready(self, service: str) -> bool:
        """Whether the service's readiness probe passes now.

        Runs the probe of the image's HEALTHCHECK in the container, instead of reading the health
        status Docker keeps: that one turns unhealthy only after five failed checks, 5 s apart.
        """
        result = self._execute("exec", "-T", service, *READINESS_PROBE, timeout=PROBE_TIMEOUT)
        if result.returncode != 0 and result.stderr.strip():
            # The probe prints nothing: output means compose could not run it at all.
            raise _failure(result)
        return result.returncode == 0

    def database_connections(self, service: str) -> int:
        """How many connections the service's own database (``<service>-db``) has open now.

        Asks the database container's ``psql``, as the user and database the compose files name
        after the service; the asking connection itself is not counted.
        """
        query = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        output = self._run(
            *("exec", "-T", f"{service}-db", "psql", "-U", service, "-d", service, "-Atc", query),
            timeout=PROBE_TIMEOUT,
        )
        return int(output)

    def _run(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        result = self._execute(*args, timeout=timeout)
        if result.returncode != 0:
            raise _failure(result)
        return result.stdout

    def _execute(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        # The command is built from a fixed list plus the operator's PLATFORM_COMPOSE_ARGS.
        return subprocess.run(  # noqa: S603
            [*self._command, *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _failure(result: subprocess.CompletedProcess[str]) -> PlatformControlError:
    """The error naming a control command that failed, with what it printed."""
    return PlatformControlError(
        f"{shlex.join(result.args)} exited {result.returncode}: {result.stderr.strip()}"
    )


# A line of `platform up`'s log (honcho's): time, process name padded, "| ", what it printed.
LOG_LINE = re.compile(r"^\S+ (?P<name>\S+)\s+\| (?P<text>.*)$")
# gunicorn's master checks its workers' heartbeats: a worker resumed after its master would be
# seen as timed out (GUNICORN_TIMEOUT) when the pause was longer, and killed. Workers go first,
# then the master, once the workers had this long to beat.
RESUME_HEARTBEAT_SECONDS = 1.5


class LocalControl:
    """The no-Docker platform a run started (``platform up``, see local_stack.py).

    Its processes are the descendants of the ``platform up`` process, named like compose's
    services: ``users`` is the gunicorn serving ``users_service:create_app()`` (master and
    workers), ``users-relay`` and ``users-consumer`` its ``flask --app users_service events``
    processes. honcho ends the whole stack when one process exits, so nothing can be stopped
    or restarted here: a service can only be paused (SIGSTOP, the hung case) and resumed
    (SIGCONT). Its logs are the lines ``platform up`` printed under its name. The databases are
    SQLite files: no connections to count, nothing to stop.
    """

    def __init__(self, stack_pid: int, log_path: str) -> None:
        self._stack_pid = stack_pid
        self._log_path = log_path

    def pause(self, *services: str) -> None:
        """SIGSTOP every process of the services, gunicorn's master before its workers."""
        for service in services:
            for pid in self._processes(service):
                os.kill(pid, signal.SIGSTOP)

    def unpause(self, *services: str) -> None:
        """SIGCONT the paused processes, workers before their master (RESUME_HEARTBEAT_SECONDS)."""
        for service in services:
            master, *workers = self._processes(service)
            for pid in workers:
                os.kill(pid, signal.SIGCONT)
            if workers:
                time.sleep(RESUME_HEARTBEAT_SECONDS)
            os.kill(master, signal.SIGCONT)

    def logs(self, service: str, *, since_seconds: int = 300) -> str:
        """The lines the service's processes printed during this run, without honcho's prefix.

        ``since_seconds`` is accepted for the compose driver's signature: a run's stack is its
        own, so all of its lines are recent.
        """
        with open(self._log_path) as log:
            lines = [LOG_LINE.match(line) for line in log]
        return "\n".join(m["text"] for m in lines if m and m["name"] == service)

    def _processes(self, service: str) -> list[int]:
        """The pids of one service's processes, the top one (gunicorn's master) first."""
        matches = _command_matcher(service)
        found = {pid: ppid for pid, ppid, argv in _descendants(self._stack_pid) if matches(argv)}
        # The master is the one whose parent is not one of them (honcho's process is).
        masters = [pid for pid, ppid in found.items() if ppid not in found]
        if len(masters) != 1:
            raise PlatformControlError(f"{service!r}: {len(masters)} top processes, not one")
        return masters + [pid for pid in found if pid != masters[0]]


def _command_matcher(service: str) -> Callable[[list[str]], bool]:
    """Whether a command line is one of ``service``'s (``users``, ``users-relay``, ...)."""
    name, _, kind = service.partition("-")
    module = f"{name}_service"
    if not kind:
        return lambda argv: f"{module}:create_app()" in argv
    command = {"relay": "relay", "consumer": "consume"}.get(kind)
    if command is None:
        raise PlatformControlError(f"{service!r}: the local platform has no such process")
    return lambda argv: "flask" in argv and argv[-3:] == [module, "events", command]


def _descendants(root: int) -> list[tuple[int, int, list[str]]]:
    """Every process below ``root``: its pid, its parent's and its command line (/proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The field after the parenthesised command name, which may itself hold spaces.
            ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        children.setdefault(ppid, []).append(int(entry.name))
    found = []
    pending = [(child, root) for child in children.get(root, [])]
    while pending:
        pid, ppid = pending.pop()
        pending += [(child, pid) for child in children.get(pid, [])]
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        except OSError:
            continue
        found.append((pid, ppid, argv))
    return found


Control = ComposeControl | LocalControl


def control_from_env(environ: Mapping[str, str]) -> ComposeControl | None:
    """The driver ``PLATFORM_CONTROL`` names, or None when it is unset."""
    kind = environ.get("PLATFORM_CONTROL", "").strip()
    if not kind:
        return None
    if kind == "compose":
        return ComposeControl(shlex.split(environ.get("PLATFORM_COMPOSE_ARGS", "")))
    raise PlatformControlError(f"PLATFORM_CONTROL={kind!r}: the known driver is 'compose'")


def driver_class(environ: Mapping[str, str]) -> type[Control] | None:
    """The class of the run's driver, known before the platform runs (tests skip early).

    ``PLATFORM_CONTROL``'s; else the local one when the run starts the platform (no
    ``PLATFORM_URL``); else none.
    """
    if environ.get("PLATFORM_CONTROL", "").strip():
        return ComposeControl
    return None if environ.get("PLATFORM_URL") else LocalControl
