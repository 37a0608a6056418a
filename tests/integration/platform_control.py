"""Stopping, starting, probing and reading the logs of the platform's services.

The fault tests stop and start services and their databases; the load test counts the
connections each database has open.

The driver is chosen by ``PLATFORM_CONTROL``: ``compose`` drives ``docker compose`` (extra
arguments in ``PLATFORM_COMPOSE_ARGS``, split like a shell would); unset means no control, and
the tests that need it are skipped. Another deployment (Kubernetes, ...) adds a class with the
same methods.

The module is not called ``platform``: pytest puts this folder on ``sys.path``, where that name
would shadow the standard library's ``platform`` module.
"""

import shlex
import shutil
import subprocess
from collections.abc import Mapping
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
        return self._run("ps", "--format", "{{.Health}}", service).strip() == "healthy"

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


def control_from_env(environ: Mapping[str, str]) -> ComposeControl | None:
    """The driver ``PLATFORM_CONTROL`` names, or None when it is unset."""
    kind = environ.get("PLATFORM_CONTROL", "").strip()
    if not kind:
        return None
    if kind == "compose":
        return ComposeControl(shlex.split(environ.get("PLATFORM_COMPOSE_ARGS", "")))
    raise PlatformControlError(f"PLATFORM_CONTROL={kind!r}: the known driver is 'compose'")
