"""What the platform is made of, discovered from the repository: no list to keep in sync.

A service is a folder ``services/<name>/`` whose pyproject declares ``[tool.platform] port``
(where the no-Docker stack serves it on loopback) and, optionally, ``urls``: more of its URLs
that every service is given, by variable name (auth's ``AUTH_JWKS_URL``), and ``env``: its
own settings there (auth's admin emails and development key file). Its package is
``<name>_service`` and its API lives under ``/api/v1/<name>``. Its integration events
(common.events) are declared where the contract puts them: ``events.py`` (the types it
publishes, through an outbox its relay sends; an empty one idles) and ``handlers.py`` (what its
consumer handles). A consumer runs only where handlers.py registers a handler: with none,
``flask events consume`` exits at once.
"""

import ast
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The repository; PLATFORM_ROOT points the command at another checkout (a test's copy).
ROOT = Path(os.environ.get("PLATFORM_ROOT") or Path(__file__).resolve().parents[4])
API_PREFIX = "/api/v1"
# Added to every port `platform up` binds, so that a second platform fits beside a running one.
PORT_OFFSET = int(os.environ.get("PLATFORM_PORT_OFFSET", "0"))


@dataclass(frozen=True)
class Service:
    """One service of the platform."""

    name: str
    port: int
    folder: Path
    # Variable name -> a path on this service ([tool.platform] urls): given to every service.
    urls: dict[str, str] = field(default_factory=dict)
    # Its own settings under `platform up` ([tool.platform.env]); "{data_dir}" is the data folder.
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Its base URL on loopback (where ``platform up`` serves it)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def module(self) -> str:
        """The import name of its package."""
        return f"{self.name}_service"

    @property
    def prefix(self) -> str:
        """The path prefix the gateway routes to it."""
        return f"{API_PREFIX}/{self.name}"

    @property
    def ready_url(self) -> str:
        """Its readiness probe on loopback (where ``platform up`` serves it)."""
        return f"{self.url}/health/ready"

    @property
    def publishes(self) -> bool:
        """Whether it has an ``events.py`` (and so an outbox): it runs a relay."""
        return (self.folder / "src" / self.module / "events.py").is_file()

    @property
    def consumes(self) -> bool:
        """Whether its ``handlers.py`` registers a handler (``handlers.on(type)``): it runs a
        consumer. Read, not imported: the examples in the module's docstring do not count."""
        path = self.folder / "src" / self.module / "handlers.py"
        if not path.is_file():
            return False
        return any(
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "on"
            for node in ast.walk(ast.parse(path.read_text(), str(path)))
        )


def platform_settings(folder: Path) -> dict[str, Any]:
    """The ``[tool.platform]`` table of ``folder``'s pyproject.toml (empty without one)."""
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        return {}
    settings = tomllib.loads(pyproject.read_text()).get("tool", {}).get("platform", {})
    return settings if isinstance(settings, dict) else {}


def declared_port(folder: Path) -> int | None:
    """The ``[tool.platform] port`` of the service in ``folder``; None when it declares none."""
    port = platform_settings(folder).get("port")
    return port if isinstance(port, int) and not isinstance(port, bool) else None


def _strings(table: Any) -> dict[str, str]:
    """A TOML table's entries as strings (empty when there is none)."""
    return {str(key): str(value) for key, value in (table or {}).items()}


def discover(root: Path = ROOT, *, port_offset: int = 0) -> list[Service]:
    """Every service under ``root/services``, by name, its port shifted by ``port_offset``."""
    services = []
    for pyproject in sorted((root / "services").glob("*/pyproject.toml")):
        folder = pyproject.parent
        port = declared_port(folder)
        if port is None:
            raise SystemExit(f"{pyproject}: missing [tool.platform] port")
        settings = platform_settings(folder)
        urls, env = _strings(settings.get("urls")), _strings(settings.get("env"))
        services.append(Service(folder.name, port + port_offset, folder, urls, env))
    return services
