"""Stopping, starting and reading the logs of the platform's services, for the fault tests.

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

    def _run(self, *args: str) -> str:
        command = [*self._command, *args]
        # The command is built from a fixed list plus the operator's PLATFORM_COMPOSE_ARGS.
        result = subprocess.run(  # noqa: S603
            command,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise PlatformControlError(
                f"{shlex.join(command)} exited {result.returncode}: {result.stderr.strip()}"
            )
        return result.stdout


def control_from_env(environ: Mapping[str, str]) -> ComposeControl | None:
    """The driver ``PLATFORM_CONTROL`` names, or None when it is unset."""
    kind = environ.get("PLATFORM_CONTROL", "").strip()
    if not kind:
        return None
    if kind == "compose":
        return ComposeControl(shlex.split(environ.get("PLATFORM_COMPOSE_ARGS", "")))
    raise PlatformControlError(f"PLATFORM_CONTROL={kind!r}: the known driver is 'compose'")
